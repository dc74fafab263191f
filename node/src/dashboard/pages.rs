//! The pages: overview of a unit with its drill-down and freshness, the overdue
//! follow-up list, women by filter, a record with its history, login and logout.
//! Every table on a page downloads as CSV or XLSX from the same URL
//! (`?format=csv&table=N`).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use halfsky_shared::rollup::AGE_BANDS;
use halfsky_shared::schema::{enums, FieldType};
use halfsky_shared::{Kind, OrgCode, RecordId};
use serde::Deserialize;

use super::auth::{self, Ctx};
use super::data::{self, Overview, WomenFilter, PAGE_ROWS};
use super::html::{esc, page};
use super::i18n::{field_label, Lang};
use super::svg;
use super::table::{Cell, Table};
use super::unit::Unit;
use super::AppState;
use crate::sync::freshness::{ArrivalPath, SubtreeFreshness};

/// `?format=csv|xlsx&table=N`: download table N instead of the page.
#[derive(Debug, Default, Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
    table: Option<usize>,
}

/// Sends `body` as a page (remembering the language if `?lang=` chose one).
pub fn html(ctx: &Ctx, status: StatusCode, body: String) -> Response {
    let mut resp = (status, axum::response::Html(body)).into_response();
    if let Some(c) = ctx.lang_cookie() {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// A page with a message (errors, not found).
pub fn message(
    ctx: &Ctx,
    state: &AppState,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"err\">{}</p><p><a href=\"/\">{}</a></p>",
        esc(title),
        esc(text),
        ctx.lang.t("返回首页", "Back to the start page")
    );
    html(
        ctx,
        status,
        page(
            ctx.lang,
            title,
            &state.node_label(),
            &ctx.viewer(),
            &ctx.path,
            &body,
        ),
    )
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

/// One line saying how fresh a total is: newest arrival and its oldest part.
fn freshness_text(
    lang: Lang,
    f: &SubtreeFreshness,
    names: &BTreeMap<OrgCode, String>,
    now: i64,
) -> String {
    let (Some((newest_org, newest)), Some((oldest_org, oldest))) = (&f.newest, &f.oldest) else {
        return lang
            .t("尚无数据到达记录", "no arrivals recorded yet")
            .to_string();
    };
    match lang {
        Lang::Zh => format!(
            "{} 个单位；最近到达：{}（{}，{}）；最旧部分：{} 于 {}（{}，{}）",
            f.units,
            lang.time(newest.arrived_at),
            name_of(names, newest_org),
            path_label(lang, newest.path),
            name_of(names, oldest_org),
            lang.time(oldest.arrived_at),
            lang.ago(now - oldest.arrived_at),
            path_label(lang, oldest.path)
        ),
        Lang::En => format!(
            "{} units; newest arrival: {} ({}, {}); oldest part: {} at {} ({}, {})",
            f.units,
            lang.time(newest.arrived_at),
            name_of(names, newest_org),
            path_label(lang, newest.path),
            name_of(names, oldest_org),
            lang.time(oldest.arrived_at),
            lang.ago(now - oldest.arrived_at),
            path_label(lang, oldest.path)
        ),
    }
}

/// The freshness box shown above every total of `org`'s subtree.
async fn freshness_box(state: &AppState, lang: Lang, org: OrgCode) -> String {
    let stale = state.stale_after_secs();
    let now = chrono::Utc::now().timestamp();
    let res = state
        .read(move |l| {
            let rows = data::arrivals(l, &org).unwrap_or_default();
            let f = SubtreeFreshness::of(&rows, now, stale);
            let names: BTreeMap<OrgCode, String> = [&f.newest, &f.oldest]
                .into_iter()
                .flatten()
                .filter_map(|(o, _)| l.index().name(o).ok().flatten().map(|n| (*o, n)))
                .collect();
            (f, names)
        })
        .await;
    let Ok((f, names)) = res else {
        return String::new();
    };
    let class = if f.is_stale(now, stale) {
        "warn"
    } else {
        "fresh"
    };
    format!(
        "<div class=\"{class}\" id=\"freshness\"><b>{}</b> {}</div>",
        lang.t(
            "数据新鲜度（合计所含各部分）：",
            "Freshness of this total's parts:"
        ),
        esc(&freshness_text(lang, &f, &names, now))
    )
}

/// Breadcrumbs from this node's unit down to `org`.
fn crumbs(state: &AppState, org: OrgCode, names: &BTreeMap<OrgCode, String>) -> String {
    let mut parts = Vec::new();
    for a in org.ancestors().into_iter().rev().chain([org]) {
        if a.is_in_subtree_of(&state.org()) {
            parts.push(format!(
                "<a href=\"/org/{a}\">{}</a>",
                esc(&name_of(names, &a))
            ));
        }
    }
    format!("<p class=\"crumbs\">{}</p>", parts.join(" › "))
}

fn overview_tables(lang: Lang, o: &Overview, now: i64) -> Vec<Table> {
    let s = &o.stats;
    let mut children = Table::new(
        format!("{} {}", s.name, lang.t("下级单位", "units below")),
        &[
            lang.t("单位", "Unit"),
            lang.t("代码", "Code"),
            lang.t("妇女", "Women"),
            lang.t("户", "Households"),
            lang.t("逾期未回访", "Overdue"),
            lang.t("今年脱贫", "Exits this year"),
            lang.t("今年培训人次", "Training person-times"),
            lang.t("最近到达", "Last arrival"),
            lang.t("途径", "Path"),
            lang.t("最旧部分", "Oldest part"),
            lang.t("状态", "State"),
        ],
    );
    for c in &o.children {
        let name = if c.stats.name.is_empty() {
            c.stats.org.to_string()
        } else {
            c.stats.name.clone()
        };
        let (last, path) = match &c.freshness.newest {
            Some((_, a)) => (
                lang.time(a.arrived_at),
                path_label(lang, a.path).to_string(),
            ),
            None => ("—".into(), "—".into()),
        };
        let oldest = match &c.freshness.oldest {
            Some((org, a)) => format!(
                "{} {}（{}）",
                name_of(&o.names, org),
                lang.time(a.arrived_at),
                lang.ago(now - a.arrived_at)
            ),
            None => lang.t("无数据", "no data").to_string(),
        };
        let state = if c.stale {
            format!("{} {}h", lang.t("过期 >", "stale >"), o.stale_after_hours)
        } else {
            lang.t("正常", "fresh").to_string()
        };
        let row = vec![
            Cell::Link(name, format!("/org/{}", c.stats.org)),
            c.stats.org.to_string().into(),
            c.stats.women_total.into(),
            c.stats.households_total.into(),
            c.stats.overdue_women.into(),
            c.stats.exits_this_year.into(),
            c.stats.training_person_times_this_year.into(),
            last.into(),
            path.into(),
            oldest.into(),
            state.into(),
        ];
        if c.stale {
            children.push_class(row, "stale")
        } else {
            children.push(row)
        }
    }
    let mut status = Table::new(
        lang.t("妇女按状态", "Women by status"),
        &[lang.t("状态", "Status"), lang.t("人数", "Women")],
    );
    for code in enums::STATUS.codes() {
        status.push(vec![
            lang.option(&enums::STATUS, code).into(),
            s.women.by_status.of(code).into(),
        ]);
    }
    let mut labor = Table::new(
        lang.t("劳动能力与就业愿望", "Labour capacity and wish to work"),
        &[
            lang.t("劳动能力", "Labour capacity"),
            lang.t("有就业愿望", "Wants work"),
            lang.t("无就业愿望", "No wish"),
            lang.t("合计", "Total"),
        ],
    );
    for code in enums::LABOR.codes() {
        let v = s
            .women
            .by_labor_and_work
            .get(code)
            .cloned()
            .unwrap_or_default();
        labor.push(vec![
            lang.option(&enums::LABOR, code).into(),
            v.wants_work.into(),
            v.no_wish.into(),
            s.women.by_labor.of(code).into(),
        ]);
    }
    let mut cause = Table::new(
        lang.t("致贫原因", "Poverty causes"),
        &[lang.t("原因", "Cause"), lang.t("人数", "Women")],
    );
    for code in enums::CAUSE.codes() {
        cause.push(vec![
            lang.option(&enums::CAUSE, code).into(),
            s.women.by_cause.of(code).into(),
        ]);
    }
    let mut age = Table::new(
        lang.t("年龄段", "Age bands"),
        &[lang.t("年龄段", "Age band"), lang.t("人数", "Women")],
    );
    for band in AGE_BANDS {
        age.push(vec![
            age_label(lang, band).into(),
            s.women.by_age_band.of(band).into(),
        ]);
    }
    let mut verif = Table::new(
        lang.t("各级核查进度", "Verification by level"),
        &[
            lang.t("核查层级", "Level"),
            lang.t("确认", "Confirmed"),
            lang.t("不通过", "Rejected"),
            lang.t("需整改", "Needs fix"),
            lang.t("妇女总数", "Women"),
            lang.t("确认比例%", "Confirmed %"),
        ],
    );
    for v in &o.verification {
        let pct = if v.women > 0 {
            (v.confirmed as f64 * 1000.0 / v.women as f64).round() / 10.0
        } else {
            0.0
        };
        verif.push(vec![
            lang.level(v.level).into(),
            v.confirmed.into(),
            v.rejected.into(),
            v.needs_fix.into(),
            v.women.into(),
            Cell::Num(pct),
        ]);
    }
    vec![children, status, labor, cause, age, verif]
}

fn age_label(lang: Lang, band: &str) -> String {
    match (lang, band) {
        (Lang::Zh, "under_30") => "30岁以下".into(),
        (Lang::Zh, "60_plus") => "60岁及以上".into(),
        (Lang::Zh, b) => format!("{}岁", b.replace('_', "–")),
        (Lang::En, b) => b.replace('_', "–"),
    }
}

fn chart(t: &Table, value_col: usize) -> String {
    let items: Vec<(String, i64)> = t
        .rows
        .iter()
        .map(|r| (r[0].text(), r[value_col].text().parse().unwrap_or(0)))
        .collect();
    svg::bars(&items)
}

/// `/org/{code}`: statistics of a unit, its children and their freshness.
pub async fn overview(
    State(state): State<AppState>,
    ctx: Ctx,
    Unit(org): Unit,
    Query(q): Query<ExportQuery>,
) -> Response {
    let lang = ctx.lang;
    let now = chrono::Utc::now().timestamp();
    let o = match state.overview(org).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            return message(
                &ctx,
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                lang.t("读取失败", "Cannot read"),
                &e.to_string(),
            )
        }
        Err(r) => return r,
    };
    let tables = overview_tables(lang, &o, now);
    if let Some(r) = export(&ctx, &tables, &q) {
        return r;
    }
    let s = &o.stats;
    let base = export_base(&ctx.path);
    let mut b = crumbs(&state, org, &o.names);
    b.push_str(&format!(
        "<h1>{} <small>{} {}</small></h1>",
        esc(&s.name),
        lang.level(s.level),
        s.org
    ));
    let class = if o.stale { "warn" } else { "fresh" };
    let stale_note = if o.stale {
        format!(
            " <span class=\"stale-note\">{} {}h</span>",
            lang.t("部分数据已过期，超过", "part of the data is older than"),
            o.stale_after_hours
        )
    } else {
        String::new()
    };
    b.push_str(&format!(
        "<div class=\"{class}\" id=\"freshness\"><b>{}</b> {}{stale_note}</div>",
        lang.t(
            "数据新鲜度（合计所含各部分）：",
            "Freshness of this total's parts:"
        ),
        esc(&freshness_text(lang, &o.freshness, &o.names, now))
    ));
    b.push_str(&format!("<p>{} {} · <a href=\"/org/{org}/overdue\">{}</a> · <a href=\"/org/{org}/women\">{}</a></p>",
        lang.t("统计日期", "As of"), lang.date(s.as_of), lang.t("逾期未回访名单", "Overdue follow-ups"), lang.t("妇女名单", "Women")));
    let w = &s.women;
    let v = &s.visits;
    let boxes: Vec<(&str, String, &str)> = vec![
        (
            lang.t("妇女建卡", "Women with a card"),
            w.total.to_string(),
            "women-total",
        ),
        (
            lang.t("户", "Households"),
            format!(
                "{}（{} {}）",
                s.households.total,
                lang.t("建档立卡", "registered poor"),
                s.households.registered_poor
            ),
            "households",
        ),
        (
            lang.t("结对覆盖", "Pairing coverage"),
            format!(
                "{} / {}（{:?}%）",
                w.paired, w.total, w.pairing_coverage_percent
            ),
            "pairing",
        ),
        (
            lang.t("回访次数", "Visits"),
            v.total.to_string(),
            "visits-total",
        ),
        (
            lang.t("逾期未回访（60天）", "Overdue (no visit in 60 days)"),
            v.overdue_women.to_string(),
            "overdue-count",
        ),
        (
            lang.t("两癌保险", "Two-cancer insurance"),
            s.insured.to_string(),
            "insured",
        ),
        (
            lang.t("小额贷款", "Loans"),
            format!(
                "{}（{:?} {}）",
                s.loans.count,
                s.loans.amount_yuan,
                lang.t("元", "yuan")
            ),
            "loans",
        ),
        (
            lang.t("今年脱贫", "Exits this year"),
            s.exits_this_year.to_string(),
            "exits",
        ),
    ];
    b.push_str("<div class=\"grid\">");
    for (label, value, id) in boxes {
        b.push_str(&format!(
            "<div class=\"box\">{}<br><b id=\"{id}\">{}</b></div>",
            esc(label),
            esc(&value)
        ));
    }
    b.push_str("</div>");
    let t = &s.trainings;
    let pt = t.person_times_this_year;
    let target = &o.targets.training_person_times;
    let share_target = &o.targets.poor_share_percent;
    b.push_str(&format!(
        "<h2>{}</h2><p>{} {}：{} {}，{} {}</p>",
        lang.t("培训", "Trainings"),
        t.year,
        lang.t("年", ""),
        t.sessions_this_year,
        lang.t("期", "sessions"),
        pt,
        lang.t("人次", "person-times")
    ));
    b.push_str(&svg::progress(
        pt as f64,
        target.value as f64,
        &format!(
            "{pt} / {} {}",
            target.value,
            if target.is_default() {
                lang.t(
                    "人次（目标：每县每年300，默认值）",
                    "person-times (target 300 per county per year, default)",
                )
            } else {
                lang.t("人次（目标）", "person-times (target)")
            }
        ),
    ));
    let share = t.poor_share_percent_this_year;
    let share_text = match share {
        Some(p) => format!("{p}% / {}%", share_target.value),
        None => lang.t("今年无培训", "no trainings this year").to_string(),
    };
    b.push_str(&format!(
        "<p>{} <b id=\"poor-share\">{}</b></p>",
        esc(&format!(
            "{}{}{}{}",
            lang.t(
                "贫困妇女占培训人次比例（目标≥",
                "Poor women's share of person-times (target ≥ "
            ),
            share_target.value,
            if share_target.is_default() {
                lang.t("%，默认值", "%, default")
            } else {
                "%"
            },
            lang.t("）：", "):"),
        )),
        esc(&share_text)
    ));
    b.push_str(&svg::progress(
        share.unwrap_or(0.0),
        share_target.value as f64,
        &share_text,
    ));
    if !o.children.is_empty() {
        b.push_str(&format!(
            "<h2>{}</h2>",
            lang.t("下级单位（点击查看）", "Units below (click to drill down)")
        ));
        b.push_str(&tables[0].html(Some(&base), 0));
    }
    let titles = [(1, 1), (2, 3), (3, 1), (4, 1)];
    b.push_str("<div class=\"grid\">");
    for (i, col) in titles {
        b.push_str(&format!(
            "<div class=\"box\"><h3>{}</h3>{}{}</div>",
            esc(&tables[i].title),
            chart(&tables[i], col),
            tables[i].html(Some(&base), i)
        ));
    }
    b.push_str("</div>");
    b.push_str(&format!("<h2>{}</h2>", esc(&tables[5].title)));
    b.push_str(&tables[5].html(Some(&base), 5));
    b.push_str(&format!(
        "<p><small>{} {}; {} {}; {} {}</small></p>",
        lang.t("施策", "Measures"),
        s.measures.total,
        lang.t("基地", "Bases"),
        s.bases.total,
        lang.t("在帮结对", "Active pairings"),
        s.pairings.active
    ));
    let title = format!("{} — {}", s.name, lang.t("概览", "Overview"));
    html(
        &ctx,
        StatusCode::OK,
        page(
            lang,
            &title,
            &state.node_label(),
            &ctx.viewer(),
            &ctx.path,
            &b,
        ),
    )
}

