//! Data entry: a form for every record kind, generated from the schema table, for
//! this node's own unit. Input is validated on the server by the same
//! [`crate::Ledger::add`] the CLI uses; problems come back in the form's language
//! (Chinese by default) next to the values typed, and nothing is written.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use halfsky_shared::schema::{FieldSpec, FieldType};
use halfsky_shared::Kind;
use maud::{html, Markup};

use super::auth::Ctx;
use super::i18n::{field_error, field_label, Lang};
use super::pages::{framed, message, ok_page};
use super::AppState;
use crate::ledger::LedgerError;

fn kind_of(name: &str) -> Option<Kind> {
    Kind::from_name(name)
}

fn kind_label(lang: Lang, kind: Kind) -> &'static str {
    let s = kind.spec();
    lang.t(s.zh, s.name)
}

/// `/new`: the list of forms.
pub async fn kinds(State(state): State<AppState>, ctx: Ctx) -> Response {
    let lang = ctx.lang;
    let body = html! {
        h1 { (lang.t("录入记录", "Enter records")) }
        (write_notice(&ctx, &state))
        ul {
            @for kind in Kind::ALL {
                li { a href={ "/new/" (kind.spec().name) } { (kind_label(lang, kind)) } }
            }
        }
    };
    ok_page(&ctx, &state, lang.t("录入", "Data entry"), body)
}

fn write_notice(ctx: &Ctx, state: &AppState) -> Markup {
    let lang = ctx.lang;
    html! {
        @if ctx.can_write() {
            p {
                (lang.t("记录写入本单位台账：", "Records are written to this unit's ledger:"))
                " " (state.node_label())
            }
        } @else if ctx.session.is_some() {
            p.warn {
                (lang.t(
                    "您的角色是“查看”，不能录入。请联系管理员。",
                    "Your role is viewer: you cannot enter records. Ask an administrator."
                ))
            }
        } @else {
            p.warn {
                (lang.t(
                    "匿名访问只能查看。要录入，请先用 halfsky user add 创建用户并登录。",
                    "Anonymous access is read only. To enter records, create a user with `halfsky user add` and log in."
                ))
            }
        }
    }
}

fn input(lang: Lang, field: &FieldSpec, values: &[(String, String)], today: &str) -> Markup {
    let current: Vec<&str> = values
        .iter()
        .filter(|(k, _)| k == field.name)
        .map(|(_, v)| v.as_str())
        .collect();
    let first = current.first().copied().unwrap_or("");
    let name = field.name;
    let id = format!("f-{name}");
    let req = if field.required && field.default.is_none() {
        " *"
    } else {
        ""
    };
    html! {
        label for=(id) {
            (field_label(lang, field)) (req) " "
            small { @if lang == Lang::En { (field.help) } }
        }
        @match &field.ty {
            FieldType::Bool => {
                @let on = if current.is_empty() {
                    field.default == Some("true")
                } else {
                    matches!(first, "true" | "on" | "yes" | "是")
                };
                input type="hidden" name=(name) value="false";
                input type="checkbox" id=(id) name=(name) value="true" checked[on];
            }
            FieldType::Enum(e) => {
                @let selected = if first.is_empty() { field.default.unwrap_or("") } else { first };
                select id=(id) name=(name) {
                    option value="" { "—" }
                    @for code in e.codes() {
                        option value=(code) selected[code == selected] { (lang.option(e, code)) }
                    }
                }
            }
            FieldType::EnumList(e) => {
                @for code in e.codes() {
                    label style="display:inline" {
                        input type="checkbox" name=(name) value=(code) checked[current.contains(&code)];
                        " " (lang.option(e, code))
                    }
                    " "
                }
            }
            FieldType::Date => {
                @let v = if first.is_empty() && field.required { today } else { first };
                input type="text" id=(id) name=(name) value=(v) placeholder="2024-03-05";
            }
            FieldType::RefList(_) => {
                textarea id=(id) name=(name) rows="2" { (current.join(";")) }
            }
            _ => {
                input type="text" id=(id) name=(name) value=(first);
            }
        }
    }
}

