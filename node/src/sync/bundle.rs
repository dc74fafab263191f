//! Bundles at the node: sealing the changes the parent lacks (as far as this node
//! knows), opening bundles from children, applying them through the same path as sync
//! ([`Ledger::apply_changes`]) and acknowledging them. The format itself is
//! [`halfsky_shared::bundle`]; the relay and `halfsky bundle` both come through here.
//!
//! Authorization is that of live sync: a bundle of changes is accepted only from a
//! unit below this one, only for documents of the sender's own subtree, and only if
//! the sender's certificate chains to this deployment's CA. An acknowledgement is
//! accepted only from this node's parent unit.
//!
//! Peer certificates: whenever a node connects to its parent it keeps the parent's
//! certificate in `peers/<ORG>.pem` in its home; sealing to the parent needs it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use automerge::ChangeHash;
use halfsky_shared::bundle::{self as format, Contents, DocChanges, DocHeads, Sender};
use halfsky_shared::OrgCode;
use rand::Rng;

pub use certs::{
    check_cert, peer_cert_path, read_cert_file, save_peer_cert, write_atomic, PEERS_DIR,
};

use crate::ledger::trust::{Door, Origin, RefusalRecord};
use crate::ledger::{Ledger, LedgerError};
use crate::pki::{self, PeerIdentity, PkiError};
use crate::sync::freshness::ArrivalPath;

mod certs;
use crate::sync::status::{StatusError, StatusStore};

/// How long a bundle stays valid unless told otherwise: 30 days.
pub const DEFAULT_TTL_SECS: i64 = 30 * 24 * 60 * 60;