/// `/org/{code}/overdue`: women overdue for a visit.
pub async fn overdue(
    State(state): State<AppState>,
    ctx: Ctx,
    Unit(org): Unit,
    Query(q): Query<ExportQuery>,
) -> Response {
    let lang = ctx.lang;
    let limit = if q.format.is_some() {
        usize::MAX
    } else {
        PAGE_ROWS
    };
    let res = state
        .overview(org)
        .await
        .map(|o| o.map(|o| Some(o.stats.visits.overdue_women)));
    let known = match res {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            return message(
                &ctx,
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                lang.t("读取失败", "Cannot read"),
                &e.to_string(),
            )
        }
        Err(r) => return r,
    };
    let res = state
        .read(move |l| {
            let today = l.today();
            let name = l.index().name(&org).ok().flatten().unwrap_or_default();
            data::overdue(l, org, today, limit, known).map(|r| (r, today, name))
        })
        .await;
    let ((rows, count), today, name) = match res {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return message(
                &ctx,
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                lang.t("读取失败", "Cannot read"),
                &e.to_string(),
            )
        }
        Err(r) => return r,
    };
    let own = org == state.org();
    let mut t = Table::new(
        format!("{name} {}", lang.t("逾期未回访", "overdue follow-ups")),
        &[
            lang.t("姓名", "Name"),
            lang.t("编号", "Id"),
            lang.t("村", "Village"),
            lang.t("状态", "Status"),
            lang.t("最近回访", "Last visit"),
            lang.t("未回访天数", "Days since"),
            lang.t("帮扶人", "Helper"),
            lang.t("操作", "Action"),
        ],
    );
    for r in &rows {
        let action = if own || r.village == state.org() {
            Cell::Link(
                lang.t("记录回访", "Record a visit").into(),
                format!("/new/visit?woman_id={}", r.woman_id),
            )
        } else {
            Cell::Text(String::new())
        };
        t.push(vec![
            Cell::Link(r.name.clone(), format!("/record/{}", r.woman_id)),
            r.woman_id.clone().into(),
            if r.village_name.is_empty() {
                r.village.to_string()
            } else {
                r.village_name.clone()
            }
            .into(),
            lang.option(&enums::STATUS, &r.status).into(),
            r.last_visit
                .as_deref()
                .map(|d| lang.date_text(d))
                .unwrap_or_else(|| lang.t("从未回访", "never").into())
                .into(),
            r.days_since
                .map(Cell::from)
                .unwrap_or_else(|| Cell::Text("—".into())),
            r.helpers.join("、").into(),
            action,
        ]);
    }
    let tables = [t];
    if let Some(r) = export(&ctx, &tables, &q) {
        return r;
    }
    let mut b = format!(
        "<p class=\"crumbs\"><a href=\"/org/{org}\">{}</a></p><h1>{}</h1>",
        esc(&name),
        esc(&tables[0].title)
    );
    b.push_str(&freshness_box(&state, lang, org).await);
    b.push_str(&format!(
        "<p>{} <b id=\"overdue-total\">{count}</b>（{} {}）{}</p>",
        lang.t("共", "In all"),
        lang.t("60天内无回访，截至", "no visit in 60 days, as of"),
        lang.date(today),
        if count > rows.len() {
            format!(
                "；{} {} {}",
                lang.t("页面显示前", "showing the first"),
                rows.len(),
                lang.t("条，导出可得全部", "rows; export for all")
            )
        } else {
            String::new()
        }
    ));
    b.push_str(&tables[0].html(Some(&export_base(&ctx.path)), 0));
    html(
        &ctx,
        StatusCode::OK,
        page(
            lang,
            &tables[0].title,
            &state.node_label(),
            &ctx.viewer(),
            &ctx.path,
            &b,
        ),
    )
}

