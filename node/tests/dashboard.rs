//! The dashboard over HTTP: every page and API route, login and roles, CSRF, bad form
//! input (a clear Chinese message, nothing written), exports, languages, and the
//! numbers on the page and in the API equal to `halfsky stats --json`.
//!
//! A township ledger holds two villages' documents (applied as synced changes), so
//! drill-down and freshness have something to show; the router is driven in-process.

use std::io::Write;
use std::process::{Command, Stdio};

use automerge::Change;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::NaiveDate;
use halfsky_node::config::{set_dashboard_user, DashboardConfig, Role};
use halfsky_node::dashboard::{auth, router, AppState};
use halfsky_node::ledger::actor::{LedgerActor, LedgerHandle};
use halfsky_node::sync::freshness::ArrivalPath;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::synthetic::Generator;
use halfsky_shared::{Kind, OrgCode};
use tower::ServiceExt;

const TOWNSHIP: &str = "230129100000";
const V1: &str = "230129100201";
const V2: &str = "230129100202";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

/// A village's whole document as changes, from a ledger of its own.
fn village_changes(dir: &std::path::Path, code: &str, name: &str, seed: u64) -> Vec<Change> {
    let home = NodeHome::new(dir.join(code));
    home.init(org(code), name, "pc", None).unwrap();
    let mut ledger = Ledger::open(&home).unwrap();
    ledger.set_today(today());
    let mut g = Generator::new(seed, today());
    g.village(&org(code), 12, |kind, inputs| ledger.add(kind, &inputs))
        .unwrap();
    ledger
        .with_automerge(org(code), |d| d.get_changes(&[]))
        .unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    home: NodeHome,
    handle: LedgerHandle,
    _actor: LedgerActor,
}

/// A township node holding two villages' documents (as if synced from them).
fn township() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let c1 = village_changes(dir.path(), V1, "红星村", 1);
    let c2 = village_changes(dir.path(), V2, "前进村", 2);
    let home = NodeHome::new(dir.path().join("t"));
    home.init(org(TOWNSHIP), "加信镇", "pc", None).unwrap();
    let mut ledger = Ledger::open(&home).unwrap();
    ledger.set_today(today());
    ledger.apply_changes(org(V1), c1).unwrap();
    ledger.apply_changes(org(V2), c2).unwrap();
    // 红星村 is heard from now over its direct link; 前进村 was last heard from three
    // days ago, through the relay: stale under the default 24 hours.
    let now = chrono::Utc::now().timestamp();
    let three_days_ago = now - 3 * 86_400;
    ledger
        .freshness()
        .record(org(V2), ArrivalPath::Relay, three_days_ago, None)
        .unwrap();
    ledger
        .freshness()
        .heard(org(V1), now, now, ArrivalPath::Direct, None)
        .unwrap();
    ledger
        .freshness()
        .heard(org(V2), three_days_ago, now, ArrivalPath::Relay, None)
        .unwrap();
    let (actor, handle) = LedgerActor::start(ledger).unwrap();
    Fixture {
        _dir: dir,
        home,
        handle,
        _actor: actor,
    }
}

/// A village node with synthetic records.
fn village() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = NodeHome::new(dir.path().join("v"));
    home.init(org(V1), "红星村", "pc", None).unwrap();
    let mut ledger = Ledger::open(&home).unwrap();
    ledger.set_today(today());
    let mut g = Generator::new(7, today());
    g.village(&org(V1), 15, |kind, inputs| ledger.add(kind, &inputs))
        .unwrap();
    let (actor, handle) = LedgerActor::start(ledger).unwrap();
    Fixture {
        _dir: dir,
        home,
        handle,
        _actor: actor,
    }
}

fn users() -> DashboardConfig {
    let mut config = DashboardConfig::default();
    for (name, role) in [
        ("viewer", Role::Viewer),
        ("editor", Role::Editor),
        ("admin", Role::Admin),
    ] {
        config.users.push(halfsky_node::config::DashboardUser {
            name: name.into(),
            role,
            password_hash: auth::hash_password(&format!("{name}-password")).unwrap(),
        });
    }
    config
}

fn make_app(f: &Fixture, config: &DashboardConfig, listen: &str) -> Router {
    let cfg = f.home.config().unwrap();
    router(AppState::new(
        f.handle.clone(),
        cfg.org,
        cfg.name,
        config,
        listen.parse().unwrap(),
    ))
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

async fn send(app: &Router, req: Request<Body>) -> Resp {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 10 << 20)
        .await
        .unwrap()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, path: &str, cookie: Option<&str>) -> Resp {
    let mut req = Request::get(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", auth::urlencode(k), auth::urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn post(app: &Router, path: &str, cookie: Option<&str>, pairs: &[(&str, &str)]) -> Resp {
    let mut req =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    send(app, req.body(Body::from(form_body(pairs))).unwrap()).await
}

/// Posts the login form as a browser does: first GET /login for its CSRF cookie and
/// token, then POST the fields with both (from `addr` if given).
async fn login_post(
    app: &Router,
    pairs: &[(&str, &str)],
    addr: Option<std::net::SocketAddr>,
) -> Resp {
    let form = get(app, "/login", None).await;
    let set = form.headers[header::SET_COOKIE].to_str().unwrap();
    let cookie = set.split(';').next().unwrap().to_string();
    let csrf = csrf_of(&form.text());
    let mut fields = pairs.to_vec();
    fields.push(("csrf", &csrf));
    let mut req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie);
    if let Some(addr) = addr {
        req = req.extension(axum::extract::ConnectInfo(addr));
    }
    send(app, req.body(Body::from(form_body(&fields))).unwrap()).await
}

/// Logs in; returns the cookie header value.
async fn login(app: &Router, name: &str) -> String {
    let password = format!("{name}-password");
    let r = login_post(
        app,
        &[("name", name), ("password", &password), ("next", "/")],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let set = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    set.split(';').next().unwrap().to_string()
}

/// The CSRF token of the form on a page.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..at + 64].to_string()
}

