//! A record's page: its fields with any conflicting values, the records that point at
//! it (a woman's visits, pairings, measures, loans) and its history (who changed
//! what, when, from which device).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use halfsky_shared::schema::FieldType;
use halfsky_shared::{Kind, RecordId};
use maud::html as markup;

use super::{export, export_base, message, ok_page, ExportQuery};
use crate::dashboard::auth::Ctx;
use crate::dashboard::data;
use crate::dashboard::i18n::{field_label, Lang};
use crate::dashboard::table::{Cell, Table};
use crate::dashboard::AppState;

/// `?saved=1`: the record page follows a save from a form, and says so.
#[derive(Debug, Default, serde::Deserialize)]
pub struct AfterSave {
    saved: Option<String>,
    /// `?checked=1`: a check of this record was just recorded from this page.
    checked: Option<String>,
}

/// `/record/{id}`: a record, its conflicting values, its history and related records.
pub async fn record(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
    Query(q): Query<ExportQuery>,
    Query(after): Query<AfterSave>,
) -> Response {
    let lang = ctx.lang;
    // Times in the deployment's zone (`[node] time_zone`), stored times stay UTC.
    let zone = state.reader().index().zone();
    let id = match RecordId::parse(raw.trim()) {
        Ok(id) if id.org().is_in_subtree_of(&state.org()) => id,
        Ok(id) => {
            return message(
                &ctx,
                &state,
                StatusCode::NOT_FOUND,
                lang.t("没有这条记录", "No such record"),
                &match lang {
                    Lang::Zh => format!("{id} 不属于本节点或其下级单位。"),
                    Lang::En => format!("{id} is not in this node's subtree"),
                },
            )
        }
        Err(e) => {
            return message(
                &ctx,
                &state,
                StatusCode::NOT_FOUND,
                lang.t("没有这条记录", "No such record"),
                &match lang {
                    Lang::Zh => format!(
                        "“{}”不是记录编号（形如 {}）。",
                        raw.trim(),
                        Kind::Woman.example_id()
                    ),
                    Lang::En => e.to_string(),
                },
            )
        }
    };
    let lookup = id.clone();
    let p = match state.read(move |l| data::record(l, &lookup)).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            let text = match (lang, &e) {
                (Lang::Zh, crate::ledger::LedgerError::NotFound(id)) => {
                    format!("本台账中没有 {id}：请检查编号，或等该单位的数据同步上来。")
                }
                _ => e.to_string(),
            };
            return message(
                &ctx,
                &state,
                StatusCode::NOT_FOUND,
                lang.t("没有这条记录", "No such record"),
                &text,
            );
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
        let value = rec
            .fields
            .get(f.name)
            .map(|v| lang.value(v, &f.ty))
            .unwrap_or_default();
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
                let Some(field) = spec.field(k) else {
                    return format!("{k}={v}");
                };
                format!("{}={}", field_label(lang, field), lang.text(v, &field.ty))
            })
            .collect();
        let mut text = values.join("，");
        if let Some(n) = &e.note {
            text.push_str(&format!("（{n}）"));
        }
        history.push(vec![
            lang.time(zone, e.time).into(),
            lang.op(&e.op).into(),
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
    let body = markup! {
        p.crumbs { a href={ "/org/" (id.org()) } { (id.org()) } }
        h1 { (rec.title()) " " small { (tables[0].title) } }
        @if after.saved.is_some() {
            p.ok.fresh id="saved" { (lang.t("已保存", "Saved")) }
        }
        @if after.checked.is_some() {
            p.ok.fresh id="checked" { (lang.t("已记录核查", "Check recorded")) }
        }
        @if id.org() == state.org() && ctx.can_write() && !rec.meta.retired {
            p { a id="edit" href={ "/record/" (id) "/edit" } { (lang.t("修改或停用", "Change or retire")) } }
        }
        @if rec.meta.retired {
            p.warn { (lang.t("已停用：", "Retired:")) " " (rec.meta.retired_reason.as_deref().unwrap_or("")) }
        }
        @if !p.view.conflicts.is_empty() {
            p.warn {
                (lang.t(
                    "有字段在不同设备上被同时修改，显示的是合并后的值，冲突值列在旁边，请核实后更新。",
                    "Some fields were changed on different devices at once: the merged value is shown with the conflicting values beside it; check and update."
                ))
            }
        }
        (tables[0].html(Some(&base), 0))
        @if ctx.can_write() && !rec.meta.retired && crate::ledger::verification::CHECKED_KINDS.contains(&rec.kind()) {
            // This level's check of this one record (四级核查), as from the queue.
            form method="post" action={ "/org/" (state.org()) "/verify" } id="record-verify" {
                input type="hidden" name="csrf" value=(ctx.csrf());
                input type="hidden" name="id" value=(id);
                input type="hidden" name="back" value="record";
                label { (lang.t("本级核查 ", "This level's check ")) }
                select name="result" {
                    option value="confirmed" { (lang.t("确认", "confirmed")) }
                    option value="needs_fix" { (lang.t("需整改", "needs fix")) }
                    option value="rejected" { (lang.t("不通过", "rejected")) }
                }
                " "
                label { (lang.t("备注 ", "Note ")) input type="text" name="note" size="30"; }
                " "
                button type="submit" id="record-verify-submit" { (lang.t("记录核查", "Record the check")) }
            }
        }
        @if rec.kind() == Kind::Woman && id.org() == state.org() {
            p {
                a href={ "/new/visit?woman_id=" (id) } { (lang.t("记录回访", "Record a visit")) }
                " · "
                a href={ "/new/pairing?woman_id=" (id) } { (lang.t("新增结对", "Add a pairing")) }
                " · "
                a href={ "/new/measure?woman_id=" (id) } { (lang.t("新增施策", "Add a measure")) }
            }
        }
        p { small {
            (lang.t("创建", "Created")) " " (lang.stamp(zone, &rec.meta.created_at)) " " (rec.meta.created_by) "；"
            (lang.t("修改", "updated")) " " (lang.stamp(zone, &rec.meta.updated_at)) " " (rec.meta.updated_by)
        } }
        @if !p.related.is_empty() {
            h2 { (tables[2].title) }
            (tables[2].html(Some(&base), 2))
        }
        h2 { (tables[1].title) }
        (tables[1].html(Some(&base), 1))
    };
    ok_page(&ctx, &state, &rec.title(), body)
}