/// Why a bundle could not be made, opened or applied. Nothing was changed when one
/// of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundle itself is refused (damaged, tampered, wrong recipient, expired…).
    #[error(transparent)]
    Format(#[from] format::BundleError),
    /// This node's certificate or key.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The link status records (acknowledged and sent heads) failed.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// A file could not be read or written.
    #[error("cannot {op} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No certificate of the recipient to seal to.
    #[error("no certificate of unit {org} to seal the bundle to ({} does not exist): let this node connect to {org} once, or copy {org}'s node.pem here and pass --to-cert FILE", .path.display())]
    NoRecipientCert {
        /// The recipient.
        org: OrgCode,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A certificate that is not from this deployment or not valid now.
    #[error("the {what} certificate is refused: {reason}")]
    Cert {
        /// Whose certificate ("sender's", "recipient's").
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The sender may not write what the bundle carries, or the pairing is wrong.
    #[error("refused: {0}")]
    NotAllowed(String),
    /// The sender or recipient device was revoked by the CA.
    #[error("refused: {0}")]
    Revoked(String),
    /// Admission refused some of the bundle's documents; the rest was applied (and,
    /// for a bundle of changes, acknowledged).
    #[error("the bundle was applied except:\n{}\nthe refusals are recorded: see `halfsky status`", .0.iter().map(|r| format!("  - {r}")).collect::<Vec<_>>().join("\n"))]
    PartlyRefused(Vec<String>),
    /// Nothing to put in a bundle.
    #[error("nothing to send: unit {0} has acknowledged every change of this node's subtree")]
    NothingToSend(OrgCode),
    /// A bundle of the wrong kind for the command.
    #[error("{path} holds {found}, not {wanted}; use `halfsky bundle {command}` for it")]
    WrongKind {
        /// The file.
        path: String,
        /// What it holds.
        found: &'static str,
        /// What the command expects.
        wanted: &'static str,
        /// The right command.
        command: &'static str,
    },
}

/// This node's keys, as bundles need them.
#[derive(Clone)]
pub struct Keys {
    /// This node's unit.
    pub org: OrgCode,
    /// `node.pem`, DER.
    pub cert_der: Vec<u8>,
    key_pkcs8: Vec<u8>,
    /// `ca.pem`, DER: the deployment's CA.
    pub ca_der: Vec<u8>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Loads and checks this node's certificate, key and CA from its home.
    pub fn load(home: &Path) -> Result<Keys, PkiError> {
        let id = pki::load_node_identity(home)?;
        Ok(Keys {
            org: id.identity.org,
            cert_der: id.chain[0].to_vec(),
            key_pkcs8: id.key.secret_der().to_vec(),
            ca_der: id.ca.to_vec(),
        })
    }

    fn sender(&self) -> Sender<'_> {
        Sender {
            org: self.org,
            cert_der: &self.cert_der,
            key_pkcs8: &self.key_pkcs8,
        }
    }
}

/// What went into a sealed bundle.
#[derive(Debug, Clone)]
pub struct SealedBundle {
    /// The bundle.
    pub bytes: Vec<u8>,
    /// Documents in it.
    pub documents: usize,
    /// Changes in it.
    pub changes: usize,
    /// Heads of each document it carries up to.
    pub heads: Vec<(OrgCode, Vec<ChangeHash>)>,
}

/// One document's changes for a bundle: (document, hashes of the changes, heads they
/// lead to).
pub type OutgoingDoc = (OrgCode, Vec<ChangeHash>, Vec<ChangeHash>);

/// The changes of this node's subtree that `recipient` lacks as far as this node
/// knows: after the parent's acknowledged heads if `recipient` is the parent, else all.
pub fn outgoing(
    ledger: &mut Ledger,
    status: &StatusStore,
    recipient: OrgCode,
) -> Result<Vec<OutgoingDoc>, BundleError> {
    let me = ledger.config().org;
    ledger.attest_before_sending()?;
    let is_parent = me.parent() == Some(recipient);
    let mut out = Vec::new();
    for org in ledger.documents()? {
        if !org.is_in_subtree_of(&me) {
            continue;
        }
        let acked = if is_parent {
            status.acked(&org)?
        } else {
            Vec::new()
        };
        let mut heads = ledger.stored_heads(&org)?;
        let mut sorted = acked.clone();
        heads.sort();
        sorted.sort();
        if heads == sorted {
            continue;
        }
        let (changes, heads) = ledger.with_automerge(org, |doc| {
            let known = acked.iter().all(|h| doc.get_change_by_hash(h).is_some());
            let since: &[ChangeHash] = if known { &acked } else { &[] };
            let changes: Vec<ChangeHash> =
                doc.get_changes_meta(since).iter().map(|c| c.hash).collect();
            (changes, doc.get_heads())
        })?;
        if !changes.is_empty() {
            out.push((org, changes, heads));
        }
    }
    Ok(out)
}

/// Seals what `recipient` lacks into a bundle, valid for `ttl_secs`. `None` if there
/// is nothing to send.
pub fn seal_changes(
    ledger: &mut Ledger,
    keys: &Keys,
    recipient: OrgCode,
    recipient_cert: &[u8],
    ttl_secs: i64,
) -> Result<Option<SealedBundle>, BundleError> {
    let me = ledger.config().org;
    if recipient == me || !me.is_in_subtree_of(&recipient) {
        return Err(BundleError::NotAllowed(format!(
            "{recipient} is not above {me}: bundles of changes go to a unit above this one (normally the parent, {})",
            me.parent().map(|p| p.to_string()).unwrap_or_else(|| "none".into())
        )));
    }
    let (identity, public) = check_cert(&keys.ca_der, recipient_cert, "recipient's")?;
    if identity.org != recipient {
        return Err(BundleError::Cert {
            what: "recipient's",
            reason: format!("it belongs to {identity}, not to unit {recipient}"),
        });
    }
    // Never seal to a lost or stolen device's key.
    refuse_revoked(ledger, &identity, "the recipient's certificate is of a revoked device; seal to the unit's new device (connect to it once, or pass --to-cert)")?;
    let status = StatusStore::new(ledger.store().clone());
    let docs = outgoing(ledger, &status, recipient)?;
    if docs.is_empty() {
        return Ok(None);
    }
    let changes = docs.iter().map(|(_, c, _)| c.len()).sum();
    let heads = docs.iter().map(|(o, _, h)| (*o, h.clone())).collect();
    let documents = docs.len();
    let mut held = Vec::new();
    for ancestor in me.ancestors() {
        let heads = ledger.stored_heads(&ancestor)?;
        held.push((ancestor, heads.iter().map(|h| h.0).collect()));
    }
    // Each document's changes as one Automerge bundle: about a quarter of the bytes.
    let mut packed = Vec::with_capacity(docs.len());
    for (org, hashes, _) in docs {
        let bundle = ledger
            .with_automerge(org, |doc| {
                halfsky_shared::change_bundle::encode(doc.document(), &hashes)
            })?
            .map_err(|e| format::BundleError::Malformed(format!("document {org}: {e}")))?;
        packed.push((org, bundle));
    }
    let contents = Contents::Packed { docs: packed, held };
    let bytes = seal(keys, recipient, &public, &contents, ttl_secs)?;
    Ok(Some(SealedBundle {
        bytes,
        documents,
        changes,
        heads,
    }))
}

fn seal(
    keys: &Keys,
    recipient: OrgCode,
    public: &[u8],
    contents: &Contents,
    ttl_secs: i64,
) -> Result<Vec<u8>, BundleError> {
    let now = chrono::Utc::now().timestamp();
    // A random 32-byte string is a valid P-256 scalar except with negligible
    // probability; draw again in that case.
    let mut last = None;
    for _ in 0..8 {
        let seed: [u8; 32] = rand::rng().random();
        match format::seal(
            keys.sender(),
            recipient,
            public,
            contents,
            now,
            now.saturating_add(ttl_secs),
            seed,
        ) {
            Err(e @ format::BundleError::Key(_)) => last = Some(e),
            other => return Ok(other?),
        }
    }
    Err(last.expect("the loop ran").into())
}

/// What applying a bundle did.
#[derive(Debug, Clone)]
pub enum Received {
    /// Changes from a unit below, applied.
    Changes {
        /// The sender.
        sender: PeerIdentity,
        /// Documents in the bundle.
        documents: usize,
        /// Changes in the bundle.
        changes: usize,
        /// Documents that actually changed here (0 if it was applied before).
        changed: usize,
        /// The acknowledgement, sealed to the sender.
        ack: Vec<u8>,
        /// Documents refused by admission, each with its reason (recorded and logged;
        /// the other documents were applied and acknowledged).
        refused: Vec<String>,
    },
    /// An acknowledgement from the parent, applied to the acknowledged heads, with
    /// the changes of this node's ancestors' documents it carried.
    Ack {
        /// The sender.
        sender: PeerIdentity,
        /// Documents acknowledged.
        documents: usize,
        /// Changes of ancestors' documents received with it.
        received: usize,
        /// Ancestors' documents refused by admission, each with its reason.
        refused: Vec<String>,
        /// Refusals of this node's changes the parent named (recorded as refusals by
        /// the peer: `halfsky status` shows them).
        refused_by_peer: usize,
    },
}

/// Opens, checks and applies a bundle (changes or acknowledgement) addressed to this
/// node. `expect`: refuse a bundle of the other kind ("changes" or "acknowledgement").
/// Applying one twice changes nothing.
pub fn receive(
    ledger: &mut Ledger,
    keys: &Keys,
    bytes: &[u8],
    expect: Option<&'static str>,
    source: &str,
    via: ArrivalPath,
) -> Result<Received, BundleError> {
    let me = ledger.config().org;
    let now = chrono::Utc::now().timestamp();
    let opened = format::open(bytes, me, &keys.key_pkcs8, now)?;
    let (sender, public) = check_cert(&keys.ca_der, &opened.sender_cert, "sender's")?;
    if sender.org != opened.header.sender {
        return Err(BundleError::NotAllowed(format!(
            "the bundle says it is from {} but is signed by {sender}",
            opened.header.sender
        )));
    }
    // A bundle that opens and verifies is contact with its sender, made when it was
    // sealed (capped at our clock), by the path it took.
    let sealed_at = opened.header.created;
    let contents = opened.verify(&public)?;
    refuse_revoked(ledger, &sender, "its bundles are refused")?;
    if let Some(wanted) = expect {
        if contents.kind() != wanted {
            return Err(BundleError::WrongKind {
                path: source.to_string(),
                found: if contents.kind() == "changes" {
                    "a bundle of changes"
                } else {
                    "an acknowledgement"
                },
                wanted: if wanted == "changes" {
                    "a bundle of changes"
                } else {
                    "an acknowledgement"
                },
                command: if contents.kind() == "changes" {
                    "import"
                } else {
                    "ack"
                },
            });
        }
    }
    let (docs, held) = match contents {
        // Packed documents open into their raw changes, within this node's caps,
        // before anything else looks at them.
        Contents::Packed { docs, held } => (open_packed(ledger, docs)?, held),
        Contents::Changes { docs, held } => (docs, held),
        Contents::Ack { heads, changes } => {
            return acknowledged(
                ledger,
                sender,
                (heads, changes, Vec::new()),
                sealed_at,
                (now, via),
            )
        }
        Contents::AckRefusing {
            heads,
            changes,
            refused,
        } => {
            return acknowledged(
                ledger,
                sender,
                (heads, changes, refused),
                sealed_at,
                (now, via),
            )
        }
    };
    received_changes(
        ledger,
        keys,
        (sender, public),
        (docs, held),
        sealed_at,
        (now, via),
    )
}

/// The raw changes of each packed document, decoded within this node's caps.
fn open_packed(ledger: &Ledger, docs: Vec<(OrgCode, Vec<u8>)>) -> Result<DocChanges, BundleError> {
    let caps = ledger.config().sync.admission;
    let mut opened = Vec::with_capacity(docs.len());
    for (org, bundle) in docs {
        let raw = halfsky_shared::change_bundle::decode(&bundle, &caps).map_err(|e| {
            format::BundleError::Malformed(format!("the changes of document {org}: {e}"))
        })?;
        opened.push((org, raw));
    }
    Ok(opened)
}

/// Applies a bundle of changes from a unit below, document by document, and seals
/// the acknowledgement to send back.
fn received_changes(
    ledger: &mut Ledger,
    keys: &Keys,
    (sender, public): (PeerIdentity, Vec<u8>),
    (docs, held): (DocChanges, DocHeads),
    sealed_at: i64,
    (now, via): (i64, ArrivalPath),
) -> Result<Received, BundleError> {
    let me = ledger.config().org;
    if sender.org == me || !sender.org.is_in_subtree_of(&me) {
        return Err(BundleError::NotAllowed(format!(
            "{sender} is not below {me}: a node accepts changes only from units below it"
        )));
    }
    // Check the scope of every document before applying anything.
    for (org, _) in &docs {
        if !org.is_in_subtree_of(&sender.org) {
            return Err(BundleError::NotAllowed(format!(
                "the bundle carries document {org}, outside {sender}'s subtree"
            )));
        }
    }
    let origin = Origin {
        sender: sender.to_string(),
        door: door(via),
    };
    let documents = docs.len();
    let changes = docs.iter().map(|(_, c)| c.len()).sum();
    let mut changed = 0;
    let mut refused = Vec::new();
    let mut answered = Vec::new();
    let mut acked = Vec::with_capacity(documents);
    let orgs: BTreeSet<OrgCode> = docs.iter().map(|(o, _)| *o).collect();
    for (org, raw) in docs {
        match admitted(ledger.receive_changes(org, raw, &origin))? {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e) => {
                if answered.len() < format::MAX_ACK_REFUSALS {
                    answered.extend(answer(&e));
                }
                refused.push(e.to_string());
            }
        }
    }
    for org in orgs {
        let heads = ledger.stored_heads(&org)?;
        acked.push((org, heads.iter().map(|h| h.0).collect()));
    }
    heard_through(ledger, sender.org, sealed_at, now, via);
    ledger.store().flush().map_err(LedgerError::from)?;
    let down = downward(ledger, &sender.org, held)?;
    // Refusals travel back with the acknowledgement (a plain one when none).
    let contents = if answered.is_empty() {
        Contents::Ack {
            heads: acked,
            changes: down,
        }
    } else {
        Contents::AckRefusing {
            heads: acked,
            changes: down,
            refused: answered,
        }
    };
    let ack = seal(keys, sender.org, &public, &contents, DEFAULT_TTL_SECS)?;
    Ok(Received::Changes {
        sender,
        documents,
        changes,
        changed,
        ack,
        refused,
    })
}