/// Query of the women list: the filter plus export.
#[derive(Debug, Default, Deserialize)]
pub struct WomenQuery {
    #[serde(flatten)]
    filter: WomenFilter,
    format: Option<String>,
    table: Option<usize>,
}

fn select(name: &str, label: &str, options: &[(String, String)], current: Option<&str>) -> String {
    let mut s = format!(
        "<label>{} <select name=\"{name}\"><option value=\"\">—</option>",
        esc(label)
    );
    for (v, l) in options {
        let sel = if current == Some(v.as_str()) {
            " selected"
        } else {
            ""
        };
        s.push_str(&format!(
            "<option value=\"{}\"{sel}>{}</option>",
            esc(v),
            esc(l)
        ));
    }
    s.push_str("</select></label> ");
    s
}

fn enum_options(lang: Lang, spec: &enums::EnumSpec) -> Vec<(String, String)> {
    spec.codes()
        .map(|c| (c.to_string(), lang.option(spec, c)))
        .collect()
}

/// `/org/{code}/women`: women by any filter.
pub async fn women(
    State(state): State<AppState>,
    ctx: Ctx,
    Unit(org): Unit,
    Query(q): Query<WomenQuery>,
) -> Response {
    let lang = ctx.lang;
    let limit = if q.format.is_some() {
        usize::MAX
    } else {
        PAGE_ROWS
    };
    let filter = q.filter.clone();
    let res = state
        .read(move |l| {
            let name = l.index().name(&org).ok().flatten().unwrap_or_default();
            data::women(l, org, &filter, limit).map(|r| (r, name))
        })
        .await;
    let ((rows, count), name) = match res {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return message(
                &ctx,
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                lang.t("读取失败", "Cannot read"),
                &e.to_string(),
            )
        }
        Err(r) => return r,
    };
    let spec = Kind::Woman.spec();
    let shown = [
        "name",
        "birth_year",
        "id_number",
        "labor_capacity",
        "wants_work",
        "status",
        "insured_two_cancers",
    ];
    let mut headers: Vec<String> = shown
        .iter()
        .map(|f| field_label(lang, spec.field(f).expect("schema field")))
        .collect();
    headers.insert(1, lang.t("编号", "Id").into());
    headers.push(lang.t("最近回访", "Last visit").into());
    let mut t = Table {
        title: format!("{name} {}", lang.t("妇女名单", "women")),
        headers,
        ..Table::default()
    };
    for row in &rows {
        let r = &row.record;
        let mut cells: Vec<Cell> = Vec::new();
        for f in shown {
            let field = spec.field(f).expect("schema field");
            let text = match (r.fields.get(f), &field.ty) {
                (None, _) => String::new(),
                (Some(v), FieldType::Enum(e)) => lang.option(e, &v.display(&field.ty)),
                (Some(v), FieldType::Bool) => if v.as_bool() == Some(true) {
                    lang.t("是", "yes")
                } else {
                    lang.t("否", "no")
                }
                .to_string(),
                (Some(v), ty) => v.display(ty),
            };
            cells.push(text.into());
        }
        cells[0] = Cell::Link(cells[0].text(), format!("/record/{}", r.id));
        cells.insert(1, r.id.to_string().into());
        cells.push(
            row.links
                .last_visit
                .as_deref()
                .map(|d| lang.date_text(d))
                .unwrap_or_default()
                .into(),
        );
        t.push(cells);
    }
    let tables = [t];
    if let Some(r) = export(&ctx, &tables, &WomenExport(&q).into()) {
        return r;
    }
    let f = &q.filter;
    let yn = vec![
        ("yes".to_string(), lang.t("是", "yes").to_string()),
        ("no".to_string(), lang.t("否", "no").to_string()),
    ];
    let ages: Vec<(String, String)> = AGE_BANDS
        .iter()
        .map(|b| (b.to_string(), age_label(lang, b)))
        .collect();
    let mut b = format!(
        "<p class=\"crumbs\"><a href=\"/org/{org}\">{}</a></p><h1>{}</h1><form method=\"get\">",
        esc(&name),
        esc(&tables[0].title)
    );
    b.push_str(&format!(
        "<label>{} <input type=\"text\" name=\"name\" value=\"{}\"></label> ",
        lang.t("姓名含", "Name contains"),
        esc(f.name.as_deref().unwrap_or(""))
    ));
    b.push_str(&select(
        "status",
        lang.t("状态", "Status"),
        &enum_options(lang, &enums::STATUS),
        f.status.as_deref(),
    ));
    b.push_str(&select(
        "labor",
        lang.t("劳动能力", "Labour"),
        &enum_options(lang, &enums::LABOR),
        f.labor.as_deref(),
    ));
    b.push_str(&select(
        "wants_work",
        lang.t("就业愿望", "Wants work"),
        &yn,
        f.wants_work.as_deref(),
    ));
    b.push_str(&select(
        "cause",
        lang.t("致贫原因", "Cause"),
        &enum_options(lang, &enums::CAUSE),
        f.cause.as_deref(),
    ));
    b.push_str(&select(
        "age",
        lang.t("年龄段", "Age"),
        &ages,
        f.age.as_deref(),
    ));
    b.push_str(&select(
        "insured",
        lang.t("两癌保险", "Insured"),
        &yn,
        f.insured.as_deref(),
    ));
    b.push_str(&select(
        "paired",
        lang.t("已结对", "Paired"),
        &yn,
        f.paired.as_deref(),
    ));
    b.push_str(&format!(
        "<button type=\"submit\">{}</button></form>",
        lang.t("筛选", "Filter")
    ));
    b.push_str(&freshness_box(&state, lang, org).await);
    b.push_str(&format!(
        "<p>{} <b id=\"women-count\">{count}</b> {}{}</p>",
        lang.t("共", "In all"),
        lang.t("人", "women"),
        if count > rows.len() {
            format!(
                "；{} {} {}",
                lang.t("页面显示前", "showing the first"),
                rows.len(),
                lang.t("条，导出可得全部", "rows; export for all")
            )
        } else {
            String::new()
        }
    ));
    b.push_str(&tables[0].html(Some(&export_base(&ctx.path)), 0));
    html(
        &ctx,
        StatusCode::OK,
        page(
            lang,
            &tables[0].title,
            &state.node_label(),
            &ctx.viewer(),
            &ctx.path,
            &b,
        ),
    )
}

