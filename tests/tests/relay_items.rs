//! What a node does with mail at the relay beyond the happy path: an item sealed to
//! another device of its unit is left for that device (not deleted), and a bundle the
//! parent has not acknowledged is left again after `[relay] redeposit_after` even
//! when nothing new was written (it may have been lost at the relay).

use std::time::Duration;

use automerge::ChangeHash;
use halfsky_node::run::RunningNode;
use halfsky_node::{Ledger, NodeHome};
use halfsky_relay::{Relay, RelayStore};
use halfsky_shared::OrgCode;
use halfsky_tests::deploy::{free_port, relay_home, start, use_relay, with, Deployment, NodeSpec};
use halfsky_tests::{eventually, fill_village, VILLAGE};

const TOWNSHIP: &str = "230129100000";
const LIMIT: Duration = Duration::from_secs(60);

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

async fn village_heads(node: &RunningNode) -> Vec<ChangeHash> {
    let mut h = with(node, |l| l.stored_heads(&org(VILLAGE)).unwrap()).await;
    h.sort();
    h
}

/// Bundles waiting at the relay for the township.
fn waiting(store: &RelayStore) -> u64 {
    store
        .mailboxes()
        .unwrap()
        .iter()
        .find(|b| b.recipient == org(TOWNSHIP))
        .map_or(0, |b| b.count)
}

/// A village whose parent never answers (a closed port), with some records, using
/// the relay; it seals for the township device whose certificate is `town_cert_home`'s.
fn offline_village(d: &Deployment, relay: &Relay, town_cert_home: &NodeHome) -> NodeHome {
    let dead_parent = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let home = d.home(
        VILLAGE,
        "红星村",
        &NodeSpec::new("v1", Some(dead_parent), false),
    );
    use_relay(&home, relay.addr());
    let der =
        halfsky_node::sync::bundle::read_cert_file(&town_cert_home.dir().join("node.pem")).unwrap();
    halfsky_node::sync::bundle::save_peer_cert(home.dir(), &org(TOWNSHIP), &der).unwrap();
    let mut ledger = Ledger::open(&home).unwrap();
    fill_village(&mut ledger, 3, 31);
    home
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_sealed_to_another_device_of_the_unit_stays_for_its_recipient() {
    let d = Deployment::new();
    let relay = Relay::start(&relay_home(&d)).await.unwrap();
    let store = relay.store();
    let t1 = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
    let t2 = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t2", None, false));
    use_relay(&t1, relay.addr());
    use_relay(&t2, relay.addr());

    // The village leaves a bundle sealed to t1's key.
    let village = start(&offline_village(&d, &relay, &t1)).await;
    let expected = village_heads(&village).await;
    eventually(LIMIT, "a bundle for the township at the relay", || {
        let store = store.clone();
        async move { (waiting(&store) == 1).then_some(()) }
    })
    .await;
    village.shutdown().await;

    // t2 visits (its first visit fetches everything waiting) and cannot open it.
    let second = start(&t2).await;
    eventually(LIMIT, "t2 to visit the relay", || {
        let second = &second;
        async move { second.handle().status().await.ok()?.relay?.last_visit }
    })
    .await;
    assert_eq!(waiting(&store), 1, "t2 left the item for t1");
    assert!(village_heads(&second).await.is_empty());
    let seen = second.handle().status().await.unwrap().relay.unwrap();
    assert_eq!(seen.collected, 0, "{seen:?}");
    second.shutdown().await;

    // t1 opens and applies it.
    let first = start(&t1).await;
    eventually(LIMIT, "t1 to hold the village's records", || {
        let (first, expected) = (&first, expected.clone());
        async move { (village_heads(first).await == expected).then_some(()) }
    })
    .await;
    eventually(LIMIT, "the item to be gone from the relay", || {
        let store = store.clone();
        async move { (waiting(&store) == 0).then_some(()) }
    })
    .await;
    first.shutdown().await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_bundle_is_left_at_the_relay_again() {
    let d = Deployment::new();
    let relay = Relay::start(&relay_home(&d)).await.unwrap();
    let store = relay.store();
    let town = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
    let home = offline_village(&d, &relay, &town);
    let path = home.config_path();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[relay]\nredeposit_after = \"1s\"\n");
    std::fs::write(&path, text).unwrap();
    assert_eq!(
        home.config().unwrap().relay.redeposit_after,
        Duration::from_secs(1)
    );

    let village = start(&home).await;
    let heads = village_heads(&village).await;
    let first = eventually(LIMIT, "a bundle for the township at the relay", || {
        let store = store.clone();
        async move {
            let (items, _) = store.fetch(org(TOWNSHIP), 10, 0, &[]).unwrap();
            items.into_iter().next().map(|(id, _)| id)
        }
    })
    .await;
    // The bundle is lost at the relay; nothing new is written at the village.
    store.delete(org(TOWNSHIP), &first).await.unwrap();
    assert_eq!(waiting(&store), 0);
    eventually(LIMIT, "the same changes at the relay again", || {
        let store = store.clone();
        async move { (waiting(&store) == 1).then_some(()) }
    })
    .await;
    assert_eq!(
        village_heads(&village).await,
        heads,
        "no new change was made"
    );
    village.shutdown().await;
    relay.shutdown().await;
}