/// Applies an acknowledgement from `sender` (the heads it holds, the ancestors'
/// changes it carries down, the refusals it names), sealed at `sealed_at` and
/// received at `now` by the path `via`.
fn acknowledged(
    ledger: &mut Ledger,
    sender: PeerIdentity,
    (heads, changes, peer_refused): (DocHeads, DocChanges, Vec<format::Refusal>),
    sealed_at: i64,
    (now, via): (i64, ArrivalPath),
) -> Result<Received, BundleError> {
    let me = ledger.config().org;
    if me.parent() != Some(sender.org) {
        return Err(BundleError::NotAllowed(format!(
            "an acknowledgement from {sender}, which is not this node's parent unit"
        )));
    }
    // Changes from above: only of this node's ancestors' documents.
    let ancestors = me.ancestors();
    if let Some((org, _)) = changes.iter().find(|(org, _)| !ancestors.contains(org)) {
        return Err(BundleError::NotAllowed(format!(
            "the acknowledgement carries document {org}, which is not one of {me}'s ancestors"
        )));
    }
    let status = StatusStore::new(ledger.store().clone());
    let documents = heads.len();
    for (org, heads) in heads {
        if !org.is_in_subtree_of(&me) {
            continue;
        }
        let heads: Vec<ChangeHash> = heads.into_iter().map(ChangeHash).collect();
        merge_acked(ledger, &status, org, &heads)?;
    }
    heard_through(ledger, sender.org, sealed_at, now, via);
    status.flush()?;
    let received = changes.iter().map(|(_, c)| c.len()).sum();
    let origin = Origin {
        sender: sender.to_string(),
        door: Door::Ack,
    };
    let mut refused = Vec::new();
    for (org, raw) in changes {
        if let Err(e) = admitted(ledger.receive_changes(org, raw, &origin))? {
            refused.push(e.to_string());
        }
    }
    let refused_by_peer = record_peer_refusals(ledger, &sender, peer_refused, via)?;
    Ok(Received::Ack {
        sender,
        documents,
        received,
        refused,
        refused_by_peer,
    })
}

