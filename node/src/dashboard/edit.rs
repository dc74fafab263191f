//! Changing and retiring records from the dashboard, so a cadre with only a phone can
//! finish what she started: the edit form is the entry form holding the record's
//! values, saved through the same [`crate::Ledger::update`] and
//! [`crate::Ledger::retire`] the CLI uses (same checks, same history). Only this
//! node's own records can be changed here; every problem comes back at once, each
//! beside its field.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use halfsky_shared::schema::FieldType;
use halfsky_shared::{Kind, Record, RecordId};
use maud::{html, Markup};

use super::auth::Ctx;
use super::forms::{error_messages, form_page, kind_label, posted_values, refused, Target};
use super::pages::message;
use super::{data, AppState};
use crate::ledger::LedgerError;

/// The record `raw` names when it is this node's own, else the page saying why it
/// cannot be changed here.
fn own_id(ctx: &Ctx, state: &AppState, raw: &str) -> Result<RecordId, Response> {
    let lang = ctx.lang;
    let not_found = |text: String| {
        message(
            ctx,
            state,
            StatusCode::NOT_FOUND,
            lang.t("没有这条记录", "No such record"),
            &text,
        )
    };
    match RecordId::parse(raw.trim()) {
        Ok(id) if id.org() == state.org() => Ok(id),
        Ok(id) => Err(not_found(format!(
            "{id}: {}",
            lang.t(
                "这条记录由其他单位保管，只能在该单位的台账中修改。",
                "this record is kept by another unit; change it in that unit's ledger."
            )
        ))),
        Err(e) => Err(not_found(e.to_string())),
    }
}

/// The record's values as the form's inputs hold them (codes, `YYYY-MM-DD`, yuan);
/// the ID number is stored only masked, so its box starts empty.
fn form_values(record: &Record) -> Vec<(String, String)> {
    let mut values = Vec::new();
    for field in record.kind().spec().fields {
        let Some(value) = record.fields.get(field.name) else {
            continue;
        };
        match &field.ty {
            FieldType::IdNumber => {}
            FieldType::EnumList(_) => {
                for code in value.as_list().unwrap_or_default() {
                    values.push((field.name.to_string(), code.to_string()));
                }
            }
            ty => values.push((field.name.to_string(), value.display(ty))),
        }
    }
    values
}

/// The form that retires the record, with its reason's problem beside the box.
fn retire_form(ctx: &Ctx, id: &RecordId, error: Option<&str>) -> Markup {
    let lang = ctx.lang;
    html! {
        h2 { (lang.t("停用这条记录", "Retire this record")) }
        p { small { (lang.t(
            "停用后不再计入统计，但仍保留在台账和修改历史中。",
            "A retired record leaves the statistics but stays in the ledger and its history."
        )) } }
        form.rec method="post" action={ "/record/" (id) "/retire" } {
            input type="hidden" name="csrf" value=(ctx.csrf());
            label for="f-reason" { (lang.t("停用原因 *", "Reason *")) }
            input type="text" id="f-reason" name="reason"
                placeholder=(lang.t("如：已迁出、重复登记", "e.g. moved away, entered twice"));
            @if let Some(e) = error {
                p.err.field-err id="err-reason" { (e) }
            }
            p { button type="submit" id="retire" { (lang.t("停用", "Retire")) } }
        }
    }
}

fn edit_target(ctx: &Ctx, id: &RecordId) -> Target {
    let lang = ctx.lang;
    Target {
        action: format!("/record/{id}/edit"),
        heading: format!(
            "{} {} {id}",
            lang.t("修改", "Change"),
            kind_label(lang, id.kind())
        ),
        editing: Some(id.to_string()),
    }
}

/// The edit page for `id` holding `values` and `errors`, with the retire form below.
fn edit_page(
    ctx: &Ctx,
    state: &AppState,
    status: StatusCode,
    id: &RecordId,
    values: &[(String, String)],
    errors: &[(String, String)],
    retire_error: Option<&str>,
) -> Response {
    form_page(
        ctx,
        state,
        status,
        id.kind(),
        &edit_target(ctx, id),
        values,
        errors,
        "",
        retire_form(ctx, id, retire_error),
    )
}

/// The record `id` as it is now, or the page saying it is not there.
async fn current(ctx: &Ctx, state: &AppState, id: &RecordId) -> Result<Record, Response> {
    let lookup = id.clone();
    match state.read(move |l| data::record(l, &lookup)).await {
        Ok(Ok(page)) => Ok(page.view.indexed.record),
        Ok(Err(e)) => Err(message(
            ctx,
            state,
            StatusCode::NOT_FOUND,
            ctx.lang.t("没有这条记录", "No such record"),
            &e.to_string(),
        )),
        Err(page) => Err(page),
    }
}

