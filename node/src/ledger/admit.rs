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

use automerge::Change;
use halfsky_shared::admission::authority::{check_batch, check_batch_signed, Verdicts};
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
        let Some(first) = refused.first() else {
            return Ok(changed);
        };
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
        Door::Sync | Door::Catchup => ArrivalPath::Direct,
        Door::Bundle => ArrivalPath::Bundle,
        Door::Relay | Door::Ack => ArrivalPath::Relay,
    }
}
