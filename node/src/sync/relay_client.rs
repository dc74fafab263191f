//! The node's side of the relay (`[sync] relay = "HOST:PORT"`): every `relay_poll`
//! it collects the bundles addressed to its unit, applies them ([`crate::sync::bundle`]) and
//! leaves the signed acknowledgement for their sender; it applies acknowledgements
//! left for it; and once the parent has been out of reach for `relay_after`, it seals
//! the changes the parent lacks into a bundle and leaves it at the relay — again only
//! when there is something new since the last one.
//!
//! Also the relay protocol's framing over QUIC streams ([`read_frame`],
//! [`write_frame`], [`request`]), used by the relay server too.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use halfsky_shared::relay_wire::{ItemId, RelayFrame, RelayFrameError, MAX_FETCH};
use halfsky_shared::OrgCode;
use quinn::{Connection, RecvStream, SendStream};
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::ledger::actor::LedgerHandle;
use crate::sync::bundle::{self, Keys, Received};
use crate::sync::status::StatusStore;
use crate::sync::tls;

/// Why a relay frame could not be read or written. Its own type, not a string, so
/// the relay server can tell a broken link from a peer that speaks nonsense.
#[derive(Debug, thiserror::Error)]
pub enum FrameIoError {
    /// The QUIC stream failed while reading (link lost, peer reset the stream).
    #[error("reading from the relay link: {0}")]
    Read(#[from] quinn::ReadExactError),
    /// The QUIC stream failed while writing.
    #[error("writing to the relay link: {0}")]
    Write(#[from] quinn::WriteError),
    /// The frame itself is malformed or over the size cap.
    #[error("a bad relay frame: {0}")]
    Frame(#[from] RelayFrameError),
}

/// Reads one relay frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame(recv: &mut RecvStream) -> Result<Option<RelayFrame>, FrameIoError> {
    let mut prefix = [0u8; 4];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = RelayFrame::body_len(prefix)?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await?;
    Ok(Some(RelayFrame::decode_body(&body)?))
}

/// Writes one relay frame.
pub async fn write_frame(send: &mut SendStream, frame: &RelayFrame) -> Result<(), FrameIoError> {
    let bytes = frame.encode()?;
    send.write_all(&bytes).await?;
    Ok(())
}

/// Sends one request on a new stream and reads every answer frame.
pub async fn request(conn: &Connection, frame: &RelayFrame) -> Result<Vec<RelayFrame>, String> {
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| format!("the relay link failed: {e}"))?;
    write_frame(&mut send, frame)
        .await
        .map_err(|e| e.to_string())?;
    send.finish()
        .map_err(|e| format!("the relay link failed: {e}"))?;
    let mut answers = Vec::new();
    while let Some(f) = read_frame(&mut recv).await.map_err(|e| e.to_string())? {
        answers.push(f);
        if answers.len() > MAX_FETCH as usize + 2 {
            return Err("the relay sent more frames than asked for".into());
        }
    }
    Ok(answers)
}

fn refused(answers: &[RelayFrame]) -> String {
    match answers.first() {
        Some(RelayFrame::Refused { reason }) => format!("the relay refused: {reason}"),
        other => format!("unexpected answer from the relay: {other:?}"),
    }
}

/// Leaves a sealed bundle at the relay; returns its id once the relay has it durably.
pub async fn deposit(
    conn: &Connection,
    recipient: OrgCode,
    replace: bool,
    bundle: Vec<u8>,
) -> Result<ItemId, String> {
    let answers = request(
        conn,
        &RelayFrame::Deposit {
            recipient,
            replace,
            bundle,
        },
    )
    .await?;
    match answers.as_slice() {
        [RelayFrame::Deposited { id }] => Ok(*id),
        other => Err(refused(other)),
    }
}

/// Bundles waiting for this node's unit: `(id, sender, bundle)`, and how many more.
pub async fn fetch(conn: &Connection) -> Result<(Vec<(ItemId, OrgCode, Vec<u8>)>, u32), String> {
    let answers = request(conn, &RelayFrame::Fetch { limit: MAX_FETCH }).await?;
    let mut items = Vec::new();
    for f in answers {
        match f {
            RelayFrame::Item { id, sender, bundle } => items.push((id, sender, bundle)),
            RelayFrame::End { remaining } => return Ok((items, remaining)),
            other => return Err(refused(&[other])),
        }
    }
    Err("the relay's answer ended without End".into())
}

/// Removes an item from this unit's mailbox.
pub async fn delete(conn: &Connection, id: ItemId) -> Result<(), String> {
    match request(conn, &RelayFrame::Delete { id }).await?.as_slice() {
        [RelayFrame::Deleted { .. }] => Ok(()),
        other => Err(refused(other)),
    }
}

/// The certificate the relay last saw from a device of `org`.
pub async fn cert_of(conn: &Connection, org: OrgCode) -> Result<Option<Vec<u8>>, String> {
    match request(conn, &RelayFrame::CertOf { org }).await?.as_slice() {
        [RelayFrame::Cert { cert, .. }] => Ok(cert.clone()),
        other => Err(refused(other)),
    }
}

/// What the relay loop needs.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// `host:port` of the relay.
    pub addr: String,
    /// Deposit for the parent after it has been out of reach this long.
    pub after: Duration,
    /// Visit the relay this often.
    pub poll: Duration,
}

