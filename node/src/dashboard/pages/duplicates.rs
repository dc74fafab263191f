//! `/org/{code}/duplicates`: women registered twice under a unit, one block per ID
//! number, each card with its unit and when and by which device it was written, and
//! the unit that sees both (where the pair is to be sorted out). No number or hash is
//! shown: the masked number is all a reader gets, as everywhere.

use axum::extract::State;
use axum::response::Response;
use maud::html as markup;

use super::{ok_page, read_or_answer};
use crate::dashboard::auth::Ctx;
use crate::dashboard::unit::Unit;
use crate::dashboard::AppState;

/// `GET /org/{code}/duplicates`.
pub async fn page(State(state): State<AppState>, ctx: Ctx, Unit(org): Unit) -> Response {
    let lang = ctx.lang;
    let zone = state.reader().index().zone();
    let groups = match read_or_answer(&ctx, &state, state.read(move |l| l.duplicates(org)).await) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let body = markup! {
        h1 { (lang.t("重复登记", "Registered twice")) " " small { (org) } }
        @if groups.is_empty() {
            p id="no-duplicates" { (lang.t("没有重复登记的身份证号。", "No ID number is registered twice.")) }
        } @else {
            p { (lang.t("以下身份证号登记了不止一次（未注销的卡）：", "These ID numbers are on more than one card (not retired): ")) b id="duplicate-count" { (groups.len()) } }
            @for g in &groups {
                h2 { (lang.t("共同上级 ", "Seen together at ")) (g.lowest_common_unit) }
                table.duplicates {
                    tr {
                        th { (lang.t("记录", "Record")) }
                        th { (lang.t("姓名", "Name")) }
                        th { (lang.t("身份证号", "ID number")) }
                        th { (lang.t("单位", "Unit")) }
                        th { (lang.t("登记时间", "Written")) }
                        th { (lang.t("设备", "Device")) }
                    }
                    @for c in &g.cards {
                        tr {
                            td { a href={ "/record/" (c.id) } { (c.id) } }
                            td { (c.name) }
                            td { (c.id_number_masked) }
                            td { (c.unit_name.as_deref().unwrap_or("")) " " small { (c.unit) } }
                            td { (lang.stamp(zone, &c.created_at)) }
                            td { (c.created_by) }
                        }
                    }
                }
            }
        }
    };
    ok_page(&ctx, &state, lang.t("重复登记", "Registered twice"), body)
}
