//! `/admin/refusals`: what this node refused (and what its peers refused of what it
//! sent), and the documents it holds in quarantine, for an admin to decide on with
//! `halfsky quarantine release|drop`. Admins only (or anyone on a loopback-only
//! dashboard, where no login exists).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html as markup;

use super::{export, export_base, message, ok_page, read_or_answer, ExportQuery};
use crate::config::Role;
use crate::dashboard::auth::Ctx;
use crate::dashboard::table::{Cell, Table};
use crate::dashboard::AppState;

/// `/admin/refusals`: every refusal, newest first, and the quarantined documents.
pub async fn refusals(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ExportQuery>,
) -> Response {
    let lang = ctx.lang;
    let zone = state.reader().index().zone();
    if ctx.session.as_ref().is_some_and(|s| s.role != Role::Admin) {
        return message(
            &ctx,
            &state,
            StatusCode::FORBIDDEN,
            lang.t("仅限管理员", "Admins only"),
            lang.t(
                "拒收记录只有管理员可以查看。",
                "Only an admin may see the refusals.",
            ),
        );
    }
    let read = state
        .read(|r| {
            let trust = r.trust();
            Ok::<_, crate::ledger::trust::TrustError>((trust.quarantined()?, trust.refusals()?))
        })
        .await;
    let (quarantined, refusals) = match read_or_answer(&ctx, &state, read) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut held = Table::new(
        lang.t("隔离中的文档", "Quarantined documents"),
        &[
            lang.t("文档", "Document"),
            lang.t("开始", "Since"),
            lang.t("规则", "Rule"),
            lang.t("发送方", "Sender"),
            lang.t("原因", "Reason"),
            lang.t("暂存变更", "Changes held"),
        ],
    );
    for r in &quarantined {
        held.push(vec![
            Cell::Text(r.org.to_string()),
            Cell::Text(lang.stamp(zone, &r.since)),
            Cell::Text(r.rule.clone()),
            Cell::Text(r.sender.clone()),
            Cell::Text(r.reason.clone()),
            Cell::Num(r.held as f64),
        ]);
    }
    let mut list = Table::new(
        lang.t("拒收记录", "Refusals"),
        &[
            lang.t("时间", "When"),
            lang.t("文档", "Document"),
            lang.t("变更", "Change"),
            lang.t("规则", "Rule"),
            lang.t("方向", "Direction"),
            lang.t("对方", "Peer"),
            lang.t("途径", "Door"),
            lang.t("原因", "Reason"),
        ],
    );
    for r in refusals.iter().rev() {
        let direction = if r.by_peer {
            lang.t("对方拒收本节点", "refused by the peer")
        } else {
            lang.t("本节点拒收", "refused here")
        };
        list.push(vec![
            Cell::Text(lang.stamp(zone, &r.at)),
            Cell::Text(r.org.to_string()),
            Cell::Text(r.change.clone().unwrap_or_default()),
            Cell::Text(r.rule.clone()),
            Cell::Text(direction.to_string()),
            Cell::Text(r.sender.clone()),
            Cell::Text(r.door.clone()),
            Cell::Text(r.reason.clone()),
        ]);
    }
    let tables = [held, list];
    if let Some(resp) = export(&ctx, &tables, &q) {
        return resp;
    }
    let base = export_base(&ctx.path);
    let body = markup! {
        h1 { (lang.t("拒收与隔离", "Refusals and quarantine")) }
        p { (lang.t(
            "隔离的文档保留已接受的历史；新变更暂存，直到管理员运行 halfsky quarantine release（按原样应用）或 drop（丢弃）。",
            "A quarantined document keeps its good history; its new changes are held until an admin runs `halfsky quarantine release` (apply them as they are) or `drop` (forget them).",
        )) }
        @if quarantined.is_empty() {
            p { (lang.t("没有隔离中的文档。", "No document is quarantined.")) }
        } @else {
            (tables[0].html(Some(&base), 0))
        }
        @if refusals.is_empty() {
            p { (lang.t("没有拒收记录。", "Nothing was refused.")) }
        } @else {
            (tables[1].html(Some(&base), 1))
        }
    };
    ok_page(
        &ctx,
        &state,
        lang.t("拒收与隔离", "Refusals and quarantine"),
        body,
    )
}