async fn stats_cli(handle: &LedgerHandle, code: &str) -> serde_json::Value {
    let org = halfsky_shared::OrgCode::parse(code).unwrap();
    let response = handle
        .run(move |l| {
            let request = halfsky_node::command::Request::Stats { org: Some(org) };
            halfsky_node::command::execute(l, request, Default::default()).unwrap()
        })
        .await
        .unwrap();
    match response {
        halfsky_node::command::Response::Stats(report) => serde_json::to_value(report).unwrap(),
        other => panic!("stats answered {other:?}"),
    }
}

fn number_after(page: &str, id: &str) -> i64 {
    let marker = format!("id=\"{id}\">");
    let at = page.find(&marker).unwrap_or_else(|| panic!("no #{id}")) + marker.len();
    let digits: String = page[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_required_beyond_loopback_and_wrong_passwords_are_refused() {
    let f = township();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let r = get(&app, &format!("/org/{TOWNSHIP}"), None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/login?next="), "{}", r.location());
    let r = get(&app, "/api/v1/stats", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = get(&app, "/login", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("密码"));
    let r = login_post(
        &app,
        &[("name", "viewer"), ("password", "wrong"), ("next", "/")],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("用户名或密码错误"));
    // No session cookie (only the login form's own cookie, refreshed).
    assert!(r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .all(|v| !v.to_str().unwrap().starts_with("halfsky_session_8080=")));
    let r = login_post(
        &app,
        &[("name", "nobody"), ("password", "x"), ("next", "/")],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // An open redirect is not possible through ?next=.
    let r = login_post(
        &app,
        &[
            ("name", "viewer"),
            ("password", "viewer-password"),
            ("next", "//evil.example/"),
        ],
        None,
    )
    .await;
    assert_eq!(r.location(), "/");
    let cookie = login(&app, "viewer").await;
    let r = get(&app, &format!("/org/{TOWNSHIP}"), Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    // Logging out needs the CSRF token, then ends the session.
    let r = post(&app, "/logout", Some(&cookie), &[("csrf", "bad")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let csrf = csrf_of(
        &get(&app, &format!("/org/{TOWNSHIP}"), Some(&cookie))
            .await
            .text(),
    );
    let r = post(&app, "/logout", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = get(&app, &format!("/org/{TOWNSHIP}"), Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_and_api_route_answers_and_numbers_equal_stats_json() {
    let f = township();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let c = login(&app, "viewer").await;
    let c = Some(c.as_str());

    // Overview of the township: numbers equal `halfsky stats --json`.
    let page = get(&app, &format!("/org/{TOWNSHIP}"), c).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    let cli = stats_cli(&f.handle, TOWNSHIP).await;
    assert_eq!(number_after(&html, "women-total"), cli["women"]["total"]);
    assert_eq!(
        number_after(&html, "overdue-count"),
        cli["visits"]["overdue_women"]
    );
    assert_eq!(number_after(&html, "visits-total"), cli["visits"]["total"]);
    assert_eq!(number_after(&html, "insured"), cli["insured"]);
    assert_eq!(number_after(&html, "exits"), cli["exits_this_year"]);
    // Drill-down rows for both villages, with freshness (direct sync) beside them.
    assert!(html.contains("红星村") && html.contains("前进村"), "{html}");
    assert!(html.contains(&format!("href=\"/org/{V1}\"")));
    assert!(html.contains("直连同步"), "{html}");
    // The stale village stands out, and so does the total that includes it.
    assert!(
        html.contains("<tr class=\"stale\"><td><a href=\"/org/230129100202\">"),
        "{html}"
    );
    assert!(html.contains("中继转发") && html.contains("过期"), "{html}");
    assert!(html.contains("class=\"warn\" id=\"freshness\""), "{html}");
    assert!(html.contains("最久未联系：前进村"), "{html}");
    assert!(html.contains("最近联系：红星村"), "{html}");
    assert!(html.contains("<svg"));
    // The API serves the same report.
    for code in [TOWNSHIP, V1, V2] {
        let api = get(&app, &format!("/api/v1/stats?org={code}"), c).await;
        assert_eq!(api.status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_slice(&api.body).unwrap();
        assert_eq!(json, stats_cli(&f.handle, code).await, "{code}");
    }
    let v1 = get(&app, &format!("/org/{V1}"), c).await.text();
    let cli_v1 = stats_cli(&f.handle, V1).await;
    assert_eq!(number_after(&v1, "women-total"), cli_v1["women"]["total"]);
    let api: serde_json::Value =
        serde_json::from_slice(&get(&app, "/api/v1/overview", c).await.body).unwrap();
    assert_eq!(api["stats"], cli);
    assert_eq!(api["children"].as_array().unwrap().len(), 2);
    assert_eq!(api["children"][0]["freshness"]["newest"]["via"], "direct");
    assert_eq!(api["children"][0]["stale"], false);
    assert_eq!(api["children"][1]["stale"], true);
    assert_eq!(api["children"][1]["freshness"]["oldest"]["via"], "relay");

    // Overdue list: count equals the statistics; the API agrees.
    let overdue = get(&app, &format!("/org/{TOWNSHIP}/overdue"), c)
        .await
        .text();
    assert_eq!(
        number_after(&overdue, "overdue-total"),
        cli["visits"]["overdue_women"]
    );
    let api: serde_json::Value =
        serde_json::from_slice(&get(&app, "/api/v1/overdue", c).await.body).unwrap();
    assert_eq!(api["count"], cli["visits"]["overdue_women"]);

    // Women by filter.
    let all = get(&app, &format!("/org/{TOWNSHIP}/women"), c).await.text();
    assert_eq!(number_after(&all, "women-count"), cli["women"]["total"]);
    let poor = get(
        &app,
        &format!("/org/{TOWNSHIP}/women?status=poor&labor=full"),
        c,
    )
    .await;
    assert_eq!(poor.status, StatusCode::OK);
    let api: serde_json::Value = serde_json::from_slice(
        &get(&app, "/api/v1/women?status=poor&labor=full", c)
            .await
            .body,
    )
    .unwrap();
    assert_eq!(number_after(&poor.text(), "women-count"), api["count"]);
    assert_eq!(
        api["rows"].as_array().unwrap().len() as i64,
        api["count"].as_i64().unwrap()
    );

    // A record page: masked ID number, history with device.
    let rows = api["rows"].as_array().unwrap();
    let woman = rows
        .iter()
        .find(|r| r["fields"]["id_number"].is_string())
        .unwrap_or(&rows[0]);
    let id = woman["id"].as_str().unwrap();
    let page = get(&app, &format!("/record/{id}"), c).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("修改历史"));
    assert!(html.contains("/pc"), "history names the device: {html}");
    if let Some(n) = woman["fields"]["id_number"].as_str() {
        assert!(n.contains("****") && html.contains(n));
    }
    let api = get(&app, &format!("/api/v1/records/{id}"), c).await;
    assert_eq!(api.status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(&api.body).unwrap();
    assert!(!json["history"].as_array().unwrap().is_empty());
    assert_eq!(
        get(&app, &format!("/api/v1/records/{V1}-W-NONE-1"), c)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let fresh: serde_json::Value =
        serde_json::from_slice(&get(&app, "/api/v1/freshness", c).await.body).unwrap();
    let units = fresh["units"]
        .as_array()
        .expect("the freshness report lists units");
    assert_eq!(units.len(), 3, "the township and its two villages: {fresh}");
    assert_eq!(fresh["summary"]["stale_units"], 1, "{fresh}");

    // Forms exist for every kind (a viewer sees them read-only).
    assert_eq!(get(&app, "/new", c).await.status, StatusCode::OK);
    for kind in Kind::ALL {
        let r = get(&app, &format!("/new/{}", kind.spec().name), c).await;
        assert_eq!(r.status, StatusCode::OK, "{kind}");
        assert!(r.text().contains("不能录入"), "{kind}");
    }

    // Exports: CSV with BOM, XLSX workbook, for each table.
    for path in [
        format!("/org/{TOWNSHIP}?format=csv&table=0"),
        format!("/org/{TOWNSHIP}/overdue?format=csv"),
        format!("/org/{TOWNSHIP}/women?status=poor&format=csv"),
        format!("/record/{id}?format=csv&table=1"),
    ] {
        let r = get(&app, &path, c).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.body.starts_with("\u{feff}".as_bytes()), "{path}");
    }
    let csv = String::from_utf8(
        get(&app, &format!("/org/{TOWNSHIP}?format=csv&table=0"), c)
            .await
            .body,
    )
    .unwrap();
    assert!(csv.contains("红星村") && csv.contains("前进村"));
    for t in 0..6 {
        let r = get(&app, &format!("/org/{TOWNSHIP}?format=xlsx&table={t}"), c).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.starts_with(b"PK"), "table {t}");
        assert!(r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("attachment"));
    }
    assert_eq!(
        get(&app, &format!("/org/{TOWNSHIP}?format=pdf"), c)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // English on request, remembered in a cookie.
    let r = get(&app, &format!("/org/{TOWNSHIP}?lang=en"), c).await;
    assert!(r.text().contains("Overdue"));
    assert!(r.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("lang=en"));

    // Outside the subtree, or unknown: a clear 404.
    let r = get(&app, "/org/230126000000", c).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("不是本节点（230129100000）或其下级单位"));
    assert_eq!(
        get(&app, "/api/v1/stats?org=230126000000", c).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(&app, "/nowhere", c).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/", c).await.status, StatusCode::SEE_OTHER);
}

async fn women_total(handle: &LedgerHandle) -> i64 {
    handle
        .run(|l| l.stats(None).unwrap().women.total)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_write_through_the_ledger_and_refuse_bad_input_in_chinese() {
    let f = village();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let before = women_total(&f.handle).await;

    // A viewer cannot post, even with a valid token.
    let viewer = login(&app, "viewer").await;
    let csrf = csrf_of(&get(&app, "/new/woman", Some(&viewer)).await.text());
    let r = post(
        &app,
        "/new/woman",
        Some(&viewer),
        &[
            ("csrf", &csrf),
            ("name", "王小红"),
            ("birth_year", "1980"),
            ("labor_capacity", "full"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(women_total(&f.handle).await, before);

    let editor = login(&app, "editor").await;
    let ec = Some(editor.as_str());
    // No or wrong CSRF token: refused.
    let r = post(
        &app,
        "/new/woman",
        ec,
        &[
            ("name", "王小红"),
            ("birth_year", "1980"),
            ("labor_capacity", "full"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        "/new/woman",
        ec,
        &[
            ("csrf", &csrf),
            ("name", "王小红"),
            ("birth_year", "1980"),
            ("labor_capacity", "full"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another session's token");
    let csrf = csrf_of(&get(&app, "/new/woman", ec).await.text());

    // Bad input: every problem listed in Chinese, values kept, nothing written.
    let r = post(
        &app,
        "/new/woman",
        ec,
        &[
            ("csrf", &csrf),
            ("name", "王小红"),
            ("birth_year", "一九八零"),
            ("exit_date", "明天"),
            ("wants_work", "false"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text();
    assert!(html.contains("未保存"), "{html}");
    assert!(html.contains("出生年份：请填写整数"), "{html}");
    assert!(html.contains("脱贫日期：不是有效日期"), "{html}");
    assert!(html.contains("value=\"王小红\""), "values are kept");
    assert_eq!(women_total(&f.handle).await, before);
    let r = post(
        &app,
        "/new/visit",
        ec,
        &[
            ("csrf", &csrf),
            ("woman_id", &format!("{V1}-W-NONE-9")),
            ("date", "2026-11-01"),
            ("visitor", "李"),
            ("mode", "home"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().contains("妇女编号：所填编号在本台账中不存在"),
        "{}",
        r.text()
    );

    // Good input: written through the ledger, visible in statistics and history.
    let r = post(
        &app,
        "/new/woman",
        ec,
        &[
            ("csrf", &csrf),
            ("name", "王小红"),
            ("birth_year", "1980"),
            ("labor_capacity", "full"),
            ("wants_work", "false"),
            ("wants_work", "true"),
            ("poverty_causes", "illness"),
            ("poverty_causes", "disaster"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(r.location().starts_with("/record/"));
    assert_eq!(women_total(&f.handle).await, before + 1);
    let id = r.location()["/record/".len()..]
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let rec: serde_json::Value =
        serde_json::from_slice(&get(&app, &format!("/api/v1/records/{id}"), ec).await.body)
            .unwrap();
    assert_eq!(rec["view"]["record"]["fields"]["wants_work"], true);
    assert_eq!(
        rec["view"]["record"]["fields"]["poverty_causes"],
        serde_json::json!(["illness", "disaster"])
    );

    // A visit for an overdue woman lowers the overdue count by one. The fixture's cards
    // were made today, so none is overdue yet: look 65 days ahead.
    let later = f
        .handle
        .run(|l| {
            let later = l.index().zone().day_of(chrono::Utc::now()) + chrono::Duration::days(65);
            l.set_today(later);
            later
        })
        .await
        .unwrap();
    let visit_date = later.format("%Y-%m-%d").to_string();
    // The overdue list's download: data only, days as numbers, no action column; the
    // page offers a visit for this village's own women, sorted longest first.
    let csv = get(&app, &format!("/org/{V1}/overdue?sort=days&format=csv"), ec)
        .await
        .text();
    let mut lines = csv.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.contains("未回访天数") && !header.contains("操作"),
        "{header}"
    );
    let days: Vec<i64> = lines
        .map(|l| {
            l.split(',')
                .nth(5)
                .unwrap_or_default()
                .parse()
                .expect("a number")
        })
        .collect();
    assert!(
        !days.is_empty() && days.windows(2).all(|w| w[0] >= w[1]),
        "{days:?}"
    );
    let page = get(&app, &format!("/org/{V1}/overdue"), ec).await.text();
    assert!(page.contains("记录回访"), "own village: a visit is offered");
    let overdue: serde_json::Value =
        serde_json::from_slice(&get(&app, "/api/v1/overdue", ec).await.body).unwrap();
    let count = overdue["count"].as_i64().unwrap();
    let woman = overdue["rows"][0]["woman_id"].as_str().unwrap().to_string();
    let form = get(&app, &format!("/new/visit?woman_id={woman}"), ec)
        .await
        .text();
    assert!(form.contains(&woman), "prefilled");
    let r = post(
        &app,
        "/new/visit",
        ec,
        &[
            ("csrf", &csrf),
            ("woman_id", &woman),
            ("date", &visit_date),
            ("visitor", "李主任"),
            ("mode", "home"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let page = get(&app, &format!("/org/{V1}"), ec).await.text();
    assert_eq!(number_after(&page, "overdue-count"), count - 1);
    assert!(page.contains("本机录入"));

    // The statistics kept up to date between calls equal a fresh sum (reindex drops
    // every kept sum and rebuilds the index from the documents).
    let (kept, fresh) = f
        .handle
        .run(|l| {
            let kept = l.stats(None).unwrap();
            l.reindex().unwrap();
            (kept, l.stats(None).unwrap())
        })
        .await
        .unwrap();
    assert_eq!(kept, fresh);

    // Every kind's form posts (empty → the required fields are named in Chinese).
    for kind in Kind::ALL {
        let r = post(
            &app,
            &format!("/new/{}", kind.spec().name),
            ec,
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{kind}");
        assert!(r.text().contains("必填"), "{kind}: {}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_without_users_reads_anonymously_but_never_writes() {
    let f = village();
    let local = make_app(&f, &DashboardConfig::default(), "127.0.0.1:8080");
    let app = local.clone();
    let r = get(&app, &format!("/org/{V1}"), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("匿名只读"));
    assert_eq!(
        get(&app, "/api/v1/stats", None).await.status,
        StatusCode::OK
    );
    let before = women_total(&f.handle).await;
    let r = post(
        &app,
        "/new/woman",
        None,
        &[
            ("csrf", ""),
            ("name", "王小红"),
            ("birth_year", "1980"),
            ("labor_capacity", "full"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(women_total(&f.handle).await, before);
    // Beyond loopback, the same node without users lets nobody in.
    let app = make_app(&f, &DashboardConfig::default(), "0.0.0.0:8080");
    assert_eq!(
        get(&app, &format!("/org/{V1}"), None).await.status,
        StatusCode::SEE_OTHER
    );
    assert!(get(&app, "/login", None)
        .await
        .text()
        .contains("halfsky user add"));
}

#[test]
fn user_add_stores_an_argon2_hash_in_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let home = NodeHome::new(dir.path().join("v"));
    home.init(org(V1), "红星村", "pc", None).unwrap();
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_halfsky"))
            .arg("-d")
            .arg(home.dir())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(
        &[
            "user",
            "add",
            "--name",
            "li",
            "--role",
            "editor",
            "--password-stdin",
        ],
        "long-enough-pw\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &[
            "user",
            "add",
            "--name",
            "wang",
            "--role",
            "boss",
            "--password-stdin",
        ],
        "long-enough-pw\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("viewer, editor or admin"));
    let out = run(
        &["user", "add", "--name", "zhao", "--password-stdin"],
        "short\n",
    );
    assert!(!out.status.success());
    let config = home.config().unwrap();
    assert_eq!(config.dashboard.users.len(), 1);
    let u = &config.dashboard.users[0];
    assert_eq!((u.name.as_str(), u.role), ("li", Role::Editor));
    assert!(auth::verify_password(&u.password_hash, "long-enough-pw"));
    // Setting the same user again replaces it; the file keeps its comments.
    set_dashboard_user(
        &home,
        "li",
        Role::Viewer,
        &auth::hash_password("another-pw").unwrap(),
    )
    .unwrap();
    let config = home.config().unwrap();
    assert_eq!(config.dashboard.users.len(), 1);
    assert_eq!(config.dashboard.users[0].role, Role::Viewer);
    let text = std::fs::read_to_string(home.config_path()).unwrap();
    assert!(text.starts_with("# halfsky node configuration"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_are_drawn_at_the_level_they_belong_to() {
    let f = village();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let c = login(&app, "viewer").await;
    let c = Some(c.as_str());
    let api = |body: &[u8]| serde_json::from_slice::<serde_json::Value>(body).unwrap();

    // A village has no target of its own: it sees its share of its county's yearly
    // 300 (the seed's default, said so), never the county's target as its own.
    let r = get(&app, &format!("/api/v1/overview?org={V1}"), c).await;
    let o = api(&r.body);
    assert_eq!(o["targets"]["own"], serde_json::json!([]), "{o}");
    let share = &o["targets"]["share_of_county"];
    assert_eq!(share["county"], "230129000000", "{o}");
    assert_eq!(share["target"]["value"], 300);
    assert_eq!(share["target"]["source"]["kind"], "default");
    assert_eq!(
        share["county_total"],
        serde_json::Value::Null,
        "a village does not hold its county"
    );
    let page = get(&app, &format!("/org/{V1}?lang=en"), c).await.text();
    assert!(page.contains("of its county's yearly target of"), "{page}");
    assert!(page.contains("(default)"), "{page}");
    assert!(!page.contains("This unit's targets"), "{page}");

    // Targets set for the village itself (through the same path as /new/target) are
    // its own: every period, the latest record per period, this year's figure beside
    // this year's target and everything recorded beside another period's.
    let add = |period: &'static str, metric: &'static str, value: &'static str| {
        f.handle.run(move |l| {
            let inputs: Vec<(String, String)> = [
                ("org", V1),
                ("metric", metric),
                ("period", period),
                ("value", value),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            l.add(Kind::Target, &inputs).unwrap()
        })
    };
    add("2026", "training_person_times", "90").await.unwrap();
    let year = add("2026", "training_person_times", "120").await.unwrap();
    add("2021-2030", "insured", "999").await.unwrap();
    add("2026", "model_women", "3").await.unwrap();
    let r = get(&app, &format!("/api/v1/overview?org={V1}"), c).await;
    let o = api(&r.body);
    let own = o["targets"]["own"].as_array().unwrap();
    let line = |metric: &str| {
        own.iter()
            .find(|l| l["metric"] == metric)
            .unwrap_or_else(|| panic!("{metric} in {own:?}"))
            .clone()
    };
    assert_eq!(
        own.len(),
        3,
        "the newer 2026 training target replaced the older: {own:?}"
    );
    let training = line("training_person_times");
    assert_eq!(training["value"], 120);
    assert_eq!(training["source"]["id"], year.to_string());
    assert_eq!(training["actual_is_this_year"], true);
    let person_times = o["stats"]["trainings"]["person_times_this_year"]
        .as_f64()
        .unwrap();
    assert_eq!(training["actual"].as_f64(), Some(person_times));
    let insured = line("insured");
    assert_eq!(insured["actual_is_this_year"], false);
    assert_eq!(insured["actual"].as_f64(), o["stats"]["insured"].as_f64());
    assert_eq!(
        line("model_women")["actual"],
        serde_json::Value::Null,
        "not measured"
    );
    let page = get(&app, &format!("/org/{V1}?lang=en"), c).await.text();
    assert!(page.contains("This unit's targets"), "{page}");
    assert!(page.contains("not recorded in the ledger"), "{page}");
    // Still the county's target for the share, not the village's own.
    assert_eq!(o["targets"]["share_of_county"]["target"]["value"], 300);

    // A target entered on /new/target by an editor shows on the overview of the unit
    // it names.
    let ec = login(&app, "editor").await;
    let csrf = csrf_of(&get(&app, "/new/target", Some(&ec)).await.text());
    let r = post(
        &app,
        "/new/target",
        Some(&ec),
        &[
            ("org", V1),
            ("metric", "exits"),
            ("period", "2026"),
            ("value", "7"),
            ("csrf", &csrf),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let o = api(&get(&app, &format!("/api/v1/overview?org={V1}"), c)
        .await
        .body);
    let exits = o["targets"]["own"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["metric"] == "exits")
        .cloned()
        .unwrap_or_else(|| panic!("the entered target: {o}"));
    assert_eq!(exits["value"], 7);
}

/// A township sees its share of its county's target, never the county's as its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_township_sees_its_share_of_the_countys_target() {
    let f = township();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let c = login(&app, "viewer").await;
    let c = Some(c.as_str());
    let r = get(&app, &format!("/api/v1/overview?org={TOWNSHIP}"), c).await;
    let o: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(o["targets"]["own"], serde_json::json!([]), "{o}");
    let share = &o["targets"]["share_of_county"];
    assert_eq!(share["county"], "230129000000");
    assert_eq!(share["target"]["value"], 300);
    assert_eq!(
        share["own"], o["stats"]["trainings"]["person_times_this_year"],
        "{o}"
    );
    // Verification per unit: each village row carries the township's checks of it,
    // the same numbers as that village's stats.
    for child in o["children"].as_array().unwrap() {
        let code = child["org"].as_str().unwrap();
        let r = get(&app, &format!("/api/v1/stats?org={code}"), c).await;
        let stats: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            child["verification"], stats["verification"]["by_level"]["township"],
            "{code}"
        );
        assert!(child["verification"]["pending"].as_i64().unwrap() > 0);
    }
    let page = get(&app, &format!("/org/{TOWNSHIP}"), c).await.text();
    assert!(page.contains("本级待核查"), "{page}");
    assert!(page.contains("id=\"county-share\""), "{page}");
    assert!(page.contains("所属县年度目标"), "{page}");
}

/// The monthly report page: the village's month, stamped, printable; a wrong month is
/// answered 400 with how to write it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_report_page_is_stamped_and_printable() {
    let f = village();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let c = login(&app, "viewer").await;
    let c = Some(c.as_str());
    let r = get(&app, &format!("/org/{V1}/report?month=2026-11"), c).await;
    assert_eq!(r.status, StatusCode::OK);
    let page = r.text();
    assert!(page.contains("2026年11月"), "{page}");
    assert!(page.contains(&format!("红星村 ({V1})")), "{page}");
    assert!(page.contains("@media print"), "{page}");
    let overview = get(&app, &format!("/org/{V1}"), c).await.text();
    assert!(
        overview.contains(&format!("/org/{V1}/report")),
        "linked from the overview"
    );
    let r = get(&app, &format!("/org/{V1}/report?month=Nov"), c).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("YYYY-MM"), "{}", r.text());
    let r = get(&app, &format!("/org/{V1}/report"), None).await;
    assert_ne!(r.status, StatusCode::OK, "not without a login off loopback");
}

/// Lists of trainings, loans, bases and pairings: every record of the kind, values by
/// their names, escaped, downloadable; women are pointed to their own list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_each_kind_are_listed_escaped_and_downloadable() {
    let f = village();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let c = login(&app, "viewer").await;
    let c = Some(c.as_str());
    let woman = f
        .handle
        .run(|l| l.list(Kind::Woman, V1, false).unwrap()[0].record.id.clone())
        .await
        .unwrap();
    let pairing = f
        .handle
        .run(move |l| {
            let inputs: Vec<(String, String)> = [
                ("woman_id", woman.to_string()),
                ("helper_name", "<b>王</b>".to_string()),
                ("helper_kind", "cadre".to_string()),
                ("since", "2026-11-01".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            l.add(Kind::Pairing, &inputs).unwrap()
        })
        .await
        .unwrap();
    for kind in ["training", "loan", "base", "pairing"] {
        let expected = f
            .handle
            .run(move |l| {
                l.list(Kind::from_name(kind).unwrap(), V1, false)
                    .unwrap()
                    .len()
            })
            .await
            .unwrap();
        let page = get(&app, &format!("/org/{V1}/records?kind={kind}"), c).await;
        assert_eq!(page.status, StatusCode::OK, "{kind}");
        let text = page.text();
        assert!(
            text.contains(&format!("id=\"record-count\">{expected}<")),
            "{kind}: {expected} records: {text}"
        );
    }
    let text = get(&app, &format!("/org/{V1}/records?kind=pairing"), c)
        .await
        .text();
    assert!(text.contains(&pairing.to_string()), "{text}");
    assert!(text.contains("&lt;b&gt;王&lt;/b&gt;"), "escaped: {text}");
    assert!(!text.contains("<b>王</b>"), "{text}");
    assert!(text.contains("干部"), "helper kind by its name: {text}");
    let csv = get(
        &app,
        &format!("/org/{V1}/records?kind=pairing&format=csv"),
        c,
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.text().contains(&pairing.to_string()));
    let women = get(&app, &format!("/org/{V1}/records?kind=woman"), c).await;
    assert_eq!(women.status, StatusCode::NOT_FOUND);
}

/// Pages print times in the deployment's zone (`[node] time_zone`), not a fixed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_pages_print_times_in_the_configured_zone() {
    use halfsky_node::dashboard::i18n::Lang;
    let dir = tempfile::tempdir().unwrap();
    let home = NodeHome::new(dir.path().join("v"));
    home.init(org(V1), "红星村", "pc", None).unwrap();
    let text = std::fs::read_to_string(home.config_path()).unwrap();
    assert!(text.contains("Asia/Shanghai"), "{text}");
    std::fs::write(
        home.config_path(),
        text.replace("Asia/Shanghai", "Asia/Urumqi"),
    )
    .unwrap();
    let mut ledger = Ledger::open(&home).unwrap();
    let mut g = Generator::new(3, ledger.today());
    let id = ledger.add(Kind::Woman, &g.woman(&org(V1), None)).unwrap();
    let meta = ledger.show(&id).unwrap().indexed.record.meta;
    let (created, updated) = (meta.created_at, meta.updated_at);
    // The command line too: `show` prints the zone's time, never the stored UTC.
    let args = ["--lang", "en", "show", &id.to_string()].map(String::from);
    let shown = halfsky_node::cli::execute_args(&mut ledger, dir.path(), &args);
    let urumqi: halfsky_shared::local_time::Zone = "Asia/Urumqi".parse().unwrap();
    assert!(
        shown.stdout.contains(&Lang::En.stamp(urumqi, &created)),
        "{}",
        shown.stdout
    );
    assert!(!shown.stdout.contains(&created), "{}", shown.stdout);
    let (actor, handle) = LedgerActor::start(ledger).unwrap();
    let f = Fixture {
        _dir: dir,
        home,
        handle,
        _actor: actor,
    };
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let c = login(&app, "viewer").await;
    let page = get(&app, &format!("/record/{id}?lang=en"), Some(&c))
        .await
        .text();
    let shanghai = halfsky_shared::local_time::Zone::default();
    let here = Lang::En.stamp(urumqi, &created);
    assert_ne!(here, Lang::En.stamp(shanghai, &created));
    assert!(page.contains(&here), "{here} in {page}");
    assert!(
        !page.contains(&Lang::En.stamp(shanghai, &created)),
        "{page}"
    );
    // The verification queue prints its times the same way, never the stored UTC.
    let queue = get(&app, &format!("/org/{V1}/verify?lang=en"), Some(&c))
        .await
        .text();
    assert!(queue.contains(&id.to_string()), "{queue}");
    assert!(queue.contains(&Lang::En.stamp(urumqi, &updated)), "{queue}");
    assert!(!queue.contains(&updated), "{queue}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_answered_while_the_ledger_actor_is_busy() {
    let f = township();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let c = login(&app, "editor").await;
    let c = Some(c.as_str());

    // Hold the actor: it runs a job that waits until the test lets it go.
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let handle = f.handle.clone();
    let busy = tokio::spawn(async move {
        handle
            .run(move |_| {
                let _ = entered_tx.send(());
                release_rx.recv().expect("the test releases the actor");
            })
            .await
    });
    entered_rx.await.expect("the actor took the job");

    // Every kind of GET answers meanwhile, with the real numbers.
    let women = f.handle.reader().stats(org(TOWNSHIP)).unwrap().women.total;
    let page = get(&app, &format!("/org/{TOWNSHIP}"), c).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(number_after(&page.text(), "women-total"), women);
    for path in [
        format!("/org/{TOWNSHIP}/overdue"),
        format!("/org/{V1}/women"),
        "/api/v1/stats".to_string(),
        "/api/v1/freshness".to_string(),
        "/new/visit".to_string(),
    ] {
        assert_eq!(get(&app, &path, c).await.status, StatusCode::OK, "{path}");
    }
    let id = f
        .handle
        .reader()
        .list(Kind::Woman, V1, false)
        .unwrap()
        .remove(0)
        .record
        .id;
    let r = get(&app, &format!("/record/{id}"), c).await;
    assert_eq!(r.status, StatusCode::OK);

    // The actor was held the whole time; let it go and it finishes its job.
    assert!(!busy.is_finished());
    release_tx.send(()).unwrap();
    busy.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_fields_holding_markup_come_out_escaped() {
    let f = village();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let c = login(&app, "viewer").await;
    let c = Some(c.as_str());
    let evil = "<script>alert('x')</script>\"><b>";
    let id = f
        .handle
        .run(move |l| {
            let id = l.list(Kind::Woman, V1, false).unwrap().remove(0).record.id;
            l.update(&id, None, &[("name".to_string(), evil.to_string())])
                .unwrap();
            id
        })
        .await
        .unwrap();
    for path in [
        format!("/record/{id}"),
        format!("/org/{V1}/women"),
        format!("/org/{V1}/women?name=%3Cscript%3E"),
    ] {
        let page = get(&app, &path, c).await.text();
        assert!(
            page.contains("&lt;script&gt;alert('x')&lt;/script&gt;&quot;&gt;&lt;b&gt;"),
            "{path}: {page}"
        );
        assert!(!page.contains("<script>"), "{path}: {page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_lists_are_capped_and_paged() {
    let f = township();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let c = login(&app, "viewer").await;
    let c = Some(c.as_str());
    let json = |r: Resp| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap();

    // Asking for more than the cap gets the cap.
    let all = json(get(&app, "/api/v1/women?limit=1000000", c).await);
    assert_eq!(all["limit"], halfsky_node::dashboard::api::MAX_API_ROWS);
    let count = all["count"].as_u64().unwrap() as usize;
    assert!(count > 6, "{all}");
    assert_eq!(all["rows"].as_array().unwrap().len(), count);
    assert_eq!(all["next_offset"], serde_json::Value::Null);

    // Pages of 4 walk the same rows in the same order, with the filter kept.
    let mut walked = Vec::new();
    let mut offset = Some(0);
    while let Some(at) = offset {
        let page = json(get(&app, &format!("/api/v1/women?limit=4&offset={at}"), c).await);
        assert_eq!(page["count"], count);
        walked.extend(page["rows"].as_array().unwrap().iter().cloned());
        offset = page["next_offset"].as_u64();
    }
    assert_eq!(&walked, all["rows"].as_array().unwrap());
    let poor = json(get(&app, "/api/v1/women?status=poor&limit=2&offset=1", c).await);
    assert!(poor["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["fields"]["status"] == "poor"));

    // The overdue list pages the same way.
    let overdue = json(get(&app, "/api/v1/overdue?limit=1&offset=1", c).await);
    assert_eq!(overdue["offset"], 1);
    assert!(overdue["rows"].as_array().unwrap().len() <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_needs_the_form_token_and_is_throttled_per_user_and_address() {
    let f = township();
    let app = make_app(&f, &users(), "0.0.0.0:8080");

    // A login posted without the login form's cookie and token (another site) is refused.
    let r = post(
        &app,
        "/login",
        None,
        &[("name", "viewer"), ("password", "viewer-password")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("登录表单已过期"), "{}", r.text());

    // Five wrong passwords for the viewer from one address…
    let a: std::net::SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let b: std::net::SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let c: std::net::SocketAddr = "10.0.0.3:5000".parse().unwrap();
    let wrong = [("name", "viewer"), ("password", "wrong")];
    for _ in 0..5 {
        let r = login_post(&app, &wrong, Some(a)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // …and the viewer must wait, even with the right password from elsewhere; the
    // message says when to try again.
    let right = [("name", "viewer"), ("password", "viewer-password")];
    let r = login_post(&app, &right, Some(b)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().contains("秒后再试"), "{}", r.text());
    let after: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after > 0);
    // The address waits too, whoever logs in from it.
    let editor = [("name", "editor"), ("password", "editor-password")];
    let r = login_post(&app, &editor, Some(a)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Another user from another address is not held up.
    let r = login_post(&app, &editor, Some(c)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_lists_refusals_and_quarantines_for_admins_only() {
    let f = township();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    // A change of V1's document writing a record of V2: refused, V1 quarantined.
    let raw = f
        .handle
        .run(|l| {
            use automerge::transaction::Transactable;
            use automerge::ReadDoc;
            let changes = halfsky_shared::session::Replica::changes_since(l, &org(V1), &[])
                .unwrap()
                .unwrap();
            let mut doc =
                automerge::AutoCommit::new().with_actor(automerge::ActorId::from([4u8; 16]));
            doc.apply_changes(
                changes
                    .iter()
                    .map(|c| Change::from_bytes(c.clone()).unwrap())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            let (_, women) = doc.get(automerge::ROOT, "women").unwrap().unwrap();
            doc.put_object(&women, format!("{V2}-W-EVIL-1"), automerge::ObjType::Map)
                .unwrap();
            let hash = doc.commit().unwrap();
            let raw = doc.get_change_by_hash(&hash).unwrap().raw_bytes().to_vec();
            halfsky_shared::session::Replica::apply_changes(
                l,
                "evil/<b>x</b>",
                &org(V1),
                vec![raw.clone()],
                halfsky_shared::session::Delivery::CatchUp,
            )
            .unwrap_err();
            raw
        })
        .await
        .unwrap();
    assert!(!raw.is_empty());
    let viewer = login(&app, "viewer").await;
    let resp = get(&app, "/admin/refusals", Some(&viewer)).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    let admin = login(&app, "admin").await;
    let page = get(&app, "/admin/refusals", Some(&admin)).await.text();
    assert!(page.contains("foreign-record"), "{page}");
    assert!(page.contains(V1), "{page}");
    assert!(
        page.contains("evil/&lt;b&gt;x&lt;/b&gt;"),
        "the sender is escaped: {page}"
    );
    assert!(!page.contains("<b>x</b>"), "{page}");
    let csv = get(&app, "/admin/refusals?format=csv&table=1", Some(&admin))
        .await
        .text();
    assert!(csv.contains("foreign-record"), "{csv}");
}

/// The keyed hash of an ID number confirms a guessed number offline: it never leaves
/// the node through the API, whoever asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_never_receive_id_number_hashes() {
    let f = village();
    let hashes: Vec<(String, String)> = f
        .handle
        .run(|l| {
            l.list(Kind::Woman, V1, false)
                .unwrap()
                .into_iter()
                .filter_map(|r| {
                    let meta = r.record.meta;
                    let secret = format!("{}|{}", meta.id_hash?, meta.id_sealed?);
                    Some((r.record.id.to_string(), secret))
                })
                .collect()
        })
        .await
        .unwrap();
    assert!(hashes.len() > 5, "the fixture's women carry ID numbers");
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let c = login(&app, "viewer").await;
    let c = Some(c.as_str());
    let mut bodies = vec![get(&app, "/api/v1/women?limit=1000", c).await];
    for (id, _) in hashes.iter().take(3) {
        bodies.push(get(&app, &format!("/api/v1/records/{id}"), c).await);
        bodies.push(get(&app, &format!("/record/{id}"), c).await);
    }
    for body in bodies {
        assert_eq!(body.status, StatusCode::OK);
        let text = body.text();
        assert!(!text.contains("id_hash"), "{text}");
        assert!(!text.contains("id_sealed"), "{text}");
        for (_, both) in &hashes {
            for secret in both.rsplitn(2, '|') {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
    }
}

/// `?lang=` is honoured on every page, error pages included: with `?lang=en` a page
/// (its frame, its words and the advice of a 404) is English, without it Chinese.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_answers_in_the_language_asked_for() {
    let f = township();
    let app = make_app(&f, &users(), "0.0.0.0:8080");
    let c = login(&app, "admin").await;
    let c = Some(c.as_str());
    let women: serde_json::Value =
        serde_json::from_slice(&get(&app, "/api/v1/women", c).await.body).unwrap();
    let woman = women["rows"][0]["id"].as_str().unwrap().to_string();
    let missing = format!("{V1}-W-NONE-1");
    let pages = [
        format!("/org/{TOWNSHIP}"),
        format!("/org/{V1}"),
        format!("/org/{TOWNSHIP}/overdue"),
        format!("/org/{TOWNSHIP}/women"),
        format!("/org/{TOWNSHIP}/verify"),
        format!("/org/{TOWNSHIP}/duplicates"),
        format!("/org/{TOWNSHIP}/rhythm"),
        format!("/org/{TOWNSHIP}/report"),
        format!("/org/{TOWNSHIP}/trends"),
        format!("/org/{TOWNSHIP}/records"),
        format!("/record/{woman}"),
        format!("/record/{woman}/edit"),
        "/admin/refusals".to_string(),
        "/new".to_string(),
        "/new/woman".to_string(),
        "/nowhere".to_string(),
        "/org/230126000000".to_string(),
        "/org/2301X".to_string(),
        "/record/nonsense".to_string(),
        format!("/record/{missing}"),
        "/record/230126100201-W-AAAA-1".to_string(),
    ];
    // Words of the frame and of every sentence; none is a name in the fixture.
    let chinese_words = ["妇联精准扶贫台账", "退出", "返回首页", "请", "的"];
    for path in &pages {
        let sep = if path.contains('?') { '&' } else { '?' };
        let en = get(&app, &format!("{path}{sep}lang=en"), c).await;
        let status = en.status;
        let en = en.text();
        assert!(en.contains("lang=\"en\""), "{path}: {en}");
        // The monthly report is a page to print, without the dashboard's frame.
        let framed = !path.ends_with("/report");
        assert!(
            !framed || en.contains("Women's federation poverty ledger"),
            "{path}: {en}"
        );
        for word in chinese_words {
            assert!(!en.contains(word), "{path} in English holds {word}: {en}");
        }
        let zh = get(&app, path, c).await;
        assert_eq!(zh.status, status, "{path}");
        let zh = zh.text();
        assert!(zh.contains("lang=\"zh-CN\""), "{path}: {zh}");
        assert!(!framed || zh.contains("妇联精准扶贫台账"), "{path}: {zh}");
        if status == StatusCode::NOT_FOUND {
            for english in ["is not", "no such", "There is", "subtree", "digit"] {
                assert!(
                    !zh.contains(english),
                    "{path} in Chinese says {english}: {zh}"
                );
            }
        }
    }
    let r = get(&app, "/org/230126000000?lang=en", c).await.text();
    assert!(r.contains("not 230129100000 or a unit below it"), "{r}");
    let r = get(&app, "/org/230126000000", c).await.text();
    assert!(r.contains("不是本节点（230129100000）或其下级单位"), "{r}");
    let login_en = get(&app, "/login?lang=en", None).await.text();
    assert!(login_en.contains("lang=\"en\""), "{login_en}");
}