struct WomenExport<'a>(&'a WomenQuery);

impl From<WomenExport<'_>> for ExportQuery {
    fn from(w: WomenExport<'_>) -> Self {
        ExportQuery {
            format: w.0.format.clone(),
            table: w.0.table,
        }
    }
}

/// `/record/{id}`: a record, its conflicting values, its history and related records.
pub async fn record(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Response {
    let lang = ctx.lang;
    let id = match RecordId::parse(raw.trim()) {
        Ok(id) if id.org().is_in_subtree_of(&state.org()) => id,
        Ok(id) => {
            return message(
                &ctx,
                &state,
                StatusCode::NOT_FOUND,
                lang.t("没有这条记录", "No such record"),
                &format!("{id} is not in this node's subtree"),
            )
        }
        Err(e) => {
            return message(
                &ctx,
                &state,
                StatusCode::NOT_FOUND,
                lang.t("没有这条记录", "No such record"),
                &e.to_string(),
            )
        }
    };
    let lookup = id.clone();
    let p = match state.read(move |l| data::record(l, &lookup)).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            return message(
                &ctx,
                &state,
                StatusCode::NOT_FOUND,
                lang.t("没有这条记录", "No such record"),
                &e.to_string(),
            )
        }
        Err(r) => return r,
    };
    let rec = &p.view.indexed.record;
    let spec = rec.kind().spec();
    let mut fields = Table::new(
        format!("{} {}", lang.t(spec.zh, spec.name), id),
        &[
            lang.t("字段", "Field"),
            lang.t("值", "Value"),
            lang.t(
                "冲突值（不同设备同时修改）",
                "Conflicting values (concurrent edits)",
            ),
        ],
    );
    for f in spec.fields {
        let value = match (rec.fields.get(f.name), &f.ty) {
            (None, _) => String::new(),
            (Some(v), FieldType::Enum(e)) => lang.option(e, &v.display(&f.ty)),
            (Some(v), FieldType::EnumList(e)) => v
                .as_list()
                .unwrap_or_default()
                .iter()
                .map(|c| lang.option(e, c))
                .collect::<Vec<_>>()
                .join("、"),
            (Some(v), FieldType::Bool) => if v.as_bool() == Some(true) {
                lang.t("是", "yes")
            } else {
                lang.t("否", "no")
            }
            .to_string(),
            (Some(v), FieldType::Date) => lang.date_text(&v.display(&f.ty)),
            (Some(v), ty) => v.display(ty),
        };
        let conflict = p
            .view
            .conflicts
            .get(f.name)
            .map(|v| v.join(" | "))
            .unwrap_or_default();
        let value_cell = match (&f.ty, rec.fields.get(f.name).and_then(|v| v.as_text())) {
            (FieldType::Ref(_) | FieldType::RecordRef, Some(t)) => {
                Cell::Link(t.to_string(), format!("/record/{t}"))
            }
            _ => Cell::Text(value),
        };
        if conflict.is_empty() {
            fields.push(vec![
                field_label(lang, f).into(),
                value_cell,
                conflict.into(),
            ]);
        } else {
            fields.push_class(
                vec![field_label(lang, f).into(), value_cell, conflict.into()],
                "stale",
            );
        }
    }
    let mut history = Table::new(
        format!("{id} {}", lang.t("修改历史", "history")),
        &[
            lang.t("时间", "When"),
            lang.t("操作", "What"),
            lang.t("设备（谁）", "Device (who)"),
            lang.t("内容", "Values"),
        ],
    );
    for e in &p.history {
        let values: Vec<String> = e
            .values
            .iter()
            .map(|(k, v)| {
                let label = spec
                    .field(k)
                    .map(|f| field_label(lang, f))
                    .unwrap_or_else(|| k.clone());
                format!("{label}={v}")
            })
            .collect();
        let mut text = values.join("，");
        if let Some(n) = &e.note {
            text.push_str(&format!("（{n}）"));
        }
        history.push(vec![
            lang.time(e.time).into(),
            e.op.clone().into(),
            e.by.clone().into(),
            text.into(),
        ]);
    }
    let mut related = Table::new(
        format!("{id} {}", lang.t("相关记录", "related records")),
        &[
            lang.t("类别", "Kind"),
            lang.t("编号", "Id"),
            lang.t("日期", "Date"),
            lang.t("摘要", "Summary"),
        ],
    );
    for r in &p.related {
        let s = r.kind().spec();
        let date = r
            .text("date")
            .or(r.text("since"))
            .map(|d| lang.date_text(d))
            .unwrap_or_default();
        related.push(vec![
            lang.t(s.zh, s.name).into(),
            Cell::Link(r.id.to_string(), format!("/record/{}", r.id)),
            date.into(),
            r.title().into(),
        ]);
    }
    let tables = [fields, history, related];
    if let Some(r) = export(&ctx, &tables, &q) {
        return r;
    }
    let base = export_base(&ctx.path);
    let mut b = format!(
        "<p class=\"crumbs\"><a href=\"/org/{}\">{}</a></p><h1>{} <small>{}</small></h1>",
        id.org(),
        id.org(),
        esc(&rec.title()),
        esc(&tables[0].title)
    );
    if rec.meta.retired {
        b.push_str(&format!(
            "<p class=\"warn\">{} {}</p>",
            lang.t("已停用：", "Retired:"),
            esc(rec.meta.retired_reason.as_deref().unwrap_or(""))
        ));
    }
    if !p.view.conflicts.is_empty() {
        b.push_str(&format!("<p class=\"warn\">{}</p>", lang.t("有字段在不同设备上被同时修改，显示的是合并后的值，冲突值列在旁边，请核实后更新。", "Some fields were changed on different devices at once: the merged value is shown with the conflicting values beside it; check and update.")));
    }
    b.push_str(&tables[0].html(Some(&base), 0));
    if rec.kind() == Kind::Woman && id.org() == state.org() {
        b.push_str(&format!("<p><a href=\"/new/visit?woman_id={id}\">{}</a> · <a href=\"/new/pairing?woman_id={id}\">{}</a> · <a href=\"/new/measure?woman_id={id}\">{}</a></p>",
            lang.t("记录回访", "Record a visit"), lang.t("新增结对", "Add a pairing"), lang.t("新增施策", "Add a measure")));
    }
    b.push_str(&format!(
        "<p><small>{} {} {}；{} {} {}</small></p>",
        lang.t("创建", "Created"),
        esc(&rec.meta.created_at),
        esc(&rec.meta.created_by),
        lang.t("修改", "updated"),
        esc(&rec.meta.updated_at),
        esc(&rec.meta.updated_by)
    ));
    if !p.related.is_empty() {
        b.push_str(&format!("<h2>{}</h2>", esc(&tables[2].title)));
        b.push_str(&tables[2].html(Some(&base), 2));
    }
    b.push_str(&format!("<h2>{}</h2>", esc(&tables[1].title)));
    b.push_str(&tables[1].html(Some(&base), 1));
    html(
        &ctx,
        StatusCode::OK,
        page(
            lang,
            &rec.title(),
            &state.node_label(),
            &ctx.viewer(),
            &ctx.path,
            &b,
        ),
    )
}

