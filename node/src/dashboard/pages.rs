//! The pages, by family: [`overview`] (a unit with its drill-down, freshness and
//! targets), [`lists`] (overdue follow-ups, women by filter), [`record`] (a record
//! with its history), [`verify`] (four-level verification as work), [`login`], [`admin`]
//! (refusals and quarantine). This file holds what they share: the page answer,
//! messages, table downloads and the freshness line. Every table on a page downloads
//! as CSV or XLSX from the same URL (`?format=csv&table=N`).

pub mod admin;
pub mod duplicates;
pub mod lists;
pub mod login;
pub mod overview;
pub mod record;
pub mod records;
pub mod report;
pub mod rhythm;
pub mod trends;
pub mod verify;

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use halfsky_shared::local_time::Zone;
use halfsky_shared::OrgCode;
use maud::{html as markup, Markup};
use serde::Deserialize;

pub use admin::refusals;
pub use lists::{overdue, women};
pub use login::{login, login_form, logout};
pub use overview::overview;
pub use record::record;

use super::auth::{self, Ctx};
use super::data;
use super::html::page;
use super::i18n::Lang;
use super::table::Table;
use super::AppState;
use crate::sync::freshness::{ArrivalPath, SubtreeFreshness, UnitFreshness};

/// `?format=csv|xlsx&table=N`: download table N instead of the page.
#[derive(Debug, Default, Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
    table: Option<usize>,
}

