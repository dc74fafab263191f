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
use super::unit::Unit;
use super::AppState;

/// `?limit=` (the unit, `?org=`, is read by [`Unit`]).
#[derive(Debug, Default, Deserialize)]
pub struct LimitQuery {
    limit: Option<usize>,
}

/// A JSON error answer: `{"error": message}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
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

/// `GET /api/v1/overdue?org=&limit=`: women overdue for a visit.
pub async fn overdue(
    State(state): State<AppState>,
    _ctx: Ctx,
    Unit(org): Unit,
    Query(q): Query<LimitQuery>,
) -> Response {
    let limit = q.limit.unwrap_or(PAGE_ROWS);
    let known = match state.overview(org).await {
        Ok(Ok(o)) => Some(o.stats.visits.overdue_women),
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(r) => return r,
    };
    reply(
        state
            .read(move |l| {
                let today = l.today();
                data::overdue(l, org, today, limit, known)
                    .map(|(rows, count)| serde_json::json!({"count": count, "rows": rows}))
            })
            .await,
    )
}

/// Query of `/api/v1/women`.
#[derive(Debug, Default, Deserialize)]
pub struct WomenQuery {
    limit: Option<usize>,
    #[serde(flatten)]
    filter: WomenFilter,
}

/// `GET /api/v1/women?org=&status=&…`: women by filter.
pub async fn women(
    State(state): State<AppState>,
    _ctx: Ctx,
    Unit(org): Unit,
    Query(q): Query<WomenQuery>,
) -> Response {
    let limit = q.limit.unwrap_or(PAGE_ROWS);
    let filter = q.filter;
    reply(
        state
            .read(move |l| {
                data::women(l, org, &filter, limit).map(|(rows, count)| {
                    let records: Vec<_> = rows.into_iter().map(|r| r.record).collect();
                    serde_json::json!({"count": count, "rows": records})
                })
            })
            .await,
    )
}

/// `GET /api/v1/freshness?org=`: last arrival of every document of the subtree.
pub async fn freshness(State(state): State<AppState>, _ctx: Ctx, Unit(org): Unit) -> Response {
    reply(state.read(move |l| {
        data::arrivals(l, &org).map(|rows| {
            rows.into_iter().map(|(org, a)| serde_json::json!({"org": org, "arrived_at": a.arrived_at, "path": a.path, "newest_change": a.newest_change})).collect::<Vec<_>>()
        })
    }).await)
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
