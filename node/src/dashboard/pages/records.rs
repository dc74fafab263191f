//! `/org/{code}/records?kind=training`: the records of one kind under a unit —
//! trainings, loans, bases, pairings, measures, visits, households, verifications,
//! targets — newest first, a page at a time, every field by its label and every value
//! by its name; downloads (all rows) as CSV or XLSX. Women have their own filtered list.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use halfsky_shared::schema::FieldType;
use halfsky_shared::Kind;
use maud::html as markup;
use serde::Deserialize;

use super::{export, export_base, message, ok_page, read_or_answer, ExportQuery};
use crate::dashboard::auth::Ctx;
use crate::dashboard::data::PAGE_ROWS;
use crate::dashboard::i18n::{field_label, Lang};
use crate::dashboard::table::{Cell, Table};
use crate::dashboard::unit::Unit;
use crate::dashboard::AppState;

/// The kinds listed here, in the order the page offers them.
pub const LISTED: [Kind; 6] = [
    Kind::Training,
    Kind::Loan,
    Kind::Base,
    Kind::Pairing,
    Kind::Measure,
    Kind::Visit,
];

/// Which kind and page, plus export.
#[derive(Debug, Default, Deserialize)]
pub struct RecordsQuery {
    kind: Option<String>,
    page: Option<usize>,
    format: Option<String>,
    table: Option<usize>,
}

/// A value as a person reads it.
fn shown(lang: Lang, value: &halfsky_shared::schema::Value, ty: &FieldType) -> String {
    match ty {
        FieldType::Enum(e) => lang.option(e, &value.display(ty)),
        FieldType::Bool => match value.as_bool() {
            Some(true) => lang.t("是", "yes").to_string(),
            _ => lang.t("否", "no").to_string(),
        },
        _ => value.display(ty),
    }
}

/// `GET /org/{code}/records`.
pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Unit(org): Unit,
    Query(q): Query<RecordsQuery>,
) -> Response {
    let lang = ctx.lang;
    let kind = match q.kind.as_deref().map(Kind::from_name) {
        None => Kind::Training,
        Some(Some(k)) if k != Kind::Woman => k,
        Some(_) => return message(
            &ctx,
            &state,
            StatusCode::NOT_FOUND,
            lang.t("没有这类记录", "No such kind"),
            lang.t(
                "可选：training、loan、base、pairing、measure、visit（妇女请用妇女名单）。",
                "Pick training, loan, base, pairing, measure or visit (women have their own list).",
            ),
        ),
    };
    let page_no = q.page.unwrap_or(0);
    let all = q.format.is_some();
    let res = state
        .read(move |l| {
            let mut rows = l.list(kind, org.subtree_prefix(), false)?;
            rows.sort_by(|a, b| b.record.meta.created_at.cmp(&a.record.meta.created_at));
            Ok::<_, crate::ledger::LedgerError>(rows)
        })
        .await;
    let rows = match read_or_answer(&ctx, &state, res) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let total = rows.len();
    let spec = kind.spec();
    let mut headers = vec![lang.t("编号", "Id").to_string()];
    headers.extend(spec.fields.iter().map(|f| field_label(lang, f)));
    let mut t = Table {
        title: format!("{org} {}", lang.t(spec.zh, spec.plural)),
        headers,
        ..Table::default()
    };
    let (skip, take) = if all {
        (0, usize::MAX)
    } else {
        (page_no * PAGE_ROWS, PAGE_ROWS)
    };
    for row in rows.iter().skip(skip).take(take) {
        let r = &row.record;
        let mut cells: Vec<Cell> = vec![Cell::Link(r.id.to_string(), format!("/record/{}", r.id))];
        for f in spec.fields {
            cells.push(
                r.fields
                    .get(f.name)
                    .map(|v| shown(lang, v, &f.ty))
                    .unwrap_or_default()
                    .into(),
            );
        }
        t.push(cells);
    }
    let tables = [t];
    let exported = ExportQuery {
        format: q.format.clone(),
        table: q.table,
    };
    if let Some(r) = export(&ctx, &tables, &exported) {
        return r;
    }
    let pages = total.div_ceil(PAGE_ROWS).max(1);
    let body = markup! {
        h1 { (lang.t("记录名单", "Records")) " " small { (org) } }
        p id="record-kinds" {
            @for k in LISTED {
                @if k == kind { b { (lang.t(k.spec().zh, k.spec().plural)) } }
                @else { a href={ "/org/" (org) "/records?kind=" (k.spec().name) } { (lang.t(k.spec().zh, k.spec().plural)) } }
                " "
            }
        }
        p { (lang.t("共 ", "")) b id="record-count" { (total) } (lang.t(" 条", " records")) }
        (tables[0].html(Some(&export_base(&ctx.path)), 0))
        @if pages > 1 {
            p.pages {
                @if page_no > 0 { a href={ "/org/" (org) "/records?kind=" (spec.name) "&page=" (page_no - 1) } { (lang.t("上一页", "Previous")) } " " }
                (page_no + 1) " / " (pages)
                @if page_no + 1 < pages { " " a href={ "/org/" (org) "/records?kind=" (spec.name) "&page=" (page_no + 1) } { (lang.t("下一页", "Next")) } }
            }
        }
    };
    ok_page(&ctx, &state, lang.t("记录名单", "Records"), body)
}
