//! The dashboard over HTTPS (`[dashboard] tls_cert`, `tls_key`): pages over TLS on
//! loopback, every cookie `Secure`, plain HTTP on the same port gets no page, and a
//! key file other users can read is refused at start.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use halfsky_node::config::Role;
use halfsky_node::run::RunningNode;
use halfsky_node::NodeHome;
use halfsky_tests::deploy::{enable_dashboard, start, Deployment, NodeSpec};
use halfsky_tests::VILLAGE;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(20);

/// A self-signed certificate for `localhost` in the node home, and the settings that
/// point at it; returns the certificate (the client's trust root).
fn https(home: &NodeHome) -> CertificateDer<'static> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(home.dir().join("dashboard.pem"), cert.pem()).unwrap();
    let key_path = home.dir().join("dashboard.key");
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = home.config_path();
    let mut table: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let dashboard = table["dashboard"].as_table_mut().unwrap();
    dashboard.insert("tls_cert".into(), "dashboard.pem".into());
    dashboard.insert("tls_key".into(), "dashboard.key".into());
    std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
    cert.der().clone()
}

async fn get_login_over_tls(node: &RunningNode, root: CertificateDer<'static>) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(node.dashboard_addr().unwrap())
        .await
        .unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("a TLS handshake with the dashboard");
    tls.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_serves_https_with_secure_cookies() {
    let d = Deployment::new();
    let home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    enable_dashboard(&home, &[("admin", Role::Admin, "a-long-password")]);
    let root = https(&home);
    let node = start(&home).await;

    let answer = tokio::time::timeout(LIMIT, get_login_over_tls(&node, root))
        .await
        .expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let cookies: Vec<&str> = answer
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .collect();
    assert!(!cookies.is_empty(), "the login form sets its CSRF cookie");
    for c in &cookies {
        assert!(c.trim_end().ends_with("; Secure"), "{c}");
    }

    // Plain HTTP on the HTTPS port gets no page.
    let mut plain = tokio::net::TcpStream::connect(node.dashboard_addr().unwrap())
        .await
        .unwrap();
    plain
        .write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(LIMIT, plain.read_to_end(&mut answer)).await;
    assert!(!String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"));
    node.shutdown().await;

    // A key other users can read is refused, with what to do.
    std::fs::set_permissions(
        home.dir().join("dashboard.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let Err(e) = RunningNode::start(&home).await else {
        panic!("a loose key is refused");
    };
    assert!(e.to_string().contains("chmod 600"), "{e}");
}
