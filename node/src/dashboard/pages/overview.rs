//! The overview of a unit: its key figures, trainings against their targets, the
//! drill-down to the units below with their freshness, and tables (status, labour,
//! causes, age, verification) each with a chart and a download.

use axum::extract::{Query, State};
use axum::response::Response;
use halfsky_shared::local_time::Zone;
use halfsky_shared::rollup::AGE_BANDS;
use halfsky_shared::schema::enums;
use halfsky_shared::schema::enums::METRIC;
use maud::{html as markup, Markup};

use super::{
    age_label, crumbs, export, export_base, freshness_line, heard_label, heard_when, limit_label,
    name_of, ok_page, read_or_answer, ExportQuery,
};
use crate::dashboard::auth::Ctx;
use crate::dashboard::data::Overview;
use crate::dashboard::i18n::Lang;
use crate::dashboard::svg;
use crate::dashboard::table::{Cell, Table};
use crate::dashboard::unit::Unit;
use crate::dashboard::AppState;

fn overview_tables(lang: Lang, o: &Overview, now: i64, zone: Zone) -> Vec<Table> {
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
            lang.t("本级已核查", "Checked at this level"),
            lang.t("本级待核查", "Waiting for this level"),
            lang.t("需整改", "Needs fix"),
            lang.t("最久未联系部分", "Longest unheard part"),
            lang.t("最后联系", "Last heard"),
            lang.t("途径", "Path"),
            lang.t("数据最后变动", "Data last changed"),
            lang.t("状态", "State"),
        ],
    );
    for c in &o.children {
        let name = if c.stats.name.is_empty() {
            c.stats.org.to_string()
        } else {
            c.stats.name.clone()
        };
        let (last, path) = match &c.freshness.oldest {
            Some(u) => (
                heard_when(lang, u, now, zone),
                heard_label(lang, u, &o.names),
            ),
            None => ("—".into(), "—".into()),
        };
        let oldest = match &c.freshness.oldest {
            Some(u) => name_of(&o.names, &u.org),
            None => lang.t("无数据", "no data").to_string(),
        };
        let changed = c
            .freshness
            .data_changed
            .map(|t| lang.time(zone, t))
            .unwrap_or_else(|| "—".into());
        let state = if c.stale {
            format!(
                "{} {}",
                lang.t("过期 >", "stale >"),
                limit_label(c.freshness.stale_after_secs)
            )
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
            (c.verification.confirmed + c.verification.rejected + c.verification.needs_fix).into(),
            c.verification.pending.into(),
            c.verification.needs_fix.into(),
            oldest.into(),
            last.into(),
            path.into(),
            changed.into(),
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
            lang.t("待核查", "Pending"),
            lang.t("记录总数", "Records"),
            lang.t("已核查%", "Checked %"),
        ],
    );
    for v in &o.verification {
        let p = &v.progress;
        let checked = p.confirmed + p.rejected + p.needs_fix;
        let pct = if v.records > 0 {
            (checked as f64 * 1000.0 / v.records as f64).round() / 10.0
        } else {
            0.0
        };
        verif.push(vec![
            lang.level(v.level).into(),
            p.confirmed.into(),
            p.rejected.into(),
            p.needs_fix.into(),
            p.pending.into(),
            v.records.into(),
            Cell::Num(pct),
        ]);
    }
    vec![children, status, labor, cause, age, verif]
}

