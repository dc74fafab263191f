//! Data entry: a form for every record kind, generated from the schema table, for
//! this node's own unit. Input is validated on the server by the same
//! [`crate::Ledger::add`] the CLI uses; problems come back in the form's language
//! (Chinese by default) next to the values typed, and nothing is written.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use halfsky_shared::schema::{FieldError, FieldSpec, FieldType};
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

pub(super) fn kind_label(lang: Lang, kind: Kind) -> &'static str {
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

/// One field of a form: its label, its input holding `values`, and beside it what is
/// wrong with it (`errors`). `editing` marks a change to an existing record: the ID
/// number is stored only masked, so its box starts empty and an empty box keeps it.
pub(super) fn input(
    lang: Lang,
    field: &FieldSpec,
    values: &[(String, String)],
    errors: &[(String, String)],
    today: &str,
    editing: bool,
) -> Markup {
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
                @let selected = if first.is_empty() && !editing { field.default.unwrap_or("") } else { first };
                select id=(id) name=(name) {
                    option value="" { "—" }
                    @for code in e.codes() {
                        option value=(code) selected[code == selected] { (lang.option(e, code)) }
                    }
                }
            }
            FieldType::EnumList(e) => {
                span.opts id=(id) {
                    @for code in e.codes() {
                        label {
                            input type="checkbox" name=(name) value=(code) checked[current.contains(&code)];
                            " " (lang.option(e, code))
                        }
                        " "
                    }
                }
            }
            FieldType::Date => {
                @let v = if first.is_empty() && field.required && !editing { today } else { first };
                input type="text" id=(id) name=(name) value=(v) placeholder="2024-03-05";
            }
            FieldType::RefList(_) => {
                textarea id=(id) name=(name) rows="2" { (current.join(";")) }
            }
            FieldType::IdNumber if editing => {
                input type="text" id=(id) name=(name) value=(first)
                    placeholder=(lang.t("留空则不改", "leave empty to keep it"));
            }
            _ => {
                input type="text" id=(id) name=(name) value=(first);
            }
        }
        @for (_, e) in errors.iter().filter(|(f, _)| f == name) {
            p.err.field-err id={ "err-" (name) } { (e) }
        }
    }
}

/// Where a form posts and what it is called: adding a record or changing one.
pub(super) struct Target {
    /// The URL the form posts to.
    pub action: String,
    /// The page's heading ("新增 妇女档案", "修改 …").
    pub heading: String,
    /// The record being changed (`None` when adding).
    pub editing: Option<String>,
}

/// The form for `kind` answered with `status`, holding `values` and showing `errors`
/// (field, message) both above the form and each beside its field; `after` follows the
/// form (the edit page's retire form).
#[allow(clippy::too_many_arguments)]
pub(super) fn form_page(
    ctx: &Ctx,
    state: &AppState,
    status: StatusCode,
    kind: Kind,
    target: &Target,
    values: &[(String, String)],
    errors: &[(String, String)],
    today: &str,
    after: Markup,
) -> Response {
    let lang = ctx.lang;
    let spec = kind.spec();
    let editing = target.editing.is_some();
    let body = html! {
        p.crumbs {
            a href="/new" { (lang.t("录入", "Data entry")) }
            @if let Some(id) = &target.editing {
                " · " a href={ "/record/" (id) } { (id) }
            }
        }
        h1 { (target.heading) }
        (write_notice(ctx, state))
        @if !errors.is_empty() {
            div.err id="errors" {
                p { (lang.t("未保存，请改正以下问题：", "Not saved; please correct:")) }
                ul { @for (_, e) in errors { li { (e) } } }
            }
        }
        form.rec method="post" action=(target.action) {
            input type="hidden" name="csrf" value=(ctx.csrf());
            @for field in spec.fields { (input(lang, field, values, errors, today, editing)) }
            p { button type="submit" id="save" { (lang.t("保存", "Save")) } }
        }
        (after)
    };
    framed(ctx, state, status, &target.heading, body)
}