/// Sends `body` as a page (remembering the language if `?lang=` chose one).
pub fn html(ctx: &Ctx, status: StatusCode, body: Markup) -> Response {
    let mut resp = (status, body).into_response();
    if let Some(c) = ctx.lang_cookie() {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Answers 200 with `body` in the page frame, titled `title`.
pub fn ok_page(ctx: &Ctx, state: &AppState, title: &str, body: Markup) -> Response {
    framed(ctx, state, StatusCode::OK, title, body)
}

/// Answers `status` with `body` in the page frame, titled `title`.
pub fn framed(
    ctx: &Ctx,
    state: &AppState,
    status: StatusCode,
    title: &str,
    body: Markup,
) -> Response {
    html(
        ctx,
        status,
        page(
            ctx.lang,
            title,
            &state.node_label(),
            &ctx.viewer(),
            &ctx.path,
            body,
        ),
    )
}

/// The value of a read, or the page saying it failed ("cannot read" and why) or the
/// answer the read path already gave.
pub fn read_or_answer<T, E: std::fmt::Display>(
    ctx: &Ctx,
    state: &AppState,
    read: Result<Result<T, E>, Response>,
) -> Result<T, Response> {
    match read {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(message(
            ctx,
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            ctx.lang.t("读取失败", "Cannot read"),
            &e.to_string(),
        )),
        Err(r) => Err(r),
    }
}

/// A page with a message (errors, not found).
pub fn message(
    ctx: &Ctx,
    state: &AppState,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    let body = markup! {
        h1 { (title) }
        p.err { (text) }
        p { a href="/" { (ctx.lang.t("返回首页", "Back to the start page")) } }
    };
    framed(ctx, state, status, title, body)
}

/// How many rows a list shows: a page's worth, or all of them for a download.
fn rows_wanted(format: &Option<String>) -> usize {
    if format.is_some() {
        usize::MAX
    } else {
        data::PAGE_ROWS
    }
}

/// Answers an export request with the table asked for.
fn export(ctx: &Ctx, tables: &[Table], q: &ExportQuery) -> Option<Response> {
    let format = q.format.as_deref()?;
    let n = q.table.unwrap_or(0);
    let Some(table) = tables.get(n) else {
        return Some(
            (
                StatusCode::NOT_FOUND,
                format!(
                    "this page has no table {n}; tables 0–{}",
                    tables.len().saturating_sub(1)
                ),
            )
                .into_response(),
        );
    };
    let (bytes, mime, ext) = match format {
        "csv" => (table.csv(), "text/csv; charset=utf-8", "csv"),
        "xlsx" => match table.xlsx() {
            Ok(b) => (
                b,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx",
            ),
            Err(e) => {
                return Some(
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("cannot build the workbook: {e}"),
                    )
                        .into_response(),
                )
            }
        },
        other => {
            return Some(
                (
                    StatusCode::BAD_REQUEST,
                    format!("format={other}: use csv or xlsx"),
                )
                    .into_response(),
            )
        }
    };
    let _ = ctx;
    let name = auth::urlencode(&format!("{}.{ext}", table.title)).replace('/', "%2F");
    let disposition = format!("attachment; filename=\"export.{ext}\"; filename*=UTF-8''{name}");
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Some(resp)
}

/// The page URL ready for `format=` to be appended.
fn export_base(path: &str) -> String {
    let base: String = match path.split_once('?') {
        Some((p, q)) => {
            let kept: Vec<&str> = q
                .split('&')
                .filter(|x| !x.starts_with("format=") && !x.starts_with("table=") && !x.is_empty())
                .collect();
            if kept.is_empty() {
                format!("{p}?")
            } else {
                format!("{p}?{}&", kept.join("&"))
            }
        }
        None => format!("{path}?"),
    };
    base
}

/// The label of an age band code.
fn age_label(lang: Lang, band: &str) -> String {
    match (lang, band) {
        (Lang::Zh, "under_30") => "30岁以下".into(),
        (Lang::Zh, "60_plus") => "60岁及以上".into(),
        (Lang::Zh, b) => format!("{}岁", b.replace('_', "–")),
        (Lang::En, b) => b.replace('_', "–"),
    }
}

/// `/`: the overview of this node's own unit.
pub async fn home(State(state): State<AppState>) -> Redirect {
    Redirect::to(&format!("/org/{}", state.org()))
}

/// Unknown URLs.
pub async fn not_found(State(state): State<AppState>, ctx: Ctx) -> Response {
    message(
        &ctx,
        &state,
        StatusCode::NOT_FOUND,
        ctx.lang.t("找不到页面", "Page not found"),
        ctx.lang.t(
            "没有这个页面。请从首页进入。",
            "There is no such page; start from the start page.",
        ),
    )
}

fn path_label(lang: Lang, p: ArrivalPath) -> &'static str {
    match p {
        ArrivalPath::Local => lang.t("本机录入", "entered here"),
        ArrivalPath::Direct => lang.t("直连同步", "direct sync"),
        ArrivalPath::Relay => lang.t("中继转发", "relay"),
        ArrivalPath::Bundle => lang.t("数据包导入", "bundle file"),
    }
}

fn name_of(names: &BTreeMap<OrgCode, String>, org: &OrgCode) -> String {
    names
        .get(org)
        .filter(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| org.to_string())
}

/// How a unit was last heard from: the path, and who reported it if not heard here.
fn heard_label(lang: Lang, u: &UnitFreshness, names: &BTreeMap<OrgCode, String>) -> String {
    let Some(via) = u.via else {
        return lang.t("从未联系", "never heard from").to_string();
    };
    match u.reported_by {
        Some(by) => format!(
            "{}{}{}",
            path_label(lang, via),
            lang.t("，据 ", ", reported by "),
            name_of(names, &by)
        ),
        None => path_label(lang, via).to_string(),
    }
}

/// When a unit was last heard from, with its age ("never" if it never was).
fn heard_when(lang: Lang, u: &UnitFreshness, now: i64, zone: Zone) -> String {
    match u.last_heard {
        Some(at) => format!("{}（{}）", lang.time(zone, at), lang.ago(now - at)),
        None => lang.t("从未", "never").to_string(),
    }
}

