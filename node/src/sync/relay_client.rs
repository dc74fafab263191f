//! The node's side of the relay (`[sync] relay = "HOST:PORT"`): every `relay_poll`
//! it collects the bundles addressed to its unit, applies them ([`crate::sync::bundle`]) and
//! leaves the signed acknowledgement (naming any refusals) for their sender; it applies acknowledgements
//! left for it; and once the parent has been out of reach for `relay_after`, it seals
//! the changes the parent lacks into a bundle and leaves it at the relay — again only
//! when there is something new since the last one, or when the last one is still
//! unacknowledged after `[relay] redeposit_after`. Items it cannot open (sealed to
//! another device of its unit) stay at the relay for their recipient. It also hands
//! the relay the CA's revocations it holds, so the relay refuses those devices.
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
use crate::sync::status::{StatusError, StatusStore, StoredStatus};
use crate::sync::tls;

/// Why a relay frame could not be read or written. Its own type, not a string, so
/// the relay server can tell a broken link from a peer that speaks nonsense.
#[derive(Debug, thiserror::Error)]
pub enum FrameIoError {
    /// Reading failed: the link was lost, the stream reset, or a length prefix is over
    /// the cap.
    #[error("reading from the relay link: {0}")]
    Read(#[from] crate::sync::frames::FrameReadError),
    /// The QUIC stream failed while writing.
    #[error("writing to the relay link: {0}")]
    Write(#[from] quinn::WriteError),
    /// The frame itself is malformed or over the size cap.
    #[error("a bad relay frame: {0}")]
    Frame(#[from] RelayFrameError),
}

/// Reads one relay frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame(recv: &mut RecvStream) -> Result<Option<RelayFrame>, FrameIoError> {
    let Some(body) = crate::sync::frames::read_body(recv, RelayFrame::body_len).await? else {
        return Ok(None);
    };
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

/// Bundles waiting for this node's unit, leaving out `except` (items this device
/// cannot open): `(id, sender, bundle)`, and how many more.
pub async fn fetch(
    conn: &Connection,
    except: &[ItemId],
) -> Result<(Vec<(ItemId, OrgCode, Vec<u8>)>, u32), String> {
    let frame = if except.is_empty() {
        RelayFrame::Fetch { limit: MAX_FETCH }
    } else {
        RelayFrame::FetchExcept {
            limit: MAX_FETCH,
            except: except.to_vec(),
        }
    };
    let answers = request(conn, &frame).await?;
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

/// Hands the relay the revocations this node holds (signed by the CA; the relay checks
/// them itself), so that it refuses those devices too. Returns how many it holds.
pub async fn push_revocations(conn: &Connection, signed: Vec<Vec<u8>>) -> Result<u32, String> {
    match request(conn, &RelayFrame::Revocations { signed })
        .await?
        .as_slice()
    {
        [RelayFrame::RevocationsHeld { count }] => Ok(*count),
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
    // Items this device cannot open (sealed to another device of its unit): left at
    // the relay for their recipient, and not fetched again.
    let mut unopenable: Vec<ItemId> = Vec::new();
    loop {
        // The saved link status (cheap; `status()` would also count pending changes).
        // A "connected" saved by an earlier run of this node (killed before it could
        // record the end of its link) does not count.
        let since = started.clone();
        let parent_up = handle
            .run(move |ledger| {
                if ledger.config().sync.parent.is_none() {
                    return Ok(true);
                }
                StatusStore::new(ledger.store().clone())
                    .load()
                    .map(|stored| parent_up_since(&stored, &since))
            })
            .await;
        match parent_up {
            // The node is stopping: the cancellation below ends the loop.
            Err(_) | Ok(Ok(true)) => last_parent_up = Instant::now(),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot tell whether the parent is reachable; counting it as not")
            }
        }
        let parent_gone = last_parent_up.elapsed() >= settings.after;
        let visit = visit(
            &endpoint,
            &client,
            &home,
            &settings,
            &handle,
            parent_gone,
            &mut unopenable,
        );
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

/// Whether the saved status says the parent link came up in this run of the node
/// (started at `since`): a "connected" saved by an earlier run, killed before it could
/// record the end of its link, does not count.
fn parent_up_since(stored: &StoredStatus, since: &str) -> bool {
    stored
        .parent
        .as_ref()
        .is_some_and(|p| p.connected && p.connected_since.as_deref().is_some_and(|t| t >= since))
}

/// Adds the outcome of a visit, at `now`, to the relay's recorded status.
fn note_visit(
    status: &StatusStore,
    outcome: Result<Visit, String>,
    now: String,
) -> Result<(), StatusError> {
    let mut relay = status.relay_status()?.unwrap_or_default();
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
    status.set_relay_status(&relay)
}

/// True if every document of `docs` is at the heads last sealed for the relay: a new
/// deposit would carry nothing the last one did not.
fn nothing_new(status: &StatusStore, docs: &[bundle::OutgoingDoc]) -> Result<bool, StatusError> {
    for (org, _, heads) in docs {
        let mut sealed = status.relayed(org)?;
        let mut now = heads.clone();
        sealed.sort();
        now.sort();
        if sealed != now {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Keeps the outcome of a visit for `halfsky status`.
async fn record(handle: &LedgerHandle, outcome: Result<Visit, String>) {
    let noted = handle
        .run(move |ledger| {
            let status = StatusStore::new(ledger.store().clone());
            note_visit(&status, outcome, crate::sync::status::now_text())
        })
        .await;
    if let Ok(Err(e)) = noted {
        tracing::warn!(error = %e, "cannot record the relay visit");
    }
}

/// One visit: connect, collect and acknowledge, deposit if the parent is gone.
async fn visit(
    endpoint: &quinn::Endpoint,
    client: &quinn::ClientConfig,
    home: &std::path::Path,
    settings: &RelaySettings,
    handle: &LedgerHandle,
    parent_gone: bool,
    unopenable: &mut Vec<ItemId>,
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
    let result = exchange(&conn, home, handle, parent_gone, unopenable).await;
    conn.close(quinn::VarInt::from_u32(0), b"done");
    result
}

async fn exchange(
    conn: &Connection,
    home: &std::path::Path,
    handle: &LedgerHandle,
    parent_gone: bool,
    unopenable: &mut Vec<ItemId>,
) -> Result<Visit, String> {
    let keys = Keys::load(home).map_err(|e| e.to_string())?;
    let mut visit = Visit::default();
    tell_revocations(conn, handle).await;
    // Collect everything waiting for this unit.
    loop {
        let (items, remaining) = fetch(conn, unopenable).await?;
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
                    refused,
                    ..
                }) => {
                    tracing::info!(%sender, changes, refused = refused.len(), "applied a bundle from the relay");
                    // A newer acknowledgement covers an older one's heads, so it
                    // replaces it at the relay; one that names refusals is never
                    // replaced (the sender would not hear of them).
                    deposit(conn, sender.org, refused.is_empty(), ack).await?;
                }
                Ok(Received::Ack {
                    sender,
                    documents,
                    received,
                    refused,
                    refused_by_peer,
                }) => {
                    tracing::info!(%sender, documents, received, refused = refused.len(), refused_by_peer, "applied an acknowledgement from the relay");
                }
                Err(e @ (bundle::BundleError::Ledger(_) | bundle::BundleError::Status(_))) => {
                    // Our own store failed: keep the item for the next visit.
                    return Err(format!("cannot apply a bundle from {sender}: {e}"));
                }
                Err(bundle::BundleError::Format(halfsky_shared::bundle::BundleError::Tampered)) => {
                    // Sealed to another device of this unit (or damaged on the way):
                    // not this device's to remove. It stays for its recipient until
                    // it expires at the relay.
                    tracing::info!(%sender, "left a relay item this device cannot open for its recipient");
                    if unopenable.len() >= halfsky_shared::relay_wire::MAX_EXCEPT {
                        unopenable.remove(0);
                    }
                    unopenable.push(id);
                    continue;
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

/// Gives the relay the revocations this node holds (a failure is only logged: the
/// visit goes on, and the next one tries again).
async fn tell_revocations(conn: &Connection, handle: &LedgerHandle) {
    let held = handle
        .run(|ledger| crate::pki::revocation::held(ledger).map_err(|e| e.to_string()))
        .await;
    let signed: Vec<Vec<u8>> = match held {
        Ok(Ok(list)) => list.into_iter().map(|(_, s)| s.to_bytes()).collect(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the revocation list for the relay");
            return;
        }
        Err(_) => return,
    };
    if signed.is_empty() {
        return;
    }
    let signed: Vec<Vec<u8>> = signed
        .into_iter()
        .take(halfsky_shared::relay_wire::MAX_REVOCATIONS)
        .collect();
    match push_revocations(conn, signed).await {
        Ok(count) => tracing::debug!(count, "the relay holds the revocations"),
        Err(e) => tracing::warn!(error = %e, "cannot give the relay the revocation list"),
    }
}

/// True if the last bundle left at the relay is older than `after`: with the parent
/// still lacking its changes, it is left again (it may have been lost at the relay).
fn due_again(status: &StatusStore, after: Duration) -> Result<bool, StatusError> {
    let last = status.relay_status()?.and_then(|r| r.last_deposit);
    let Some(last) = last.and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok()) else {
        return Ok(true);
    };
    let age = chrono::Utc::now().signed_duration_since(last);
    Ok(age.to_std().is_ok_and(|age| age >= after))
}

/// Seals what the parent lacks and leaves it at the relay, unless nothing is new
/// since the last deposit and that deposit is younger than `[relay]
/// redeposit_after`. True if a bundle was left.
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
                // Checked before it is kept or used: from the deployment's CA, a node
                // certificate (never the relay's own), of exactly the parent's unit.
                check_parent_cert(&keys.ca_der, &c, parent)?;
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
            let status = StatusStore::new(ledger.store().clone());
            let docs = bundle::outgoing(ledger, &status, parent).map_err(|e| e.to_string())?;
            let again = ledger.config().relay.redeposit_after;
            if nothing_new(&status, &docs).map_err(|e| e.to_string())?
                && !due_again(&status, again).map_err(|e| e.to_string())?
            {
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

/// Checks a certificate the relay handed over as the parent's: issued by the
/// deployment's CA, valid now, a node certificate (a relay certificate names no unit
/// and is refused), and of exactly `parent`'s unit, not a unit above or beside it.
pub fn check_parent_cert(ca_der: &[u8], cert: &[u8], parent: OrgCode) -> Result<(), String> {
    let (identity, _) = bundle::check_cert(ca_der, cert, "parent's").map_err(|e| e.to_string())?;
    if identity.org != parent {
        return Err(format!(
            "the relay handed over a certificate of {identity} as that of the parent {parent}; it is not kept (seal to the parent after this node has reached it once, or copy its node.pem here)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use automerge::ChangeHash;

    use super::*;
    use crate::store::{MemoryStore, Storage};
    use crate::sync::status::ParentStatus;

    fn status() -> StatusStore {
        StatusStore::new(Arc::new(MemoryStore::new()))
    }

    #[test]
    fn only_a_link_of_this_run_counts_as_up() {
        let mut stored = StoredStatus::default();
        assert!(!parent_up_since(&stored, "2026-01-02T00:00:00Z"));
        stored.parent = Some(ParentStatus {
            connected: true,
            connected_since: Some("2026-01-01T23:00:00Z".into()),
            ..ParentStatus::default()
        });
        assert!(
            !parent_up_since(&stored, "2026-01-02T00:00:00Z"),
            "an earlier run's link"
        );
        assert!(parent_up_since(&stored, "2026-01-01T22:00:00Z"));
        stored.parent.as_mut().unwrap().connected = false;
        assert!(!parent_up_since(&stored, "2026-01-01T22:00:00Z"));
    }

    #[test]
    fn visits_add_up_in_the_relay_status() {
        let status = status();
        let visit = Visit {
            collected: 2,
            deposited: true,
            refused: None,
        };
        note_visit(&status, Ok(visit), "T1".into()).unwrap();
        note_visit(&status, Err("relay unreachable".into()), "T2".into()).unwrap();
        let relay = status.relay_status().unwrap().unwrap();
        assert_eq!(relay.collected, 2);
        assert_eq!(relay.last_visit.as_deref(), Some("T1"));
        assert_eq!(relay.last_deposit.as_deref(), Some("T1"));
        assert_eq!(relay.last_error.as_deref(), Some("relay unreachable"));
        let visit = Visit {
            collected: 1,
            deposited: false,
            refused: Some("refused a bundle".into()),
        };
        note_visit(&status, Ok(visit), "T3".into()).unwrap();
        let relay = status.relay_status().unwrap().unwrap();
        assert_eq!(relay.collected, 3);
        assert_eq!(relay.last_visit.as_deref(), Some("T3"));
        assert_eq!(
            relay.last_deposit.as_deref(),
            Some("T1"),
            "no deposit this time"
        );
        assert_eq!(relay.last_error.as_deref(), Some("refused a bundle"));
    }

    #[test]
    fn a_deposit_is_new_until_its_heads_are_marked_relayed() {
        let status = status();
        let org = OrgCode::parse("230129100201").unwrap();
        let (a, b) = (ChangeHash([1; 32]), ChangeHash([2; 32]));
        let docs = vec![(org, vec![ChangeHash([3; 32])], vec![b, a])];
        assert!(!nothing_new(&status, &docs).unwrap());
        status.set_relayed(&org, &[a, b]).unwrap();
        assert!(
            nothing_new(&status, &docs).unwrap(),
            "same heads in another order"
        );
        let docs = vec![(org, vec![], vec![a])];
        assert!(!nothing_new(&status, &docs).unwrap());
    }

    #[test]
    fn an_unreadable_record_is_not_taken_for_nothing_new() {
        let store = Arc::new(MemoryStore::new());
        let status = StatusStore::new(store.clone());
        let org = OrgCode::parse("230129100201").unwrap();
        store
            .insert(
                crate::store::Table::Status,
                format!("relayed/{org}").as_bytes(),
                b"torn",
            )
            .unwrap();
        let docs = vec![(org, vec![], vec![ChangeHash([1; 32])])];
        assert!(nothing_new(&status, &docs).is_err());
    }

    #[test]
    fn the_server_name_is_the_host_without_port_or_brackets() {
        assert_eq!(tls::server_name("relay.example:4433"), "relay.example");
        assert_eq!(tls::server_name("[::1]:4433"), "::1");
        assert_eq!(tls::server_name("relay"), "relay");
    }
}
