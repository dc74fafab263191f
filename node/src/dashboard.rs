//! The web dashboard: server-rendered pages (no JavaScript, no external fonts) over
//! this node's index, for this node's subtree, plus a JSON API under `/api/v1/`
//! serving the same numbers from the same code ([`data`]). Started by
//! [`crate::run::RunningNode::start`] when `[dashboard] listen` is set.
//!
//! Every GET reads through the ledger's read-only view
//! ([`crate::ledger::reader::LedgerReader`], [`AppState::read`]), so pages never queue
//! behind sync work in the ledger actor; only the forms' writes go through the actor.
//!
//! # Layout
//! - [`auth`]: users, roles, sessions, CSRF; the request context [`auth::Ctx`].
//! - [`data`]: the one code path computing what pages and API show.
//! - `pages`: overview + drill-down, overdue list, women list, record page, login.
//! - [`overdue`]: who is overdue for a follow-up visit (or due soon), by rule.
//! - `forms`: data entry for every record kind, validated on the server.
//! - [`api`]: the JSON API; `json`: the JSON error answer it shares with `unit`.
//! - `unit`: the [`unit::Unit`] extractor — the unit a request is about, checked to
//!   be in this node's subtree.
//! - [`targets`]: the targets the overview measures against (records, else the
//!   seed's defaults).
//! - `html`, `svg`, [`table`], [`i18n`]: page frame, charts, tables + CSV/XLSX
//!   export, languages.
//! - [`tls`]: HTTPS when `[dashboard] tls_cert` and `tls_key` are set (cookies `Secure`).

// Handlers return `Result<_, Response>`: an early answer is a whole HTTP response.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod auth;
pub mod data;
mod edit;
mod forms;
mod html;
pub mod i18n;
mod json;
pub mod overdue;
mod pages;
pub mod report;
mod svg;
pub mod table;
pub mod targets;
pub mod tls;
pub mod trends;
pub mod unit;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use halfsky_shared::OrgCode;
use tokio_util::sync::CancellationToken;

use crate::config::{DashboardConfig, DashboardUser};
use crate::ledger::actor::LedgerHandle;
use crate::ledger::reader::LedgerReader;
use crate::ledger::Ledger;

struct Inner {
    /// Writes (forms) go to the ledger actor.
    handle: LedgerHandle,
    /// Reads (every GET) go here, never queueing behind the actor.
    reader: LedgerReader,
    org: OrgCode,
    name: String,
    users: Vec<DashboardUser>,
    stale_after_secs: i64,
    /// How often a paired helper must phone and visit.
    rhythm: crate::ledger::rhythm::Rhythm,
    anonymous_read: bool,
    sessions: auth::Sessions,
    /// Failed logins per name and address.
    throttle: auth::Throttle,
    cookie: String,
    /// Overviews by unit, with the ledger generation and time they were computed at.
    overviews: Arc<std::sync::Mutex<OverviewCache>>,
}

/// Overviews already computed: `(ledger generation, computed at, overview)` by unit.
type OverviewCache = std::collections::HashMap<OrgCode, (u64, i64, Arc<data::Overview>)>;

/// A cached overview is reused for at most this long even if nothing was written,
/// so "3 minutes ago" and stale flags stay true.
const OVERVIEW_MAX_AGE_SECS: i64 = 60;
/// Units whose overviews are kept.
const OVERVIEW_CACHE_UNITS: usize = 512;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Shared state of the dashboard's handlers.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("org", &self.inner.org)
            .finish()
    }
}

/// Is this address loopback-only (127.0.0.0/8, ::1)?
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

