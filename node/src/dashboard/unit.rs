//! "Which unit is this request about?" answered once for every page and API handler:
//! the [`Unit`] extractor takes the code from the request, checks it is this node's
//! unit or below it, and otherwise answers 404 before the handler runs — a page in
//! the reader's language for pages, a JSON error for the API.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use halfsky_shared::OrgCode;
use serde::Deserialize;

use super::auth::Ctx;
use super::i18n::Lang;
use super::{json, pages, AppState};

/// A unit of this node's subtree named by the request: `/org/{code}` on pages,
/// `?org=CODE` on the API (this node's own unit when absent).
#[derive(Debug, Clone, Copy)]
pub struct Unit(pub OrgCode);

/// The API's `?org=`.
#[derive(Debug, Deserialize)]
struct OrgParam {
    org: Option<String>,
}

impl FromRequestParts<AppState> for Unit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if parts.uri.path().starts_with("/api/") {
            let code = Query::<OrgParam>::try_from_uri(&parts.uri)
                .ok()
                .and_then(|q| q.0.org);
            return match code {
                None => Ok(Unit(state.org())),
                Some(code) => state
                    .unit(&code)
                    .map(Unit)
                    .map_err(|e| json::error(StatusCode::NOT_FOUND, e)),
            };
        }
        let (code, checked) = match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(code)) => {
                let checked = state.unit(&code);
                (code, checked)
            }
            Err(e) => (String::new(), Err(e.body_text())),
        };
        match checked {
            Ok(org) => Ok(Unit(org)),
            Err(e) => {
                let ctx = Ctx::from_request_parts(parts, state).await?;
                let text = match ctx.lang {
                    Lang::En => e,
                    Lang::Zh => no_such_unit_zh(&code, state.org()),
                };
                Err(pages::message(
                    &ctx,
                    state,
                    StatusCode::NOT_FOUND,
                    ctx.lang.t("没有这个单位", "No such unit"),
                    &text,
                ))
            }
        }
    }
}

/// Why `code` names no unit of this dashboard, in Chinese (the English reason is the
/// parser's or [`AppState::unit`]'s).
fn no_such_unit_zh(code: &str, own: OrgCode) -> String {
    match OrgCode::parse(code.trim()) {
        Ok(org) => {
            format!("{org} 不是本节点（{own}）或其下级单位；本看板只显示本节点及下级单位的台账。")
        }
        Err(_) => format!("“{code}”不是单位代码：单位代码是12位统计用区划代码，如 {own}。"),
    }
}
