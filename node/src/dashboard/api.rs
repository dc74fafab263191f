//! The JSON API under `/api/v1/`: the same structs the pages render, from the same
//! functions ([`super::data`]). `/api/v1/stats?org=` is exactly `halfsky stats --json`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use halfsky_shared::RecordId;
use serde::Deserialize;

use super::auth::Ctx;
use super::data::{self, WomenFilter, PAGE_ROWS};
use super::json::error;
use super::unit::Unit;
use super::AppState;

/// Rows one API answer carries at most, whatever `?limit=` asks: one request must not
/// make the node serialise a city's million women at once. Page with `?offset=`.
pub const MAX_API_ROWS: usize = 1000;

/// `?limit=&offset=`: which page of a list (the unit, `?org=`, is read by [`Unit`]).
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    limit: Option<usize>,
    offset: Option<usize>,
}

impl PageQuery {
    /// Rows asked for: [`PAGE_ROWS`] by default, never more than [`MAX_API_ROWS`].
    fn limit(&self) -> usize {
        self.limit.unwrap_or(PAGE_ROWS).min(MAX_API_ROWS)
    }

    /// Rows skipped.
    fn offset(&self) -> usize {
        self.offset.unwrap_or(0)
    }

    /// One page of a list as the API answers it: the rows, the total count, and the
    /// `next_offset` to ask for (null on the last page).
    fn answer<T: serde::Serialize>(&self, rows: Vec<T>, count: usize) -> serde_json::Value {
        let end = self.offset() + rows.len();
        serde_json::json!({
            "count": count,
            "offset": self.offset(),
            "limit": self.limit(),
            "next_offset": (end < count).then_some(end),
            "rows": rows,
        })
    }
}

fn reply<T: serde::Serialize>(r: Result<Result<T, crate::LedgerError>, Response>) -> Response {
    match r {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(r) => r,
    }
}

/// `GET /api/v1/stats?org=`: the statistics report, as `halfsky stats --json`.
pub async fn stats(State(state): State<AppState>, _ctx: Ctx, Unit(org): Unit) -> Response {
    reply(state.read(move |l| l.stats(org)).await)
}

/// `GET /api/v1/overview?org=`: statistics, children with freshness, verification.
pub async fn overview(State(state): State<AppState>, _ctx: Ctx, Unit(org): Unit) -> Response {
    match state.overview(org).await {
        Ok(Ok(o)) => Json(&*o).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(r) => r,
    }
}

/// `GET /api/v1/overdue?org=&limit=&offset=`: women overdue for a visit, a page at a time.
pub async fn overdue(
    State(state): State<AppState>,
    _ctx: Ctx,
    Unit(org): Unit,
    Query(page): Query<PageQuery>,
) -> Response {
    let known = match state.overview(org).await {
        Ok(Ok(o)) => Some(o.stats.visits.overdue_women),
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(r) => return r,
    };
    reply(
        state
            .read(move |l| {
                let today = l.today();
                data::overdue(l, org, today, page.offset(), page.limit(), known)
                    .map(|(rows, count)| page.answer(rows, count))
            })
            .await,
    )
}

/// `GET /api/v1/women?org=&status=&…&limit=&offset=`: women by filter, a page at a time.
pub async fn women(
    State(state): State<AppState>,
    _ctx: Ctx,
    Unit(org): Unit,
    Query(page): Query<PageQuery>,
    Query(filter): Query<WomenFilter>,
) -> Response {
    reply(
        state
            .read(move |l| {
                data::women(l, org, &filter, page.offset(), page.limit()).map(|(rows, count)| {
                    let records: Vec<_> = rows
                        .into_iter()
                        .map(|r| data::for_readers(r.record))
                        .collect();
                    page.answer(records, count)
                })
            })
            .await,
    )
}

/// `GET /api/v1/freshness?org=`: every unit of the subtree with when it was last heard
/// from, by which path, when its data last changed, and the subtree's summary (the same
/// as `halfsky freshness --json`).
pub async fn freshness(State(state): State<AppState>, _ctx: Ctx, Unit(org): Unit) -> Response {
    let stale = state.stale_after_secs();
    reply(
        state
            .read(move |l| {
                let now = chrono::Utc::now().timestamp();
                data::units(l, &org, now)
                    .map(|units| crate::sync::freshness::report(org, units, now, stale))
            })
            .await,
    )
}

/// `GET /api/v1/records/{id}`: a record, its conflicts, history and related records.
pub async fn record(State(state): State<AppState>, _ctx: Ctx, Path(raw): Path<String>) -> Response {
    let id = match RecordId::parse(raw.trim()) {
        Ok(id) if id.org().is_in_subtree_of(&state.org()) => id,
        Ok(id) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("{id} is not in this node's subtree"),
            )
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match state.read(move |l| data::record(l, &id)).await {
        Ok(Ok(p)) => Json(p).into_response(),
        Ok(Err(e @ crate::LedgerError::NotFound(_))) => error(StatusCode::NOT_FOUND, e.to_string()),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(r) => r,
    }
}
