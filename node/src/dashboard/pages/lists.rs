//! The lists of women: those overdue for a follow-up visit, and women by any filter
//! (status, labour, wish to work, cause, age, insurance, pairing, name).

use axum::extract::{Query, State};
use axum::response::Response;
use halfsky_shared::rollup::AGE_BANDS;
use halfsky_shared::schema::{enums, FieldType};
use halfsky_shared::Kind;
use maud::{html as markup, Markup};
use serde::Deserialize;

use super::{
    age_label, export, export_base, freshness_box, ok_page, read_or_answer, rows_wanted,
    ExportQuery,
};
use crate::dashboard::auth::Ctx;
use crate::dashboard::data::{self, WomenFilter};
use crate::dashboard::i18n::{field_label, Lang};
use crate::dashboard::overdue::OverdueFilter;
use crate::dashboard::table::{Cell, Table};
use crate::dashboard::unit::Unit;
use crate::dashboard::AppState;

/// Query of the overdue page: its filter and sort, plus export.
#[derive(Debug, Default, Deserialize)]
pub struct OverdueQuery {
    #[serde(flatten)]
    filter: OverdueFilter,
    format: Option<String>,
    table: Option<usize>,
}

/// `/org/{code}/overdue`: women overdue for a visit (or due soon), by township,
/// village or helper, sorted by days without a visit, name or village.
pub async fn overdue(
    State(state): State<AppState>,
    ctx: Ctx,
    Unit(org): Unit,
    Query(q): Query<OverdueQuery>,
) -> Response {
    let lang = ctx.lang;
    let limit = rows_wanted(&q.format);
    let filter = q.filter.clone();
    let res = state
        .read(move |l| {
            let today = l.today();
            let units = l.index().names(org.subtree_prefix())?;
            data::overdue_list(l, org, today, &filter, limit).map(|r| (r, today, units))
        })
        .await;
    let ((rows, count), today, units) = match read_or_answer(&ctx, &state, res) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = units
        .iter()
        .find(|(code, _)| *code == org)
        .map(|(_, n)| n.clone())
        .unwrap_or_default();
    let soon = q.filter.due_soon();
    let title = if soon {
        lang.t("即将到期回访", "follow-ups due soon")
    } else {
        lang.t("逾期未回访", "overdue follow-ups")
    };
    // The download: data only, numbers as numbers (no action column, no "—").
    let mut t = Table::new(
        format!("{name} {title}"),
        &[
            lang.t("姓名", "Name"),
            lang.t("编号", "Id"),
            lang.t("村", "Village"),
            lang.t("状态", "Status"),
            lang.t("最近回访", "Last visit"),
            lang.t("未回访天数", "Days without a visit"),
            lang.t("帮扶人", "Helper"),
        ],
    );
    for r in &rows {
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
                .unwrap_or_else(|| Cell::Text(String::new())),
            r.helpers.join("、").into(),
        ]);
    }
    let tables = [t];
    if let Some(r) = export(&ctx, &tables, &OverdueExport(&q).into()) {
        return r;
    }
    // On the page, a visit is offered only for women of this node's own village: a
    // home visit belongs in the village's ledger, never in a township's, county's or
    // city's own.
    let mut shown = tables[0].clone();
    if rows.iter().any(|r| r.village == state.org()) {
        shown.headers.push(lang.t("操作", "Action").into());
        for (cells, r) in shown.rows.iter_mut().zip(&rows) {
            cells.push(if r.village == state.org() {
                Cell::Link(
                    lang.t("记录回访", "Record a visit").into(),
                    format!("/new/visit?woman_id={}", r.woman_id),
                )
            } else {
                Cell::Text(String::new())
            });
        }
    }
    let f = &q.filter;
    let below: Vec<(String, String)> = units
        .iter()
        .filter(|(code, _)| *code != org && code.level() != halfsky_shared::org::Level::City)
        .map(|(code, n)| {
            (
                code.to_string(),
                format!("{} {n}", lang.level(code.level())),
            )
        })
        .collect();
    let sorts = vec![
        (
            "days".to_string(),
            lang.t("未回访天数", "days without a visit").to_string(),
        ),
        ("name".to_string(), lang.t("姓名", "name").to_string()),
        ("village".to_string(), lang.t("村", "village").to_string()),
    ];
    let dues = vec![(
        "soon".to_string(),
        lang.t("即将到期（14天内）", "due within 14 days")
            .to_string(),
    )];
    let rule = if soon {
        lang.t(
            "14天内到60天未回访，截至",
            "reaching 60 days without a visit within 14 days, as of",
        )
    } else {
        lang.t(
            "建档满60天且60天内无回访，截至",
            "card older than 60 days and no visit in 60 days, as of",
        )
    };
    let freshness = freshness_box(&state, lang, org).await;
    let body = markup! {
        p.crumbs { a href={ "/org/" (org) } { (name) } }
        h1 { (tables[0].title) }
        form method="get" {
            @if !below.is_empty() {
                (select("unit", lang.t("乡镇/村", "Township/village"), &below, f.unit.as_deref()))
            }
            label {
                (lang.t("帮扶人", "Helper")) " "
                input type="text" name="helper" value=(f.helper.as_deref().unwrap_or(""));
            }
            " "
            (select("due", lang.t("范围", "Which"), &dues, f.due.as_deref()))
            (select("sort", lang.t("排序", "Sort by"), &sorts, f.sort.as_deref()))
            button type="submit" { (lang.t("筛选", "Filter")) }
        }
        (freshness)
        p {
            (lang.t("共", "In all")) " " b id="overdue-total" { (count) }
            "（" (rule) " " (lang.date(today)) "）"
            (shown_note(lang, rows.len(), count))
        }
        (shown.html(Some(&export_base(&ctx.path)), 0))
    };
    ok_page(&ctx, &state, &tables[0].title, body)
}

