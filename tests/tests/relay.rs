//! The relay: a village and its township that are never online at the same time
//! converge through it (in-process nodes and relay, loopback QUIC, real mutual TLS);
//! a foreign device cannot use it; its store keeps every acknowledged deposit across
//! SIGKILL (a child process, like `crash.rs`).

use std::path::Path;
use std::time::{Duration, Instant};

use automerge::ChangeHash;
use halfsky_node::run::RunningNode;
use halfsky_node::Ledger;
use halfsky_relay::{Relay, RelayStore};
use halfsky_shared::OrgCode;
use halfsky_tests::deploy::{free_port, relay_home, start, use_relay, with, Deployment, NodeSpec};
use halfsky_tests::eventually;
use halfsky_tests::procs::printed_until_killed;
use halfsky_tests::{fill_village, VILLAGE};
use rand::{Rng, SeedableRng};

const TOWNSHIP: &str = "230129100000";
const LIMIT: Duration = Duration::from_secs(60);

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

fn sorted(mut h: Vec<ChangeHash>) -> Vec<ChangeHash> {
    h.sort();
    h
}

async fn village_heads(node: &RunningNode) -> Vec<ChangeHash> {
    with(node, |l| sorted(l.stored_heads(&org(VILLAGE)).unwrap())).await
}