impl AppState {
    /// State for the node `org` (`name`), reading through `handle`. `listen` decides
    /// whether anonymous reading is allowed (loopback, no users).
    pub fn new(
        handle: LedgerHandle,
        org: OrgCode,
        name: String,
        config: &DashboardConfig,
        listen: SocketAddr,
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                reader: handle.reader().clone(),
                handle,
                org,
                name,
                users: config.users.clone(),
                stale_after_secs: config.stale_after.as_secs() as i64,
                rhythm: config.rhythm,
                anonymous_read: is_loopback(&listen) && config.users.is_empty(),
                sessions: auth::Sessions::default(),
                throttle: auth::Throttle::default(),
                cookie: auth::session_cookie_name(listen.port()),
                overviews: Default::default(),
            }),
        }
    }

    /// Live sessions.
    pub fn sessions(&self) -> &auth::Sessions {
        &self.inner.sessions
    }

    /// Failed logins per name and address.
    pub fn throttle(&self) -> &auth::Throttle {
        &self.inner.throttle
    }

    /// Name of the cookie holding the login form's CSRF token.
    pub fn login_cookie_name(&self) -> String {
        format!("{}_login", self.inner.cookie)
    }

    /// Name of this dashboard's session cookie.
    pub fn cookie_name(&self) -> &str {
        &self.inner.cookie
    }

    /// May pages be read without logging in?
    pub fn anonymous_read(&self) -> bool {
        self.inner.anonymous_read
    }

    /// The node's own unit.
    pub fn org(&self) -> OrgCode {
        self.inner.org
    }

    /// Configured users.
    pub fn users(&self) -> &[DashboardUser] {
        &self.inner.users
    }

    fn node_label(&self) -> String {
        format!("{} ({})", self.inner.name, self.inner.org)
    }

    fn rhythm(&self) -> crate::ledger::rhythm::Rhythm {
        self.inner.rhythm
    }

    fn stale_after_secs(&self) -> i64 {
        self.inner.stale_after_secs
    }

    /// Runs `f` on the ledger inside its actor: for writes only (forms); reads go
    /// through [`AppState::read`].
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Ledger) -> T + Send + 'static,
    ) -> Result<T, Response> {
        self.inner.handle.run(f).await.map_err(|_| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the node is shutting down; try again in a minute",
            )
                .into_response()
        })
    }

    /// The ledger's read-only view.
    pub fn reader(&self) -> &LedgerReader {
        &self.inner.reader
    }

    /// Runs `f` on the ledger's read-only view on a blocking thread (sled reads and
    /// sums block): a page is answered while the actor is busy with sync or writes.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LedgerReader) -> T + Send + 'static,
    ) -> Result<T, Response> {
        let reader = self.inner.reader.clone();
        tokio::task::spawn_blocking(move || f(&reader))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "a dashboard read failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "reading the ledger failed; see the node's log",
                )
                    .into_response()
            })
    }

    /// The overview of `org` (statistics, drill-down with freshness, verification),
    /// computed on the read-only view, or reused if nothing was written since (the
    /// ledger's generation is unchanged) and it is under a minute old: at a city of a
    /// million women the statistics take a few hundred milliseconds to sum.
    pub async fn overview(
        &self,
        org: OrgCode,
    ) -> Result<Result<Arc<data::Overview>, crate::LedgerError>, Response> {
        let cache = self.inner.overviews.clone();
        let stale = self.inner.stale_after_secs;
        self.read(move |l| {
            let now = chrono::Utc::now().timestamp();
            // Read before computing: a write during the computation moves it, so the
            // result is recomputed next time rather than kept as current.
            let generation = l.generation();
            if let Some((g, at, o)) = lock(&cache).get(&org) {
                if *g == generation && now - at < OVERVIEW_MAX_AGE_SECS {
                    return Ok(o.clone());
                }
            }
            let o = Arc::new(data::overview(l, org, now, stale)?);
            let mut map = lock(&cache);
            if map.len() >= OVERVIEW_CACHE_UNITS {
                map.clear();
            }
            map.insert(org, (generation, now, o.clone()));
            Ok(o)
        })
        .await
    }

    /// Parses `code` and checks it is this node's unit or below it.
    fn unit(&self, code: &str) -> Result<OrgCode, String> {
        let org = OrgCode::parse(code.trim()).map_err(|e| e.to_string())?;
        if !org.is_in_subtree_of(&self.inner.org) {
            return Err(format!(
                "{org} is not {} or a unit below it; this dashboard serves only its own subtree",
                self.inner.org
            ));
        }
        Ok(org)
    }
}

/// The dashboard's routes over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/org/{code}", get(pages::overview))
        .route("/org/{code}/overdue", get(pages::overdue))
        .route("/org/{code}/women", get(pages::women))
        .route(
            "/org/{code}/verify",
            get(pages::verify::page).post(pages::verify::submit),
        )
        .route("/org/{code}/duplicates", get(pages::duplicates::page))
        .route("/org/{code}/rhythm", get(pages::rhythm::page))
        .route("/org/{code}/report", get(pages::report::page))
        .route("/org/{code}/trends", get(pages::trends::page))
        .route("/org/{code}/records", get(pages::records::page))
        .route("/record/{id}", get(pages::record))
        .route("/record/{id}/edit", get(edit::form).post(edit::submit))
        .route("/record/{id}/retire", post(edit::retire))
        .route("/admin/refusals", get(pages::refusals))
        .route("/new", get(forms::kinds))
        .route("/new/{kind}", get(forms::form).post(forms::submit))
        .route("/api/v1/stats", get(api::stats))
        .route("/api/v1/overview", get(api::overview))
        .route("/api/v1/overdue", get(api::overdue))
        .route("/api/v1/women", get(api::women))
        .route("/api/v1/freshness", get(api::freshness))
        .route("/api/v1/records/{id}", get(api::record))
        .fallback(pages::not_found)
        .with_state(state)
}

/// Serves `router` on `listener` until `cancel` fires.
pub async fn serve(listener: tokio::net::TcpListener, router: Router, cancel: CancellationToken) {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, service)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "dashboard server stopped");
    }
}
