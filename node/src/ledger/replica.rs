//! The ledger as a sync [`Replica`]: what the sans-I/O session in `shared` needs,
//! backed by the store (heads, sync states) and the ledger's write path (so changes
//! that arrive by sync are durable and indexed exactly like local writes).

use automerge::sync::{self, SyncDoc};
use automerge::{Change, ChangeHash};
use halfsky_shared::session::Replica;
use halfsky_shared::OrgCode;

use crate::ledger::{Ledger, LedgerError};

impl Replica for Ledger {
    type Error = LedgerError;

    fn documents(
        &mut self,
        filter: &dyn Fn(&OrgCode) -> bool,
    ) -> Result<Vec<(OrgCode, Vec<ChangeHash>)>, LedgerError> {
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
        self.with_automerge(*org, |doc| doc.sync().generate_sync_message(state))
    }

    fn receive(
        &mut self,
        org: &OrgCode,
        state: &mut sync::State,
        message: sync::Message,
    ) -> Result<bool, LedgerError> {
        let before = self.stored_heads(org)?;
        self.with_automerge(*org, |doc| doc.sync().receive_sync_message(state, message))?
            .map_err(|e| LedgerError::Doc(e.into()))?;
        Ok(self.stored_heads(org)? != before)
    }

    fn changes_since(
        &mut self,
        org: &OrgCode,
        their_heads: &[ChangeHash],
    ) -> Result<Option<Vec<Vec<u8>>>, LedgerError> {
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

    fn apply_changes(&mut self, org: &OrgCode, changes: Vec<Vec<u8>>) -> Result<bool, LedgerError> {
        self.admit(*org, &changes)?;
        let mut parsed = Vec::with_capacity(changes.len());
        for raw in changes {
            parsed.push(Change::from_bytes(raw).map_err(|e| {
                LedgerError::Doc(halfsky_shared::ledger_doc::DocError::Automerge(Box::new(
                    e.into(),
                )))
            })?);
        }
        let before = self.stored_heads(org)?;
        Ledger::apply_changes(self, *org, parsed)?;
        Ok(self.stored_heads(org)? != before)
    }
}
