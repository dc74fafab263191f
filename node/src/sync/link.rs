//! One QUIC connection between a child and its parent: moves frames between the
//! connection and the session inside the ledger actor, and nothing else.
//!
//! Each side sends on unidirectional streams it opens itself: one control stream
//! (Hello, Inventory…, Abort) and one stream per document, so a large catch-up of one
//! document never holds up another, and each document's frames stay in order.

use std::collections::HashMap;
use std::sync::Arc;

use halfsky_shared::session::Role;
use halfsky_shared::wire::Frame;
use halfsky_shared::OrgCode;
use quinn::{Connection, RecvStream, SendStream, VarInt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Congestion, SyncConfig};
use crate::ledger::actor::{LedgerHandle, SessionId};
use crate::pki::PeerIdentity;

/// QUIC close code for a normal end (shutdown, Abort).
const CLOSE_NORMAL: u32 = 0;
/// QUIC close code for a protocol violation (garbage or oversized frame).
const CLOSE_PROTOCOL: u32 = 1;

/// How long a link may stay completely silent before it is treated as down: three
/// keep-alive intervals (each side sends one at least that often on a live link).
pub fn stall_after(config: &SyncConfig) -> std::time::Duration {
    (config.keep_alive * 3).max(std::time::Duration::from_secs(3))
}

/// How long a dial may wait for the parent's answer before starting afresh: long
/// enough for a few lost handshake packets at the configured initial RTT, short
/// enough that a dial begun during a blackout does not sleep through the next window.
pub fn handshake_timeout(config: &SyncConfig) -> std::time::Duration {
    (config.initial_rtt * 10).max(std::time::Duration::from_secs(5))
}

/// Transport settings for rural links, from `[sync]`.
pub fn transport(config: &SyncConfig) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(config.keep_alive));
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(config.idle_timeout)
            .unwrap_or(quinn::IdleTimeout::from(VarInt::from_u32(60_000))),
    ));
    t.initial_rtt(config.initial_rtt);
    // One stream per document: a county catching up 2,000 villages opens many.
    t.max_concurrent_uni_streams(VarInt::from_u32(8_192));
    if !config.mtu_discovery {
        // Packets stay at 1,200 B: the probes for larger ones were ~71 % of the bytes of
        // a reconnect when nothing changed (TECH_NOTES), paid again on every reconnect.
        t.mtu_discovery_config(None);
    }
    match config.congestion {
        Congestion::Bbr => {
            t.congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()))
        }
        Congestion::Cubic => {
            t.congestion_controller_factory(Arc::new(quinn::congestion::CubicConfig::default()))
        }
        Congestion::NewReno => {
            t.congestion_controller_factory(Arc::new(quinn::congestion::NewRenoConfig::default()))
        }
    };
    Arc::new(t)
}

fn document_of(frame: &Frame) -> Option<OrgCode> {
    match frame {
        Frame::Sync { org, .. }
        | Frame::Changes { org, .. }
        | Frame::Push { org, .. }
        | Frame::Piece { org, .. }
        | Frame::Synced { org, .. }
        | Frame::Refused { org, .. } => Some(*org),
        _ => None,
    }
}

