//! The deployment CA, device certificates, and mutual TLS between a township (server)
//! and a village (client) over real QUIC on 127.0.0.1; plus the refusals a county IT
//! clerk may run into.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use halfsky_node::cli::pki::{self as pki_cli, PkiCommand};
use halfsky_node::pki::{self, PkiError};
use halfsky_node::sync::tls;
use halfsky_node::NodeHome;
use halfsky_shared::OrgCode;
use quinn::{ConnectionError, Endpoint, TransportConfig};

const CITY: &str = "230100000000";
const TOWNSHIP: &str = "230129100000";
const VILLAGE: &str = "230129100201";
const DEADLINE: Duration = Duration::from_secs(20);

fn code(s: &str) -> OrgCode {
    OrgCode::parse(s).expect("test org code is valid")
}

fn transport() -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    t.max_idle_timeout(Some(
        Duration::from_secs(10)
            .try_into()
            .expect("10 s fits an idle timeout"),
    ));
    Arc::new(t)
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A township server node and a village client node, both from the CA in `ca`.
struct Pair {
    server: pki::NodeIdentity,
    client: pki::NodeIdentity,
}

fn pair(root: &Path, client_ca: &Path) -> Pair {
    let ca = root.join("ca");
    if !ca.join(pki::CA_CERT_FILE).exists() {
        pki::init_ca(code(CITY), &ca).expect("init CA");
    }
    let twp = root.join("township");
    let vil = root.join("village");
    pki::issue(&ca, code(TOWNSHIP), "twp-server", &twp).expect("issue township");
    pki::issue(client_ca, code(VILLAGE), "pc-1", &vil).expect("issue village");
    Pair {
        server: pki::load_node_identity(&twp).expect("load township"),
        client: pki::load_node_identity(&vil).expect("load village"),
    }
}

#[tokio::test]
async fn township_and_village_see_each_other_and_echo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca");
    pki::init_ca(code(CITY), &ca).expect("init CA");
    let p = pair(dir.path(), &ca);

    let server_cfg = tls::server_config(&p.server, transport()).expect("server config");
    let server = Endpoint::server(server_cfg, localhost()).expect("bind server");
    let addr = server.local_addr().expect("server addr");
    let client = Endpoint::client(localhost()).expect("bind client");
    let client_cfg = tls::client_config(&p.client, transport()).expect("client config");

    let serve = async {
        let incoming = server.accept().await.expect("an incoming connection");
        let conn = incoming.await.expect("handshake accepted");
        let peer = tls::peer_identity(&conn).expect("child identity");
        let (mut send, mut recv) = conn.accept_bi().await.expect("a stream");
        let msg = recv.read_to_end(1024).await.expect("read request");
        send.write_all(&msg).await.expect("echo");
        send.finish().expect("finish echo");
        // Keep the connection until the child has read the echo and closed.
        conn.closed().await;
        peer
    };
    let dial = async {
        let conn = client
            .connect_with(client_cfg, addr, "localhost")
            .expect("dial")
            .await
            .expect("handshake");
        let alpn = conn
            .handshake_data()
            .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|d| d.protocol);
        assert_eq!(alpn.as_deref(), Some(tls::ALPN));
        let peer = tls::peer_identity(&conn).expect("parent identity");
        let (mut send, mut recv) = conn.open_bi().await.expect("open stream");
        send.write_all(b"hello township").await.expect("send");
        send.finish().expect("finish");
        let echo = recv.read_to_end(1024).await.expect("read echo");
        conn.close(0u32.into(), b"done");
        (peer, echo)
    };
    let (seen_by_server, (seen_by_client, echo)) =
        tokio::time::timeout(DEADLINE, async { tokio::join!(serve, dial) })
            .await
            .expect("handshake and echo within the deadline");

    assert_eq!(echo, b"hello township");
    assert_eq!(seen_by_server.org, code(VILLAGE));
    assert_eq!(seen_by_server.device, "pc-1");
    assert_eq!(seen_by_client.org, code(TOWNSHIP));
    assert_eq!(seen_by_client.device, "twp-server");
    assert_eq!(seen_by_server, p.client.identity);
    client.wait_idle().await;
}

/// Dials `server` with `client_cfg` as `name`; returns the errors both sides saw.
async fn failing_handshake(
    server: &Endpoint,
    client_cfg: quinn::ClientConfig,
    name: &str,
) -> (ConnectionError, ConnectionError) {
    let addr = server.local_addr().expect("server addr");
    let client = Endpoint::client(localhost()).expect("bind client");
    let serve = async {
        let incoming = server.accept().await.expect("an incoming connection");
        match incoming.await {
            Err(e) => e,
            Ok(conn) => conn.closed().await,
        }
    };
    let dial = async {
        match client
            .connect_with(client_cfg, addr, name)
            .expect("dial")
            .await
        {
            Err(e) => e,
            // TLS 1.3: the child's handshake completes before the parent has judged
            // its certificate; the refusal arrives as the connection closing.
            Ok(conn) => {
                if let Ok((mut send, mut recv)) = conn.open_bi().await {
                    let _ = send.write_all(b"hello").await;
                    let _ = send.finish();
                    let _ = recv.read_to_end(1024).await;
                }
                conn.closed().await
            }
        }
    };
    tokio::time::timeout(DEADLINE, async { tokio::join!(serve, dial) })
        .await
        .expect("the refusal arrives within the deadline")
}

