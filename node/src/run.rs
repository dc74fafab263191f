//! `halfsky run`: a node in the foreground. Opens the ledger in its actor, accepts
//! children (if `[sync] listen` is set), dials the parent (if `[sync] parent` is set)
//! with exponential backoff and jitter, and serves the local API so every other
//! `halfsky -d DIR` command keeps working while it runs. Everything it starts belongs
//! to the [`RunningNode`]: shutting it down stops every task and closes the ledger with
//! everything durable.

use std::net::SocketAddr;
use std::time::Duration;

use halfsky_shared::session::Role;
use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{NodeConfig, NodeHome};
use crate::ledger::actor::{LedgerActor, LedgerHandle};
use crate::ledger::{Ledger, LedgerError};
use crate::pki::{self, NodeIdentity, PkiError};
use crate::sync::tls::{self, TlsError};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The ledger would not open.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The node's certificate is missing or does not match its config.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The config and the certificate name different units or devices.
    #[error(transparent)]
    Identity(#[from] pki::agree::IdentityError),
    /// TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The dashboard's HTTPS certificate or key.
    #[error(transparent)]
    DashboardTls(#[from] crate::dashboard::tls::DashboardTlsError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; is another node using that port?")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The local API socket could not be created.
    #[error("cannot create the local API socket {path}: {source}")]
    LocalApi {
        /// The socket path.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The saved link status could not be read.
    #[error(transparent)]
    Status(#[from] crate::sync::status::StatusError),
    /// The task opening the ledger ended without an answer (it panicked).
    #[error("opening the ledger failed unexpectedly: {0}")]
    Opening(String),
    /// The runtime or the signal handlers could not be set up.
    #[error("cannot start the node's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A node running in this process.
#[derive(Debug)]
pub struct RunningNode {
    handle: LedgerHandle,
    actor: Option<LedgerActor>,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
    endpoint: quinn::Endpoint,
    listen: Option<SocketAddr>,
    dashboard: Option<SocketAddr>,
    config: NodeConfig,
}

/// First wait before redialling a parent; doubles up to `[sync] max_backoff_secs`.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait before dialling again after a dial that got no answer at all.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Why a dial failed.
enum Failure {
    /// The parent never answered within the handshake timeout: the link is down.
    Unanswered(String),
    /// Anything else (refused, bad certificate, unresolvable address…).
    Other(String),
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Other(reason)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unanswered(r) | Failure::Other(r) => f.write_str(r),
        }
    }
}

impl RunningNode {
    /// Starts the node of `home`.
    pub async fn start(home: &NodeHome) -> Result<RunningNode, RunError> {
        let config = home.config().map_err(LedgerError::from)?;
        // The local socket is created inside the home: an owner-only home keeps it
        // out of reach even in the instant before the socket's own mode is set.
        home.make_private().map_err(LedgerError::from)?;
        let identity = pki::load_node_identity(home.dir())?;
        pki::agree::check(&config, &identity.identity, home.dir())?;
        // The local API first: from now on other commands wait for this node instead of
        // opening the store themselves (sled is single-process).
        let listener = crate::local_api::bind(home)
            .map_err(|(path, source)| RunError::LocalApi { path, source })?;
        let transport = crate::sync::link::transport(&config.sync);
        let client = tls::client_config(&identity, transport.clone())?;
        let server = match config.sync.listen {
            Some(_) => Some(tls::server_config(&identity, transport)?),
            None => None,
        };
        let addr: SocketAddr = config
            .sync
            .listen
            .unwrap_or_else(|| "0.0.0.0:0".parse().expect("valid address"));
        let socket =
            std::net::UdpSocket::bind(addr).map_err(|source| RunError::Bind { addr, source })?;
        let mut endpoint = quinn::Endpoint::new(
            endpoint_config(&identity),
            server,
            socket,
            std::sync::Arc::new(quinn::TokioRuntime),
        )
        .map_err(|source| RunError::Bind { addr, source })?;
        endpoint.set_default_client_config(client);
        let listen = match config.sync.listen {
            Some(_) => Some(endpoint.local_addr().map_err(|source| RunError::Bind {
                addr: config.sync.listen.expect("set"),
                source,
            })?),
            None => None,
        };
        // Opening waits (with retries) for a store another process still holds and
        // reads every document's heads: blocking work, kept off the async threads.
        let ledger = {
            let home = home.clone();
            tokio::task::spawn_blocking(move || Ledger::open(&home))
                .await
                .map_err(|e| RunError::Opening(e.to_string()))??
        };
        let (actor, handle) = LedgerActor::start(ledger)?;
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        if listen.is_some() {
            tasks.spawn(accept_loop(
                endpoint.clone(),
                handle.clone(),
                crate::sync::link::stall_after(&config.sync),
                cancel.clone(),
            ));
        }
        if let Some(parent) = config.sync.parent.clone() {
            tasks.spawn(dial_loop(
                endpoint.clone(),
                home.dir().to_path_buf(),
                parent,
                identity_org(&identity),
                handle.clone(),
                config.sync.clone(),
                cancel.clone(),
            ));
        }
        if let Some(relay) = config.sync.relay.clone() {
            let client = tls::client_config_with_alpn(
                &identity,
                crate::sync::link::transport(&config.sync),
                halfsky_shared::relay_wire::RELAY_ALPN,
            )?;
            tasks.spawn(crate::sync::relay_client::relay_loop(
                endpoint.clone(),
                client,
                home.dir().to_path_buf(),
                crate::sync::relay_client::RelaySettings {
                    addr: relay,
                    after: config.sync.relay_after,
                    poll: config.sync.relay_poll,
                },
                handle.clone(),
                cancel.clone(),
            ));
        }
        tasks.spawn(crate::local_api::serve(
            listener,
            handle.clone(),
            cancel.clone(),
        ));
        let dashboard = match config.dashboard.listen {
            Some(addr) => {
                let http = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| RunError::Bind { addr, source })?;
                let local = http
                    .local_addr()
                    .map_err(|source| RunError::Bind { addr, source })?;
                if !crate::dashboard::is_loopback(&local) && config.dashboard.users.is_empty() {
                    tracing::warn!(%local, "the dashboard listens beyond this machine but has no users: nobody can log in; add one with `halfsky user add`");
                }
                let state = crate::dashboard::AppState::new(
                    handle.clone(),
                    config.org,
                    config.name.clone(),
                    &config.dashboard,
                    local,
                );
                let router = crate::dashboard::router(state);
                match &config.dashboard.tls {
                    Some((cert, key)) => {
                        let tls = crate::dashboard::tls::server_config(home.dir(), cert, key)?;
                        tasks.spawn(crate::dashboard::tls::serve(
                            http,
                            router,
                            tls,
                            cancel.clone(),
                        ));
                    }
                    None => {
                        tasks.spawn(crate::dashboard::serve(http, router, cancel.clone()));
                    }
                }
                Some(local)
            }
            None => None,
        };
        tracing::info!(org = %config.org, listen = ?listen, parent = ?config.sync.parent, "node running");
        Ok(RunningNode {
            handle,
            actor: Some(actor),
            cancel,
            tasks,
            endpoint,
            listen,
            dashboard,
            config,
        })
    }

    /// Where the dashboard serves (with the real port if the config said port 0).
    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard
    }

    /// The actor handle (run anything on the ledger).
    pub fn handle(&self) -> &LedgerHandle {
        &self.handle
    }

    /// The address children dial (with the real port if the config said port 0).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen
    }

    /// The node's config.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Stops every task, closes links, and closes the ledger with everything durable.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"node shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        if let Some(actor) = self.actor.take() {
            tokio::task::spawn_blocking(move || actor.shutdown())
                .await
                .ok();
        }
    }
}

