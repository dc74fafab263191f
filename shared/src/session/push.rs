//! Live pushes: once a session knows which heads the peer holds of a document, and this
//! side holds them too, new changes go to the peer straight as one [`Frame::Push`],
//! answered with the peer's heads (`Synced`), instead of an Automerge sync round (a
//! message each way, with a bloom filter). The sync protocol stays the fallback: for a
//! peer before [`PUSH_SINCE_VERSION`], for documents whose peer heads are not known,
//! and whenever the two histories have diverged (the peer holds changes this side
//! lacks, or a push arrives whose dependencies the receiver does not hold).
//!
//! Pushes coalesce like Nagle's algorithm: while a push of a document is unanswered,
//! further changes of it wait and leave together when the answer comes. An edit alone
//! goes at once; a burst (an import, a fast cadre, a forwarding hop) takes one frame
//! per round trip of the link, so the slower the link the more each frame carries.

use std::collections::BTreeSet;

use automerge::{sync, Change, ChangeHash};

use super::{batches, pack, raw_heads, Delivery, Phase, Replica, Session, SessionEvent};
use crate::org::OrgCode;
use crate::wire::{Frame, PUSH_SINCE_VERSION};

/// What this side knows of the peer's copy of one document.
#[derive(Debug, Clone, Default)]
pub(super) struct PeerCopy {
    /// Heads the peer holds, or will hold once the pushes in flight are applied (sorted).
    heads: Vec<ChangeHash>,
    /// Pushes sent and not answered yet: while some are, an answer naming fewer heads
    /// than ours is about an earlier push, not a loss.
    unanswered: u32,
    /// A local change waits for the answer to the push in flight.
    held: bool,
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

impl Session {
    /// Pushes may go on this link: live, and the peer speaks them.
    fn pushes(&self) -> bool {
        self.phase == Phase::Live && self.peer_version >= PUSH_SINCE_VERSION
    }

    /// The peer holds exactly `heads` of `org` (from an inventory, or the end of a sync
    /// exchange), with nothing of ours in flight.
    pub(super) fn learn(&mut self, org: OrgCode, heads: Vec<ChangeHash>) {
        self.peer_copies.insert(
            org,
            PeerCopy {
                heads: sorted(heads),
                unanswered: 0,
                held: false,
            },
        );
    }

    /// What the peer holds of `org` is no longer known (a sync exchange is running):
    /// changes go as sync messages until it ends.
    pub(super) fn forget(&mut self, org: &OrgCode) {
        self.peer_copies.remove(org);
    }

    /// A local change of `org`, pushed if the peer's heads are known and held here:
    /// `Some(frames)` (empty when the peer already has everything), or `None` when the
    /// sync protocol must carry it.
    pub(super) fn push<R: Replica>(
        &mut self,
        org: &OrgCode,
        replica: &mut R,
    ) -> Result<Option<Vec<Frame>>, String> {
        if !self.pushes() {
            return Ok(None);
        }
        let Some(copy) = self.peer_copies.get_mut(org) else {
            return Ok(None);
        };
        if copy.unanswered > 0 {
            // Goes with the next push, when this one is answered.
            copy.held = true;
            return Ok(Some(Vec::new()));
        }
        let theirs = copy.heads.clone();
        let Some(changes) = replica
            .changes_since(org, &theirs)
            .map_err(|e| e.to_string())?
        else {
            // They hold changes we do not: the histories diverged.
            self.forget(org);
            return Ok(None);
        };
        if changes.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let Some(dict) = pack::dictionary(replica, org, &theirs)? else {
            self.forget(org);
            return Ok(None);
        };
        // A large import is cut like a catch-up, each part admissible on its own.
        let mut frames = Vec::new();
        for batch in batches(*org, changes) {
            if let Frame::Changes { org, changes } = batch {
                frames.push(Frame::Push {
                    org,
                    base: raw_heads(&theirs),
                    packed: pack::pack(&changes, &dict)?,
                });
            }
        }
        let ours = replica.heads(org).map_err(|e| e.to_string())?;
        let copy = self.peer_copies.get_mut(org).expect("checked above");
        copy.heads = sorted(ours);
        copy.unanswered += frames.len() as u32;
        Ok(Some(frames))
    }

    /// Sends the changes held behind unanswered pushes without waiting any longer. Over
    /// QUIC every push is answered while the link is up; the node calls this now and
    /// then anyway, so a peer that never answers cannot hold changes back for long.
    /// Were the push before them lost, the peer cannot apply these and a sync round
    /// follows.
    pub fn release_held<R: Replica>(&mut self, replica: &mut R) -> Vec<Frame> {
        let held: Vec<OrgCode> = self
            .peer_copies
            .iter()
            .filter(|(_, c)| c.held)
            .map(|(org, _)| *org)
            .collect();
        let mut out = Vec::new();
        for org in held {
            if let Some(copy) = self.peer_copies.get_mut(&org) {
                (copy.held, copy.unanswered) = (false, 0);
            }
            out.extend(self.local_change(&org, replica));
        }
        out
    }