async fn parent_status(node: &RunningNode) -> serde_json::Value {
    let status = node.handle().status().await.unwrap();
    serde_json::to_value(status.parent.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_village_and_its_township_never_online_together_converge_through_the_relay() {
    let d = Deployment::new();
    let relay = Relay::start(&relay_home(&d)).await.unwrap();
    let store = relay.store();
    let port = free_port();
    let town_home = d.home(
        TOWNSHIP,
        "兴隆镇",
        &NodeSpec {
            device: "t1".into(),
            listen: true,
            listen_port: port,
            ..NodeSpec::default()
        },
    );
    let village_home = d.home(
        VILLAGE,
        "红星村",
        &NodeSpec {
            device: "v1".into(),
            parent: Some(format!("127.0.0.1:{port}").parse().unwrap()),
            ..NodeSpec::default()
        },
    );
    use_relay(&town_home, relay.addr());
    use_relay(&village_home, relay.addr());

    // The township visits the relay once (so the relay knows its certificate), then
    // goes offline.
    let town = start(&town_home).await;
    eventually(LIMIT, "the relay to see the township", || {
        let store = store.clone();
        async move { store.cert(&org(TOWNSHIP)).unwrap().map(|_| ()) }
    })
    .await;
    town.shutdown().await;

    // The village works offline, then runs while the township is down: after
    // relay_after it leaves a bundle for the township at the relay.
    {
        let mut ledger = Ledger::open(&village_home).unwrap();
        fill_village(&mut ledger, 3, 21);
    }
    let village = start(&village_home).await;
    let expected = village_heads(&village).await;
    eventually(LIMIT, "a bundle for the township at the relay", || {
        let store = store.clone();
        async move {
            let boxes = store.mailboxes().unwrap();
            boxes
                .iter()
                .any(|b| b.recipient == org(TOWNSHIP) && b.count == 1)
                .then_some(())
        }
    })
    .await;
    let p = eventually(LIMIT, "status to show the relay path", || {
        let village = &village;
        async move {
            let p = parent_status(village).await;
            (p["pending"]["relay"].as_u64() > Some(0)).then_some(p)
        }
    })
    .await;
    assert_eq!(p["pending"]["relay"], p["pending_changes"], "{p}");
    assert_eq!(p["connected"], false);
    let relay_seen = village.handle().status().await.unwrap().relay.unwrap();
    assert!(relay_seen.last_deposit.is_some(), "{relay_seen:?}");
    assert_eq!(relay_seen.last_error, None, "{relay_seen:?}");
    village.shutdown().await;

    // The township comes back (the village is gone): it collects, applies, and leaves
    // the acknowledgement for the village.
    let town = start(&town_home).await;
    eventually(LIMIT, "the township to hold the village's records", || {
        let town = &town;
        let expected = expected.clone();
        async move { (village_heads(town).await == expected).then_some(()) }
    })
    .await;
    eventually(
        LIMIT,
        "the acknowledgement at the relay, the bundle gone",
        || {
            let store = store.clone();
            async move {
                let boxes = store.mailboxes().unwrap();
                (boxes.len() == 1 && boxes[0].recipient == org(VILLAGE)).then_some(())
            }
        },
    )
    .await;
    let seen = eventually(
        LIMIT,
        "the township's status to count the collected bundle",
        || {
            let town = &town;
            async move {
                let relay = town.handle().status().await.unwrap().relay.unwrap();
                (relay.collected >= 1).then_some(relay)
            }
        },
    )
    .await;
    assert_eq!(seen.last_error, None, "{seen:?}");
    let town_own = with(&town, |l| sorted(l.stored_heads(&org(TOWNSHIP)).unwrap())).await;
    let women = with(&town, |l| l.stats(Some(org(VILLAGE))).unwrap().women.total).await;
    town.shutdown().await;

    // The village comes back: it collects the acknowledgement; nothing is pending.
    let village = start(&village_home).await;
    let p = eventually(LIMIT, "the village to see everything acknowledged", || {
        let village = &village;
        async move {
            let p = parent_status(village).await;
            (p["pending_changes"] == 0).then_some(p)
        }
    })
    .await;
    assert_eq!(p["pending"]["relay"], 0, "{p}");
    // The acknowledgement also brought the township's own document down.
    let down = with(&village, |l| {
        sorted(l.stored_heads(&org(TOWNSHIP)).unwrap())
    })
    .await;
    assert_eq!(down, town_own);
    let own = with(&village, |l| {
        l.stats(Some(org(VILLAGE))).unwrap().women.total
    })
    .await;
    assert_eq!(own, women);
    eventually(LIMIT, "the relay to be empty", || {
        let store = store.clone();
        async move { store.mailboxes().unwrap().is_empty().then_some(()) }
    })
    .await;
    // Nothing new: no new bundle is left (give the loop several polls to misbehave).
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert!(store.mailboxes().unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    village.shutdown().await;
    relay.shutdown().await;
}

#[test]
fn the_relay_store_keeps_every_acknowledged_deposit_across_sigkill() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::default());
    let town_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::default());
    let store_dir = d.dir().join("relay-store");
    let mut rng = rand::rngs::StdRng::seed_from_u64(4242);
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..8 {
        let town_cert = town_home.dir().join("node.pem");
        let round_arg = round.to_string();
        acknowledged.extend(printed_until_killed(
            Path::new(env!("CARGO_BIN_EXE_relay_writer")),
            &[
                store_dir.as_os_str(),
                village_home.dir().as_os_str(),
                town_cert.as_os_str(),
                round_arg.as_ref(),
            ],
            Duration::from_millis(rng.random_range(300..1200)),
        ));
        let store = RelayStore::open(&store_dir).expect("the store opens after SIGKILL");
        let (items, remaining) = store.fetch(org(TOWNSHIP), usize::MAX, 0, &[]).unwrap();
        assert_eq!(remaining, 0);
        let held: std::collections::HashSet<String> =
            items.iter().map(|(id, _)| hex::encode(id)).collect();
        for id in &acknowledged {
            assert!(held.contains(id), "round {round}: deposit {id} lost");
        }
        for (_, item) in &items {
            halfsky_shared::bundle::read_header(&item.bundle).expect("stored bundles are whole");
        }
    }
    assert!(
        acknowledged.len() >= 4,
        "the writer deposited too little to test anything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_of_another_deployment_cannot_use_the_relay() {
    let d = Deployment::new();
    let relay = Relay::start(&relay_home(&d)).await.unwrap();
    // Same org code, certificate from another CA.
    let foreign = Deployment::new();
    let intruder = foreign.home(VILLAGE, "假村", &NodeSpec::default());
    let identity = halfsky_node::pki::load_node_identity(intruder.dir()).unwrap();
    let transport = halfsky_node::sync::link::transport(&Default::default());
    let client = halfsky_node::sync::tls::client_config_with_alpn(
        &identity,
        transport,
        halfsky_shared::relay_wire::RELAY_ALPN,
    )
    .unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let attempt = async {
        let conn = endpoint
            .connect_with(client, relay.addr(), "localhost")
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        halfsky_node::sync::relay_client::fetch(&conn, &[])
            .await
            .map(|_| ())
    };
    let result = tokio::time::timeout(LIMIT, attempt)
        .await
        .expect("the attempt ends");
    assert!(result.is_err(), "a foreign device read a mailbox");
    assert!(relay.store().cert(&org(VILLAGE)).unwrap().is_none());
    relay.shutdown().await;
}
