//! The hostile suite's relay door, end to end: a running relay server, a running
//! township that collects its mailbox with its own relay client, and a village whose
//! hostile bundles (a record under a sibling's id, an inflation bomb) are sealed with
//! the village's real key and deposited over QUIC as the village would deposit them.
//! The township refuses each with its rule, counts nothing of it, quarantines the
//! village's document, removes the items, and keeps working: it adds, reindexes and
//! still takes a sibling village's bundle through the same relay. Its
//! acknowledgements name the refusals, so the village, collecting them, records them
//! as refused by its peer and shows them in `halfsky status`. (`hostile.rs`
//! drives the same receive path directly, for every case at every door.)

use std::time::Duration;

use automerge::ChangeHash;
use halfsky_node::run::RunningNode;
use halfsky_node::{Ledger, NodeHome};
use halfsky_relay::{Relay, RelayStore};
use halfsky_shared::session::Replica;
use halfsky_shared::OrgCode;
use halfsky_tests::deploy::{
    add_woman, free_port, relay_home, start, use_relay, with, Deployment, NodeSpec,
};
use halfsky_tests::hostile_input::{foreign_record_change, inflation_bomb, sealed_bundle};
use halfsky_tests::{eventually, fill_village, VILLAGE};

const TOWNSHIP: &str = "230129100000";
const SIBLING: &str = "230129100202";
const LIMIT: Duration = Duration::from_secs(60);

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

async fn heads_of(node: &RunningNode, code: &str) -> Vec<ChangeHash> {
    let o = org(code);
    let mut h = with(node, move |l| l.stored_heads(&o).unwrap()).await;
    h.sort();
    h
}

/// Bundles waiting at the relay for `code`.
fn waiting(store: &RelayStore, code: &str) -> u64 {
    store
        .mailboxes()
        .unwrap()
        .iter()
        .find(|b| b.recipient == org(code))
        .map_or(0, |b| b.count)
}

/// A village whose parent never answers (a closed port), using the relay, sealing
/// for the township whose certificate is `town`'s; `households` households written.
fn offline_village(
    d: &Deployment,
    relay: &Relay,
    town: &NodeHome,
    code: &str,
    households: usize,
) -> NodeHome {
    let dead_parent = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let home = d.home(code, "村", &NodeSpec::new("v1", Some(dead_parent), false));
    use_relay(&home, relay.addr());
    let der = halfsky_node::sync::bundle::read_cert_file(&town.dir().join("node.pem")).unwrap();
    halfsky_node::sync::bundle::save_peer_cert(home.dir(), &org(TOWNSHIP), &der).unwrap();
    let mut ledger = Ledger::open(&home).unwrap();
    fill_village(&mut ledger, households, 41);
    home
}

/// What the township counts: every record id of every kind, and the rollups.
fn totals(ledger: &mut Ledger) -> String {
    let mut out = String::new();
    for kind in halfsky_shared::Kind::ALL {
        let ids: Vec<String> = ledger
            .list(kind, "", true)
            .unwrap()
            .into_iter()
            .map(|r| r.record.id.to_string())
            .collect();
        out.push_str(&format!("{kind:?}: {ids:?}\n"));
    }
    out.push_str(&format!("{:?}", ledger.index().rollups("").unwrap()));
    out
}