/// What the sender of a bundle is told about a refusal of its changes.
fn answer(e: &LedgerError) -> Option<format::Refusal> {
    let (org, change, rule) = match e {
        LedgerError::Refused { org, error } => (*org, None, error.rule().to_string()),
        LedgerError::NotAdmitted {
            org, change, rule, ..
        } => (
            *org,
            change.parse::<ChangeHash>().ok().map(|h| h.0),
            rule.clone(),
        ),
        LedgerError::Quarantined { org, .. } => (*org, None, "quarantined".to_string()),
        // `admitted` passes on no other error.
        _ => return None,
    };
    Some(format::Refusal {
        org,
        change,
        rule: clip(&rule),
        reason: clip(&e.to_string()),
    })
}

/// Records the refusals the parent named in its acknowledgement, as refusals by the
/// peer (the sender's end, as a live link records its `Refused` frames). The parent
/// is trusted only so far: only documents of this node's subtree (what it sent), at
/// most [`format::MAX_ACK_REFUSALS`], texts clipped and stripped of control
/// characters. Returns how many were recorded.
fn record_peer_refusals(
    ledger: &mut Ledger,
    peer: &PeerIdentity,
    refused: Vec<format::Refusal>,
    via: ArrivalPath,
) -> Result<usize, BundleError> {
    let me = ledger.config().org;
    let trust = ledger.trust();
    let mut recorded = 0;
    for r in refused.into_iter().take(format::MAX_ACK_REFUSALS) {
        if !r.org.is_in_subtree_of(&me) {
            continue;
        }
        trust
            .record(&RefusalRecord {
                at: crate::sync::status::now_text(),
                org: r.org,
                change: r.change.map(|c| ChangeHash(c).to_string()),
                rule: clip(&r.rule),
                reason: clip(&r.reason),
                sender: peer.to_string(),
                door: door(via).as_str().to_string(),
                by_peer: true,
            })
            .map_err(LedgerError::from)?;
        recorded += 1;
    }
    Ok(recorded)
}

