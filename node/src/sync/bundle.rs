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

use automerge::{Change, ChangeHash};
use halfsky_shared::bundle::{self as format, Contents, DocChanges, DocHeads, Sender};
use halfsky_shared::OrgCode;
use rand::Rng;

pub use certs::{
    check_cert, peer_cert_path, read_cert_file, save_peer_cert, write_atomic, PEERS_DIR,
};

use crate::ledger::{Ledger, LedgerError};
use crate::pki::{self, PeerIdentity, PkiError};

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
    /// A change inside the bundle does not parse.
    #[error("the bundle's changes for document {org} are malformed ({reason}); it is refused")]
    BadChange {
        /// The document.
        org: OrgCode,
        /// Automerge's reason.
        reason: String,
    },
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

/// One document's changes for a bundle: (document, raw changes, heads they lead to).
pub type OutgoingDoc = (OrgCode, Vec<Vec<u8>>, Vec<ChangeHash>);

/// The changes of this node's subtree that `recipient` lacks as far as this node
/// knows: after the parent's acknowledged heads if `recipient` is the parent, else all.
pub fn outgoing(
    ledger: &mut Ledger,
    status: &StatusStore,
    recipient: OrgCode,
) -> Result<Vec<OutgoingDoc>, BundleError> {
    let me = ledger.config().org;
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
            let changes: Vec<Vec<u8>> = doc
                .get_changes(since)
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect();
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
    let contents = Contents::Changes {
        docs: docs.into_iter().map(|(o, c, _)| (o, c)).collect(),
        held,
    };
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
    via: crate::sync::freshness::ArrivalPath,
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
    match contents {
        Contents::Changes { docs, held } => {
            if sender.org == me || !sender.org.is_in_subtree_of(&me) {
                return Err(BundleError::NotAllowed(format!(
                    "{sender} is not below {me}: a node accepts changes only from units below it"
                )));
            }
            // Check and parse everything before applying anything.
            let mut parsed = Vec::with_capacity(docs.len());
            for (org, raw) in docs {
                if !org.is_in_subtree_of(&sender.org) {
                    return Err(BundleError::NotAllowed(format!(
                        "the bundle carries document {org}, outside {sender}'s subtree"
                    )));
                }
                parsed.push((org, parse_changes(ledger, org, raw)?));
            }
            let documents = parsed.len();
            let changes = parsed.iter().map(|(_, c)| c.len()).sum();
            let mut changed = 0;
            let mut acked = Vec::with_capacity(documents);
            let orgs: BTreeSet<OrgCode> = parsed.iter().map(|(o, _)| *o).collect();
            for (org, list) in parsed {
                let before = ledger.stored_heads(&org)?;
                let after = ledger.apply_changes_from(org, list, via)?;
                if before != after {
                    changed += 1;
                }
            }
            for org in orgs {
                let heads = ledger.stored_heads(&org)?;
                acked.push((org, heads.iter().map(|h| h.0).collect()));
            }
            heard_through(ledger, sender.org, sealed_at, now, via);
            ledger.store().flush().map_err(LedgerError::from)?;
            let down = downward(ledger, &sender.org, held)?;
            let ack = seal(
                keys,
                sender.org,
                &public,
                &Contents::Ack {
                    heads: acked,
                    changes: down,
                },
                DEFAULT_TTL_SECS,
            )?;
            Ok(Received::Changes {
                sender,
                documents,
                changes,
                changed,
                ack,
            })
        }
        Contents::Ack { heads, changes } => {
            if me.parent() != Some(sender.org) {
                return Err(BundleError::NotAllowed(format!(
                    "an acknowledgement from {sender}, which is not this node's parent unit"
                )));
            }
            // Changes from above: only of this node's ancestors' documents.
            let ancestors = me.ancestors();
            let mut parsed = Vec::with_capacity(changes.len());
            for (org, raw) in changes {
                if !ancestors.contains(&org) {
                    return Err(BundleError::NotAllowed(format!(
                        "the acknowledgement carries document {org}, which is not one of {me}'s ancestors"
                    )));
                }
                parsed.push((org, parse_changes(ledger, org, raw)?));
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
            let received = parsed.iter().map(|(_, c)| c.len()).sum();
            for (org, list) in parsed {
                ledger.apply_changes_from(org, list, via)?;
            }
            Ok(Received::Ack {
                sender,
                documents,
                received,
            })
        }
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

/// Admits (size caps, well-formed chunks) then parses one document's changes.
fn parse_changes(
    ledger: &Ledger,
    org: OrgCode,
    raw: Vec<Vec<u8>>,
) -> Result<Vec<Change>, BundleError> {
    ledger
        .admit(org, &raw)
        .map_err(|e| BundleError::BadChange {
            org,
            reason: e.to_string(),
        })?;
    raw.into_iter()
        .map(|r| {
            Change::from_bytes(r).map_err(|e| BundleError::BadChange {
                org,
                reason: e.to_string(),
            })
        })
        .collect()
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