#[tokio::test]
async fn child_certificate_from_another_ca_is_refused_by_the_parent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let other_ca = dir.path().join("other-ca");
    // Same city code, different deployment: only the key tells them apart.
    pki::init_ca(code(CITY), &other_ca).expect("init other CA");
    let mut p = pair(dir.path(), &other_ca);
    // The child trusts the deployment's CA but presents a certificate from another
    // one: the parent refuses it after the child's side of the TLS 1.3 handshake is
    // done, so the child only sees the connection close.
    p.client.ca = p.server.ca.clone();

    let server_cfg = tls::server_config(&p.server, transport()).expect("server config");
    let server = Endpoint::server(server_cfg, localhost()).expect("bind server");
    let client_cfg = tls::client_config(&p.client, transport()).expect("client config");
    let (server_err, client_err) = failing_handshake(&server, client_cfg, "localhost").await;

    let server_text = tls::explain_incoming_failure(&server_err);
    assert!(
        server_text.contains("this node refused the child's certificate")
            && server_text.contains("not from this deployment's CA"),
        "server saw: {server_text} ({server_err:?})"
    );
    let client_text = tls::explain_handshake_failure(&client_err);
    assert!(
        client_text.contains("the parent refused this node's certificate")
            && client_text.contains("another deployment's CA")
            && client_text.contains("halfsky pki issue --ca"),
        "client saw: {client_text} ({client_err:?})"
    );
}

#[tokio::test]
async fn nodes_of_different_deployments_refuse_each_other() {
    let dir = tempfile::tempdir().expect("temp dir");
    let other_ca = dir.path().join("other-ca");
    pki::init_ca(code(CITY), &other_ca).expect("init other CA");
    // Each node home is consistent, but with its own CA: the child refuses the
    // parent's certificate first.
    let p = pair(dir.path(), &other_ca);

    let server_cfg = tls::server_config(&p.server, transport()).expect("server config");
    let server = Endpoint::server(server_cfg, localhost()).expect("bind server");
    let client_cfg = tls::client_config(&p.client, transport()).expect("client config");
    let (server_err, client_err) = failing_handshake(&server, client_cfg, "localhost").await;

    let client_text = tls::explain_handshake_failure(&client_err);
    assert!(
        client_text.contains("this node refused the parent's certificate")
            && client_text.contains("another CA")
            && client_text.contains("halfsky pki issue --ca"),
        "client saw: {client_text} ({client_err:?})"
    );
    let server_text = tls::explain_incoming_failure(&server_err);
    assert!(
        server_text.contains("the child refused this node's certificate")
            && server_text.contains("another CA"),
        "server saw: {server_text} ({server_err:?})"
    );
}

#[tokio::test]
async fn parent_certificate_without_the_dialled_name_is_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca");
    pki::init_ca(code(CITY), &ca).expect("init CA");
    let p = pair(dir.path(), &ca);
    let server_cfg = tls::server_config(&p.server, transport()).expect("server config");
    let server = Endpoint::server(server_cfg, localhost()).expect("bind server");
    let client_cfg = tls::client_config(&p.client, transport()).expect("client config");

    let (_, client_err) = failing_handshake(&server, client_cfg, "county.example.cn").await;
    let text = tls::explain_handshake_failure(&client_err);
    assert!(
        text.contains("not valid for the address dialled") && text.contains("--name"),
        "client saw: {text} ({client_err:?})"
    );
}

#[test]
fn extra_names_make_a_parent_reachable_by_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca");
    pki::init_ca(code(CITY), &ca).expect("init CA");
    let names = vec!["county.example.cn".to_string(), "10.20.30.40".to_string()];
    let cert = pki::issue_with_names(&ca, code(TOWNSHIP), "srv", &dir.path().join("t"), &names)
        .expect("issue");
    assert_eq!(
        cert.names,
        ["localhost", "127.0.0.1", "county.example.cn", "10.20.30.40"]
    );
    let bad = pki::issue_with_names(
        &ca,
        code(TOWNSHIP),
        "srv",
        &dir.path().join("t"),
        &["not a host".to_string()],
    )
    .expect_err("bad host name");
    assert!(matches!(bad, PkiError::BadHostName(_)), "{bad}");
}

#[test]
fn issue_outside_the_city_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca");
    pki::init_ca(code(CITY), &ca).expect("init CA");
    let e = pki::issue(&ca, code("230202100201"), "pc-1", &dir.path().join("h"))
        .expect_err("another city's village");
    assert!(matches!(e, PkiError::OutsideCa { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("230202100201 is not in the subtree of 230100000000"),
        "{text}"
    );
    assert!(!dir.path().join("h").join(pki::NODE_KEY_FILE).exists());
}

#[test]
fn second_init_into_the_same_dir_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca");
    pki::init_ca(code(CITY), &ca).expect("init CA");
    let before = std::fs::read(ca.join(pki::CA_KEY_FILE)).expect("read key");
    let e = pki::init_ca(code(CITY), &ca).expect_err("second init");
    assert!(matches!(e, PkiError::CaExists { .. }), "{e}");
    assert!(e.to_string().contains("already holds a CA"), "{e}");
    let after = std::fs::read(ca.join(pki::CA_KEY_FILE)).expect("read key");
    assert_eq!(before, after, "the existing CA key is untouched");
}

