//! Contact bookkeeping inside the actor: a live link is contact (recorded as traffic
//! arrives), a child's report tells when the units below it were last heard from, and
//! the child end reports its own table up the tree as the times move on.

use std::collections::HashMap;

use halfsky_shared::session::Role;
use halfsky_shared::wire::Contact;
use halfsky_shared::OrgCode;

use super::{SessionId, State};
use crate::pki::PeerIdentity;
use crate::sync::freshness::ArrivalPath;

/// What the child end of one link has told its parent so far.
#[derive(Debug, Default)]
pub(super) struct Reported {
    /// Contact time reported per unit.
    sent: HashMap<OrgCode, i64>,
    /// When the last report went.
    last: Option<std::time::Instant>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl State {
    /// This node just heard from `org` over a live link.
    pub(super) fn heard_directly(&mut self, org: OrgCode) {
        if let Err(e) = self
            .ledger
            .freshness()
            .heard(org, now(), now(), ArrivalPath::Direct, None)
        {
            tracing::warn!(unit = %org, error = %e, "could not record a contact");
        }
    }

    /// Traffic on a link: contact with a child that sent something; time for a child
    /// end to report its table.
    pub(super) fn on_traffic(&mut self, id: SessionId, heard_now: bool) {
        let Some(live) = self.sessions.get(&id) else {
            return;
        };
        match live.role {
            Role::Parent if heard_now => self.heard_directly(live.peer.org),
            Role::Parent => {}
            Role::Child => self.report_heard(id, false),
        }
    }

    /// Sends the parent the contacts that moved since the last report on link `id`
    /// (every contact when `all`), at most once per `report_heard_every` unless `all`.
    pub(super) fn report_heard(&mut self, id: SessionId, all: bool) {
        let every = self.ledger.config().sync.report_heard_every;
        let me = self.ledger.config().org;
        let Some(live) = self.sessions.get_mut(&id) else {
            return;
        };
        if live.role != Role::Child
            || (!all && live.reported.last.is_some_and(|t| t.elapsed() < every))
        {
            return;
        }
        let rows = match self.ledger.freshness().heard_subtree(me.subtree_prefix()) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the contact records to report them");
                return;
            }
        };
        let moved: Vec<Contact> = rows
            .into_iter()
            .filter(|(org, h)| all || live.reported.sent.get(org) != Some(&h.at))
            .map(|(org, h)| h.contact(org, me))
            .collect();
        live.reported.last = Some(std::time::Instant::now());
        let frames = live.session.report_heard(moved.clone());
        if frames.is_empty() {
            return;
        }
        for c in moved {
            live.reported.sent.insert(c.org, c.at);
        }
        for f in frames {
            let _ = live.outgoing.send(f);
        }
    }

    /// A child reported contacts with units below it (already limited to its subtree
    /// by the session); each is kept with the unit that had it.
    pub(super) fn record_reported(
        &mut self,
        peer: &PeerIdentity,
        units: &[Contact],
        dropped: usize,
    ) {
        if dropped > 0 {
            tracing::warn!(peer = %peer, dropped, "a contact report named units outside the child's subtree; ignored them");
        }
        let now = now();
        for c in units {
            if let Err(e) =
                self.ledger
                    .freshness()
                    .heard(c.org, c.at, now, c.via.into(), Some(c.heard_by))
            {
                tracing::warn!(unit = %c.org, error = %e, "could not record a reported contact");
            }
        }
    }
}
