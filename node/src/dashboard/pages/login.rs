//! Logging in and out: the login form, the password check (argon2, on a blocking
//! thread) that opens a session, and logout.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::message;
use crate::dashboard::auth::{self, Ctx};
use crate::dashboard::i18n::Lang;
use crate::dashboard::AppState;

/// `?next=` of the login page.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    lang: Option<String>,
}

fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

fn lang_of(headers: &axum::http::HeaderMap, q: Option<&str>) -> Lang {
    q.and_then(Lang::parse)
        .or_else(|| {
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|c| c.trim().split_once('='))
                .find(|(k, _)| *k == "lang")
                .and_then(|(_, v)| Lang::parse(v))
        })
        .unwrap_or_default()
}

/// `GET /login`.
pub async fn login_form(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    auth::login_page(
        lang,
        &safe_next(q.next.as_deref()),
        None,
        state.users().is_empty(),
    )
    .into_response()
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: checks the password and opens a session.
pub async fn login(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers, None);
    let user = state
        .users()
        .iter()
        .find(|u| u.name == f.name.trim())
        .cloned();
    let password = f.password.clone();
    let ok = match &user {
        Some(u) => {
            let hash = u.password_hash.clone();
            tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password))
                .await
                .unwrap_or(false)
        }
        None => {
            // Same work for unknown users, so timing does not tell which names exist.
            let _ = tokio::task::spawn_blocking(move || auth::verify_password("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$2bFp7g2s0wQkz3Wc0qKX2d7vYxN8zF0m1n2o3p4q5r4", &password)).await;
            false
        }
    };
    let next = safe_next(f.next.as_deref());
    match (ok, user) {
        (true, Some(u)) => {
            let token = state.sessions().open(&u.name, u.role);
            tracing::info!(user = %u.name, "dashboard login");
            let mut resp = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&auth::session_cookie(state.cookie_name(), &token))
            {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        _ => {
            tracing::warn!(user = %f.name, "dashboard login refused");
            let msg = lang.t(
                "用户名或密码错误，请重新输入。",
                "Wrong user name or password; try again.",
            );
            (
                StatusCode::UNAUTHORIZED,
                auth::login_page(lang, &next, Some(msg), state.users().is_empty()),
            )
                .into_response()
        }
    }
}

/// The logout form.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !ctx.csrf_ok(&f.csrf) {
        return message(
            &ctx,
            &state,
            StatusCode::FORBIDDEN,
            ctx.lang.t("请求无效", "Invalid request"),
            ctx.lang.t(
                "表单已过期，请刷新页面后重试。",
                "The form has expired; reload the page and try again.",
            ),
        );
    }
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == state.cookie_name())
        .map(|(_, v)| v.to_string());
    if let Some(t) = token {
        state.sessions().close(&t);
    }
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::clear_session_cookie(state.cookie_name())) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
