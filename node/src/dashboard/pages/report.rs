//! `/org/{code}/report?month=YYYY-MM`: the monthly report of a unit as a printable page
//! of its own (no dashboard frame, print styles); the current month by default.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::Datelike;
use serde::Deserialize;

use super::{message, read_or_answer};
use crate::dashboard::auth::Ctx;
use crate::dashboard::report::{monthly_report, parse_month, render};
use crate::dashboard::unit::Unit;
use crate::dashboard::AppState;

/// The month asked for.
#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    /// `YYYY-MM`; the current month when absent.
    month: Option<String>,
}

/// `GET /org/{code}/report`.
pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Unit(org): Unit,
    Query(q): Query<ReportQuery>,
) -> Response {
    let lang = ctx.lang;
    let today = state.reader().today();
    let month = match q.month.as_deref().filter(|m| !m.trim().is_empty()) {
        None => today.with_day(1).unwrap_or(today),
        Some(text) => match parse_month(text) {
            Ok(m) => m,
            Err(e) => {
                return message(
                    &ctx,
                    &state,
                    StatusCode::BAD_REQUEST,
                    lang.t("月份不对", "Wrong month"),
                    &e.to_string(),
                )
            }
        },
    };
    let now = chrono::Utc::now().timestamp();
    let stale = state.stale_after_secs();
    let report = match read_or_answer(
        &ctx,
        &state,
        state
            .read(move |l| monthly_report(l, org, month, now, stale))
            .await,
    ) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    Html(render(&report, lang).into_string()).into_response()
}
