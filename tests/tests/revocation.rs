//! Revocation of a lost laptop, start to finish: the CA holder revokes the village's
//! device at the city; the revocation goes down with the city's document, and the
//! township cuts the device off within one sync (its live link, any new handshake,
//! its bundles), the relay refuses it once a node has brought the list, and the list
//! survives a restart. Real nodes in one process, loopback QUIC, real mutual TLS.

use std::time::Duration;

use halfsky_node::cli::pki::{self as pki_cli, PkiCommand};
use halfsky_node::command::revocations::{execute, RevocationReport, RevocationRequest};
use halfsky_node::pki::revocation::{self, RevokeError};
use halfsky_node::pki::PeerIdentity;
use halfsky_node::run::RunningNode;
use halfsky_node::sync::bundle::{self, Keys};
use halfsky_node::sync::freshness::ArrivalPath;
use halfsky_node::Ledger;
use halfsky_relay::Relay;
use halfsky_shared::session::Role;
use halfsky_shared::OrgCode;
use halfsky_tests::deploy::{add_woman, relay_home, start, use_relay, with, Deployment, NodeSpec};
use halfsky_tests::{eventually, VILLAGE};

const CITY: &str = "230100000000";
const COUNTY: &str = "230129000000";
const TOWNSHIP: &str = "230129100000";
const LIMIT: Duration = Duration::from_secs(60);
const REASON: &str = "laptop stolen from the village office";

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

fn stolen() -> PeerIdentity {
    PeerIdentity {
        org: org(VILLAGE),
        device: "v1".into(),
    }
}

async fn parent_error(node: &RunningNode) -> Option<String> {
    node.handle().status().await.ok()?.parent?.last_error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_cut_off_at_the_township_within_one_sync_of_the_city() {
    let d = Deployment::new();
    let relay = Relay::start(&relay_home(&d)).await.unwrap();
    let city_home = d.home(CITY, "市", &NodeSpec::new("c1", None, true));
    let city = start(&city_home).await;
    let county_home = d.home(COUNTY, "县", &NodeSpec::new("k1", city.listen_addr(), true));
    let county = start(&county_home).await;
    let town_home = d.home(
        TOWNSHIP,
        "镇",
        &NodeSpec::new("t1", county.listen_addr(), true),
    );
    use_relay(&town_home, relay.addr());
    let town = start(&town_home).await;
    let village_home = d.home(
        VILLAGE,
        "村",
        &NodeSpec::new("v1", town.listen_addr(), false),
    );
    use_relay(&village_home, relay.addr());
    let village = start(&village_home).await;

    // The village syncs while its laptop is trusted.
    add_woman(&village, "王秀英").await;
    // Read the village's heads each time: sending signs the write, which adds an
    // attestation after it.
    eventually(LIMIT, "the township to hold the village's record", || {
        let (town, village) = (&town, &village);
        async move {
            let heads = with(village, |l| l.stored_heads(&org(VILLAGE)).unwrap()).await;
            let held = with(town, |l| l.stored_heads(&org(VILLAGE)).unwrap()).await;
            (held == heads).then_some(())
        }
    })
    .await;

    // Revoking at a node of another unit than the CA's says where to do it.
    let signed = revocation::sign(d.ca(), org(VILLAGE), "v1", REASON)
        .unwrap()
        .1;
    let e = with(&town, move |l| revocation::record(l, &signed))
        .await
        .unwrap_err();
    assert!(matches!(e, RevokeError::NotTheCaUnit { .. }), "{e}");

    // The CA holder revokes the laptop at the running city (the command goes over
    // the city's local API).
    pki_cli::execute(
        PkiCommand::Revoke {
            ca: d.ca().to_path_buf(),
            org: VILLAGE.into(),
            device: "v1".into(),
            reason: REASON.into(),
        },
        city_home.dir(),
    )
    .expect("pki revoke");

    // Down the tree with the city's document: the township holds it, and says so.
    eventually(LIMIT, "the township to hold the revocation", || {
        let town = &town;
        async move {
            let report = with(town, |l| execute(l, RevocationRequest::List).unwrap()).await;
            match report {
                RevocationReport::Held(list) if !list.is_empty() => Some(list),
                _ => None,
            }
        }
    })
    .await
    .iter()
    .find(|r| r.org == org(VILLAGE) && r.device == "v1" && r.reason == REASON)
    .expect("the village's device in the list");

    // The live link is cut and every new handshake refused, with the reason.
    let error = eventually(LIMIT, "the village to be refused by the township", || {
        let village = &village;
        async move {
            parent_error(village)
                .await
                .filter(|e| e.contains("revoked"))
        }
    })
    .await;
    assert!(error.contains(REASON), "{error}");
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let refused = town
        .handle()
        .open_session(Role::Parent, stolen(), tx)
        .await
        .unwrap()
        .expect_err("a handshake from the revoked device");
    assert!(refused.contains(REASON), "{refused}");

    // Its bundles are refused too: what it wrote since is not applied.
    add_woman(&village, "李桂兰").await;
    let town_dir = town_home.dir().to_path_buf();
    let sealed = with(&village, move |l| {
        let keys = Keys::load(l.home().dir()).unwrap();
        let cert = bundle::read_cert_file(&bundle::peer_cert_path(l.home().dir(), &org(TOWNSHIP)));
        bundle::seal_changes(l, &keys, org(TOWNSHIP), &cert.unwrap(), 3600)
            .unwrap()
            .expect("a change the township lacks")
    })
    .await;
    let before = with(&town, |l| l.stored_heads(&org(VILLAGE)).unwrap()).await;
    let e = with(&town, move |l| {
        let keys = Keys::load(&town_dir).unwrap();
        bundle::receive(l, &keys, &sealed.bytes, None, "test", ArrivalPath::Bundle).unwrap_err()
    })
    .await;
    assert!(e.to_string().contains(REASON), "{e}");
    let after = with(&town, |l| l.stored_heads(&org(VILLAGE)).unwrap()).await;
    assert_eq!(before, after, "nothing from the revoked device was applied");

    // The relay learns the list from the township's visits and refuses the device.
    let store = relay.store();
    eventually(LIMIT, "the relay to hold the revocation", || {
        let store = store.clone();
        async move { store.revocation(&org(VILLAGE), "v1").unwrap() }
    })
    .await;
    let relay_error = eventually(LIMIT, "the relay to refuse the village", || {
        let village = &village;
        async move {
            let relay = village.handle().status().await.ok()?.relay?;
            relay.last_error.filter(|e| e.contains("revoked"))
        }
    })
    .await;
    assert!(relay_error.contains(REASON), "{relay_error}");

    // Kept durably: the township still holds it after a restart.
    village.shutdown().await;
    town.shutdown().await;
    county.shutdown().await;
    city.shutdown().await;
    relay.shutdown().await;
    let mut ledger = Ledger::open(&town_home).unwrap();
    let found = revocation::find(&mut ledger, &stolen())
        .unwrap()
        .expect("still revoked");
    assert_eq!(found.reason, REASON);
    let other = PeerIdentity {
        org: org(VILLAGE),
        device: "v2".into(),
    };
    assert!(
        revocation::find(&mut ledger, &other).unwrap().is_none(),
        "only that device"
    );
}
