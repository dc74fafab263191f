//! The monthly report (统计报表): one printable page per unit, with the month's
//! activity, the totals, the unit's targets, verification progress by level, overdue
//! follow-ups and how fresh the figures are; dated, stamped with the unit's name and
//! code, with lines to sign. The dashboard serves it at `/org/CODE/report?month=` and
//! `halfsky report --org CODE --month YYYY-MM --out FILE` writes the very same page.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use halfsky_shared::schema::enums::VISIT_MODE;
use halfsky_shared::schema::parse_date;
use halfsky_shared::{Kind, OrgCode};
use maud::{html as markup, Markup, DOCTYPE};
use serde::Serialize;

use super::data::{overview, Overview};
use super::i18n::Lang;
use crate::ledger::reader::LedgerReader;
use crate::ledger::LedgerError;

/// A month not written `YYYY-MM`.
#[derive(Debug, thiserror::Error)]
#[error("month \"{0}\" must be written YYYY-MM, e.g. 2026-11")]
pub struct BadMonth(pub String);

/// What happened in the report's month, under the unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonthFigures {
    /// Women's cards made in the month (local days).
    pub new_women: usize,
    /// Exits (脱贫) dated in the month.
    pub exits: usize,
    /// Visits dated in the month.
    pub visits: usize,
    /// Of them, by mode (code → count).
    pub visits_by_mode: BTreeMap<String, usize>,
    /// Training sessions dated in the month.
    pub training_sessions: usize,
    /// Their person-times.
    pub training_person_times: i64,
}

/// The report of one unit for one month.
#[derive(Debug, Clone, Serialize)]
pub struct MonthlyReport {
    /// The month's first day.
    pub month: NaiveDate,
    /// The day the report was made (local).
    pub made_on: NaiveDate,
    /// The month's activity.
    pub figures: MonthFigures,
    /// The local day the unit heard from longest ago was last heard from.
    pub oldest_heard_on: Option<NaiveDate>,
    /// Totals, targets, verification and freshness as of `made_on`.
    pub overview: Overview,
}

/// Parses `YYYY-MM` into the month's first day.
pub fn parse_month(text: &str) -> Result<NaiveDate, BadMonth> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
        .map_err(|_| BadMonth(text.to_string()))
}

fn in_month(day: Option<NaiveDate>, month: NaiveDate) -> bool {
    day.is_some_and(|d| d.year() == month.year() && d.month() == month.month())
}

/// The report of `org` for the month starting `month`.
pub fn monthly_report(
    ledger: &LedgerReader,
    org: OrgCode,
    month: NaiveDate,
    now: i64,
    stale_after_secs: i64,
) -> Result<MonthlyReport, LedgerError> {
    let prefix = org.subtree_prefix();
    let zone = ledger.index().zone();
    let mut figures = MonthFigures::default();
    for w in ledger.list(Kind::Woman, prefix, false)? {
        figures.new_women += usize::from(in_month(
            zone.day_of_stamp(&w.record.meta.created_at),
            month,
        ));
        figures.exits += usize::from(in_month(
            w.record.text("exit_date").and_then(parse_date),
            month,
        ));
    }
    for v in ledger.list(Kind::Visit, prefix, false)? {
        if in_month(v.record.text("date").and_then(parse_date), month) {
            figures.visits += 1;
            let mode = v.record.text("mode").unwrap_or_default().to_string();
            *figures.visits_by_mode.entry(mode).or_insert(0) += 1;
        }
    }
    for t in ledger.list(Kind::Training, prefix, false)? {
        if in_month(t.record.text("date").and_then(parse_date), month) {
            figures.training_sessions += 1;
            figures.training_person_times +=
                t.record.list("attendees").len() as i64 + t.record.int("others_count").unwrap_or(0);
        }
    }
    let overview = overview(ledger, org, now, stale_after_secs)?;
    let oldest_heard_on = overview
        .freshness
        .oldest
        .as_ref()
        .and_then(|u| u.last_heard)
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| zone.day_of(t));
    Ok(MonthlyReport {
        month,
        made_on: ledger.today(),
        figures,
        oldest_heard_on,
        overview,
    })
}

/// Print styles: A4, no navigation, tables that do not break inside a row.
const STYLE: &str = "body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:48em;margin:1.5em auto;padding:0 1em;color:#111}\
h1{font-size:1.4em;text-align:center;margin-bottom:.2em}.stamp{text-align:center;color:#333}\
h2{font-size:1.1em;border-bottom:1px solid #999;margin-top:1.4em}table{border-collapse:collapse;width:100%}\
td,th{border:1px solid #999;padding:.25em .5em;text-align:left}td.num{text-align:right}\
.sign{display:flex;justify-content:space-between;margin-top:3em}.sign span{min-width:10em}\
@page{size:A4;margin:15mm}@media print{body{margin:0;max-width:none}tr{page-break-inside:avoid}}";

