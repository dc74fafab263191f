//! Access: users and roles from `[dashboard]` in `halfsky.toml` (argon2 password
//! hashes), login sessions in memory (cookie `HttpOnly; SameSite=Strict`), a CSRF
//! token per session checked on every form post, and the request context every page
//! and API handler takes ([`Ctx`]).
//!
//! Login is required whenever users are configured or the dashboard listens on
//! anything but loopback; on loopback without users, pages are readable anonymously
//! (and say so) but nothing can be written.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use rand::Rng;

use super::html::Viewer;
use super::i18n::Lang;
use super::AppState;
use crate::config::Role;

/// Name of the session cookie: `halfsky_session_<port>`, because browsers keep cookies
/// per host, not per port, and two dashboards on one host must not log each other out.
pub fn session_cookie_name(port: u16) -> String {
    format!("halfsky_session_{port}")
}
/// A session ends after this long.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Login name.
    pub name: String,
    /// Role at login.
    pub role: Role,
    /// Token forms must echo.
    pub csrf: String,
    expires: Instant,
}

/// Live sessions by token.
#[derive(Debug, Default)]
pub struct Sessions {
    map: std::sync::Mutex<HashMap<String, Session>>,
}

/// Failed logins a user name or an address may make before it has to wait.
const FREE_FAILURES: u32 = 5;
/// The first wait after them; each further failure doubles it, up to [`LONGEST_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(30);
/// The longest wait.
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);
/// Names and addresses remembered; beyond this, those no longer waiting are forgotten.
const THROTTLE_KEYS: usize = 10_000;

/// Failed logins per user name and per client address, so passwords cannot be guessed
/// at speed: after [`FREE_FAILURES`] a name or an address waits, longer after each
/// further failure. A success forgets the name's and the address's failures.
#[derive(Debug, Default)]
pub struct Throttle {
    /// Failures and the instant until which a key must wait.
    map: std::sync::Mutex<HashMap<String, (u32, Option<Instant>)>>,
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Option<Instant>)>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long the longest-waiting of `keys` must still wait (None: may try now).
    pub fn wait(&self, keys: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let map = self.lock();
        keys.iter()
            .filter_map(|k| map.get(k)?.1)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Counts a failed login against every key.
    pub fn failed(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= THROTTLE_KEYS {
            map.retain(|_, (_, until)| until.is_some_and(|u| u > now));
        }
        for key in keys {
            let (failures, until) = map.entry(key.clone()).or_insert((0, None));
            *failures += 1;
            if *failures >= FREE_FAILURES {
                let doublings = (*failures - FREE_FAILURES).min(16);
                let wait = (FIRST_WAIT * 2u32.pow(doublings)).min(LONGEST_WAIT);
                *until = Some(now + wait);
            }
        }
    }

    /// Forgets the failures of every key (a login succeeded).
    pub fn succeeded(&self, keys: &[String]) {
        let mut map = self.lock();
        for key in keys {
            map.remove(key);
        }
    }
}

/// The throttle keys of a login attempt: the user name, and the address if known.
pub fn throttle_keys(name: &str, addr: Option<std::net::IpAddr>) -> Vec<String> {
    let mut keys = vec![format!("user:{name}")];
    keys.extend(addr.map(|a| format!("addr:{a}")));
    keys
}

/// The client's address, when the server knows it (`ConnectInfo`; absent when a test
/// drives the router in-process).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A new random token (sessions, CSRF).
pub fn token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

impl Sessions {
    /// Opens a session; returns its token.
    pub fn open(&self, name: &str, role: Role) -> String {
        let t = token();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(
            t.clone(),
            Session {
                name: name.to_string(),
                role,
                csrf: token(),
                expires: now + SESSION_TTL,
            },
        );
        t
    }

    /// The live session of a token.
    pub fn get(&self, token: &str) -> Option<Session> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(token)
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    /// Ends a session.
    pub fn close(&self, token: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token);
    }
}

/// Hashes a password with argon2 (random salt) into a PHC string for `halfsky.toml`.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
}