/// `text` without control characters, at most [`format::MAX_REFUSAL_TEXT`] characters.
fn clip(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(format::MAX_REFUSAL_TEXT)
        .collect()
}

/// Refuses `device` if the CA revoked it (`what` says what follows from that).
fn refuse_revoked(
    ledger: &mut Ledger,
    device: &PeerIdentity,
    what: &str,
) -> Result<(), BundleError> {
    match pki::revocation::find(ledger, device) {
        Ok(None) => Ok(()),
        Ok(Some(r)) => Err(BundleError::Revoked(format!(
            "{}; {what}",
            pki::revocation::refusal(&r)
        ))),
        Err(e) => Err(BundleError::Revoked(format!(
            "cannot check whether {device} is revoked ({e}); nothing was applied"
        ))),
    }
}

/// Splits the outcome of the admission door: a refusal (recorded and logged by the
/// ledger) is the sender's problem and becomes `Ok(Err(reason))`, so the bundle's other
/// documents still apply; any other failure is this node's and stops the bundle.
fn admitted(result: Result<bool, LedgerError>) -> Result<Result<bool, LedgerError>, BundleError> {
    match result {
        Ok(changed) => Ok(Ok(changed)),
        Err(
            e @ (LedgerError::Refused { .. }
            | LedgerError::NotAdmitted { .. }
            | LedgerError::Quarantined { .. }),
        ) => Ok(Err(e)),
        Err(e) => Err(e.into()),
    }
}