/// The whole page (a complete HTML document: the dashboard serves it as is and the
/// CLI writes it to a file).
pub fn render(report: &MonthlyReport, lang: Lang) -> Markup {
    let o = &report.overview;
    let s = &o.stats;
    let f = &report.figures;
    let month_label = match lang {
        Lang::Zh => format!("{}年{}月", report.month.year(), report.month.month()),
        Lang::En => report.month.format("%B %Y").to_string(),
    };
    let title = format!(
        "{} {}",
        s.name,
        lang.t("妇女精准扶贫统计报表", "women's poverty-alleviation report")
    );
    let row = |label: &str, value: String| markup! { tr { th { (label) } td.num { (value) } } };
    markup! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " " (month_label) }
                style { (STYLE) }
            }
            body {
                h1 id="report-title" { (title) }
                p.stamp {
                    (lang.t("填报单位：", "Unit: ")) b id="report-unit" { (s.name) " (" (s.org) ")" } " · "
                    (lang.t("报表月份：", "Month: ")) b id="report-month" { (month_label) } " · "
                    (lang.t("制表日期：", "Made on: ")) (lang.date(report.made_on))
                }
                h2 { (lang.t("一、本月情况", "1. This month")) }
                table id="month-figures" {
                    (row(lang.t("新建档妇女", "Women carded"), f.new_women.to_string()))
                    (row(lang.t("脱贫人数", "Exits"), f.exits.to_string()))
                    (row(lang.t("回访次数", "Visits"), f.visits.to_string()))
                    @for (mode, n) in &f.visits_by_mode {
                        (row(&format!("{}{}", lang.t("其中", "of which "), lang.option(&VISIT_MODE, mode)), n.to_string()))
                    }
                    (row(lang.t("培训期数", "Training sessions"), f.training_sessions.to_string()))
                    (row(lang.t("培训人次", "Training person-times"), f.training_person_times.to_string()))
                }
                h2 { (lang.t("二、累计（截至制表日）", "2. Totals (on the day made)")) }
                table id="totals" {
                    (row(lang.t("建档妇女", "Women carded"), s.women.total.to_string()))
                    (row(lang.t("其中贫困", "of whom poor"), s.women.by_status.of("poor").to_string()))
                    (row(lang.t("其中已脱贫", "of whom exited"), s.women.by_status.of("exited").to_string()))
                    (row(lang.t("其中返贫风险", "of whom at risk"), s.women.by_status.of("at_risk").to_string()))
                    (row(lang.t("户数", "Households"), s.households.total.to_string()))
                    (row(lang.t("今年脱贫", "Exits this year"), s.exits_this_year.to_string()))
                    (row(lang.t("回访次数", "Visits"), s.visits.total.to_string()))
                    (row(lang.t("逾期未回访妇女", "Women overdue for a visit"), s.visits.overdue_women.to_string()))
                    (row(lang.t("在帮结对", "Active pairings"), s.pairings.active.to_string()))
                    (row(lang.t("帮扶措施", "Measures"), s.measures.total.to_string()))
                    (row(lang.t("贷款笔数", "Loans"), s.loans.count.to_string()))
                    (row(lang.t("贷款金额", "Loans, amount"), super::i18n::money(lang, s.loans.amount_yuan)))
                    (row(lang.t("两癌保险人数", "Insured (two cancers)"), s.insured.to_string()))
                    (row(lang.t("基地", "Bases"), s.bases.total.to_string()))
                    (row(lang.t("今年培训人次", "Training person-times this year"), s.trainings.person_times_this_year.to_string()))
                }
                h2 { (lang.t("三、目标任务", "3. Targets")) }
                @if o.targets.own.is_empty() && o.targets.counties.is_none() && o.targets.share_of_county.is_none() {
                    p { (lang.t("无", "none")) }
                }
                @if let Some(c) = &o.targets.counties {
                    p id="report-counties" { (lang.t("今年培训达到本县年度目标的县：", "Counties at their yearly training target: ")) (c.reached) " / " (c.of) }
                }
                @if let Some(share) = &o.targets.share_of_county {
                    p id="report-share" {
                        (lang.t("本单位今年培训人次 / 所属县年度目标：", "This unit's person-times this year / its county's yearly target: "))
                        (share.own) " / " (share.target.value)
                    }
                }
                @if !o.targets.own.is_empty() {
                    table id="report-targets" {
                        tr { th { (lang.t("指标", "Metric")) } th { (lang.t("期间", "Period")) } th { (lang.t("目标", "Target")) } th { (lang.t("完成", "Done")) } }
                        @for l in &o.targets.own {
                            tr {
                                td { (lang.option(&halfsky_shared::schema::enums::METRIC, &l.metric)) }
                                td { (l.period) }
                                td.num { (l.value) }
                                td.num { @match l.actual { Some(a) => (a), None => "—" } }
                            }
                        }
                    }
                }
                h2 { (lang.t("四、各级核查进度", "4. Verification by level")) }
                table id="report-verification" {
                    tr { th { (lang.t("核查层级", "Level")) } th { (lang.t("确认", "Confirmed")) } th { (lang.t("退回", "Rejected")) } th { (lang.t("需整改", "Needs fix")) } th { (lang.t("待核查", "Pending")) } }
                    @for v in &o.verification {
                        tr {
                            td { (lang.level(v.level)) }
                            td.num { (v.progress.confirmed) }
                            td.num { (v.progress.rejected) }
                            td.num { (v.progress.needs_fix) }
                            td.num { (v.progress.pending) }
                        }
                    }
                }
                h2 { (lang.t("五、数据新鲜度", "5. How fresh the figures are")) }
                p id="report-freshness" {
                    (lang.t("下属单位 ", "Units below: ")) (o.freshness.units)
                    (lang.t("，超过时限未联系 ", "; not heard from within the limit: ")) (o.freshness.stale_units)
                    @if let Some(oldest) = &o.freshness.oldest {
                        (lang.t("；最久未联系：", "; heard from longest ago: "))
                        (o.names.get(&oldest.org).map(String::as_str).unwrap_or(oldest.org.as_str()))
                        " "
                        @match report.oldest_heard_on {
                            Some(day) => (lang.date(day)),
                            None => (lang.t("从未", "never")),
                        }
                    }
                }
                div.sign {
                    span { (lang.t("填报人：", "Prepared by: ")) "________" }
                    span { (lang.t("审核人：", "Checked by: ")) "________" }
                    span { (lang.t("单位负责人（盖章）：", "Head of unit (seal): ")) "________" }
                }
            }
        }
    }
}