/// `GET /record/{id}/edit`: the record's values in its kind's form, and the retire form.
pub async fn form(State(state): State<AppState>, ctx: Ctx, Path(raw): Path<String>) -> Response {
    let id = match own_id(&ctx, &state, &raw) {
        Ok(id) => id,
        Err(page) => return page,
    };
    match current(&ctx, &state, &id).await {
        Ok(record) => edit_page(
            &ctx,
            &state,
            StatusCode::OK,
            &id,
            &form_values(&record),
            &[],
            None,
        ),
        Err(page) => page,
    }
}

/// The form's values as an update: a field left empty (or a list with nothing ticked)
/// is cleared, as `halfsky update … --note ""` clears it; an empty ID number box keeps
/// the number.
fn as_update(kind: Kind, values: &[(String, String)]) -> Vec<(String, String)> {
    let mut inputs: Vec<(String, String)> = Vec::new();
    for field in kind.spec().fields {
        let given: Vec<&(String, String)> =
            values.iter().filter(|(k, _)| k == field.name).collect();
        match (&field.ty, given.is_empty()) {
            (FieldType::IdNumber, _) => inputs.extend(
                given
                    .into_iter()
                    .filter(|(_, v)| !v.trim().is_empty())
                    .cloned(),
            ),
            (_, true) => inputs.push((field.name.to_string(), String::new())),
            (_, false) => inputs.extend(given.into_iter().cloned()),
        }
    }
    inputs
}

/// `POST /record/{id}/edit`: validates the change and writes it through the ledger.
pub async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let id = match own_id(&ctx, &state, &raw) {
        Ok(id) => id,
        Err(page) => return page,
    };
    let kind = id.kind();
    let (csrf, values) = posted_values(kind, posted);
    if let Some(page) = refused(&ctx, &state, &csrf) {
        return page;
    }
    let inputs = as_update(kind, &values);
    let target = id.clone();
    let result = match state
        .run(move |l| l.update(&target, Some(kind), &inputs))
        .await
    {
        Ok(r) => r,
        Err(page) => return page,
    };
    let lang = ctx.lang;
    match result {
        Ok(_) => {
            tracing::info!(user = ?ctx.session.as_ref().map(|s| &s.name), %id, "record changed from the dashboard");
            Redirect::to(&format!("/record/{id}?saved=1")).into_response()
        }
        Err(LedgerError::Invalid { errors, .. }) => edit_page(
            &ctx,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &id,
            &values,
            &error_messages(lang, kind, &errors),
            None,
        ),
        Err(e) => failed(&ctx, &state, &e),
    }
}

fn failed(ctx: &Ctx, state: &AppState, e: &LedgerError) -> Response {
    message(
        ctx,
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        ctx.lang.t("保存失败", "Not saved"),
        &e.to_string(),
    )
}

/// `POST /record/{id}/retire`: retires the record with the reason given.
pub async fn retire(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let id = match own_id(&ctx, &state, &raw) {
        Ok(id) => id,
        Err(page) => return page,
    };
    let field = |name: &str| {
        posted
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if let Some(page) = refused(&ctx, &state, &field("csrf")) {
        return page;
    }
    let reason = field("reason");
    let target = id.clone();
    let result = match state
        .run(move |l| l.retire(&target, Some(target.kind()), &reason))
        .await
    {
        Ok(r) => r,
        Err(page) => return page,
    };
    let lang = ctx.lang;
    match result {
        Ok(()) => {
            tracing::info!(user = ?ctx.session.as_ref().map(|s| &s.name), %id, "record retired from the dashboard");
            Redirect::to(&format!("/record/{id}?saved=1")).into_response()
        }
        // The only problem a retirement can have: no reason given.
        Err(LedgerError::Invalid { .. }) => {
            let record = match current(&ctx, &state, &id).await {
                Ok(record) => record,
                Err(page) => return page,
            };
            let text = lang.t(
                "停用原因：必填，请写明为什么停用（如：已迁出）。",
                "Reason: required; say why the record is retired (e.g. moved away).",
            );
            edit_page(
                &ctx,
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                &id,
                &form_values(&record),
                &[],
                Some(text),
            )
        }
        Err(e) => failed(&ctx, &state, &e),
    }
}
