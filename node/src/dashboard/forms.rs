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

use super::auth::Ctx;
use super::html::{esc, page};
use super::i18n::{field_error, field_label, Lang};
use super::pages::{html, message};
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
    let mut b = format!("<h1>{}</h1>", lang.t("录入记录", "Enter records"));
    b.push_str(&write_notice(&ctx, &state));
    b.push_str("<ul>");
    for kind in Kind::ALL {
        b.push_str(&format!(
            "<li><a href=\"/new/{}\">{}</a></li>",
            kind.spec().name,
            kind_label(lang, kind)
        ));
    }
    b.push_str("</ul>");
    html(
        &ctx,
        StatusCode::OK,
        page(
            lang,
            lang.t("录入", "Data entry"),
            &state.node_label(),
            &ctx.viewer(),
            &ctx.path,
            &b,
        ),
    )
}

fn write_notice(ctx: &Ctx, state: &AppState) -> String {
    let lang = ctx.lang;
    if ctx.can_write() {
        format!(
            "<p>{} {}</p>",
            lang.t(
                "记录写入本单位台账：",
                "Records are written to this unit's ledger:"
            ),
            esc(&state.node_label())
        )
    } else if ctx.session.is_some() {
        format!(
            "<p class=\"warn\">{}</p>",
            lang.t(
                "您的角色是“查看”，不能录入。请联系管理员。",
                "Your role is viewer: you cannot enter records. Ask an administrator."
            )
        )
    } else {
        format!("<p class=\"warn\">{}</p>", lang.t("匿名访问只能查看。要录入，请先用 halfsky user add 创建用户并登录。", "Anonymous access is read only. To enter records, create a user with `halfsky user add` and log in."))
    }
}

fn input(lang: Lang, field: &FieldSpec, values: &[(String, String)], today: &str) -> String {
    let current: Vec<&str> = values
        .iter()
        .filter(|(k, _)| k == field.name)
        .map(|(_, v)| v.as_str())
        .collect();
    let first = current.first().copied().unwrap_or("");
    let name = field.name;
    let req = if field.required && field.default.is_none() {
        " *"
    } else {
        ""
    };
    let label = format!(
        "<label for=\"f-{name}\">{}{req} <small>{}</small></label>",
        esc(&field_label(lang, field)),
        if lang == Lang::En {
            esc(field.help)
        } else {
            String::new()
        }
    );
    let control = match &field.ty {
        FieldType::Bool => {
            let on = if current.is_empty() {
                field.default == Some("true")
            } else {
                matches!(first, "true" | "on" | "yes" | "是")
            };
            format!("<input type=\"hidden\" name=\"{name}\" value=\"false\"><input type=\"checkbox\" id=\"f-{name}\" name=\"{name}\" value=\"true\"{}>", if on { " checked" } else { "" })
        }
        FieldType::Enum(e) => {
            let selected = if first.is_empty() {
                field.default.unwrap_or("")
            } else {
                first
            };
            let mut s =
                format!("<select id=\"f-{name}\" name=\"{name}\"><option value=\"\">—</option>");
            for code in e.codes() {
                let sel = if code == selected { " selected" } else { "" };
                s.push_str(&format!(
                    "<option value=\"{code}\"{sel}>{}</option>",
                    esc(&lang.option(e, code))
                ));
            }
            s.push_str("</select>");
            s
        }
        FieldType::EnumList(e) => {
            let mut s = String::new();
            for code in e.codes() {
                let on = current.contains(&code);
                s.push_str(&format!("<label style=\"display:inline\"><input type=\"checkbox\" name=\"{name}\" value=\"{code}\"{}> {}</label> ", if on { " checked" } else { "" }, esc(&lang.option(e, code))));
            }
            s
        }
        FieldType::Date => {
            let v = if first.is_empty() && field.required {
                today
            } else {
                first
            };
            format!("<input type=\"text\" id=\"f-{name}\" name=\"{name}\" value=\"{}\" placeholder=\"2024-03-05\">", esc(v))
        }
        FieldType::RefList(_) => format!(
            "<textarea id=\"f-{name}\" name=\"{name}\" rows=\"2\">{}</textarea>",
            esc(&current.join(";"))
        ),
        _ => format!(
            "<input type=\"text\" id=\"f-{name}\" name=\"{name}\" value=\"{}\">",
            esc(first)
        ),
    };
    format!("{label}{control}")
}

fn form_page(
    ctx: &Ctx,
    state: &AppState,
    kind: Kind,
    values: &[(String, String)],
    errors: &[String],
    today: &str,
) -> String {
    let lang = ctx.lang;
    let spec = kind.spec();
    let mut b = format!(
        "<p class=\"crumbs\"><a href=\"/new\">{}</a></p><h1>{} {}</h1>",
        lang.t("录入", "Data entry"),
        lang.t("新增", "New"),
        kind_label(lang, kind)
    );
    b.push_str(&write_notice(ctx, state));
    if !errors.is_empty() {
        b.push_str(&format!(
            "<div class=\"err\" id=\"errors\"><p>{}</p><ul>",
            lang.t("未保存，请改正以下问题：", "Not saved; please correct:")
        ));
        for e in errors {
            b.push_str(&format!("<li>{}</li>", esc(e)));
        }
        b.push_str("</ul></div>");
    }
    b.push_str(&format!("<form class=\"rec\" method=\"post\" action=\"/new/{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">", spec.name, esc(ctx.csrf())));
    for field in spec.fields {
        b.push_str(&input(lang, field, values, today));
    }
    b.push_str(&format!(
        "<p><button type=\"submit\" id=\"save\">{}</button></p></form>",
        lang.t("保存", "Save")
    ));
    page(
        lang,
        &format!("{} {}", lang.t("新增", "New"), kind_label(lang, kind)),
        &state.node_label(),
        &ctx.viewer(),
        &ctx.path,
        &b,
    )
}

/// `GET /new/{kind}`: an empty form (fields may be prefilled from the query, e.g.
/// `?woman_id=…`).
pub async fn form(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(kind): Path<String>,
    Query(prefill): Query<Vec<(String, String)>>,
) -> Response {
    let lang = ctx.lang;
    let Some(kind) = kind_of(&kind) else {
        return message(
            &ctx,
            &state,
            StatusCode::NOT_FOUND,
            lang.t("没有这种记录", "No such record kind"),
            &format!("{kind}: use one of the forms listed at /new"),
        );
    };
    let today = state.reader().today().format("%Y-%m-%d").to_string();
    let values: Vec<(String, String)> = prefill
        .into_iter()
        .filter(|(k, _)| kind.spec().field(k).is_some())
        .collect();
    html(
        &ctx,
        StatusCode::OK,
        form_page(&ctx, &state, kind, &values, &[], &today),
    )
}

/// `POST /new/{kind}`: validates and writes the record through the ledger.
pub async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(kind): Path<String>,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let lang = ctx.lang;
    let Some(kind) = kind_of(&kind) else {
        return message(
            &ctx,
            &state,
            StatusCode::NOT_FOUND,
            lang.t("没有这种记录", "No such record kind"),
            &format!("{kind}: use one of the forms listed at /new"),
        );
    };
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
            html(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                form_page(
                    &ctx,
                    &state,
                    kind,
                    &values,
                    &msgs,
                    &today.format("%Y-%m-%d").to_string(),
                ),
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
