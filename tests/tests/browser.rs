//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (chromedriver + fantoccini). A city → county → township → village hierarchy with
//! data runs on loopback; the test logs in at the city, drills down to the village,
//! records a visit through the village's own dashboard form, sees the overdue count
//! drop at the city once the visit has synced, and exports XLSX. Screenshots of each
//! page land in `target/test-output/browser/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use halfsky_node::config::Role;
use halfsky_node::run::RunningNode;
use halfsky_shared::OrgCode;
use halfsky_tests::deploy::{enable_dashboard, start, with, Deployment, NodeSpec};
use halfsky_tests::eventually;
use halfsky_tests::{fill_village, output_dir};

const CITY: &str = "230100000000";
const COUNTY: &str = "230129000000";
const TOWNSHIP: &str = "230129100000";
const VILLAGE: &str = "230129100201";
const USER: &str = "cadre";
const PASSWORD: &str = "cadre-password-1";
const LIMIT: Duration = Duration::from_secs(90);

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_driver() -> Driver {
    let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect(
            "chromedriver is missing: apt-get install -y chromium chromium-driver (.ci/run does)",
        );
    let port = free_tcp_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { child, port };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    driver
}

async fn browser(driver: &Driver, profile: &Path, size: &str) -> Client {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chromium is missing: apt-get install -y chromium (.ci/run does)");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-dev-shm-usage", format!("--window-size={size}"),
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(output_dir("browser").join(format!("{name}.png")), png).expect("written");
}

/// Clicks the element `at`, panicking with the locator if it is not on the page.
async fn click(client: &Client, at: Locator<'_>) {
    let element = client
        .find(at)
        .await
        .unwrap_or_else(|e| panic!("nothing to click at {at:?}: {e}"));
    element.click().await.unwrap();
}

/// Types `text` into the field `at`.
async fn type_into(client: &Client, at: Locator<'_>, text: &str) {
    let element = client
        .find(at)
        .await
        .unwrap_or_else(|e| panic!("no field at {at:?}: {e}"));
    element.send_keys(text).await.unwrap();
}

/// Logs in at `base` from its login page, whatever session the browser holds (the
/// dashboards share the host 127.0.0.1, so their cookies overwrite each other).
async fn login_at(client: &Client, base: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    type_into(client, Locator::Id("name"), USER).await;
    type_into(client, Locator::Id("password"), PASSWORD).await;
    click(client, Locator::Id("login")).await;
    arrives_at(client, "/org/").await;
}

async fn login(client: &Client, base: &str) {
    client.goto(&format!("{base}/")).await.unwrap();
    assert!(client
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/login"));
    type_into(client, Locator::Id("name"), USER).await;
    type_into(client, Locator::Id("password"), PASSWORD).await;
    click(client, Locator::Id("login")).await;
    // Logged in once the browser is on a unit's page.
    arrives_at(client, "/org/").await;
}

/// Waits (bounded) until the browser has navigated to a page whose path starts with
/// `prefix`, after a click that submits or follows a link; returns the path. A click
/// returns when the browser has the event, not always when the next page is there.
async fn arrives_at(client: &Client, prefix: &str) -> String {
    halfsky_tests::eventually(
        Duration::from_secs(30),
        &format!("the browser to reach {prefix}…"),
        || async {
            let path = client.current_url().await.ok()?.path().to_string();
            path.starts_with(prefix).then_some(path)
        },
    )
    .await
}

/// Waits (bounded) for the element `#id` to be on the page: after a click that
/// submits a form back to an address with the same path, only the answer's own
/// content shows that the next page is there.
async fn appears(client: &Client, id: &str) -> fantoccini::elements::Element {
    eventually(
        Duration::from_secs(30),
        &format!("#{id} on the page"),
        || async { client.find(Locator::Id(id)).await.ok() },
    )
    .await
}

async fn number(client: &Client, id: &str) -> i64 {
    let Ok(element) = client.find(Locator::Id(id)).await else {
        let url = client.current_url().await.unwrap();
        let page = client.source().await.unwrap_or_default();
        panic!("no #{id} on {url}:\n{page}");
    };
    let text = element.text().await.unwrap();
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("#{id} holds {text:?}"))
}

