//! The ledger as a sync [`Replica`]: what the sans-I/O session in `shared` needs,
//! backed by the store (heads, sync states) and the ledger's write path (so changes
//! that arrive by sync are durable and indexed exactly like local writes).

use automerge::sync::{self, SyncDoc};
use automerge::ChangeHash;
use halfsky_shared::admission::Caps;
use halfsky_shared::session::{plan, Delivery, Plan, Record, Replica, Write};
use halfsky_shared::OrgCode;

use crate::ledger::trust::{Door, Origin};
use crate::ledger::{Ledger, LedgerError};
use crate::store::{Batch, Table};

impl Replica for Ledger {
    type Error = LedgerError;

    fn documents(
        &mut self,
        filter: &dyn Fn(&OrgCode) -> bool,
    ) -> Result<Vec<(OrgCode, Vec<ChangeHash>)>, LedgerError> {
        self.attest_before_sending()?;
        let mut out = Vec::new();
        for org in Ledger::documents(self)? {
            if filter(&org) {
                out.push((org, self.stored_heads(&org)?));
            }
        }
        Ok(out)
    }

    fn heads(&mut self, org: &OrgCode) -> Result<Vec<ChangeHash>, LedgerError> {
        self.stored_heads(org)
    }

    fn load_state(&mut self, peer: &str, org: &OrgCode) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.store().sync_state(peer, org)?)
    }

    fn save_state(&mut self, peer: &str, org: &OrgCode, state: &[u8]) -> Result<(), LedgerError> {
        Ok(self.store().set_sync_state(peer, org, state)?)
    }

    fn generate(
        &mut self,
        org: &OrgCode,
        state: &mut sync::State,
    ) -> Result<Option<sync::Message>, LedgerError> {
        // No capability flags: a peer that sees none never answers with a whole saved
        // document (a V2 message), which admission could not check change by change;
        // far-behind peers are brought up by catch-up batches instead.
        if *org == self.config().org {
            self.attest_before_sending()?;
        }
        let message = self.with_automerge(*org, |doc| doc.sync().generate_sync_message(state))?;
        // Dependencies of changes waiting at the door, asked for by hash.
        let candidates = self.waiting.to_ask_for(org);
        let (ask, heads) = if candidates.is_empty() {
            (candidates, Vec::new())
        } else {
            self.with_automerge(*org, |doc| {
                let ask: Vec<ChangeHash> = candidates
                    .into_iter()
                    .filter(|h| doc.get_change_by_hash(h).is_none())
                    .collect();
                (ask, doc.get_heads())
            })?
        };
        let message = match (message, ask.is_empty()) {
            (m, true) => m,
            (Some(mut m), false) => {
                m.need = with_asked(std::mem::take(&mut m.need), ask);
                Some(m)
            }
            (None, false) => Some(sync::Message {
                heads,
                need: with_asked(Vec::new(), ask),
                have: Vec::new(),
                changes: sync::ChunkList::empty(),
                flags: None,
                version: sync::MessageVersion::V1,
            }),
        };
        Ok(message.map(|mut m| {
            m.flags = None;
            m
        }))
    }

    fn receive(
        &mut self,
        peer: &str,
        org: &OrgCode,
        state: &mut sync::State,
        mut message: sync::Message,
    ) -> Result<bool, LedgerError> {
        let before = self.stored_heads(org)?;
        if !message.changes.is_empty() {
            // The changes go through the one door first; Automerge then only updates
            // the sync state from the message's heads, have and need.
            let chunks: Vec<Vec<u8>> = message.changes.iter().map(<[u8]>::to_vec).collect();
            message.changes = sync::ChunkList::empty();
            let origin = Origin {
                sender: peer.to_string(),
                door: Door::Sync,
            };
            self.receive_changes(*org, chunks, &origin)?;
        }
        self.with_automerge(*org, |doc| doc.sync().receive_sync_message(state, message))?
            .map_err(|e| LedgerError::Doc(e.into()))?;
        Ok(self.stored_heads(org)? != before)
    }

    fn changes_since(
        &mut self,
        org: &OrgCode,
        their_heads: &[ChangeHash],
    ) -> Result<Option<Vec<Vec<u8>>>, LedgerError> {
        if *org == self.config().org {
            self.attest_before_sending()?;
        }
        self.with_automerge(*org, |doc| {
            if their_heads
                .iter()
                .any(|h| doc.get_change_by_hash(h).is_none())
            {
                return None;
            }
            Some(
                doc.get_changes(their_heads)
                    .iter()
                    .map(|c| c.raw_bytes().to_vec())
                    .collect(),
            )
        })
    }

    fn raw_changes(
        &mut self,
        org: &OrgCode,
        changes: &[ChangeHash],
    ) -> Result<Option<Vec<Vec<u8>>>, LedgerError> {
        self.with_automerge(*org, |doc| {
            changes
                .iter()
                .map(|h| doc.get_change_by_hash(h).map(|c| c.raw_bytes().to_vec()))
                .collect()
        })
    }

    fn holds(&mut self, org: &OrgCode, changes: &[ChangeHash]) -> Result<bool, LedgerError> {
        if changes.is_empty() {
            return Ok(true);
        }
        self.with_automerge(*org, |doc| {
            changes.iter().all(|h| doc.get_change_by_hash(h).is_some())
        })
    }

    fn apply_changes(
        &mut self,
        peer: &str,
        org: &OrgCode,
        changes: Vec<Vec<u8>>,
        delivery: Delivery,
    ) -> Result<bool, LedgerError> {
        let origin = Origin {
            sender: peer.to_string(),
            door: match delivery {
                Delivery::CatchUp => Door::Catchup,
                Delivery::Push => Door::Push,
            },
        };
        self.receive_changes(*org, changes, &origin)
    }

    fn bundles_since(
        &mut self,
        org: &OrgCode,
        their_heads: &[ChangeHash],
    ) -> Result<Option<Plan>, LedgerError> {
        if *org == self.config().org {
            self.attest_before_sending()?;
        }
        self.with_automerge(*org, |doc| plan(doc.document(), their_heads))
    }

    fn catch_up_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.store().get(Table::CatchUp, key)?)
    }

    fn catch_up_scan(&mut self, prefix: &[u8]) -> Result<Vec<Record>, LedgerError> {
        Ok(self
            .store()
            .scan_prefix(Table::CatchUp, prefix)
            .collect::<Result<_, _>>()?)
    }

    fn catch_up_write(&mut self, writes: Vec<Write>) -> Result<(), LedgerError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::default();
        for (key, value) in writes {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        self.store().apply(Table::CatchUp, batch)?;
        Ok(self.store().flush()?)
    }

    fn caps(&self) -> Caps {
        self.config().sync.admission
    }
}

/// `need` with the `ask`ed hashes added, sorted and without repeats: Automerge's sync
/// message lists its hashes in order (its encoder checks it in debug builds).
fn with_asked(need: Vec<ChangeHash>, ask: Vec<ChangeHash>) -> Vec<ChangeHash> {
    let mut need: Vec<ChangeHash> = need.into_iter().chain(ask).collect();
    need.sort();
    need.dedup();
    need
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asked_hashes_join_the_need_in_order_once() {
        let h = |b: u8| ChangeHash([b; 32]);
        let need = with_asked(vec![h(2), h(9)], vec![h(7), h(1), h(9)]);
        assert_eq!(need, vec![h(1), h(2), h(7), h(9)]);
        let message = sync::Message {
            heads: Vec::new(),
            need,
            have: Vec::new(),
            changes: sync::ChunkList::empty(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        let decoded = sync::Message::decode(&message.encode()).unwrap();
        assert_eq!(decoded.need.len(), 4);
    }
}