/// `?next=` of the login page.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    lang: Option<String>,
}

fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

fn lang_of(headers: &axum::http::HeaderMap, q: Option<&str>) -> Lang {
    q.and_then(Lang::parse)
        .or_else(|| {
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|c| c.trim().split_once('='))
                .find(|(k, _)| *k == "lang")
                .and_then(|(_, v)| Lang::parse(v))
        })
        .unwrap_or_default()
}

/// `GET /login`.
pub async fn login_form(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    axum::response::Html(auth::login_page(
        lang,
        &safe_next(q.next.as_deref()),
        None,
        state.users().is_empty(),
    ))
    .into_response()
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: checks the password and opens a session.
pub async fn login(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers, None);
    let user = state
        .users()
        .iter()
        .find(|u| u.name == f.name.trim())
        .cloned();
    let password = f.password.clone();
    let ok = match &user {
        Some(u) => {
            let hash = u.password_hash.clone();
            tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password))
                .await
                .unwrap_or(false)
        }
        None => {
            // Same work for unknown users, so timing does not tell which names exist.
            let _ = tokio::task::spawn_blocking(move || auth::verify_password("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$2bFp7g2s0wQkz3Wc0qKX2d7vYxN8zF0m1n2o3p4q5r4", &password)).await;
            false
        }
    };
    let next = safe_next(f.next.as_deref());
    match (ok, user) {
        (true, Some(u)) => {
            let token = state.sessions().open(&u.name, u.role);
            tracing::info!(user = %u.name, "dashboard login");
            let mut resp = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&auth::session_cookie(state.cookie_name(), &token))
            {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        _ => {
            tracing::warn!(user = %f.name, "dashboard login refused");
            let msg = lang.t(
                "用户名或密码错误，请重新输入。",
                "Wrong user name or password; try again.",
            );
            (
                StatusCode::UNAUTHORIZED,
                axum::response::Html(auth::login_page(
                    lang,
                    &next,
                    Some(msg),
                    state.users().is_empty(),
                )),
            )
                .into_response()
        }
    }
}

/// The logout form.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !ctx.csrf_ok(&f.csrf) {
        return message(
            &ctx,
            &state,
            StatusCode::FORBIDDEN,
            ctx.lang.t("请求无效", "Invalid request"),
            ctx.lang.t(
                "表单已过期，请刷新页面后重试。",
                "The form has expired; reload the page and try again.",
            ),
        );
    }
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == state.cookie_name())
        .map(|(_, v)| v.to_string());
    if let Some(t) = token {
        state.sessions().close(&t);
    }
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::clear_session_cookie(state.cookie_name())) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