/// The admission door a bundle came through.
fn door(via: ArrivalPath) -> Door {
    match via {
        ArrivalPath::Relay => Door::Relay,
        _ => Door::Bundle,
    }
}

/// Records contact with `org` through a bundle sealed at `sealed_at` (a failure to
/// record it is logged: the bundle's data matters more than its bookkeeping).
fn heard_through(
    ledger: &Ledger,
    org: OrgCode,
    sealed_at: i64,
    now: i64,
    via: crate::sync::freshness::ArrivalPath,
) {
    if let Err(e) = ledger.freshness().heard(org, sealed_at, now, via, None) {
        tracing::warn!(unit = %org, error = %e, "could not record the contact a bundle made");
    }
}

/// Most bytes of ancestors' changes one acknowledgement carries down; the rest
/// follows with the next one.
const DOWNWARD_BYTES: usize = 4 * 1024 * 1024;

/// Changes of `child`'s ancestors' documents that it lacks, from the heads it says it
/// holds (`held`): what the link would send down in live sync.
fn downward(
    ledger: &mut Ledger,
    child: &OrgCode,
    held: DocHeads,
) -> Result<DocChanges, BundleError> {
    ledger.attest_before_sending()?;
    let ancestors = child.ancestors();
    let documents = ledger.documents()?;
    let mut out = Vec::new();
    let mut bytes = 0;
    for (org, heads) in held {
        if !ancestors.contains(&org) || !documents.contains(&org) || bytes >= DOWNWARD_BYTES {
            continue;
        }
        let theirs: Vec<ChangeHash> = heads.into_iter().map(ChangeHash).collect();
        let changes: Vec<Vec<u8>> = ledger.with_automerge(org, |doc| {
            let known = theirs.iter().all(|h| doc.get_change_by_hash(h).is_some());
            let since: &[ChangeHash] = if known { &theirs } else { &[] };
            doc.get_changes(since)
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect()
        })?;
        if !changes.is_empty() {
            bytes += changes.iter().map(Vec::len).sum::<usize>();
            out.push((org, changes));
        }
    }
    Ok(out)
}

/// Adds `heads` (which the parent says it holds) to the parent's acknowledged heads
/// of `org`: the result covers both, so an old acknowledgement never undoes a newer one.
pub fn merge_acked(
    ledger: &mut Ledger,
    status: &StatusStore,
    org: OrgCode,
    heads: &[ChangeHash],
) -> Result<(), BundleError> {
    if !ledger.documents()?.contains(&org) {
        return Ok(());
    }
    let current = status.acked(&org)?;
    let merged = ledger.with_automerge(org, |doc| {
        let mut known: Vec<ChangeHash> = current
            .iter()
            .chain(heads)
            .filter(|h| doc.get_change_by_hash(h).is_some())
            .copied()
            .collect();
        known.sort();
        known.dedup();
        // Keep a head only if no other head already covers it.
        known
            .iter()
            .filter(|h| {
                let others: Vec<ChangeHash> = known.iter().filter(|o| o != h).copied().collect();
                others.is_empty() || doc.get_changes(&others).iter().any(|c| c.hash() == **h)
            })
            .copied()
            .collect::<Vec<_>>()
    })?;
    status.set_acked(&org, &merged)?;
    Ok(())
}

/// Records, after a bundle for the parent was written or deposited, which heads it
/// carried (for `halfsky status`: the path of pending changes).
pub fn mark_sent(
    ledger: &Ledger,
    heads: &[(OrgCode, Vec<ChangeHash>)],
    relay: bool,
) -> Result<(), BundleError> {
    let status = StatusStore::new(ledger.store().clone());
    for (org, h) in heads {
        if relay {
            status.set_relayed(org, h)?;
        } else {
            status.set_bundled(org, h)?;
        }
    }
    Ok(status.flush()?)
}