/// The stale limit in words ("45 min", "24 h").
fn limit_label(secs: i64) -> String {
    if secs >= 3600 && secs % 3600 == 0 {
        format!("{} h", secs / 3600)
    } else if secs >= 60 {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// One line saying how fresh a total is: its least recently heard part, its most
/// recently heard one, and when its data last changed.
fn freshness_text(
    lang: Lang,
    f: &SubtreeFreshness,
    names: &BTreeMap<OrgCode, String>,
    now: i64,
    zone: Zone,
) -> String {
    let (Some(newest), Some(oldest)) = (&f.newest, &f.oldest) else {
        return lang
            .t("尚无任何单位的联系记录", "no unit heard from yet")
            .to_string();
    };
    let changed = f
        .data_changed
        .map(|t| lang.time(zone, t))
        .unwrap_or_else(|| "—".into());
    match lang {
        Lang::Zh => format!(
            "{} 个单位；最久未联系：{}，最后联系 {}，{}；最近联系：{}（{}）；数据最后变动：{}",
            f.units,
            name_of(names, &oldest.org),
            heard_when(lang, oldest, now, zone),
            heard_label(lang, oldest, names),
            name_of(names, &newest.org),
            heard_when(lang, newest, now, zone),
            changed
        ),
        Lang::En => format!(
            "{} units; longest unheard: {}, last heard {}, {}; most recently heard: {} ({}); data last changed: {}",
            f.units,
            name_of(names, &oldest.org),
            heard_when(lang, oldest, now, zone),
            heard_label(lang, oldest, names),
            name_of(names, &newest.org),
            heard_when(lang, newest, now, zone),
            changed
        ),
    }
}

/// The freshness box shown above every total of `org`'s subtree.
async fn freshness_box(state: &AppState, lang: Lang, org: OrgCode) -> Markup {
    let stale = state.stale_after_secs();
    let now = chrono::Utc::now().timestamp();
    let res = state
        .read(move |l| {
            let rows = data::units(l, &org, now).unwrap_or_default();
            let f = SubtreeFreshness::of(&rows, now, stale);
            let names: BTreeMap<OrgCode, String> = [&f.newest, &f.oldest]
                .into_iter()
                .flatten()
                .flat_map(|u| [Some(u.org), u.reported_by])
                .flatten()
                .filter_map(|o| l.index().name(&o).ok().flatten().map(|n| (o, n)))
                .collect();
            (f, names)
        })
        .await;
    let Ok((f, names)) = res else {
        return Markup::default();
    };
    freshness_line(lang, &f, &names, now, state.reader().index().zone())
}

/// The freshness line above a total: green when every part was heard from within the
/// limit, yellow with the number of stale parts when not.
fn freshness_line(
    lang: Lang,
    f: &SubtreeFreshness,
    names: &BTreeMap<OrgCode, String>,
    now: i64,
    zone: Zone,
) -> Markup {
    markup! {
        div class=(if f.is_stale() { "warn" } else { "fresh" }) id="freshness" {
            b { (lang.t("数据新鲜度（合计所含各部分的最后联系）：", "Freshness (last contact with this total's parts):")) }
            " " (freshness_text(lang, f, names, now, zone))
            @if f.is_stale() {
                " "
                span.stale-note {
                    (f.stale_units) " " (lang.t("个单位超过", "units not heard from within")) " "
                    (limit_label(f.stale_after_secs)) (lang.t(" 未联系", ""))
                }
            }
        }
    }
}

/// Breadcrumbs from this node's unit down to `org`.
fn crumbs(state: &AppState, org: OrgCode, names: &BTreeMap<OrgCode, String>) -> Markup {
    let shown: Vec<OrgCode> = org
        .ancestors()
        .into_iter()
        .rev()
        .chain([org])
        .filter(|a| a.is_in_subtree_of(&state.org()))
        .collect();
    markup! {
        p.crumbs {
            @for (i, a) in shown.iter().enumerate() {
                @if i > 0 { " › " }
                a href={ "/org/" (a) } { (name_of(names, a)) }
            }
        }
    }
}