#[test]
fn missing_or_damaged_ca_is_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let nowhere = dir.path().join("no-such-ca");
    let e = pki::issue(&nowhere, code(VILLAGE), "pc-1", &dir.path().join("h")).expect_err("no CA");
    assert!(matches!(e, PkiError::CaMissing { .. }), "{e}");
    assert!(e.to_string().contains("halfsky pki init"), "{e}");

    let ca = dir.path().join("ca");
    pki::init_ca(code(CITY), &ca).expect("init CA");
    std::fs::write(ca.join(pki::CA_CERT_FILE), "not a certificate").expect("damage");
    let e = pki::issue(&ca, code(VILLAGE), "pc-1", &dir.path().join("h")).expect_err("damaged CA");
    assert!(matches!(e, PkiError::Damaged { .. }), "{e}");

    let e = pki::load_node_identity(&dir.path().join("h")).expect_err("no node cert");
    assert!(matches!(e, PkiError::NodeMissing { .. }), "{e}");
    assert!(e.to_string().contains("halfsky pki issue"), "{e}");
}

#[cfg(unix)]
#[test]
fn private_keys_are_0600_and_loose_ones_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca");
    let home = dir.path().join("h");
    let info = pki::init_ca(code(CITY), &ca).expect("init CA");
    let cert = pki::issue(&ca, code(VILLAGE), "pc-1", &home).expect("issue");
    assert_eq!(mode(&info.key_path), 0o600);
    assert_eq!(mode(&cert.key_path), 0o600);
    assert_eq!(mode(&cert.cert_path), 0o644);
    assert_eq!(mode(&cert.ca_path), 0o644);

    std::fs::set_permissions(&info.key_path, std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let e = pki::issue(&ca, code(VILLAGE), "pc-1", &home).expect_err("loose CA key");
    assert!(
        matches!(e, PkiError::Permissions { mode: 0o644, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("chmod 600"), "{e}");

    std::fs::set_permissions(&cert.key_path, std::fs::Permissions::from_mode(0o640))
        .expect("chmod");
    let e = pki::load_node_identity(&home).expect_err("loose node key");
    assert!(matches!(e, PkiError::Permissions { .. }), "{e}");
}

#[test]
fn config_and_certificate_for_different_units_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca");
    let home = dir.path().join("h");
    pki::init_ca(code(CITY), &ca).expect("init CA");
    pki::issue(&ca, code("230129100202"), "pc-1", &home).expect("issue");
    let id = pki::load_node_identity(&home).expect("load");
    id.check_matches(code("230129100202")).expect("same unit");
    let e = id
        .check_matches(code("230129100201"))
        .expect_err("other unit");
    assert!(
        e.to_string().starts_with(
            "this node's config says 230129100201 but its certificate is for 230129100202; issue a certificate for the right unit with `halfsky pki issue"
        ),
        "{e}"
    );
}

#[test]
fn certificate_from_another_ca_in_the_node_home_is_caught_at_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    pki::init_ca(code(CITY), &a).expect("init CA a");
    pki::init_ca(code(CITY), &b).expect("init CA b");
    let home = dir.path().join("h");
    pki::issue(&a, code(VILLAGE), "pc-1", &home).expect("issue");
    std::fs::copy(b.join(pki::CA_CERT_FILE), home.join(pki::CA_CERT_FILE)).expect("swap CA");
    let e = pki::load_node_identity(&home).expect_err("foreign CA");
    assert!(matches!(e, PkiError::NotFromCa { .. }), "{e}");
}

#[test]
fn cli_commands_write_where_they_say() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca");
    let home = dir.path().join("village");
    pki_cli::execute(
        PkiCommand::Init {
            org: CITY.into(),
            out: ca.clone(),
        },
        &home,
    )
    .expect("pki init");
    assert!(ca.join(pki::CA_KEY_FILE).exists());

    NodeHome::new(&home)
        .init(code(VILLAGE), "红星村", "pc-1", None)
        .expect("node init");
    let issue = |org: &str| PkiCommand::Issue {
        ca: ca.clone(),
        org: Some(org.into()),
        role: None,
        device: "pc-1".into(),
        extra_names: vec![],
    };
    let e = pki_cli::execute(issue("230129100202"), &home).expect_err("home of another unit");
    assert!(
        e.to_string().contains("is the node home of 230129100201"),
        "{e}"
    );
    pki_cli::execute(issue(VILLAGE), &home).expect("pki issue");
    let id = pki::load_node_identity(&home).expect("load");
    assert_eq!(id.identity.org, code(VILLAGE));

    let e = pki_cli::execute(issue("23012910020"), &home).expect_err("short code");
    assert!(e.to_string().starts_with("--org 23012910020"), "{e:#}");
}
