//! `/org/{code}/rhythm`: the pairing rhythm of a unit (a paired helper phones monthly
//! and visits every two months): totals, per unit and per helper, visits by mode, and
//! the pairings overdue, the most overdue first.

use axum::extract::State;
use axum::response::Response;
use maud::html as markup;

use super::{ok_page, read_or_answer};
use crate::dashboard::auth::Ctx;
use crate::dashboard::unit::Unit;
use crate::dashboard::AppState;
use halfsky_shared::schema::enums::{HELPER_KIND, VISIT_MODE};

/// Most overdue pairings listed on the page (the CLI's `--json` has them all).
const SHOWN: usize = 500;

/// `GET /org/{code}/rhythm`.
pub async fn page(State(state): State<AppState>, ctx: Ctx, Unit(org): Unit) -> Response {
    let lang = ctx.lang;
    let rhythm = state.rhythm();
    let r = match read_or_answer(
        &ctx,
        &state,
        state.read(move |l| l.rhythm(org, rhythm)).await,
    ) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let overdue: Vec<_> = r
        .pairings
        .iter()
        .filter(|p| p.contact_overdue_days > 0 || p.visit_overdue_days > 0)
        .take(SHOWN)
        .collect();
    let counts_row = |label: String, c: &crate::ledger::rhythm::RhythmCounts| {
        markup! {
            tr { td { (label) } td.num { (c.pairings) } td.num { (c.contact_overdue) } td.num { (c.visit_overdue) } }
        }
    };
    let head = markup! {
        tr {
            th { "" }
            th { (lang.t("在帮结对", "Active pairings")) }
            th { (lang.t("逾期未联系", "Contact overdue")) }
            th { (lang.t("逾期未走访", "Visit overdue")) }
        }
    };
    let body = markup! {
        h1 { (lang.t("结对帮扶节奏", "Pairing rhythm")) " " small { (org) } }
        p {
            (lang.t("规则：每 ", "Rule: a contact every "))
            b id="phone-days" { (r.rhythm.phone_every_days) }
            (lang.t(" 天联系一次（电话即可），每 ", " days (a call counts), a visit in person every "))
            b id="visit-days" { (r.rhythm.visit_every_days) }
            (lang.t(" 天入户走访一次。统计日期 ", " days. As of "))
            (lang.date(r.as_of))
        }
        table id="rhythm-total" {
            (head)
            (counts_row(lang.t("合计", "Total").to_string(), &r.total))
        }
        h2 { (lang.t("按单位", "By unit")) }
        table id="rhythm-units" {
            (head)
            @for (unit, c) in &r.by_unit { (counts_row(unit.to_string(), c)) }
        }
        h2 { (lang.t("按帮扶人", "By helper")) }
        table id="rhythm-helpers" {
            (head)
            @for (helper, c) in &r.by_helper { (counts_row(helper.clone(), c)) }
        }
        h2 { (lang.t("回访方式", "Visits by mode")) }
        table id="visits-by-mode" {
            @for (mode, n) in &r.visits_by_mode {
                tr { td { (lang.option(&VISIT_MODE, mode)) } td.num { (n) } }
            }
        }
        h2 { (lang.t("逾期结对", "Overdue pairings")) " (" (overdue.len()) ")" }
        table id="rhythm-overdue" {
            tr {
                th { (lang.t("妇女", "Woman")) }
                th { (lang.t("帮扶人", "Helper")) }
                th { (lang.t("结对日期", "Since")) }
                th { (lang.t("最近联系", "Last contact")) }
                th { (lang.t("最近入户", "Last visit in person")) }
                th { (lang.t("联系逾期天数", "Contact: days overdue")) }
                th { (lang.t("走访逾期天数", "Visit: days overdue")) }
            }
            @for p in &overdue {
                tr {
                    td { a href={ "/record/" (p.woman) } { (p.woman_name) } }
                    td { (p.helper_name) " " small { (lang.option(&HELPER_KIND, &p.helper_kind)) } }
                    td { @if let Some(d) = p.since { (lang.date(d)) } }
                    td { @if let Some(d) = p.last_contact { (lang.date(d)) } @else { (lang.t("从未", "never")) } }
                    td { @if let Some(d) = p.last_in_person { (lang.date(d)) } @else { (lang.t("从未", "never")) } }
                    td.num { (p.contact_overdue_days) }
                    td.num { (p.visit_overdue_days) }
                }
            }
        }
    };
    ok_page(&ctx, &state, lang.t("结对帮扶节奏", "Pairing rhythm"), body)
}
