//! The one door for changes from another node: [`Ledger::receive_changes`]. Live sync
//! messages, catch-up batches, bundle files, relay items and the ancestors' documents
//! carried down with acknowledgements all come through it.
//!
//! In order: bounded decoding ([`check_changes`]: sizes capped before Automerge
//! inflates anything), parsing, then record-level authority and signed authorship
//! ([`halfsky_shared::admission::authority`]; a node with a CA refuses a change no
//! device of the document's unit attested, see [`crate::pki::attest`]). What passes is applied (durable and
//! indexed); every refusal is recorded in the trust table and logged, and the caller
//! gets an error naming the document, the change and the rule, which the sync session
//! sends back to the sender.
//!
//! Quarantine: a change refused by authority poisons every later change that depends
//! on it, so its document is quarantined here. Its good history stays (and is counted);
//! the refused change, its dependents and every later change to the document are held
//! in the trust table until an admin decides:
//! - `halfsky quarantine release ORG` applies every held change as it is (the admin
//!   vouches for it: after upgrading this node for a newer release's value, or after
//!   checking with the unit) and lifts the quarantine; later changes are checked again.
//! - `halfsky quarantine drop ORG` forgets the held changes and lifts the quarantine; the
//!   document stays at its good history. If the sender still holds the refused change it
//!   will offer it again and be refused again, so drop is for one-off deliveries (a file,
//!   a relay item from a device since replaced) and after the unit's document is repaired.
//!
//! Bytes that are not a change at all (bombs, garbage, truncations) and changes that
//! are only early (a missing dependency) are refused and recorded but quarantine
//! nothing: no later change can depend on them.

use std::collections::HashSet;

use automerge::{Change, ChangeHash};
use halfsky_shared::admission::authority::{check_batch, check_batch_signed, Rule, Verdicts};
use halfsky_shared::admission::check_changes;
use halfsky_shared::OrgCode;

use super::trust::{Door, Origin, QuarantineRecord, RefusalRecord, TrustStore};
use super::{Ledger, LedgerError};
use crate::sync::freshness::ArrivalPath;
use crate::sync::status::now_text;

/// What an admin decides for a quarantined document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Apply the held changes as they are.
    Release,
    /// Forget the held changes.
    Drop,
}

impl Ledger {
    /// The refusal records of this node.
    pub fn trust(&self) -> TrustStore {
        TrustStore::new(self.store.clone())
    }