/// Checks a password against a stored hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The value of cookie `name` in a request's headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// What every handler knows about the request: language, user, CSRF token, URL.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Page language.
    pub lang: Lang,
    /// The logged-in session (None: anonymous read).
    pub session: Option<Session>,
    /// Path and query of the request.
    pub path: String,
    /// Language chosen by `?lang=` on this request (to remember in a cookie).
    pub set_lang: Option<Lang>,
}

impl Ctx {
    /// May this request write records?
    pub fn can_write(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.role.can_write())
    }

    /// The frame's view of the user.
    pub fn viewer(&self) -> Viewer {
        Viewer {
            name: self.session.as_ref().map(|s| s.name.clone()),
            can_write: self.can_write(),
            csrf: self.csrf().to_string(),
        }
    }

    /// The session's CSRF token ("" when anonymous).
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map(|s| s.csrf.as_str()).unwrap_or("")
    }

    /// Does a posted token match the session's?
    pub fn csrf_ok(&self, posted: &str) -> bool {
        match &self.session {
            Some(s) => same_token(&s.csrf, posted),
            None => false,
        }
    }

    /// A `Set-Cookie` for the language, if `?lang=` chose one.
    pub fn lang_cookie(&self) -> Option<String> {
        self.set_lang.map(|l| {
            let v = if l == Lang::En { "en" } else { "zh" };
            format!("lang={v}; Path=/; SameSite=Strict; Max-Age=31536000")
        })
    }
}

fn query_lang(parts: &Parts) -> Option<Lang> {
    parts
        .uri
        .query()?
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "lang")
        .and_then(|(_, v)| Lang::parse(v))
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let set_lang = query_lang(parts);
        let lang = set_lang
            .or_else(|| cookie(&parts.headers, "lang").and_then(Lang::parse))
            .unwrap_or_default();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let session =
            cookie(&parts.headers, state.cookie_name()).and_then(|t| state.sessions().get(t));
        if session.is_none() && !state.anonymous_read() {
            if path.starts_with("/api/") {
                let body = serde_json::json!({
                    "error": "login required: POST /login with name and password, then send the session cookie"
                });
                return Err((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response());
            }
            let next = urlencode(&path);
            return Err(Redirect::to(&format!("/login?next={next}")).into_response());
        }
        Ok(Ctx {
            lang,
            session,
            path,
            set_lang,
        })
    }
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The login form; `csrf` is the token of the login cookie ([`login_cookie`]).
pub fn login_page(
    lang: Lang,
    next: &str,
    csrf: &str,
    error: Option<&str>,
    no_users: bool,
) -> Markup {
    let title = lang.t(
        "登录 妇联精准扶贫台账",
        "Log in — women's federation ledger",
    );
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style {
                    (PreEscaped("body{font-family:sans-serif;margin:16px;max-width:30em}input{font-size:16px;max-width:100%;box-sizing:border-box}label{display:block;margin-top:8px}.err{color:#a00}.warn{background:#fff3cd;padding:6px}"))
                }
            }
            body {
                h1 { (title) }
                @if no_users {
                    p.warn {
                        (lang.t(
                            "本节点还没有用户。请在节点电脑上运行 halfsky user add -d 目录 --name 名字 --role editor 创建用户。",
                            "This node has no users yet. Create one on the node's computer: halfsky user add -d DIR --name NAME --role editor"
                        ))
                    }
                }
                @if let Some(e) = error { p.err { (e) } }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    input type="hidden" name="csrf" value=(csrf);
                    label { (lang.t("用户名", "User name")) " " input type="text" name="name" id="name" autofocus; }
                    label { (lang.t("密码", "Password")) " " input type="password" name="password" id="password"; }
                    p { button type="submit" id="login" { (lang.t("登录", "Log in")) } }
                }
            }
        }
    }
}

/// The session cookie for a token.
pub fn session_cookie(name: &str, token: &str) -> String {
    format!("{name}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200")
}

/// The cookie carrying the login form's CSRF token (double submit: the form's hidden
/// field must equal it, and another site can neither read nor set it).
pub fn login_cookie(name: &str, token: &str) -> String {
    format!("{name}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600")
}

/// A cookie that ends the session in the browser.
pub fn clear_session_cookie(name: &str) -> String {
    format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify() {
        let h = hash_password("秘密123").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password(&h, "秘密123"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("garbage", "x"));
    }
}
