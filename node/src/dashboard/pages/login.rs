//! Logging in and out: the login form, the password check (argon2, on a blocking
//! thread) that opens a session, and logout.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::message;
use crate::dashboard::auth::{self, ClientAddr, Ctx};
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
        .or_else(|| auth::cookie(headers, "lang").and_then(Lang::parse))
        .unwrap_or_default()
}

/// The login page answered with `status`, its form carrying `csrf`, which the login
/// cookie is (re)set to.
fn login_answer(
    state: &AppState,
    status: StatusCode,
    lang: Lang,
    next: &str,
    csrf: &str,
    error: Option<&str>,
) -> Response {
    let page = auth::login_page(lang, next, csrf, error, state.users().is_empty());
    let mut resp = (status, page).into_response();
    let cookie = auth::login_cookie(&state.login_cookie_name(), csrf);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /login`.
pub async fn login_form(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let next = safe_next(q.next.as_deref());
    // Keep a token the browser already holds: a second fetch of this page (the
    // browser's own favicon request is redirected here) must not invalidate the form
    // already on screen.
    let token = match auth::cookie(&headers, &state.login_cookie_name()) {
        Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => t.to_string(),
        _ => auth::token(),
    };
    login_answer(&state, StatusCode::OK, lang, &next, &token, None)
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
    /// Must equal the login cookie's token.
    #[serde(default)]
    csrf: String,
}

/// `POST /login`: checks the CSRF token and the throttle, then the password, and opens
/// a session.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: axum::http::HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers, None);
    let next = safe_next(f.next.as_deref());
    let expected = auth::cookie(&headers, &state.login_cookie_name()).unwrap_or_default();
    if expected.is_empty() || !auth::same_token(expected, &f.csrf) {
        let msg = lang.t(
            "登录表单已过期，请重新输入。",
            "The login form has expired; please enter your name and password again.",
        );
        return login_answer(
            &state,
            StatusCode::FORBIDDEN,
            lang,
            &next,
            &auth::token(),
            Some(msg),
        );
    }
    let keys = auth::throttle_keys(f.name.trim(), addr);
    if let Some(wait) = state.throttle().wait(&keys) {
        tracing::warn!(user = %f.name, ?addr, "dashboard login throttled");
        let secs = wait.as_secs().max(1);
        let msg = match lang {
            Lang::Zh => format!("登录失败次数过多，请 {secs} 秒后再试。"),
            Lang::En => format!("Too many failed logins; try again in {secs} seconds."),
        };
        let mut resp = login_answer(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            lang,
            &next,
            expected,
            Some(&msg),
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
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
    match (ok, user) {
        (true, Some(u)) => {
            state.throttle().succeeded(&keys);
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
            state.throttle().failed(&keys);
            tracing::warn!(user = %f.name, ?addr, "dashboard login refused");
            let msg = lang.t(
                "用户名或密码错误，请重新输入。",
                "Wrong user name or password; try again.",
            );
            login_answer(
                &state,
                StatusCode::UNAUTHORIZED,
                lang,
                &next,
                expected,
                Some(msg),
            )
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
    if let Some(t) = auth::cookie(&headers, state.cookie_name()) {
        state.sessions().close(t);
    }
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::clear_session_cookie(state.cookie_name())) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