    /// Keeps only the shared heads of the Automerge sync state for `org`: after pushes
    /// (which it does not see) the rest of it is stale, and a fresh round from the
    /// shared heads is what converges.
    fn restart_sync<R: Replica>(&mut self, org: &OrgCode, replica: &mut R) -> Result<(), String> {
        let state = self.state(org, replica)?;
        *state = sync::State::decode(&state.encode()).unwrap_or_default();
        Ok(())
    }

    /// Both sides hold `heads`: the sync state's shared heads move up to them, so a
    /// later sync round (after a drop, or a divergence) starts from there.
    fn advance_shared<R: Replica>(
        &mut self,
        org: &OrgCode,
        heads: &[ChangeHash],
        replica: &mut R,
    ) -> Result<(), String> {
        let state = self.state(org, replica)?;
        state.shared_heads = heads.to_vec();
        self.save(org, replica)
    }

    /// A push from the peer: admitted and applied like any change from it, answered with
    /// our heads; if we lack its base or what the changes depend on, nothing is applied
    /// and the Automerge sync protocol starts for the document instead.
    pub(super) fn on_push<R: Replica>(
        &mut self,
        org: OrgCode,
        base: Vec<ChangeHash>,
        packed: &[u8],
        replica: &mut R,
    ) -> Result<Vec<Frame>, String> {
        if !self.may_receive(&org) {
            return Ok(self.refuse(org, self.no_write_reason(&org)));
        }
        let unpacked = match pack::dictionary(replica, &org, &base)? {
            Some(dict) => pack::unpack(packed, &dict).ok(),
            None => None,
        };
        let Some(changes) = unpacked else {
            // A base we lack (diverged, or an earlier push lost), or bytes that do not
            // unpack with ours: a sync round finds what is missing.
            return self.sync_instead(org, replica);
        };
        let mut inside = BTreeSet::new();
        let mut deps = BTreeSet::new();
        for raw in &changes {
            // A change that does not parse is refused by the admission below.
            if let Ok(change) = Change::from_bytes(raw.clone()) {
                inside.insert(change.hash());
                deps.extend(change.deps().iter().copied());
            }
        }
        let outside: Vec<ChangeHash> = deps.difference(&inside).copied().collect();
        if !replica.holds(&org, &outside).map_err(|e| e.to_string())? {
            return self.sync_instead(org, replica);
        }
        let before = sorted(replica.heads(&org).map_err(|e| e.to_string())?);
        match replica.apply_changes(&self.peer_key(), &org, changes, Delivery::Push) {
            Ok(true) => self.events.push(SessionEvent::DocChanged(org)),
            Ok(false) => {}
            Err(e) => return Ok(self.refuse(org, format!("changes could not be applied: {e}"))),
        }
        let heads = replica.heads(&org).map_err(|e| e.to_string())?;
        // The peer held all we held, and now holds what it pushed too: all we hold.
        if self
            .peer_copies
            .get(&org)
            .is_some_and(|c| c.unanswered == 0 && c.heads == before)
        {
            self.learn(org, heads.clone());
        }
        Ok(vec![Frame::Synced {
            org,
            heads: raw_heads(&heads),
        }])
    }

    /// Answers a push that cannot be applied here with a sync message from a fresh
    /// round, which finds what each side lacks.
    fn sync_instead<R: Replica>(
        &mut self,
        org: OrgCode,
        replica: &mut R,
    ) -> Result<Vec<Frame>, String> {
        self.forget(&org);
        self.restart_sync(&org, replica)?;
        self.next_message(org, replica, true)
    }

    /// `Synced` on a link that pushes: the answer to a push, or the end of a sync
    /// exchange. Equal heads: done. Ours ahead: the pushes in flight, or a new one
    /// (with the changes held meanwhile), bring the peer up. Theirs ahead of ours
    /// somewhere: a sync round.
    pub(super) fn on_answer<R: Replica>(
        &mut self,
        org: OrgCode,
        theirs: Vec<ChangeHash>,
        replica: &mut R,
    ) -> Result<Option<Vec<Frame>>, String> {
        if !self.pushes() {
            return Ok(None);
        }
        let theirs = sorted(theirs);
        let waiting = match self.peer_copies.get_mut(&org) {
            Some(copy) => {
                copy.unanswered = copy.unanswered.saturating_sub(1);
                copy.unanswered > 0
            }
            None => false,
        };
        let mine = sorted(replica.heads(&org).map_err(|e| e.to_string())?);
        if mine == theirs {
            self.learn(org, theirs.clone());
            self.advance_shared(&org, &theirs, replica)?;
            return Ok(Some(Vec::new()));
        }
        if replica.holds(&org, &theirs).map_err(|e| e.to_string())? {
            self.advance_shared(&org, &theirs, replica)?;
            if waiting {
                return Ok(Some(Vec::new()));
            }
            self.learn(org, theirs);
            if self.may_send(&org) {
                return Ok(Some(self.push(&org, replica)?.unwrap_or_default()));
            }
            return Ok(Some(Vec::new()));
        }
        self.forget(&org);
        self.restart_sync(&org, replica)?;
        self.next_message(org, replica, false).map(Some)
    }
}