/// Each of a refused record's problems as (field, message in the form's language).
pub(super) fn error_messages(
    lang: Lang,
    kind: Kind,
    errors: &[FieldError],
) -> Vec<(String, String)> {
    errors
        .iter()
        .map(|e| {
            let label = kind
                .spec()
                .field(&e.field)
                .map(|f| field_label(lang, f))
                .unwrap_or_else(|| e.field.clone());
            (e.field.clone(), field_error(lang, &label, &e.reason))
        })
        .collect()
}

/// The posted form's CSRF token and its values for `kind`'s fields. Checkboxes send a
/// hidden "false" then "true" when ticked: the last value of a single-valued field
/// counts; list fields keep every value.
pub(super) fn posted_values(
    kind: Kind,
    posted: Vec<(String, String)>,
) -> (String, Vec<(String, String)>) {
    let mut csrf = String::new();
    let mut values: Vec<(String, String)> = Vec::new();
    for (k, v) in posted {
        if k == "csrf" {
            csrf = v;
            continue;
        }
        let Some(field) = kind.spec().field(&k) else {
            continue;
        };
        let list = matches!(field.ty, FieldType::EnumList(_) | FieldType::RefList(_));
        if !list {
            values.retain(|(x, _)| *x != k);
        }
        values.push((k, v));
    }
    (csrf, values)
}

/// The refusal page when this user may not write or the form's token is not this
/// session's; `None` when the form may be saved.
pub(super) fn refused(ctx: &Ctx, state: &AppState, csrf: &str) -> Option<Response> {
    let lang = ctx.lang;
    if !ctx.can_write() {
        return Some(message(
            ctx,
            state,
            StatusCode::FORBIDDEN,
            lang.t("无权录入", "Not allowed"),
            lang.t(
                "您没有录入权限（需要“编辑”或“管理员”角色）。",
                "You may not enter records (editor or admin role needed).",
            ),
        ));
    }
    if !ctx.csrf_ok(csrf) {
        return Some(message(ctx, state, StatusCode::FORBIDDEN, lang.t("请求无效", "Invalid request"), lang.t("表单已过期或来源不明，请刷新页面后重新填写。", "The form has expired or did not come from this site; reload the page and fill it in again.")));
    }
    None
}

fn new_target(lang: Lang, kind: Kind) -> Target {
    Target {
        action: format!("/new/{}", kind.spec().name),
        heading: format!("{} {}", lang.t("新增", "New"), kind_label(lang, kind)),
        editing: None,
    }
}

/// The record kind a form URL names, or the "no such record kind" page.
fn kind_or_not_found(ctx: &Ctx, state: &AppState, kind: &str) -> Result<Kind, Response> {
    kind_of(kind).ok_or_else(|| {
        message(
            ctx,
            state,
            StatusCode::NOT_FOUND,
            ctx.lang.t("没有这种记录", "No such record kind"),
            &format!(
                "{kind}: {}",
                ctx.lang.t(
                    "没有这种表单，请从 /new 列出的表单中选择。",
                    "use one of the forms listed at /new"
                )
            ),
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
    let target = new_target(ctx.lang, kind);
    form_page(
        &ctx,
        &state,
        StatusCode::OK,
        kind,
        &target,
        &values,
        &[],
        &today,
        html! {},
    )
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
    let (csrf, values) = posted_values(kind, posted);
    if let Some(page) = refused(&ctx, &state, &csrf) {
        return page;
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
        Err(LedgerError::Invalid { errors, .. }) => form_page(
            &ctx,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            kind,
            &new_target(lang, kind),
            &values,
            &error_messages(lang, kind, &errors),
            &today.format("%Y-%m-%d").to_string(),
            html! {},
        ),
        Err(e) => message(
            &ctx,
            &state,
            StatusCode::INTERNAL_SERVER_ERROR,
            lang.t("保存失败", "Not saved"),
            &e.to_string(),
        ),
    }
}