    /// Admits and applies raw changes to `org`'s document from `origin`. Returns
    /// whether the document changed. On a refusal the changes that passed are still
    /// applied, and the error names the first refused change and its rule.
    pub fn receive_changes(
        &mut self,
        org: OrgCode,
        raw: Vec<Vec<u8>>,
        origin: &Origin,
    ) -> Result<bool, LedgerError> {
        let refusal = |change: Option<String>, rule: &str, reason: String| RefusalRecord {
            at: now_text(),
            org,
            change,
            rule: rule.to_string(),
            reason,
            sender: origin.sender.clone(),
            door: origin.door.as_str().to_string(),
            by_peer: false,
        };
        if let Err(error) = check_changes(&raw, &self.config.sync.admission) {
            self.trust()
                .record(&refusal(None, error.rule(), error.to_string()))?;
            return Err(LedgerError::Refused { org, error });
        }
        let mut parsed = Vec::with_capacity(raw.len());
        for (index, bytes) in raw.into_iter().enumerate() {
            match Change::from_bytes(bytes) {
                Ok(change) => parsed.push(change),
                Err(e) => {
                    let reason = format!("change {index} does not parse: {e}");
                    self.trust()
                        .record(&refusal(None, "malformed-change", reason.clone()))?;
                    return Err(LedgerError::NotAdmitted {
                        org,
                        change: String::new(),
                        rule: "malformed-change".into(),
                        reason,
                    });
                }
            }
        }
        if let Some(q) = self.trust().quarantine(&org)? {
            let trust = self.trust();
            let doc = &mut self.doc(org)?.doc;
            for change in &parsed {
                if doc.automerge().get_change_by_hash(&change.hash()).is_none() {
                    trust.hold(&org, &change.hash(), change.raw_bytes())?;
                }
            }
            return Err(LedgerError::Quarantined {
                org,
                since: q.since,
                rule: q.rule,
            });
        }
        // Changes that waited for their attestation or a dependency are checked again
        // with this delivery; a change already waiting is not counted twice.
        let waiting = self.waiting.take(&org);
        let waited: HashSet<ChangeHash> = waiting.iter().map(|c| c.hash()).collect();
        let parsed: Vec<Change> = waiting
            .into_iter()
            .chain(parsed.into_iter().filter(|c| !waited.contains(&c.hash())))
            .collect();
        let today = self.today();
        let revoked = match &self.authorship {
            Some(_) => self.revoked()?,
            None => Vec::new(),
        };
        let authorship = self.authorship.clone();
        let doc = &mut self.doc(org)?.doc;
        let Verdicts {
            admitted,
            refused,
            held,
            ..
        } = match &authorship {
            Some(a) => check_batch_signed(doc.automerge(), org, parsed, today, &a.keys(revoked)),
            None => check_batch(doc.automerge(), org, parsed, today),
        };
        let before = self.stored_heads(&org)?;
        if !admitted.is_empty() {
            self.apply_changes_from(org, admitted, arrival(origin.door))?;
        }
        let changed = self.stored_heads(&org)? != before;
        let only_waiting = !refused.is_empty()
            && refused
                .iter()
                .all(|r| matches!(r.rule, Rule::Unattested | Rule::MissingDependency));
        if only_waiting {
            // Over a link that drops mid-delivery, an honest change can come before the
            // attestation that covers it, or after changes that depend on it: they wait
            // (bounded, in memory) for the next delivery of the document.
            self.waiting.keep(org, held.clone());
        }
        let refused: Vec<_> = refused
            .into_iter()
            .filter(|r| !waited.contains(&r.change))
            .collect();
        let Some(first) = refused.first() else {
            return Ok(changed);
        };
        let only_missing = refused.iter().all(|r| r.rule == Rule::MissingDependency);
        if only_waiting && only_missing && origin.door == Door::Sync {
            // Automerge's sync sent changes whose dependency its bloom filter took
            // for held here: no refusal. The changes wait, and the next sync message
            // asks for what they lack; refusing would end this document's sync round
            // until the next reconnect.
            return Ok(changed);
        }
        let trust = self.trust();
        for r in &refused {
            trust.record(&refusal(
                Some(r.change.to_string()),
                r.rule.name(),
                r.reason.clone(),
            ))?;
        }
        if let Some(q) = refused.iter().find(|r| r.rule.quarantines()) {
            trust.set_quarantine(&QuarantineRecord {
                org,
                since: now_text(),
                rule: q.rule.name().into(),
                reason: q.reason.clone(),
                change: q.change.to_string(),
                sender: origin.sender.clone(),
                held: 0,
            })?;
            for change in &held {
                trust.hold(&org, &change.hash(), change.raw_bytes())?;
            }
        }
        self.store.flush()?;
        Err(LedgerError::NotAdmitted {
            org,
            change: first.change.to_string(),
            rule: first.rule.name().into(),
            reason: first.reason.clone(),
        })
    }

    /// Ends `org`'s quarantine as the admin decided; returns how many held changes
    /// were applied (release) or forgotten (drop).
    pub fn decide_quarantine(
        &mut self,
        org: OrgCode,
        decision: Decision,
    ) -> Result<usize, LedgerError> {
        let trust = self.trust();
        if trust.quarantine(&org)?.is_none() {
            return Err(LedgerError::NotQuarantined(org));
        }
        let held = trust.held(&org)?;
        let count = held.len();
        if decision == Decision::Release {
            let mut changes = Vec::with_capacity(held.len());
            for bytes in held {
                // Held changes passed the size caps and parsed when they arrived.
                match Change::from_bytes(bytes) {
                    Ok(c) => changes.push(c),
                    Err(e) => {
                        tracing::warn!(%org, error = %e, "a held change no longer parses; skipped")
                    }
                }
            }
            self.apply_changes_from(org, changes, ArrivalPath::Direct)?;
        }
        trust.lift(&org)?;
        self.store.flush()?;
        tracing::info!(%org, ?decision, count, "quarantine lifted");
        Ok(count)
    }
}