/// Leaves `bundle` for the township at the relay over QUIC, authenticated as the
/// device at `home` (as its relay client would).
async fn deposit_as(home: &NodeHome, relay: &Relay, bundle: Vec<u8>) {
    let identity = halfsky_node::pki::load_node_identity(home.dir()).unwrap();
    let transport = halfsky_node::sync::link::transport(&Default::default());
    let client = halfsky_node::sync::tls::client_config_with_alpn(
        &identity,
        transport,
        halfsky_shared::relay_wire::RELAY_ALPN,
    )
    .unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = endpoint
        .connect_with(client, relay.addr(), "localhost")
        .unwrap()
        .await
        .unwrap();
    halfsky_node::sync::relay_client::deposit(&conn, org(TOWNSHIP), false, bundle)
        .await
        .unwrap();
    conn.close(quinn::VarInt::from_u32(0), b"done");
    endpoint.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bundles_left_at_a_running_relay_are_refused_by_the_running_township() {
    let d = Deployment::new();
    let relay = Relay::start(&relay_home(&d)).await.unwrap();
    let store = relay.store();
    let town_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
    use_relay(&town_home, relay.addr());
    let village_home = offline_village(&d, &relay, &town_home, VILLAGE, 3);

    // The hostile changes, written on a copy of the village's real history.
    let real = {
        let mut village = Ledger::open(&village_home).unwrap();
        Replica::changes_since(&mut village, &org(VILLAGE), &[])
            .unwrap()
            .unwrap()
    };
    let sibling_record = foreign_record_change(&real, "230129100202-W-ABCD-1");
    let bomb = inflation_bomb(64 * 1024 * 1024);

    // The honest history travels by the relay first.
    let town = start(&town_home).await;
    let village = start(&village_home).await;
    let expected = heads_of(&village, VILLAGE).await;
    eventually(LIMIT, "the township to hold the village's records", || {
        let (town, expected) = (&town, expected.clone());
        async move { (heads_of(town, VILLAGE).await == expected).then_some(()) }
    })
    .await;
    village.shutdown().await;
    let before = with(&town, totals).await;

    // The hostile village leaves its bundles as its relay client would.
    for batch in [vec![sibling_record], vec![bomb]] {
        let bundle = sealed_bundle(
            &village_home,
            org(VILLAGE),
            &town_home,
            org(TOWNSHIP),
            vec![(org(VILLAGE), batch)],
        );
        deposit_as(&village_home, &relay, bundle).await;
    }

    // The running township collects both, refuses each with its rule and sender.
    let refusals = eventually(LIMIT, "the township to refuse both bundles", || {
        let town = &town;
        async move {
            let r = with(town, |l| l.trust().refusals().unwrap()).await;
            let rules: Vec<&str> = r.iter().map(|r| r.rule.as_str()).collect();
            (rules.contains(&"foreign-record") && rules.contains(&"change-too-large")).then_some(r)
        }
    })
    .await;
    for r in &refusals {
        assert_eq!(
            (r.org, r.sender.as_str(), r.door.as_str(), r.by_peer),
            (org(VILLAGE), "230129100201/v1", "relay", false),
            "{r:?}"
        );
    }
    eventually(LIMIT, "the refused items to be gone from the relay", || {
        let store = store.clone();
        async move { (waiting(&store, TOWNSHIP) == 0).then_some(()) }
    })
    .await;
    assert_eq!(
        with(&town, totals).await,
        before,
        "nothing of it is counted"
    );
    assert_eq!(heads_of(&town, VILLAGE).await, expected);
    let quarantined = with(&town, |l| l.trust().quarantined().unwrap()).await;
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(quarantined[0].org, org(VILLAGE));
    let status = town.handle().status().await.unwrap();
    assert!(
        status.refusals.iter().any(|r| r.rule == "foreign-record"),
        "{:?}",
        status.refusals
    );

    // The township keeps working: it adds, reindexes, and takes a sibling's bundle
    // through the same relay.
    add_woman(&town, "王芳").await;
    let reindex = with(&town, |l| {
        halfsky_node::cli::execute_args(l, std::path::Path::new("/"), &["reindex".to_string()])
    })
    .await;
    assert_eq!(reindex.code, 0, "{}", reindex.stderr);
    let sibling = start(&offline_village(&d, &relay, &town_home, SIBLING, 2)).await;
    let sibling_heads = heads_of(&sibling, SIBLING).await;
    eventually(LIMIT, "the township to hold the sibling's records", || {
        let (town, expected) = (&town, sibling_heads.clone());
        async move { (heads_of(town, SIBLING).await == expected).then_some(()) }
    })
    .await;
    sibling.shutdown().await;

    // The sender's end: the township's acknowledgements, left at the relay, name the
    // refusals; the village collects them and records them as refused by the peer.
    let village = start(&village_home).await;
    let heard = eventually(LIMIT, "the village to hear of both refusals", || {
        let village = &village;
        async move {
            let all = with(village, |l| l.trust().refusals().unwrap()).await;
            let heard: Vec<_> = all.into_iter().filter(|r| r.by_peer).collect();
            let rules: Vec<&str> = heard.iter().map(|r| r.rule.as_str()).collect();
            (rules.contains(&"foreign-record") && rules.contains(&"change-too-large"))
                .then_some(heard)
        }
    })
    .await;
    for r in &heard {
        assert_eq!(
            (r.org, r.sender.as_str(), r.door.as_str()),
            (org(VILLAGE), "230129100000/t1", "relay"),
            "{r:?}"
        );
    }
    let status = with(&village, |l| {
        halfsky_node::cli::execute_args(l, std::path::Path::new("/"), &["status".to_string()])
    })
    .await;
    assert!(
        status.stdout.contains("refused by 230129100000/t1")
            && status.stdout.contains("change-too-large"),
        "{}",
        status.stdout
    );
    village.shutdown().await;
    town.shutdown().await;
    relay.shutdown().await;
}
