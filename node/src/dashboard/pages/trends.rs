//! `/org/{code}/trends`: exits and measures by help path and by cause, and the last
//! twelve months of cards, exits, returns to poverty, visits and training person-times,
//! each chart with its numbers beside it in a table.

use axum::extract::State;
use axum::response::Response;
use halfsky_shared::schema::enums::{CAUSE, PATH};
use maud::{html as markup, Markup};

use super::{ok_page, read_or_answer};
use crate::dashboard::auth::Ctx;
use crate::dashboard::i18n::Lang;
use crate::dashboard::svg;
use crate::dashboard::trends::{trends, Trends};
use crate::dashboard::unit::Unit;
use crate::dashboard::AppState;

/// One month series: a bar chart and the same numbers as a table.
fn series(lang: Lang, t: &Trends, id: &str, title: &str, values: &[i64]) -> Markup {
    let items: Vec<(String, i64)> = t
        .months
        .iter()
        .zip(values)
        .map(|(m, v)| (m.format("%Y-%m").to_string(), *v))
        .collect();
    markup! {
        h3 { (title) }
        (svg::bars(&items))
        table.compact id=(id) {
            tr { @for (m, _) in &items { th { (m) } } th { (lang.t("合计", "Total")) } }
            tr { @for (_, v) in &items { td.num { (v) } } td.num { (values.iter().sum::<i64>()) } }
        }
    }
}

/// Counts by an enum's codes (names in the page's language; `none` said as such).
fn by_code(
    lang: Lang,
    id: &str,
    spec: &halfsky_shared::schema::EnumSpec,
    counts: &std::collections::BTreeMap<String, i64>,
) -> Markup {
    let items: Vec<(String, i64)> = counts
        .iter()
        .map(|(code, n)| {
            let label = if code == "none" {
                lang.t("未记录措施", "no measure recorded").to_string()
            } else {
                lang.option(spec, code)
            };
            (label, *n)
        })
        .collect();
    markup! {
        @if items.is_empty() {
            p { (lang.t("无", "none")) }
        } @else {
            (svg::bars(&items))
            table.compact id=(id) {
                @for (label, n) in &items { tr { td { (label) } td.num { (n) } } }
            }
        }
    }
}

/// `GET /org/{code}/trends`.
pub async fn page(State(state): State<AppState>, ctx: Ctx, Unit(org): Unit) -> Response {
    let lang = ctx.lang;
    let t = match read_or_answer(&ctx, &state, state.read(move |l| trends(l, org)).await) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let body = markup! {
        h1 { (lang.t("路径与趋势", "Paths and trends")) " " small { (org) } }
        h2 { (lang.t("脱贫妇女：按帮扶路径", "Exits by help path")) }
        (by_code(lang, "exits-by-path", &PATH, &t.exits_by_path))
        h2 { (lang.t("脱贫妇女：按致贫原因", "Exits by poverty cause")) }
        (by_code(lang, "exits-by-cause", &CAUSE, &t.exits_by_cause))
        h2 { (lang.t("帮扶措施：按路径", "Measures by path")) }
        (by_code(lang, "measures-by-path", &PATH, &t.measures_by_path))
        h2 { (lang.t("帮扶措施：按致贫原因", "Measures by poverty cause")) }
        (by_code(lang, "measures-by-cause", &CAUSE, &t.measures_by_cause))
        h2 { (lang.t("近十二个月", "The last twelve months")) }
        (series(lang, &t, "series-registered", lang.t("新建档妇女", "Women carded"), &t.registered))
        (series(lang, &t, "series-exits", lang.t("脱贫", "Exits"), &t.exits))
        (series(lang, &t, "series-returns", lang.t("返贫", "Returns to poverty"), &t.returns))
        (series(lang, &t, "series-visits", lang.t("回访", "Visits"), &t.visits))
        (series(lang, &t, "series-trainings", lang.t("培训人次", "Training person-times"), &t.training_person_times))
    };
    ok_page(&ctx, &state, lang.t("路径与趋势", "Paths and trends"), body)
}