/// The form for `kind` answered with `status`, holding `values` and listing `errors`.
fn form_page(
    ctx: &Ctx,
    state: &AppState,
    status: StatusCode,
    kind: Kind,
    values: &[(String, String)],
    errors: &[String],
    today: &str,
) -> Response {
    let lang = ctx.lang;
    let spec = kind.spec();
    let body = html! {
        p.crumbs { a href="/new" { (lang.t("录入", "Data entry")) } }
        h1 { (lang.t("新增", "New")) " " (kind_label(lang, kind)) }
        (write_notice(ctx, state))
        @if !errors.is_empty() {
            div.err id="errors" {
                p { (lang.t("未保存，请改正以下问题：", "Not saved; please correct:")) }
                ul { @for e in errors { li { (e) } } }
            }
        }
        form.rec method="post" action={ "/new/" (spec.name) } {
            input type="hidden" name="csrf" value=(ctx.csrf());
            @for field in spec.fields { (input(lang, field, values, today)) }
            p { button type="submit" id="save" { (lang.t("保存", "Save")) } }
        }
    };
    let title = format!("{} {}", lang.t("新增", "New"), kind_label(lang, kind));
    framed(ctx, state, status, &title, body)
}

/// The record kind a form URL names, or the "no such record kind" page.
fn kind_or_not_found(ctx: &Ctx, state: &AppState, kind: &str) -> Result<Kind, Response> {
    kind_of(kind).ok_or_else(|| {
        message(
            ctx,
            state,
            StatusCode::NOT_FOUND,
            ctx.lang.t("没有这种记录", "No such record kind"),
            &format!("{kind}: use one of the forms listed at /new"),
        )
    })
}

/// `GET /new/{kind}`: an empty form (fields may be prefilled from the query, e.g.
/// `?woman_id=…`).
pub async fn form(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(kind): Path<String>,
    Query(prefill): Query<Vec<(String, String)>>,
) -> Response {
    let kind = match kind_or_not_found(&ctx, &state, &kind) {
        Ok(kind) => kind,
        Err(page) => return page,
    };
    let today = state.reader().today().format("%Y-%m-%d").to_string();
    let values: Vec<(String, String)> = prefill
        .into_iter()
        .filter(|(k, _)| kind.spec().field(k).is_some())
        .collect();
    form_page(&ctx, &state, StatusCode::OK, kind, &values, &[], &today)
}

/// `POST /new/{kind}`: validates and writes the record through the ledger.
pub async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(kind): Path<String>,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let kind = match kind_or_not_found(&ctx, &state, &kind) {
        Ok(kind) => kind,
        Err(page) => return page,
    };
    let lang = ctx.lang;
    let csrf = posted
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if !ctx.can_write() {
        return message(
            &ctx,
            &state,
            StatusCode::FORBIDDEN,
            lang.t("无权录入", "Not allowed"),
            lang.t(
                "您没有录入权限（需要“编辑”或“管理员”角色）。",
                "You may not enter records (editor or admin role needed).",
            ),
        );
    }
    if !ctx.csrf_ok(csrf) {
        return message(&ctx, &state, StatusCode::FORBIDDEN, lang.t("请求无效", "Invalid request"), lang.t("表单已过期或来源不明，请刷新页面后重新填写。", "The form has expired or did not come from this site; reload the page and fill it in again."));
    }
    // Checkboxes send a hidden "false" then "true" when ticked: keep the last value of
    // single-valued fields; drop empty values (not given).
    let mut values: Vec<(String, String)> = Vec::new();
    for (k, v) in posted.into_iter().filter(|(k, _)| k != "csrf") {
        let Some(field) = kind.spec().field(&k) else {
            continue;
        };
        let list = matches!(field.ty, FieldType::EnumList(_) | FieldType::RefList(_));
        if !list {
            values.retain(|(x, _)| *x != k);
        }
        values.push((k, v));
    }
    let inputs: Vec<(String, String)> = values
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .cloned()
        .collect();
    let res = state.run(move |l| (l.add(kind, &inputs), l.today())).await;
    let (result, today) = match res {
        Ok(r) => r,
        Err(r) => return r,
    };
    match result {
        Ok(id) => {
            tracing::info!(user = ?ctx.session.as_ref().map(|s| &s.name), %id, "record added from the dashboard");
            Redirect::to(&format!("/record/{id}?saved=1")).into_response()
        }
        Err(LedgerError::Invalid { errors, .. }) => {
            let msgs: Vec<String> = errors
                .iter()
                .map(|e| {
                    let label = kind
                        .spec()
                        .field(&e.field)
                        .map(|f| field_label(lang, f))
                        .unwrap_or_else(|| e.field.clone());
                    field_error(lang, &label, &e.reason)
                })
                .collect();
            form_page(
                &ctx,
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                kind,
                &values,
                &msgs,
                &today.format("%Y-%m-%d").to_string(),
            )
        }
        Err(e) => message(
            &ctx,
            &state,
            StatusCode::INTERNAL_SERVER_ERROR,
            lang.t("保存失败", "Not saved"),
            &e.to_string(),
        ),
    }
}
