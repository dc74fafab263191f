//! Least privilege for the relay: its certificate (role relay) serves mailboxes and
//! nothing else. A node refuses it as a sync peer (as a child and as a parent), as a
//! bundle recipient and as the signer of an acknowledgement; a parent certificate the
//! relay hands over must be a node certificate of exactly the parent's unit.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use halfsky_node::cli::Captured;
use halfsky_node::pki;
use halfsky_node::sync::relay_client::check_parent_cert;
use halfsky_node::sync::status::StatusStore;
use halfsky_node::sync::tls;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::bundle::{self, Contents, Sender};
use halfsky_shared::OrgCode;
use halfsky_tests::deploy::{relay_home, start, Deployment, NodeSpec};
use halfsky_tests::{eventually, fill_village, VILLAGE};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

const TOWNSHIP: &str = "230129100000";
const COUNTY: &str = "230129000000";
const LIMIT: Duration = Duration::from_secs(30);

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

fn cert_der(dir: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(dir.join("node.pem"))
        .unwrap()
        .to_vec()
}

fn run(ledger: &mut Ledger, args: &[&str]) -> Captured {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    halfsky_node::cli::execute_args(ledger, Path::new("/"), &args)
}

fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(Duration::from_secs(5).try_into().unwrap()));
    Arc::new(t)
}

#[test]
fn the_relay_holds_a_relay_certificate_and_a_node_certificate_is_refused_to_it() {
    let d = Deployment::new();
    let home = relay_home(&d);
    let relay = pki::load_relay_identity(home.dir()).expect("a relay certificate");
    assert_eq!(relay.name, "relay");
    let e = pki::load_node_identity(home.dir()).expect_err("not a node");
    assert!(e.to_string().contains("relay/relay"), "{e}");
    assert!(matches!(
        pki::identity_of(&relay.chain[0]),
        Err(pki::PkiError::RelayOnly { .. })
    ));
    // A relay started with a node certificate refuses to run.
    let city = d.home("230100000000", "市", &NodeSpec::new("c1", None, false));
    let e = pki::load_relay_identity(city.dir()).expect_err("a node certificate");
    assert!(e.to_string().contains("--role relay"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_certificate_is_refused_as_a_sync_peer() {
    let d = Deployment::new();
    let relay = pki::load_relay_identity(relay_home(&d).dir()).unwrap();

    // As a child: the township's TLS refuses it (server authentication only), and no
    // child link is recorded.
    let town_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, true));
    let town = start(&town_home).await;
    let addr = town.listen_addr().unwrap();
    let client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let config = tls::client_config(&relay, transport()).unwrap();
    let outcome = async {
        let conn = client.connect_with(config, addr, "localhost")?.await?;
        // TLS 1.3: a refused client certificate shows on the first read.
        conn.accept_uni().await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    let refused = tokio::time::timeout(LIMIT, outcome)
        .await
        .expect("an answer");
    assert!(refused.is_err(), "the township took the relay as a child");
    let status = town.handle().status().await.unwrap();
    assert!(status.children.is_empty(), "{:?}", status.children);
    town.shutdown().await;

    // As a parent: a village dialling a server that presents the relay certificate
    // refuses it and says why.
    let server = quinn::Endpoint::server(
        tls::server_config(&relay, transport()).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let fake_parent = server.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            if let Ok(conn) = incoming.await {
                conn.closed().await;
            }
        }
    });
    let village_home = d.home(
        VILLAGE,
        "红星村",
        &NodeSpec::new("v1", Some(fake_parent), false),
    );
    let village = start(&village_home).await;
    let error = eventually(
        LIMIT,
        "the village to refuse the relay as its parent",
        || {
            let village = &village;
            async move {
                let status = village.handle().status().await.ok()?;
                status.parent?.last_error.filter(|e| e.contains("relay"))
            }
        },
    )
    .await;
    assert!(error.contains("relay certificate"), "{error}");
    let status = village.handle().status().await.unwrap();
    assert!(!status.parent.unwrap().connected);
    village.shutdown().await;
    accept.abort();
}

#[test]
fn a_relay_certificate_is_refused_as_a_bundle_recipient() {
    let d = Deployment::new();
    let relay = relay_home(&d);
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    fill_village(&mut village, 2, 5);
    let out = d.dir().join("to-relay.bundle");
    let cert = relay.dir().join("node.pem");
    let reply = run(
        &mut village,
        &[
            "bundle",
            "export",
            "--to",
            TOWNSHIP,
            "--out",
            out.to_str().unwrap(),
            "--to-cert",
            cert.to_str().unwrap(),
        ],
    );
    assert_ne!(reply.code, 0);
    assert!(
        reply.stderr.contains("relay certificate"),
        "{}",
        reply.stderr
    );
    assert!(!out.exists(), "nothing was sealed to the relay");

    // Nor is the relay's certificate kept as the parent's when the relay hands it
    // over, nor a node certificate of another unit (the county, above the parent).
    let keys = halfsky_node::sync::bundle::Keys::load(village_home.dir()).unwrap();
    let e = check_parent_cert(&keys.ca_der, &cert_der(relay.dir()), org(TOWNSHIP)).unwrap_err();
    assert!(e.contains("relay certificate"), "{e}");
    let county = d.home(COUNTY, "县", &NodeSpec::new("k1", None, false));
    let e = check_parent_cert(&keys.ca_der, &cert_der(county.dir()), org(TOWNSHIP)).unwrap_err();
    assert!(e.contains("as that of the parent"), "{e}");
    let town = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
    check_parent_cert(&keys.ca_der, &cert_der(town.dir()), org(TOWNSHIP))
        .expect("the township's own certificate");
}

#[test]
fn a_relay_certificate_is_refused_as_the_signer_of_an_acknowledgement() {
    let d = Deployment::new();
    let relay = relay_home(&d);
    let village_home: NodeHome = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    fill_village(&mut village, 2, 6);
    let heads = village.stored_heads(&org(VILLAGE)).unwrap();

    // The relay's key signs an acknowledgement "from the township" of everything.
    let key = PrivatePkcs8KeyDer::from_pem_file(relay.dir().join("node.key")).unwrap();
    let relay_cert = cert_der(relay.dir());
    let village_cert = cert_der(village_home.dir());
    let (_, village_x509) = x509_parser::parse_x509_certificate(&village_cert).unwrap();
    let now = chrono::Utc::now().timestamp();
    let forged = bundle::seal(
        Sender {
            org: org(TOWNSHIP),
            cert_der: &relay_cert,
            key_pkcs8: key.secret_pkcs8_der(),
        },
        org(VILLAGE),
        &village_x509.public_key().subject_public_key.data,
        &Contents::Ack {
            heads: vec![(org(VILLAGE), heads.iter().map(|h| h.0).collect())],
            changes: vec![],
        },
        now,
        now + 3600,
        [3; 32],
    )
    .unwrap();
    let file = d.dir().join("forged.ack");
    std::fs::write(&file, forged).unwrap();
    let reply = run(&mut village, &["bundle", "ack", file.to_str().unwrap()]);
    assert_ne!(reply.code, 0);
    assert!(
        reply.stderr.contains("relay certificate"),
        "{}",
        reply.stderr
    );
    let acked = StatusStore::new(village.store().clone())
        .acked(&org(VILLAGE))
        .unwrap();
    assert!(acked.is_empty(), "nothing counts as delivered: {acked:?}");
}