/// QUIC endpoint settings with a stateless-reset key derived from the node's private
/// key: after a crash and restart, the node can still tell its peers' old connections
/// to reset at once, instead of leaving them waiting for the idle timeout.
fn endpoint_config(identity: &NodeIdentity) -> quinn::EndpointConfig {
    let mut material = b"halfsky stateless reset v1".to_vec();
    material.extend_from_slice(identity.key.secret_der());
    let secret = ring::digest::digest(&ring::digest::SHA256, &material);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_ref());
    quinn::EndpointConfig::new(std::sync::Arc::new(key))
}

fn identity_org(identity: &NodeIdentity) -> halfsky_shared::OrgCode {
    identity.identity.org
}

async fn accept_loop(
    endpoint: quinn::Endpoint,
    handle: LedgerHandle,
    stall_after: Duration,
    cancel: CancellationToken,
) {
    let mut links = JoinSet::new();
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i { Some(i) => i, None => break },
            _ = cancel.cancelled() => break,
            Some(_) = links.join_next() => continue,
        };
        let handle = handle.clone();
        let cancel = cancel.clone();
        links.spawn(async move {
            let remote = incoming.remote_address();
            let Some((conn, peer)) = tls::accept_identified(incoming).await else {
                return;
            };
            let reason = crate::sync::link::drive(
                conn,
                Role::Parent,
                peer.clone(),
                handle,
                stall_after,
                cancel,
            )
            .await;
            tracing::info!(%remote, peer = %peer, %reason, "child link ended");
        });
    }
    links.shutdown().await;
}

