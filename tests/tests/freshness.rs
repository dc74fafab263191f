//! Freshness is contact, not change, told truthfully over three hops: a quiet village
//! on a live link stays fresh at the city, a stopped one turns stale, and a relay-only
//! village is shown as heard through the relay (at the city, in its township's status,
//! and in its own status), in-process nodes on loopback with real mutual TLS.

use std::time::Duration;

use halfsky_node::command::{execute, Options, Request, Response};
use halfsky_node::run::RunningNode;
use halfsky_node::sync::freshness::{ArrivalPath, FreshnessReport, UnitRow};
use halfsky_node::NodeHome;
use halfsky_relay::Relay;
use halfsky_shared::OrgCode;
use halfsky_tests::deploy::{add_woman, free_port, start, with, Deployment, NodeSpec};
use halfsky_tests::eventually;

const CITY: &str = "230100000000";
const COUNTY: &str = "230129000000";
const TOWNSHIP: &str = "230129100000";
const QUIET: &str = "230129100201";
const RELAYED: &str = "230129100202";
const STOPPED: &str = "230129100203";
const LIMIT: Duration = Duration::from_secs(120);

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

/// Sets `[table] key = "value"` pairs in a node's `halfsky.toml`.
fn set(home: &NodeHome, table: &str, options: &[(&str, &str)]) {
    let path = home.config_path();
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let t = doc
        .entry(table)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .unwrap();
    for (k, v) in options {
        let value = v
            .parse::<i64>()
            .map(toml::Value::Integer)
            .unwrap_or_else(|_| toml::Value::String(v.to_string()));
        t.insert(k.to_string(), value);
    }
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
    home.config().expect("the settings parse");
}

/// A node of the test tree: quick keep-alives and contact reports, a stale limit of
/// 30 s at the city.
fn node(
    d: &Deployment,
    code: &str,
    parent: Option<std::net::SocketAddr>,
    listen: bool,
) -> NodeHome {
    let home = d.home(code, code, &NodeSpec::new("d1", parent, listen));
    set(
        &home,
        "sync",
        &[("keep_alive_secs", "1"), ("report_heard_every", "1s")],
    );
    set(&home, "dashboard", &[("stale_after", "30s")]);
    home
}

async fn freshness(node: &RunningNode) -> FreshnessReport {
    match with(node, |l| {
        execute(l, Request::Freshness { org: None }, Options::default())
    })
    .await
    .unwrap()
    {
        Response::Freshness(r) => *r,
        other => panic!("not a freshness report: {other:?}"),
    }
}

fn row<'a>(r: &'a FreshnessReport, code: &str) -> Option<&'a UnitRow> {
    r.units.iter().find(|u| u.unit.org == org(code))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_connected_village_stays_fresh_while_a_stopped_one_turns_stale() {
    let d = Deployment::new();
    let relay_home = halfsky_tests::deploy::relay_home(&d);
    let relay = Relay::start(&relay_home).await.unwrap();
    let relay_addr = relay.addr().to_string();

    let city = start(&node(&d, CITY, None, true)).await;
    let county = start(&node(&d, COUNTY, city.listen_addr(), true)).await;
    let town_home = node(&d, TOWNSHIP, county.listen_addr(), true);
    set(
        &town_home,
        "sync",
        &[("relay", &relay_addr), ("relay_poll", "200ms")],
    );
    let township = start(&town_home).await;
    let quiet = start(&node(&d, QUIET, township.listen_addr(), false)).await;
    let stopped = start(&node(&d, STOPPED, township.listen_addr(), false)).await;
    // The relay-only village's parent address answers nothing: everything it sends
    // goes through the relay.
    let dead = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let relayed_home = node(&d, RELAYED, Some(dead), false);
    set(
        &relayed_home,
        "sync",
        &[
            ("relay", &relay_addr),
            ("relay_after", "300ms"),
            ("relay_poll", "200ms"),
        ],
    );
    let relayed = start(&relayed_home).await;
    add_woman(&relayed, "李秀兰").await;
    add_woman(&stopped, "王桂芝").await;

    // Every village is heard at the city, the relay-only one through the relay, as the
    // township that collected its bundle reported.
    let seen = eventually(LIMIT, "the city to hear of all three villages", || async {
        let r = freshness(&city).await;
        [QUIET, RELAYED, STOPPED]
            .iter()
            .all(|v| row(&r, v).is_some_and(|u| u.unit.last_heard.is_some()))
            .then_some(r)
    })
    .await;
    let r = row(&seen, RELAYED).unwrap();
    assert_eq!(r.unit.via, Some(ArrivalPath::Relay), "{r:?}");
    assert_eq!(r.unit.reported_by, Some(org(TOWNSHIP)));
    let q = row(&seen, QUIET).unwrap();
    assert_eq!(q.unit.via, Some(ArrivalPath::Direct));
    assert_eq!(q.unit.reported_by, Some(org(TOWNSHIP)));
    assert_eq!(
        row(&seen, COUNTY).unwrap().unit.reported_by,
        None,
        "the city hears its county itself"
    );

    // The township lists its relay-only village as a child; the village's own status
    // tells the parent was heard through the relay (its acknowledgement).
    let status = township.handle().status().await.unwrap();
    assert!(
        status.children.iter().any(|c| c.org == org(RELAYED)
            && c.heard
                .as_ref()
                .is_some_and(|h| h.via == ArrivalPath::Relay)),
        "{:?}",
        status.children
    );
    eventually(
        LIMIT,
        "the relay-only village to hear its parent",
        || async {
            let s = relayed.handle().status().await.unwrap();
            s.parent
                .and_then(|p| p.last_heard)
                .filter(|h| h.via == ArrivalPath::Relay)
        },
    )
    .await;

    // Stop one village; the other stays connected and writes nothing.
    let stopped_at = chrono::Utc::now().timestamp();
    stopped.shutdown().await;
    let later = eventually(
        LIMIT,
        "the stopped village to turn stale at the city",
        || async {
            let r = freshness(&city).await;
            row(&r, STOPPED).is_some_and(|u| u.stale).then_some(r)
        },
    )
    .await;
    let q = row(&later, QUIET).unwrap();
    assert!(!q.stale, "the quiet, connected village is fresh: {q:?}");
    assert!(
        q.unit.last_heard.unwrap() > stopped_at,
        "the quiet village keeps being heard: {q:?}"
    );
    // The city's total is as old as its least recently heard part: a silent village.
    assert!(later.summary.is_stale());
    let oldest = later.summary.oldest.as_ref().unwrap().org;
    assert!(oldest == org(STOPPED) || oldest == org(RELAYED), "{oldest}");

    // The county, one hop down, sees the same.
    let county_view = freshness(&county).await;
    assert!(row(&county_view, STOPPED).unwrap().stale);
    assert!(!row(&county_view, QUIET).unwrap().stale);

    for n in [relayed, quiet, township, county, city] {
        n.shutdown().await;
    }
    relay.shutdown().await;
}
