//! A child that reconnects resumes its TLS session (a pre-shared key from the
//! parent's ticket instead of both certificate chains), with the node's own
//! configurations (`tls::server_config`, `tls::client_config`).
//!
//! UDP bytes cannot show it: QUIC pads every datagram that carries an Initial packet
//! to 1,200 bytes, and the chains fit inside that padding, so a full and a resumed
//! handshake measure the same (printed below). What rustls reports is checked
//! instead: its client logs whether it resumed.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use halfsky_node::config::SyncConfig;
use halfsky_node::pki::load_node_identity;
use halfsky_node::sync::{link, tls};
use halfsky_tests::deploy::{Deployment, NodeSpec};

/// Bound on each handshake: loopback completes in milliseconds.
const HANDSHAKE: Duration = Duration::from_secs(20);

/// One handshake from `client` to `server`; returns the UDP bytes the server received
/// until the handshake completed on its side.
async fn handshake(client: &quinn::Endpoint, server: &quinn::Endpoint, addr: SocketAddr) -> u64 {
    let connecting = client.connect(addr, "localhost").expect("dial");
    let (dialled, accepted) = tokio::time::timeout(HANDSHAKE, async {
        let incoming = server.accept().await.expect("an incoming connection");
        tokio::join!(connecting, incoming)
    })
    .await
    .expect("handshake within the bound");
    let dialled = dialled.expect("client side of the handshake");
    let accepted = accepted.expect("server side of the handshake");
    // The identity is read from the resumed session too.
    tls::peer_identity(&accepted).expect("the child's identity");
    let received = accepted.stats().udp_rx.bytes;
    // Let the session tickets reach the client before it hangs up.
    tokio::time::timeout(HANDSHAKE, async {
        while dialled.stats().udp_rx.bytes < accepted.stats().udp_tx.bytes {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the server's flight arrives");
    dialled.close(0u32.into(), b"done");
    accepted.closed().await;
    received
}

/// The log lines of this test binary, kept to read what rustls did.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far, emptied.
    fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.0.lock().unwrap())).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_reconnecting_child_resumes_its_tls_session() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("rustls::client=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let d = Deployment::new();
    let county = d.home("230129000000", "县", &NodeSpec::new("k", None, true));
    let village = d.home("230129100201", "村", &NodeSpec::new("v", None, false));
    let county_id = load_node_identity(county.dir()).expect("county identity");
    let village_id = load_node_identity(village.dir()).expect("village identity");
    let transport = link::transport(&SyncConfig::default());
    let server = quinn::Endpoint::server(
        tls::server_config(&county_id, transport.clone()).expect("server config"),
        "127.0.0.1:0".parse().unwrap(),
    )
    .expect("server endpoint");
    let addr = server.local_addr().unwrap();
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("client");
    client.set_default_client_config(
        tls::client_config(&village_id, transport).expect("client config"),
    );

    let full = handshake(&client, &server, addr).await;
    let first = log.take();
    assert!(first.contains("Not resuming"), "{first}");
    let resumed = handshake(&client, &server, addr).await;
    let second = log.take();
    assert!(second.contains("Resuming using PSK"), "{second}");
    println!("the parent received {full} B in a full handshake, {resumed} B resumed");
    server.close(0u32.into(), b"done");
    client.wait_idle().await;
}