/// Reads frames from one stream into the session until the stream ends.
async fn read_frames(
    mut recv: RecvStream,
    session: SessionId,
    handle: LedgerHandle,
) -> Result<(), String> {
    loop {
        let body = match crate::sync::frames::read_body(&mut recv, Frame::body_len).await {
            Ok(Some(body)) => body,
            Ok(None) | Err(crate::sync::frames::FrameReadError::ConnectionLost) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        let frame =
            Frame::decode_body(&body).map_err(|e| format!("protocol error from the peer: {e}"))?;
        handle.frame(session, frame).await;
    }
}

/// Accepts the peer's streams and reads each.
async fn read_all(conn: Connection, session: SessionId, handle: LedgerHandle) -> String {
    let mut readers = JoinSet::new();
    loop {
        tokio::select! {
            stream = conn.accept_uni() => match stream {
                Ok(recv) => {
                    readers.spawn(read_frames(recv, session, handle.clone()));
                }
                Err(e) => return crate::sync::tls::explain_handshake_failure(&e),
            },
            Some(done) = readers.join_next() => {
                if let Ok(Err(reason)) = done {
                    conn.close(VarInt::from_u32(CLOSE_PROTOCOL), reason.as_bytes());
                    return reason;
                }
            }
        }
    }
}

/// Writes the session's frames: control frames on one stream, each document's on its own.
async fn write_all(conn: Connection, mut outgoing: mpsc::UnboundedReceiver<Frame>) -> String {
    let mut control: Option<SendStream> = None;
    let mut documents: HashMap<OrgCode, SendStream> = HashMap::new();
    while let Some(frame) = outgoing.recv().await {
        let bytes = match frame.encode() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, frame = frame.name(), "cannot encode a frame");
                continue;
            }
        };
        let stream = match document_of(&frame) {
            Some(org) => match documents.entry(org) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => match conn.open_uni().await {
                    Ok(s) => e.insert(s),
                    Err(e) => return crate::sync::tls::explain_handshake_failure(&e),
                },
            },
            None => {
                if control.is_none() {
                    match conn.open_uni().await {
                        Ok(s) => control = Some(s),
                        Err(e) => return crate::sync::tls::explain_handshake_failure(&e),
                    }
                }
                control.as_mut().expect("just opened")
            }
        };
        if let Err(e) = stream.write_all(&bytes).await {
            return format!("sending to the peer failed: {e}");
        }
        if let Frame::Abort { reason } = &frame {
            let _ = stream.finish();
            let _ = stream.stopped().await;
            conn.close(VarInt::from_u32(CLOSE_NORMAL), reason.as_bytes());
            return format!("session aborted: {reason}");
        }
    }
    "the node is shutting down".into()
}

/// Runs a session over `conn` until the link drops, the session ends or `cancel` fires.
/// Returns why it ended.
///
/// A link that has carried no packet at all for `stall_after` is closed (and, for a
/// child, redialled) rather than left to QUIC: while a rural link is down, QUIC's
/// probe timeout doubles with each lost probe, so after a 30-second blackout the next
/// probe may come only after the link has gone down again. A fresh handshake starts
/// from the initial RTT. Keep-alives guarantee traffic on a live link, so silence
/// means the link is down; at most the batch in flight is lost (each is durable on
/// arrival).
pub async fn drive(
    conn: Connection,
    role: Role,
    peer: PeerIdentity,
    handle: LedgerHandle,
    stall_after: std::time::Duration,
    cancel: CancellationToken,
) -> String {
    let (tx, rx) = mpsc::unbounded_channel();
    let session = match handle.open_session(role, peer.clone(), tx).await {
        Ok(Ok(id)) => id,
        Ok(Err(reason)) => {
            // The actor queued an Abort: deliver it, then close.
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                write_all(conn.clone(), rx),
            )
            .await;
            conn.close(VarInt::from_u32(CLOSE_NORMAL), reason.as_bytes());
            return reason;
        }
        Err(_) => return "the node is shutting down".into(),
    };
    let span = tracing::info_span!("link", peer = %peer);
    let _enter = span.enter();
    tracing::info!(?role, "session started");
    drop(_enter);
    let report = {
        let conn = conn.clone();
        let handle = handle.clone();
        async move {
            let mut every = tokio::time::interval(std::time::Duration::from_millis(500));
            let mut ticks = 0u64;
            let mut last_rx = conn.stats().udp_rx.datagrams;
            let mut heard = tokio::time::Instant::now();
            loop {
                every.tick().await;
                ticks += 1;
                let stats = conn.stats();
                if stats.udp_rx.datagrams != last_rx {
                    last_rx = stats.udp_rx.datagrams;
                    heard = tokio::time::Instant::now();
                } else if heard.elapsed() >= stall_after {
                    return format!(
                        "no packet from the peer for {} s (the link is down); reconnecting",
                        stall_after.as_secs()
                    );
                }
                if ticks.is_multiple_of(4) {
                    handle.traffic(session, stats.udp_rx.bytes, stats.udp_tx.bytes);
                }
            }
        }
    };
    let reason = tokio::select! {
        r = report => {
            conn.close(VarInt::from_u32(CLOSE_NORMAL), r.as_bytes());
            r
        }
        r = read_all(conn.clone(), session, handle.clone()) => r,
        r = write_all(conn.clone(), rx) => r,
        e = conn.closed() => crate::sync::tls::explain_handshake_failure(&e),
        _ = cancel.cancelled() => {
            conn.close(VarInt::from_u32(CLOSE_NORMAL), b"node shutting down");
            "this node is shutting down".into()
        }
    };
    let stats = conn.stats();
    handle.closed(
        session,
        reason.clone(),
        stats.udp_rx.bytes,
        stats.udp_tx.bytes,
    );
    reason
}
