//! What a parent refuses, and how: a "raw client" speaks the wire protocol to a running
//! township over real QUIC + mutual TLS, with a village certificate, and misbehaves —
//! pushes documents outside its subtree, speaks another protocol version, lies about
//! its identity in `Hello`, sends oversized or garbage frames. A certificate of another
//! deployment's CA, and a node whose config and certificate name different units, are
//! refused before any frame. Each refusal must change nothing, say why in words, and
//! leave the parent serving the children that behave.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use automerge::sync::SyncDoc;
use automerge::ChangeHash;
use halfsky_node::run::{RunError, RunningNode};
use halfsky_node::sync::tls;
use halfsky_node::NodeHome;
use halfsky_shared::ledger_doc::{Author, LedgerDoc};
use halfsky_shared::record::Fields;
use halfsky_shared::wire::{Frame, FRAME_FORMAT, FRAME_FORMAT_ZSTD, MAX_FRAME, PROTOCOL_VERSION};
use halfsky_shared::{Kind, OrgCode, RecordId, Value};
use halfsky_tests::deploy::{add_woman, start, with, Deployment, NodeSpec};
use halfsky_tests::eventually;
use quinn::{ConnectionError, VarInt};
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Longest wait for anything on loopback.
const LIMIT: Duration = Duration::from_secs(30);

const TOWN: &str = "230129100000";
const VILLAGE: &str = "230129100201";
const SIBLING: &str = "230129100202";

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).expect("valid org code")
}

/// A township listening on loopback, no parent.
async fn township(d: &Deployment) -> RunningNode {
    start(&d.home(TOWN, "镇", &NodeSpec::new("t1", None, true))).await
}

/// A client that speaks frames directly over QUIC with a node home's certificate.
struct RawClient {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    /// Frames the parent sent, in arrival order per stream.
    frames: mpsc::UnboundedReceiver<Result<Frame, String>>,
    /// Every frame received so far (for failure messages).
    seen: Vec<Frame>,
    /// The stream acceptor and its readers; dropped with the client.
    _readers: JoinSet<()>,
}

/// Reads length-prefixed frames from one of the parent's streams until it ends.
async fn read_stream(
    mut recv: quinn::RecvStream,
    tx: mpsc::UnboundedSender<Result<Frame, String>>,
) {
    loop {
        let mut prefix = [0u8; 4];
        if recv.read_exact(&mut prefix).await.is_err() {
            return;
        }
        let len = match Frame::body_len(prefix) {
            Ok(len) => len,
            Err(e) => {
                let _ = tx.send(Err(format!("the parent sent a bad length: {e}")));
                return;
            }
        };
        let mut body = vec![0u8; len];
        if recv.read_exact(&mut body).await.is_err() {
            return;
        }
        let _ = tx.send(Frame::decode_body(&body).map_err(|e| format!("undecodable frame: {e}")));
    }
}

impl RawClient {
    /// Dials `addr` with the certificate in `home`; `Err` if the handshake fails.
    async fn connect(home: &NodeHome, addr: SocketAddr) -> Result<RawClient, ConnectionError> {
        let identity =
            halfsky_node::pki::load_node_identity(home.dir()).expect("the home has a certificate");
        let transport = halfsky_node::sync::link::transport(&Default::default());
        let client = tls::client_config(&identity, transport).expect("client TLS config");
        let mut endpoint =
            quinn::Endpoint::client("127.0.0.1:0".parse().expect("valid")).expect("UDP socket");
        endpoint.set_default_client_config(client);
        let connecting = endpoint
            .connect(addr, "localhost")
            .expect("a valid address and name");
        let conn = tokio::time::timeout(LIMIT, connecting)
            .await
            .expect("the handshake ends in time")?;
        let (tx, frames) = mpsc::unbounded_channel();
        let mut readers = JoinSet::new();
        let accepting = conn.clone();
        readers.spawn(async move {
            let mut streams = JoinSet::new();
            while let Ok(recv) = accepting.accept_uni().await {
                streams.spawn(read_stream(recv, tx.clone()));
            }
            // The connection is gone: let the readers drain what arrived before.
            while streams.join_next().await.is_some() {}
        });
        Ok(RawClient {
            endpoint,
            conn,
            frames,
            seen: Vec::new(),
            _readers: readers,
        })
    }

    /// Writes `frames` on a new uni stream and finishes it.
    async fn send(&self, frames: &[Frame]) {
        let mut bytes = Vec::new();
        for f in frames {
            bytes.extend(f.encode().expect("test frames fit the cap"));
        }
        self.send_bytes(&bytes).await;
    }

