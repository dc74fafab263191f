//! The inventory step of a session: one digest over every (document, heads) of the
//! link's scope, so an unchanged reconnect costs one round trip; when the digests
//! differ, the list itself, and catch-ups for the documents far behind (bundles the
//! parent holds in part named first, so they go on where they stopped).

use std::collections::{BTreeMap, BTreeSet};

use automerge::ChangeHash;
use sha2::{Digest, Sha256};

use super::{batches, hashes, raw_heads, Phase, Replica, Role, Session, SessionEvent};
use crate::org::OrgCode;
use crate::wire::{Frame, BUNDLE_SINCE_VERSION};

/// Digest of a document list, as sent in `Inventory`.
pub fn digest(docs: &[(OrgCode, Vec<ChangeHash>)]) -> [u8; 32] {
    let mut sorted: Vec<_> = docs.iter().collect();
    sorted.sort_by_key(|(org, _)| *org);
    let mut h = Sha256::new();
    for (org, heads) in sorted {
        let mut heads = heads.clone();
        heads.sort();
        h.update(org.as_bytes());
        h.update((heads.len() as u32).to_be_bytes());
        for head in heads {
            h.update(head.0);
        }
    }
    h.finalize().into()
}

impl Session {
    pub(super) fn on_inventory<R: Replica>(
        &mut self,
        theirs: [u8; 32],
        replica: &mut R,
    ) -> Result<Vec<Frame>, String> {
        if self.role != Role::Parent || self.phase != Phase::Inventory {
            return Err("unexpected Inventory".into());
        }
        let scope = self.scope;
        let docs = replica
            .documents(&|o| scope.downward(o))
            .map_err(|e| e.to_string())?;
        self.phase = Phase::Live;
        if digest(&docs) == theirs {
            // The child holds exactly what we hold.
            for (org, heads) in docs {
                self.learn(org, heads);
            }
            self.events.push(SessionEvent::Synced);
            return Ok(vec![Frame::InventoryMatch]);
        }
        let mut out = Vec::new();
        if self.peer_version >= BUNDLE_SINCE_VERSION {
            let partial = super::catch_up::partial_bundles(replica, &self.peer_key())?;
            if !partial.is_empty() {
                out.push(Frame::Resume { partial });
            }
        }
        out.push(Frame::InventoryDetail {
            docs: docs.into_iter().map(|(o, h)| (o, raw_heads(&h))).collect(),
        });
        Ok(out)
    }

    pub(super) fn on_inventory_match(&mut self) -> Result<Vec<Frame>, String> {
        if self.role != Role::Child || self.phase != Phase::Inventory {
            return Err("unexpected InventoryMatch".into());
        }
        self.phase = Phase::Live;
        // The parent holds exactly what we summarised: that is an acknowledgement.
        for (org, heads) in std::mem::take(&mut self.summarised) {
            self.learn(org, heads.clone());
            self.events.push(SessionEvent::PeerHeads(org, heads));
        }
        self.events.push(SessionEvent::Synced);
        Ok(Vec::new())
    }

    pub(super) fn on_inventory_detail<R: Replica>(
        &mut self,
        theirs: Vec<(OrgCode, Vec<[u8; 32]>)>,
        replica: &mut R,
    ) -> Result<Vec<Frame>, String> {
        if self.role != Role::Child || self.phase != Phase::Inventory {
            return Err("unexpected InventoryDetail".into());
        }
        self.phase = Phase::Live;
        let scope = self.scope;
        let mine: BTreeMap<OrgCode, Vec<ChangeHash>> = replica
            .documents(&|o| scope.downward(o))
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
        let theirs: BTreeMap<OrgCode, Vec<ChangeHash>> = theirs
            .into_iter()
            .filter(|(org, _)| scope.downward(org))
            .map(|(o, h)| (o, hashes(&h)))
            .collect();
        let mut out = Vec::new();
        let all: BTreeSet<OrgCode> = mine.keys().chain(theirs.keys()).copied().collect();
        for org in all {
            let mut my_heads = mine.get(&org).cloned().unwrap_or_default();
            let mut their_heads = theirs.get(&org).cloned().unwrap_or_default();
            my_heads.sort();
            their_heads.sort();
            if theirs.contains_key(&org) {
                self.events
                    .push(SessionEvent::PeerHeads(org, their_heads.clone()));
            }
            if my_heads == their_heads {
                self.learn(org, their_heads);
                continue;
            }
            // Far behind? Send what they lack in bounded batches first, each durable on
            // arrival, so a link that drops loses at most one batch.
            if self.may_send(&org) {
                let resume = self.resume.remove(&org);
                if self.peer_version >= BUNDLE_SINCE_VERSION {
                    if let Some(frames) =
                        self.bundled_catch_up(org, &their_heads, resume, replica)?
                    {
                        out.extend(frames);
                    }
                } else if let Some(changes) = replica
                    .changes_since(&org, &their_heads)
                    .map_err(|e| e.to_string())?
                {
                    out.extend(batches(org, changes));
                }
            }
            self.pending.insert(org);
            out.extend(self.next_message(org, replica, false)?);
        }
        self.maybe_done();
        Ok(out)
    }
}