/// Visits the relay every `poll` (±30 %) until cancelled.
pub async fn relay_loop(
    endpoint: quinn::Endpoint,
    client: quinn::ClientConfig,
    home: PathBuf,
    settings: RelaySettings,
    handle: LedgerHandle,
    cancel: CancellationToken,
) {
    let mut last_parent_up = Instant::now();
    let started = crate::sync::status::now_text();
    loop {
        // The saved link status (cheap; `status()` would also count pending changes).
        // A "connected" saved by an earlier run of this node (killed before it could
        // record the end of its link) does not count.
        let since = started.clone();
        let parent_up = handle
            .run(move |ledger| {
                if ledger.config().sync.parent.is_none() {
                    return true;
                }
                StatusStore::open(ledger.store().db())
                    .ok()
                    .and_then(|s| s.load().parent)
                    .is_some_and(|p| p.connected && p.connected_since.is_some_and(|t| t >= since))
            })
            .await;
        if parent_up.unwrap_or(true) {
            last_parent_up = Instant::now();
        }
        let parent_gone = last_parent_up.elapsed() >= settings.after;
        let visit = visit(&endpoint, &client, &home, &settings, &handle, parent_gone);
        let outcome = tokio::select! {
            r = visit => r,
            _ = cancel.cancelled() => return,
        };
        if let Err(reason) = &outcome {
            tracing::warn!(relay = %settings.addr, %reason, "relay visit failed");
        }
        record(&handle, outcome).await;
        let wait = settings.poll.mul_f64(rand::rng().random_range(0.7..1.3));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// What one visit did.
#[derive(Debug, Default)]
struct Visit {
    collected: u64,
    deposited: bool,
    /// A bundle refused (and removed) during the visit, and why.
    refused: Option<String>,
}

/// Keeps the outcome of a visit for `halfsky status`.
async fn record(handle: &LedgerHandle, outcome: Result<Visit, String>) {
    let _ = handle
        .run(move |ledger| {
            let Ok(status) = StatusStore::open(ledger.store().db()) else {
                return;
            };
            let mut relay = status.relay_status().unwrap_or_default();
            let now = crate::sync::status::now_text();
            match outcome {
                Ok(visit) => {
                    relay.last_visit = Some(now.clone());
                    relay.last_error = visit.refused;
                    relay.collected += visit.collected;
                    if visit.deposited {
                        relay.last_deposit = Some(now);
                    }
                }
                Err(reason) => relay.last_error = Some(reason),
            }
            status.set_relay_status(&relay);
        })
        .await;
}

/// One visit: connect, collect and acknowledge, deposit if the parent is gone.
async fn visit(
    endpoint: &quinn::Endpoint,
    client: &quinn::ClientConfig,
    home: &std::path::Path,
    settings: &RelaySettings,
    handle: &LedgerHandle,
    parent_gone: bool,
) -> Result<Visit, String> {
    let addr = tokio::net::lookup_host(&settings.addr)
        .await
        .map_err(|e| format!("cannot resolve the relay's address {}: {e}", settings.addr))?
        .next()
        .ok_or_else(|| format!("the relay's address {} resolves to nothing", settings.addr))?;
    let conn = endpoint
        .connect_with(client.clone(), addr, &tls::server_name(&settings.addr))
        .map_err(|e| format!("cannot dial the relay: {e}"))?
        .await
        .map_err(|e| crate::sync::tls::explain_handshake_failure(&e))?;
    let result = exchange(&conn, home, handle, parent_gone).await;
    conn.close(quinn::VarInt::from_u32(0), b"done");
    result
}

async fn exchange(
    conn: &Connection,
    home: &std::path::Path,
    handle: &LedgerHandle,
    parent_gone: bool,
) -> Result<Visit, String> {
    let keys = Keys::load(home).map_err(|e| e.to_string())?;
    let mut visit = Visit::default();
    // Collect everything waiting for this unit.
    loop {
        let (items, remaining) = fetch(conn).await?;
        let fetched = items.len();
        for (id, sender, bytes) in items {
            let k = keys.clone();
            let label = format!("relay item from {sender}");
            let received = handle
                .run(move |ledger| {
                    bundle::receive(
                        ledger,
                        &k,
                        &bytes,
                        None,
                        &label,
                        crate::sync::freshness::ArrivalPath::Relay,
                    )
                })
                .await
                .map_err(|e| e.to_string())?;
            match received {
                Ok(Received::Changes {
                    sender,
                    changes,
                    ack,
                    ..
                }) => {
                    tracing::info!(%sender, changes, "applied a bundle from the relay");
                    deposit(conn, sender.org, true, ack).await?;
                }
                Ok(Received::Ack {
                    sender,
                    documents,
                    received,
                }) => {
                    tracing::info!(%sender, documents, received, "applied an acknowledgement from the relay");
                }
                Err(bundle::BundleError::Ledger(e)) => {
                    // Our own store failed: keep the item for the next visit.
                    return Err(format!("cannot apply a bundle from {sender}: {e}"));
                }
                Err(e) => {
                    tracing::warn!(%sender, reason = %e, "refused a bundle at the relay; removing it");
                    visit.refused = Some(format!("refused a bundle from {sender}: {e}"));
                }
            }
            delete(conn, id).await?;
            visit.collected += 1;
        }
        if remaining == 0 || fetched == 0 {
            break;
        }
    }
    if parent_gone {
        visit.deposited = deposit_for_parent(conn, home, handle, keys).await?;
    }
    Ok(visit)
}

/// Seals what the parent lacks and leaves it at the relay, unless nothing is new
/// since the last deposit. True if a bundle was left.
async fn deposit_for_parent(
    conn: &Connection,
    home: &std::path::Path,
    handle: &LedgerHandle,
    keys: Keys,
) -> Result<bool, String> {
    let Some(parent) = keys.org.parent() else {
        return Ok(false);
    };
    let path = bundle::peer_cert_path(home, &parent);
    let cert = match bundle::read_cert_file(&path) {
        Ok(c) => c,
        Err(_) => match cert_of(conn, parent).await? {
            Some(c) => {
                // Checked against the CA before it is kept or used.
                bundle::check_cert(&keys.ca_der, &c, "parent's").map_err(|e| e.to_string())?;
                bundle::save_peer_cert(home, &parent, &c)
                    .map_err(|e| format!("cannot keep the parent's certificate: {e}"))?;
                c
            }
            None => {
                return Err(format!(
                    "no certificate of the parent {parent} yet (it has not reached the relay or this node); cannot seal for it"
                ))
            }
        },
    };
    let sealed = handle
        .run(move |ledger| {
            let status = StatusStore::open(ledger.store().db()).map_err(|e| e.to_string())?;
            let docs = bundle::outgoing(ledger, &status, parent).map_err(|e| e.to_string())?;
            let nothing_new = docs.iter().all(|(org, _, heads)| {
                let mut a = status.relayed(org);
                let mut b = heads.clone();
                a.sort();
                b.sort();
                a == b
            });
            if nothing_new {
                return Ok(None);
            }
            bundle::seal_changes(ledger, &keys, parent, &cert, bundle::DEFAULT_TTL_SECS)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
    let Some(sealed) = sealed else {
        return Ok(false);
    };
    let heads = sealed.heads.clone();
    deposit(conn, parent, true, sealed.bytes).await?;
    handle
        .run(move |ledger| bundle::mark_sent(ledger, &heads, true))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    tracing::info!(%parent, changes = sealed.changes, documents = sealed.documents, "left a bundle for the parent at the relay");
    Ok(true)
}