    /// Writes raw bytes on a new uni stream and finishes it (errors ignored: the
    /// parent may close the connection while we write).
    async fn send_bytes(&self, bytes: &[u8]) {
        let Ok(mut stream) = self.conn.open_uni().await else {
            return;
        };
        let _ = stream.write_all(bytes).await;
        let _ = stream.finish();
    }

    /// The next frame matching `want`; panics after [`LIMIT`] or if the link closes.
    async fn expect(&mut self, what: &str, want: impl Fn(&Frame) -> bool) -> Frame {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.frames.recv()).await {
                Ok(Some(Ok(frame))) => {
                    self.seen.push(frame.clone());
                    if want(&frame) {
                        return frame;
                    }
                }
                Ok(Some(Err(e))) => panic!("waiting for {what}: {e}"),
                Ok(None) => panic!(
                    "waiting for {what}: the link closed ({:?}); frames seen: {:?}",
                    self.conn.close_reason(),
                    self.seen
                ),
                Err(_) => panic!(
                    "timed out after {LIMIT:?} waiting for {what}; frames seen: {:?}",
                    self.seen
                ),
            }
        }
    }

    /// The reason of the next `Abort` frame (panics as [`RawClient::expect`] does).
    async fn aborted(&mut self) -> String {
        match self
            .expect("Abort", |f| matches!(f, Frame::Abort { .. }))
            .await
        {
            Frame::Abort { reason } => reason,
            other => unreachable!("expect matched Abort, got {other:?}"),
        }
    }

    /// Waits (bounded) until the parent closes the connection; returns why.
    async fn closed(&self) -> ConnectionError {
        tokio::time::timeout(LIMIT, self.conn.closed())
            .await
            .expect("the parent closes the connection in time")
    }

    /// Sends `Hello` and `Inventory` as the certificate's unit, and waits for the
    /// parent's answer to the inventory (the session is then past its opening).
    async fn open_session(&mut self, org: OrgCode, device: &str) {
        self.send(&[
            Frame::Hello {
                version: PROTOCOL_VERSION,
                org,
                device: device.into(),
            },
            Frame::Inventory {
                digest: [7; 32],
                docs: 1,
            },
        ])
        .await;
        self.expect("the parent's Hello", |f| matches!(f, Frame::Hello { .. }))
            .await;
        self.expect("the parent's inventory answer", |f| {
            matches!(f, Frame::InventoryDetail { .. } | Frame::InventoryMatch)
        })
        .await;
    }

    /// Closes the connection and waits (bounded) for the close to go out.
    async fn close(self) {
        self.conn.close(VarInt::from_u32(0), b"test done");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

/// A real document of `org` with one woman in it, written by a foreign device; returns
/// its raw changes and the hash of the woman's change.
fn forged_doc(org: OrgCode) -> (LedgerDoc, Vec<Vec<u8>>, ChangeHash) {
    let mut doc = LedgerDoc::create(org, automerge::ActorId::random());
    let id = RecordId::new(org, Kind::Woman, "FORG", 1);
    let mut fields = Fields::new();
    fields.insert("name".into(), Value::Text("冒名".into()));
    fields.insert("birth_year".into(), Value::Int(1975));
    fields.insert("labor_capacity".into(), Value::Text("full".into()));
    let author = Author {
        device: format!("{org}/intruder"),
        time: 1_790_000_000,
    };
    let hash = doc.insert(&id, &fields, None, &author).expect("insert");
    let changes = doc
        .automerge()
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    (doc, changes, hash)
}

/// An Automerge sync message of `doc` that carries changes (what a peer that holds
/// nothing of it would be sent).
fn sync_message_with_changes(doc: &mut LedgerDoc) -> Vec<u8> {
    let mut empty = automerge::AutoCommit::new();
    let (mut ours, mut theirs) = (automerge::sync::State::new(), automerge::sync::State::new());
    for _ in 0..4 {
        let msg = doc
            .automerge()
            .sync()
            .generate_sync_message(&mut ours)
            .expect("the document has something to say");
        if !msg.changes.is_empty() {
            return msg.encode();
        }
        empty
            .sync()
            .receive_sync_message(&mut theirs, msg)
            .expect("valid message");
        if let Some(reply) = empty.sync().generate_sync_message(&mut theirs) {
            doc.automerge()
                .sync()
                .receive_sync_message(&mut ours, reply)
                .expect("valid reply");
        }
    }
    panic!("the sync protocol never offered the document's changes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_cannot_push_documents_outside_its_subtree() {
    let d = Deployment::new();
    let town = township(&d).await;
    let addr = town.listen_addr().expect("listening");
    let (village, sibling, town_org) = (org(VILLAGE), org(SIBLING), org(TOWN));
    // Heads as the township sends them (signed), so a session's own signing does not
    // count as a change below.
    let own_before = with(&town, move |l| {
        l.attest_before_sending().unwrap();
        let mut h = l.stored_heads(&town_org).unwrap();
        h.sort();
        h
    })
    .await;
    assert!(
        !own_before.is_empty(),
        "the township holds its own document"
    );

    let home = d.home(VILLAGE, "村", &NodeSpec::new("v1", None, false));
    let mut raw = RawClient::connect(&home, addr).await.expect("handshake");
    raw.open_session(village, "v1").await;

    // Changes for a sibling village's document and for the township's own document,
    // each on its own stream, as the real link does; then the same through the
    // Automerge sync protocol.
    let (mut sibling_doc, sibling_changes, sibling_hash) = forged_doc(sibling);
    let (mut town_doc, town_changes, town_hash) = forged_doc(town_org);
    raw.send(&[Frame::Changes {
        org: sibling,
        changes: sibling_changes,
    }])
    .await;
    raw.send(&[Frame::Changes {
        org: town_org,
        changes: town_changes,
    }])
    .await;
    raw.send(&[Frame::Sync {
        org: sibling,
        message: sync_message_with_changes(&mut sibling_doc),
    }])
    .await;
    raw.send(&[Frame::Sync {
        org: town_org,
        message: sync_message_with_changes(&mut town_doc),
    }])
    .await;
    let mut refused = Vec::new();
    for _ in 0..4 {
        match raw
            .expect("Refused", |f| matches!(f, Frame::Refused { .. }))
            .await
        {
            Frame::Refused { org, reason } => {
                assert!(!reason.is_empty());
                refused.push(org);
            }
            _ => unreachable!("matched Refused"),
        }
    }
    refused.sort();
    let mut expected = vec![town_org, town_org, sibling, sibling];
    expected.sort();
    assert_eq!(
        refused, expected,
        "every push outside the subtree is refused"
    );
    assert!(
        !raw.seen.iter().any(|f| matches!(f, Frame::Abort { .. })),
        "a refusal does not end the session: {:?}",
        raw.seen
    );

    // Nothing of it was applied.
    assert!(
        with(&town, move |l| l.stored_heads(&sibling).unwrap())
            .await
            .is_empty(),
        "the township holds no document of the sibling village"
    );
    assert!(!with(&town, |l| l.documents().unwrap())
        .await
        .contains(&sibling));
    let own_after = with(&town, move |l| {
        let mut h = l.stored_heads(&town_org).unwrap();
        h.sort();
        h
    })
    .await;
    assert_eq!(
        own_after, own_before,
        "the township's own document is unchanged"
    );
    let foreign = with(&town, move |l| {
        l.with_automerge(town_org, |doc| {
            [town_hash, sibling_hash]
                .iter()
                .any(|h| doc.get_change_by_hash(h).is_some())
        })
        .unwrap()
    })
    .await;
    assert!(!foreign, "no foreign change in the township's document");

    // The refusal is visible in the township's status for that child.
    let status = town.handle().status().await.unwrap();
    let child = status
        .children
        .iter()
        .find(|c| c.org == village && c.device == "v1")
        .unwrap_or_else(|| panic!("the child is listed: {:?}", status.children));
    let error = child.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("refused"), "{child:?}");
    assert!(
        error.contains(SIBLING) || error.contains(TOWN),
        "names the document: {child:?}"
    );

    raw.close().await;
    town.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused_with_a_readable_reason() {
    let d = Deployment::new();
    let town = township(&d).await;
    let addr = town.listen_addr().expect("listening");
    let other = Deployment::new();

    // A real node of the other deployment dials our township.
    let stranger = start(&other.home(VILLAGE, "村", &NodeSpec::new("v1", Some(addr), false))).await;
    let parent = eventually(
        LIMIT,
        "the stranger to record why it cannot connect",
        || async {
            let p = stranger.handle().status().await.unwrap().parent?;
            p.last_error.is_some().then_some(p)
        },
    )
    .await;
    let reason = parent.last_error.clone().unwrap();
    assert!(!parent.connected, "{parent:?}");
    assert!(parent.last_sync.is_none(), "{parent:?}");
    assert!(reason.contains("certificate"), "{reason}");
    assert!(reason.contains("CA"), "{reason}");

    // The raw client of the other deployment fails the same way.
    let home = other.home(VILLAGE, "村", &NodeSpec::new("v2", None, false));
    let failure = match RawClient::connect(&home, addr).await {
        Err(e) => e,
        // In TLS 1.3 the client may finish its half first and only then be refused.
        Ok(raw) => raw.closed().await,
    };
    let text = tls::explain_handshake_failure(&failure);
    assert!(text.contains("certificate"), "{failure:?} → {text}");

    // The township never took it for a child.
    let status = town.handle().status().await.unwrap();
    assert!(status.children.is_empty(), "{:?}", status.children);
    let p = stranger.handle().status().await.unwrap().parent.unwrap();
    assert!(!p.connected, "{p:?}");

    stranger.shutdown().await;
    town.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_config_and_certificate_disagree_does_not_start() {
    let d = Deployment::new();
    let home = d.home(VILLAGE, "村", &NodeSpec::new("v1", None, false));
    halfsky_node::pki::issue(d.ca(), org(SIBLING), "v1", home.dir()).expect("certificate");
    let err = RunningNode::start(&home)
        .await
        .expect_err("a node with another unit's certificate must not start");
    assert!(matches!(err, RunError::Identity(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(VILLAGE) && text.contains(SIBLING), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_protocol_version_is_aborted() {
    let d = Deployment::new();
    let town = township(&d).await;
    let home = d.home(VILLAGE, "村", &NodeSpec::new("v1", None, false));
    let mut raw = RawClient::connect(&home, town.listen_addr().unwrap())
        .await
        .expect("handshake");
    raw.send(&[Frame::Hello {
        version: 99,
        org: org(VILLAGE),
        device: "v1".into(),
    }])
    .await;
    let reason = raw.aborted().await;
    assert!(
        reason.contains("version") && reason.contains("99"),
        "{reason}"
    );
    let closed = raw.closed().await;
    assert!(
        matches!(closed, ConnectionError::ApplicationClosed(_)),
        "{closed:?}"
    );
    raw.close().await;
    town.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_that_contradicts_the_certificate_is_aborted() {
    let d = Deployment::new();
    let town = township(&d).await;
    let home = d.home(VILLAGE, "村", &NodeSpec::new("v1", None, false));
    let mut raw = RawClient::connect(&home, town.listen_addr().unwrap())
        .await
        .expect("handshake");
    raw.send(&[Frame::Hello {
        version: PROTOCOL_VERSION,
        org: org(SIBLING),
        device: "v1".into(),
    }])
    .await;
    let reason = raw.aborted().await;
    assert!(reason.contains("certificate"), "{reason}");
    assert!(
        reason.contains(SIBLING) && reason.contains(VILLAGE),
        "{reason}"
    );
    raw.closed().await;
    raw.close().await;
    town.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_garbage_frames_close_the_link_and_the_parent_keeps_serving() {
    let d = Deployment::new();
    let town = township(&d).await;
    let addr = town.listen_addr().unwrap();
    let home = d.home(VILLAGE, "村", &NodeSpec::new("v1", None, false));

    // A length prefix above the cap: refused before any body is read.
    let raw = RawClient::connect(&home, addr).await.expect("handshake");
    raw.send_bytes(&((MAX_FRAME + 1) as u32).to_be_bytes())
        .await;
    match raw.closed().await {
        ConnectionError::ApplicationClosed(close) => {
            let reason = String::from_utf8_lossy(&close.reason);
            assert_ne!(close.error_code, VarInt::from_u32(0), "{close:?}");
            assert!(
                reason.contains("frame") && reason.contains(&(MAX_FRAME + 1).to_string()),
                "{reason}"
            );
        }
        other => panic!("expected the township to close the link, got {other:?}"),
    }
    raw.close().await;

    // A plausible length followed by garbage: with a random format byte, and with
    // each real format byte in front of bytes that do not parse.
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261122);
    for format in [None, Some(FRAME_FORMAT), Some(FRAME_FORMAT_ZSTD)] {
        let raw = RawClient::connect(&home, addr).await.expect("handshake");
        let mut bytes = 64u32.to_be_bytes().to_vec();
        bytes.extend((0..64).map(|_| rng.random::<u8>()));
        if let Some(format) = format {
            bytes[4] = format;
        }
        raw.send_bytes(&bytes).await;
        match raw.closed().await {
            ConnectionError::ApplicationClosed(close) => {
                let reason = String::from_utf8_lossy(&close.reason);
                assert_ne!(close.error_code, VarInt::from_u32(0), "{close:?}");
                assert!(
                    reason.contains("protocol error"),
                    "format {format:?}: {reason}"
                );
            }
            other => {
                panic!("format {format:?}: expected the township to close the link, got {other:?}")
            }
        }
        raw.close().await;
    }

    // The township still serves a child that behaves.
    let village = start(&d.home(VILLAGE, "村", &NodeSpec::new("v2", Some(addr), false))).await;
    let woman = add_woman(&village, "王秀英").await;
    eventually(LIMIT, "the record to reach the township", || {
        let w = woman.clone();
        async { with(&town, move |l| l.index().get(&w).unwrap()).await }
    })
    .await;
    village.shutdown().await;
    town.shutdown().await;
}