async fn dial_loop(
    endpoint: quinn::Endpoint,
    home: std::path::PathBuf,
    parent: String,
    _me: halfsky_shared::OrgCode,
    handle: LedgerHandle,
    sync: crate::config::SyncConfig,
    cancel: CancellationToken,
) {
    let max_backoff = sync.max_backoff;
    let stall_after = crate::sync::link::stall_after(&sync);
    let handshake_timeout = crate::sync::link::handshake_timeout(&sync);
    let mut backoff = FIRST_BACKOFF;
    loop {
        // Set when the parent did not answer at all (link down), not when it refused.
        let mut unanswered = false;
        let attempt = async {
            let addr = tokio::net::lookup_host(&parent)
                .await
                .map_err(|e| format!("cannot resolve the parent's address {parent}: {e}"))?
                .next()
                .ok_or_else(|| format!("the parent's address {parent} resolves to nothing"))?;
            let connecting = endpoint
                .connect(addr, &tls::server_name(&parent))
                .map_err(|e| format!("cannot dial the parent {parent}: {e}"))?;
            let conn = match tokio::time::timeout(handshake_timeout, connecting).await {
                Ok(c) => c.map_err(|e| tls::explain_handshake_failure(&e))?,
                Err(_) => {
                    return Err(Failure::Unanswered(format!(
                        "no answer from the parent {parent} within {} s (the link is down?)",
                        handshake_timeout.as_secs()
                    )))
                }
            };
            let peer = tls::peer_identity(&conn).map_err(|e| e.to_string())?;
            Ok::<_, Failure>((conn, peer))
        };
        let outcome = tokio::select! {
            r = attempt => r,
            _ = cancel.cancelled() => return,
        };
        match outcome {
            Ok((conn, peer)) => {
                backoff = FIRST_BACKOFF;
                // Keep the parent's certificate: bundles for it (relay, sneakernet)
                // are sealed to its key.
                if let Some(der) = tls::peer_certificate(&conn) {
                    if let Err(e) = crate::sync::bundle::save_peer_cert(&home, &peer.org, &der) {
                        tracing::warn!(%parent, error = %e, "cannot keep the parent's certificate in peers/");
                    }
                }
                let reason = crate::sync::link::drive(
                    conn,
                    Role::Child,
                    peer,
                    handle.clone(),
                    stall_after,
                    cancel.clone(),
                )
                .await;
                tracing::info!(%parent, %reason, "parent link ended");
            }
            Err(failure) => {
                unanswered = matches!(failure, Failure::Unanswered(_));
                let reason = failure.to_string();
                tracing::warn!(%parent, %reason, "cannot reach the parent");
                handle.link_failed(reason);
            }
        }
        // Exponential backoff with ±30 % jitter: never spin on a dead link, and never
        // have a whole county redial in lockstep.
        // A dial nobody answered already waited `handshake_timeout`; probing again
        // soon costs a few small packets and catches short windows of coverage.
        let jitter = rand::rng().random_range(0.7..1.3);
        let wait = if unanswered {
            backoff.min(PROBE_INTERVAL).mul_f64(jitter)
        } else {
            backoff.mul_f64(jitter)
        };
        backoff = (backoff * 2).min(max_backoff);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// `halfsky run`: runs until SIGINT or SIGTERM, then shuts down cleanly.
pub fn run_foreground(home: &NodeHome) -> Result<(), RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    runtime.block_on(async {
        let node = RunningNode::start(home).await?;
        if let Some(addr) = node.dashboard_addr() {
            eprintln!("dashboard: http://{addr}/");
        }
        eprintln!(
            "halfsky node {} ({}) running{}{}; Ctrl-C to stop",
            node.config().name,
            node.config().org,
            node.listen_addr()
                .map(|a| format!(", children dial {a}"))
                .unwrap_or_default(),
            node.config()
                .sync
                .parent
                .as_deref()
                .map(|p| format!(", parent {p}"))
                .unwrap_or_default(),
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(RunError::Runtime)?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("stopping: finishing writes and closing links…");
        node.shutdown().await;
        eprintln!("stopped; everything is saved");
        Ok(())
    })
}