fn chart(t: &Table, value_col: usize) -> Markup {
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
    let o = match read_or_answer(&ctx, &state, state.overview(org).await) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let zone = state.reader().index().zone();
    let tables = overview_tables(lang, &o, now, zone);
    if let Some(r) = export(&ctx, &tables, &q) {
        return r;
    }
    let s = &o.stats;
    let base = export_base(&ctx.path);
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
            // `{:?}` keeps the decimal point of whole numbers ("50.0"), as the JSON does.
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
                "{}（{}）",
                s.loans.count,
                crate::dashboard::i18n::money(lang, s.loans.amount_yuan)
            ),
            "loans",
        ),
        (
            lang.t("今年脱贫", "Exits this year"),
            s.exits_this_year.to_string(),
            "exits",
        ),
    ];
    let body = markup! {
        (crumbs(&state, org, &o.names))
        h1 { (s.name) " " small { (lang.level(s.level)) " " (s.org) } }
        (freshness_line(lang, &o.freshness, &o.names, now, zone))
        p {
            (lang.t("统计日期", "As of")) " " (lang.date(s.as_of)) " · "
            a href={ "/org/" (org) "/overdue" } { (lang.t("逾期未回访名单", "Overdue follow-ups")) }
            " · "
            a href={ "/org/" (org) "/women" } { (lang.t("妇女名单", "Women")) }
            " · "
            a href={ "/org/" (org) "/verify" } id="verify-link" { (lang.t("四级核查", "Verification")) }
            " · "
            a href={ "/org/" (org) "/duplicates" } id="duplicates-link" { (lang.t("重复登记", "Registered twice")) }
            " · "
            a href={ "/org/" (org) "/rhythm" } id="rhythm-link" { (lang.t("结对帮扶节奏", "Pairing rhythm")) }
            " · "
            a href={ "/org/" (org) "/report" } id="report-link" { (lang.t("月度统计报表", "Monthly report")) }
            " · "
            a href={ "/org/" (org) "/trends" } id="trends-link" { (lang.t("路径与趋势", "Paths and trends")) }
            " · "
            a href={ "/org/" (org) "/records?kind=training" } id="records-link" { (lang.t("培训、贷款、基地、结对名单", "Trainings, loans, bases, pairings")) }
        }
        div.grid {
            @for (label, value, id) in &boxes {
                div.box { (label) br; b id=(id) { (value) } }
            }
        }
        (trainings(lang, &o))
        @if !o.children.is_empty() {
            h2 { (lang.t("下级单位（点击查看）", "Units below (click to drill down)")) }
            (tables[0].html(Some(&base), 0))
        }
        div.grid {
            @for (i, col) in [(1, 1), (2, 3), (3, 1), (4, 1)] {
                div.box {
                    h3 { (tables[i].title) }
                    (chart(&tables[i], col))
                    (tables[i].html(Some(&base), i))
                }
            }
        }
        h2 { (tables[5].title) }
        (tables[5].html(Some(&base), 5))
        p { small {
            (lang.t("施策", "Measures")) " " (s.measures.total) "; "
            (lang.t("基地", "Bases")) " " (s.bases.total) "; "
            (lang.t("在帮结对", "Active pairings")) " " (s.pairings.active)
        } }
    };
    let title = format!("{} — {}", s.name, lang.t("概览", "Overview"));
    ok_page(&ctx, &state, &title, body)
}

/// This year's trainings, and the targets drawn at the level they belong to: this
/// unit's own, the counties that reached theirs (city), or this unit's share of its
/// county's (township, village).
fn trainings(lang: Lang, o: &Overview) -> Markup {
    let t = &o.stats.trainings;
    let pt = t.person_times_this_year;
    let share_text = match t.poor_share_percent_this_year {
        Some(p) => format!("{p}%"),
        None => lang.t("今年无培训", "no trainings this year").to_string(),
    };
    let targets = &o.targets;
    markup! {
        h2 { (lang.t("培训", "Trainings")) }
        p {
            (t.year) " " (lang.t("年", "")) "：" (t.sessions_this_year) " "
            (lang.t("期", "sessions")) "，" b id="person-times" { (pt) } " " (lang.t("人次", "person-times")) "；"
            (lang.t("贫困妇女占培训人次比例 ", "poor women's share of person-times "))
            b id="poor-share" { (share_text) }
        }
        @if let Some(c) = &targets.counties {
            p id="counties-reached" {
                (lang.t("今年培训达到本县年度目标的县：", "Counties that reached their own yearly training target: "))
                b { (c.reached) " / " (c.of) }
            }
            table.compact {
                @for (county, target, done) in &c.counties {
                    tr {
                        td { a href={ "/org/" (county) } { (o.names.get(county).map(String::as_str).unwrap_or(county.as_str())) } }
                        td { (svg::progress(*done as f64, *target as f64, &format!("{done} / {target}"))) }
                    }
                }
            }
        }
        @if let Some(share) = &targets.share_of_county {
            p id="county-share" {
                (lang.t("本单位今年培训 ", "This unit's person-times this year: "))
                b { (share.own) }
                (lang.t(" 人次，所属县年度目标 ", ", of its county's yearly target of "))
                b { (share.target.value) }
                @if share.target.is_default() { (lang.t("（默认值）", " (default)")) }
                @if let Some(total) = share.county_total {
                    (lang.t("；全县今年 ", "; the whole county this year: ")) (total)
                }
            }
            (svg::progress(share.own as f64, share.target.value as f64, &format!("{} / {}", share.own, share.target.value)))
        }
        @if !targets.own.is_empty() {
            h2 { (lang.t("本级目标任务", "This unit's targets")) }
            table id="own-targets" {
                tr {
                    th { (lang.t("指标", "Metric")) }
                    th { (lang.t("期间", "Period")) }
                    th { (lang.t("目标", "Target")) }
                    th { (lang.t("完成", "Done")) }
                }
                @for line in &targets.own {
                    tr {
                        td { (lang.option(&METRIC, &line.metric)) @if line.is_default() { " " small { (lang.t("（默认值）", "(default)")) } } }
                        td { (line.period) }
                        td.num { (line.value) }
                        td {
                            @match line.actual {
                                Some(done) => {
                                    (svg::progress(done, line.value as f64, &format!("{done} / {}", line.value)))
                                    small { (if line.actual_is_this_year { lang.t("今年", "this year") } else { lang.t("累计", "all recorded") }) }
                                }
                                None => small { (lang.t("台账不记录此项", "not recorded in the ledger")) }
                            }
                        }
                    }
                }
            }
        }
    }
}