struct OverdueExport<'a>(&'a OverdueQuery);

impl From<OverdueExport<'_>> for ExportQuery {
    fn from(o: OverdueExport<'_>) -> Self {
        ExportQuery {
            format: o.0.format.clone(),
            table: o.0.table,
        }
    }
}

/// "showing the first N rows" when a list has more rows than a page shows.
fn shown_note(lang: Lang, shown: usize, count: usize) -> Markup {
    markup! {
        @if count > shown {
            "；" (lang.t("页面显示前", "showing the first")) " " (shown) " "
            (lang.t("条，导出可得全部", "rows; export for all"))
        }
    }
}

/// Query of the women list: the filter plus export.
#[derive(Debug, Default, Deserialize)]
pub struct WomenQuery {
    #[serde(flatten)]
    filter: WomenFilter,
    format: Option<String>,
    table: Option<usize>,
}

fn select(name: &str, label: &str, options: &[(String, String)], current: Option<&str>) -> Markup {
    markup! {
        label {
            (label) " "
            select name=(name) {
                option value="" { "—" }
                @for (v, l) in options {
                    option value=(v) selected[current == Some(v.as_str())] { (l) }
                }
            }
        }
        " "
    }
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
    let limit = rows_wanted(&q.format);
    let filter = q.filter.clone();
    let res = state
        .read(move |l| {
            let name = l.index().name(&org).ok().flatten().unwrap_or_default();
            data::women(l, org, &filter, 0, limit).map(|r| (r, name))
        })
        .await;
    let ((rows, count), name) = match read_or_answer(&ctx, &state, res) {
        Ok(v) => v,
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
    let freshness = freshness_box(&state, lang, org).await;
    let body = markup! {
        p.crumbs { a href={ "/org/" (org) } { (name) } }
        h1 { (tables[0].title) }
        form method="get" {
            label {
                (lang.t("姓名含", "Name contains")) " "
                input type="text" name="name" value=(f.name.as_deref().unwrap_or(""));
            }
            " "
            (select("status", lang.t("状态", "Status"), &enum_options(lang, &enums::STATUS), f.status.as_deref()))
            (select("labor", lang.t("劳动能力", "Labour"), &enum_options(lang, &enums::LABOR), f.labor.as_deref()))
            (select("wants_work", lang.t("就业愿望", "Wants work"), &yn, f.wants_work.as_deref()))
            (select("cause", lang.t("致贫原因", "Cause"), &enum_options(lang, &enums::CAUSE), f.cause.as_deref()))
            (select("age", lang.t("年龄段", "Age"), &ages, f.age.as_deref()))
            (select("insured", lang.t("两癌保险", "Insured"), &yn, f.insured.as_deref()))
            (select("paired", lang.t("已结对", "Paired"), &yn, f.paired.as_deref()))
            button type="submit" { (lang.t("筛选", "Filter")) }
        }
        (freshness)
        p {
            (lang.t("共", "In all")) " " b id="women-count" { (count) } " " (lang.t("人", "women"))
            (shown_note(lang, rows.len(), count))
        }
        (tables[0].html(Some(&export_base(&ctx.path)), 0))
    };
    ok_page(&ctx, &state, &tables[0].title, body)
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