impl Ledger {
    /// The revocations this node holds (checked against the CA); a list that cannot
    /// be read counts as empty and is logged.
    fn revoked(&mut self) -> Result<Vec<halfsky_shared::revocation::Revocation>, LedgerError> {
        match crate::pki::revocation::held(self) {
            Ok(list) => Ok(list.into_iter().map(|(r, _)| r).collect()),
            Err(crate::pki::revocation::RevokeError::Ledger(e)) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the revocation list; checking without it");
                Ok(Vec::new())
            }
        }
    }
}

fn arrival(door: Door) -> ArrivalPath {
    match door {
        Door::Sync | Door::Catchup | Door::Push => ArrivalPath::Direct,
        Door::Bundle => ArrivalPath::Bundle,
        Door::Relay | Door::Ack => ArrivalPath::Relay,
    }
}

/// Most changes, and bytes, a document may have waiting for their attestation or a
/// missing dependency: an honest gap is a batch or two.
const WAITING_CHANGES: usize = 4_096;
/// See [`WAITING_CHANGES`].
const WAITING_BYTES: usize = 16 * 1024 * 1024;
/// Most bytes waiting over all documents: a hostile sender writing into many
/// documents of its subtree cannot make the room grow past it.
const WAITING_BYTES_IN_ALL: usize = 64 * 1024 * 1024;

/// Changes refused only as `unattested` or `missing-dependency` (with those depending
/// on them), kept per document in memory and checked again with its next delivery, so
/// that a delivery split by a dropped link, or by Automerge's sync (its bloom filter
/// can hold a change back for a round), completes when the rest arrives. Lost on
/// restart: the peer sends them again on the next session.
#[derive(Debug, Default)]
pub struct WaitingRoom {
    waiting: std::collections::HashMap<OrgCode, Vec<Change>>,
    /// Documents whose missing dependencies were not yet asked for.
    to_ask: HashSet<OrgCode>,
}

impl WaitingRoom {
    /// Takes the changes waiting for `org` (none are left waiting).
    fn take(&mut self, org: &OrgCode) -> Vec<Change> {
        self.to_ask.remove(org);
        self.waiting.remove(org).unwrap_or_default()
    }

    /// Once after each delivery that left changes waiting: the dependencies they lack
    /// (outside the waiting changes), to ask the peer for by hash. Its bloom filter
    /// may have taken them for held, and a change refused at the door is never seen by
    /// Automerge's sync, which would otherwise ask.
    pub fn to_ask_for(&mut self, org: &OrgCode) -> Vec<ChangeHash> {
        if !self.to_ask.remove(org) {
            return Vec::new();
        }
        let Some(changes) = self.waiting.get(org) else {
            return Vec::new();
        };
        let waiting: HashSet<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
        let mut out: Vec<ChangeHash> = changes
            .iter()
            .flat_map(|c| c.deps().iter().copied())
            .filter(|d| !waiting.contains(d))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Keeps `changes` of `org` waiting, in order, within the bounds.
    fn keep(&mut self, org: OrgCode, changes: Vec<Change>) {
        let others: usize = self
            .waiting
            .iter()
            .filter(|(o, _)| **o != org)
            .flat_map(|(_, cs)| cs.iter().map(|c| c.raw_bytes().len()))
            .sum();
        let room = WAITING_BYTES.min(WAITING_BYTES_IN_ALL.saturating_sub(others));
        let mut bytes = 0;
        let kept: Vec<Change> = changes
            .into_iter()
            .take(WAITING_CHANGES)
            .take_while(|c| {
                bytes += c.raw_bytes().len();
                bytes <= room
            })
            .collect();
        if !kept.is_empty() {
            self.waiting.insert(org, kept);
            self.to_ask.insert(org);
        }
    }
}