async fn drill(client: &Client, code: &str) {
    let link = client
        .find(Locator::Css(&format!("table a[href=\"/org/{code}\"]")))
        .await
        .unwrap_or_else(|e| panic!("no drill-down link to {code}: {e}"));
    link.click().await.unwrap();
    let path = arrives_at(client, &format!("/org/{code}")).await;
    assert_eq!(path, format!("/org/{code}"));
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

async fn overdue_at(node: &RunningNode, code: &str) -> i64 {
    let org = OrgCode::parse(code).unwrap();
    with(node, move |l| {
        l.stats(Some(org)).unwrap().visits.overdue_women
    })
    .await
}

/// County-level verification progress of the village as `node` sees it.
async fn county_progress(node: &RunningNode) -> halfsky_shared::rollup::LevelProgress {
    let org = OrgCode::parse(VILLAGE).unwrap();
    with(node, move |l| {
        l.stats(Some(org)).unwrap().verification.by_level["county"].clone()
    })
    .await
}

/// A county clerk samples the village's women and sends one back for a fix; the
/// village sees it, answers with an edit, and the record is back in the county's
/// queue; the city's progress moves with each step.
async fn verification(
    client: &Client,
    city: &RunningNode,
    county: &RunningNode,
    village: &RunningNode,
) {
    let county_url = url(county.dashboard_addr().expect("county dashboard"));
    let village_url = url(village.dashboard_addr().expect("village dashboard"));
    let before = county_progress(city).await;
    login_at(client, &county_url).await;
    client
        .goto(&format!(
            "{county_url}/org/{VILLAGE}/verify?kind=woman&sample=20&seed=7"
        ))
        .await
        .unwrap();
    let picked = client
        .find(Locator::Css("#verify-queue input[name=\"id\"]"))
        .await
        .expect("a sampled woman in the county's queue");
    let id = picked.attr("value").await.unwrap().expect("a record id");
    picked.click().await.unwrap();
    click(
        client,
        Locator::Css("select[name=\"result\"] option[value=\"needs_fix\"]"),
    )
    .await;
    type_into(
        client,
        Locator::Css("input[name=\"note\"]"),
        "出生年份与户籍不符",
    )
    .await;
    shot(client, "11-county-sample").await;
    click(client, Locator::Id("verify-submit")).await;
    // The queue's own address starts with the answer's: wait for the answer itself.
    appears(client, "verify-done").await;
    assert_eq!(number(client, "verify-done").await, 1);
    shot(client, "12-county-marked").await;

    // The city sees one more record needing a fix and one fewer pending.
    eventually(LIMIT, "the county's check at the city", || async {
        let now = county_progress(city).await;
        (now.needs_fix == before.needs_fix + 1 && now.pending == before.pending - 1).then_some(())
    })
    .await;

    // The village sees the request on its own verification page, and answers it.
    let record = halfsky_shared::RecordId::parse(&id).unwrap();
    login_at(client, &village_url).await;
    eventually(LIMIT, "the fix request at the village", || async {
        client
            .goto(&format!("{village_url}/org/{VILLAGE}/verify"))
            .await
            .ok()?;
        let table = client.find(Locator::Id("to-fix")).await.ok()?;
        table.text().await.ok()?.contains(&id).then_some(())
    })
    .await;
    shot(client, "13-village-to-fix").await;
    let fixed = record.clone();
    with(village, move |l| {
        l.update(
            &fixed,
            Some(halfsky_shared::Kind::Woman),
            &[("birth_year".to_string(), "1978".to_string())],
        )
    })
    .await
    .expect("the village edits its record");
    client
        .goto(&format!("{village_url}/org/{VILLAGE}/verify"))
        .await
        .unwrap();
    let page = client.source().await.unwrap();
    assert!(
        !page.contains("id=\"to-fix\""),
        "answered, no longer waiting for a fix"
    );

    // The edit travels up: the record is back in the county's queue.
    eventually(LIMIT, "the fixed record back in the county's queue", || {
        let record = record.clone();
        async move {
            let org = OrgCode::parse(COUNTY).unwrap();
            let queue = with(county, move |l| {
                halfsky_node::ledger::verification::queue(
                    &l.reader(),
                    org,
                    &halfsky_node::ledger::verification::QueueFilter::default(),
                )
                .unwrap()
            })
            .await;
            queue
                .iter()
                .any(|r| r.id == record && r.earlier.is_some())
                .then_some(())
        }
    })
    .await;

    // The county clerk confirms the fixed record from its own page.
    let before = county_progress(city).await;
    login_at(client, &county_url).await;
    client
        .goto(&format!("{county_url}/record/{id}"))
        .await
        .unwrap();
    click(
        client,
        Locator::Css("#record-verify option[value=\"confirmed\"]"),
    )
    .await;
    click(client, Locator::Id("record-verify-submit")).await;
    // The record page says the check was recorded.
    appears(client, "checked").await;
    let path = client.current_url().await.unwrap().path().to_string();
    assert_eq!(path, format!("/record/{id}"));
    shot(client, "14-county-confirms-from-the-record").await;
    eventually(LIMIT, "the confirmation at the city", || async {
        let now = county_progress(city).await;
        (now.confirmed == before.confirmed + 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cadre_drills_down_records_a_visit_and_exports_in_chromium() {
    tokio::time::timeout(Duration::from_secs(240), scenario())
        .await
        .expect("the browser test finishes within 4 minutes");
}

async fn scenario() {
    let d = Deployment::new();
    let users = [(USER, Role::Editor, PASSWORD)];
    let city_home = d.home(CITY, "哈尔滨市", &NodeSpec::new("c1", None, true));
    enable_dashboard(&city_home, &users);
    let city = start(&city_home).await;
    let county_home = d.home(
        COUNTY,
        "延寿县",
        &NodeSpec::new("k1", city.listen_addr(), true),
    );
    enable_dashboard(&county_home, &users);
    let county = start(&county_home).await;
    let township = start(&d.home(
        TOWNSHIP,
        "加信镇",
        &NodeSpec::new("t1", county.listen_addr(), true),
    ))
    .await;
    let village_home = d.home(
        VILLAGE,
        "红星村",
        &NodeSpec {
            device: "v1".into(),
            parent: township.listen_addr(),
            ..NodeSpec::default()
        },
    );
    enable_dashboard(&village_home, &users);
    let village = start(&village_home).await;
    with(&village, |l| fill_village(l, 20, 11)).await;
    // Cards made today are not overdue yet: every level looks 65 days on (admission
    // refuses records dated in a receiver's future, so the levels between look on too).
    let later = with(&village, |l| {
        let later = l.index().zone().day_of(chrono::Utc::now()) + chrono::Duration::days(65);
        l.set_today(later);
        later
    })
    .await;
    for node in [&city, &county, &township] {
        with(node, move |l| l.set_today(later)).await;
    }
    let local = overdue_at(&village, VILLAGE).await;
    assert!(local > 0, "the synthetic village has overdue women");
    eventually(LIMIT, "the village's records at the city", || async {
        (overdue_at(&city, VILLAGE).await == local).then_some(())
    })
    .await;

    let profile = tempfile::tempdir().unwrap();
    let driver = start_driver();
    let client = browser(&driver, profile.path(), "1280,1600").await;
    let city_url = url(city.dashboard_addr().expect("city dashboard"));
    let village_url = url(village.dashboard_addr().expect("village dashboard"));

    // Log in at the city and drill down to the village.
    client.goto(&format!("{city_url}/")).await.unwrap();
    shot(&client, "01-login").await;
    login(&client, &city_url).await;
    assert_eq!(arrives_at(&client, "/org/").await, format!("/org/{CITY}"));
    shot(&client, "02-city").await;
    drill(&client, COUNTY).await;
    shot(&client, "03-county").await;
    drill(&client, TOWNSHIP).await;
    shot(&client, "04-township").await;
    drill(&client, VILLAGE).await;
    let before = number(&client, "overdue-count").await;
    assert_eq!(before, local);
    shot(&client, "05-village-at-city").await;

    // Record a visit at the village's own dashboard, from its overdue list.
    login(&client, &village_url).await;
    client
        .goto(&format!("{village_url}/org/{VILLAGE}/overdue"))
        .await
        .unwrap();
    assert_eq!(number(&client, "overdue-total").await, before);
    shot(&client, "06-overdue-list").await;
    click(&client, Locator::Css("a[href^=\"/new/visit?woman_id=\"]")).await;
    type_into(&client, Locator::Id("f-visitor"), "李主任").await;
    click(&client, Locator::Css("#f-mode option[value=\"home\"]")).await;
    type_into(&client, Locator::Id("f-note"), "入户走访，身体好转").await;
    shot(&client, "07-visit-form").await;
    click(&client, Locator::Id("save")).await;
    arrives_at(&client, &format!("/record/{VILLAGE}-V-")).await;
    shot(&client, "08-visit-saved").await;
    client
        .goto(&format!("{village_url}/org/{VILLAGE}"))
        .await
        .unwrap();
    assert_eq!(number(&client, "overdue-count").await, before - 1);

    // The city sees the drop once the visit has synced up three hops.
    eventually(LIMIT, "the visit at the city", || async {
        (overdue_at(&city, VILLAGE).await == before - 1).then_some(())
    })
    .await;
    client
        .goto(&format!("{city_url}/org/{VILLAGE}"))
        .await
        .unwrap();
    assert_eq!(number(&client, "overdue-count").await, before - 1);
    shot(&client, "09-village-at-city-after").await;

    // Export the city's drill-down table as XLSX, in the browser's session.
    client
        .goto(&format!("{city_url}/org/{CITY}"))
        .await
        .unwrap();
    let href = client
        .find(Locator::Css("a[href*=\"format=xlsx\"]"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("an XLSX link");
    let probe = client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch(arguments[0]).then(r => r.arrayBuffer().then(b => {\
               const a = new Uint8Array(b);\
               done({status: r.status, type: r.headers.get('content-type'), len: a.length, head: String.fromCharCode(a[0], a[1])});\
             })).catch(e => done({error: String(e)}));",
            vec![serde_json::Value::String(href)],
        )
        .await
        .unwrap();
    assert_eq!(probe["status"], 200, "{probe}");
    assert_eq!(probe["head"], "PK", "{probe}");
    assert!(
        probe["type"]
            .as_str()
            .unwrap_or("")
            .contains("spreadsheetml"),
        "{probe}"
    );
    shot(&client, "10-city-export").await;

    verification(&client, &city, &county, &village).await;

    // The city's monthly report, from the overview's link: one printable page stamped
    // with the unit and the month.
    client
        .goto(&format!("{city_url}/org/{CITY}"))
        .await
        .unwrap();
    click(&client, Locator::Id("report-link")).await;
    arrives_at(&client, &format!("/org/{CITY}/report")).await;
    let unit = client
        .find(Locator::Id("report-unit"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(unit.contains(CITY), "{unit}");
    let verified = texts(&client, "#report-verification td").await;
    assert!(
        !verified.is_empty(),
        "verification progress is on the report"
    );
    shot(&client, "15-city-monthly-report").await;

    client.close().await.unwrap();
    drop(driver);
    village.shutdown().await;
    township.shutdown().await;
    county.shutdown().await;
    city.shutdown().await;
}

/// Fails unless the page on screen fits the window's width (no sideways scrolling).
async fn fits_the_width(client: &Client, what: &str) {
    let widths = client
        .execute(
            "return [document.scrollingElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (scroll, inner) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
    assert!(
        scroll <= inner,
        "{what} scrolls sideways: {scroll} px wide in a {inner} px window"
    );
}

/// The texts of the elements `css` finds.
async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in client.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out
}

/// Replaces what the field `id` holds with `text`.
async fn retype(client: &Client, id: &str, text: &str) {
    let element = client.find(Locator::Id(id)).await.unwrap();
    element.clear().await.unwrap();
    if !text.is_empty() {
        element.send_keys(text).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cadre_edits_and_retires_a_card_on_a_phone_in_chromium() {
    tokio::time::timeout(Duration::from_secs(240), phone())
        .await
        .expect("the phone test finishes within 4 minutes");
}

/// A village cadre with a 412 × 915 phone: every village page fits the screen; she
/// changes a woman's card from the form (seeing every problem at once, each beside its
/// field, then "已保存") and retires another; the ledger holds both changes in history.
async fn phone() {
    let d = Deployment::new();
    let home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    enable_dashboard(&home, &[(USER, Role::Editor, PASSWORD)]);
    let village = start(&home).await;
    let ids = with(&village, |l| fill_village(l, 12, 5)).await;
    let women: Vec<_> = ids
        .into_iter()
        .filter(|id| id.kind() == halfsky_shared::Kind::Woman)
        .collect();
    let (edited, retired) = (women[0].clone(), women[1].clone());

    let profile = tempfile::tempdir().unwrap();
    let driver = start_driver();
    let client = browser(&driver, profile.path(), "412,915").await;
    let base = url(village.dashboard_addr().expect("village dashboard"));
    client.goto(&format!("{base}/login")).await.unwrap();
    fits_the_width(&client, "the login page").await;
    shot(&client, "21-phone-login").await;
    login_at(&client, &base).await;
    for page in [
        format!("/org/{VILLAGE}"),
        format!("/org/{VILLAGE}/women"),
        format!("/org/{VILLAGE}/overdue"),
        format!("/record/{edited}"),
        "/new/woman".to_string(),
        "/new/visit".to_string(),
        format!("/record/{edited}/edit"),
    ] {
        client.goto(&format!("{base}{page}")).await.unwrap();
        fits_the_width(&client, &page).await;
    }
    shot(&client, "22-phone-edit-form").await;

    // Two mistakes at once: both come back, each beside its field, nothing written.
    client
        .goto(&format!("{base}/record/{edited}"))
        .await
        .unwrap();
    click(&client, Locator::Id("edit")).await;
    arrives_at(&client, &format!("/record/{edited}/edit")).await;
    retype(&client, "f-name", "").await;
    retype(&client, "f-birth_year", "一九八〇").await;
    click(&client, Locator::Id("save")).await;
    let beside = eventually(LIMIT, "the form's errors", || async {
        let found = texts(&client, ".field-err").await;
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(beside.len(), 2, "{beside:?}");
    assert!(client.find(Locator::Id("err-name")).await.is_ok());
    assert!(client.find(Locator::Id("err-birth_year")).await.is_ok());
    assert_eq!(texts(&client, "#errors li").await.len(), 2);
    fits_the_width(&client, "the form with its errors").await;
    shot(&client, "23-phone-errors").await;
    let lookup = edited.clone();
    let unchanged = with(&village, move |l| l.show(&lookup).unwrap()).await;
    assert_ne!(unchanged.indexed.record.text("name"), Some(""));

    // Corrected: saved, said so, and in the record's history.
    retype(&client, "f-name", "王秀英").await;
    retype(&client, "f-birth_year", "1980").await;
    click(&client, Locator::Id("save")).await;
    // The edit page's own address starts with the record's: wait for the note itself.
    let saved = appears(&client, "saved").await;
    let path = client.current_url().await.unwrap().path().to_string();
    assert_eq!(path, format!("/record/{edited}"));
    assert_eq!(saved.text().await.unwrap(), "已保存");
    fits_the_width(&client, "the saved record").await;
    shot(&client, "24-phone-saved").await;
    let lookup = edited.clone();
    let (record, history) = with(&village, move |l| {
        (l.show(&lookup).unwrap(), l.history(&lookup).unwrap())
    })
    .await;
    assert_eq!(record.indexed.record.text("name"), Some("王秀英"));
    assert_eq!(
        record.indexed.record.fields.get("birth_year"),
        Some(&halfsky_shared::Value::Int(1980))
    );
    assert!(history.iter().any(|e| e.op == "update"), "{history:?}");

    // Retiring needs a reason; with one, the card is retired and says so.
    client
        .goto(&format!("{base}/record/{retired}/edit"))
        .await
        .unwrap();
    click(&client, Locator::Id("retire")).await;
    appears(&client, "err-reason").await;
    type_into(&client, Locator::Id("f-reason"), "已迁出").await;
    click(&client, Locator::Id("retire")).await;
    appears(&client, "saved").await;
    let path = client.current_url().await.unwrap().path().to_string();
    assert_eq!(path, format!("/record/{retired}"));
    shot(&client, "25-phone-retired").await;
    let lookup = retired.clone();
    let record = with(&village, move |l| l.show(&lookup).unwrap()).await;
    assert!(record.indexed.record.meta.retired);
    assert_eq!(
        record.indexed.record.meta.retired_reason.as_deref(),
        Some("已迁出")
    );

    client.close().await.unwrap();
    drop(driver);
    village.shutdown().await;
}
