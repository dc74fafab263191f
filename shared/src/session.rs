//! The sync session between a child node and its parent, as a pure state machine.
//!
//! Inputs: frames from the peer and local document changes. Outputs: frames to send
//! and [`SessionEvent`]s for the node (status, propagation). Documents are reached
//! through the [`Replica`] trait, so the same logic runs against sled in the node and
//! against in-memory documents in tests. No sockets, no clocks.
//!
//! ```text
//! child                                   parent
//! Hello, Inventory{digest}  ───────────▶
//!                           ◀───────────  Hello, InventoryMatch        (nothing changed: 1 RTT)
//!                           ◀───────────  Hello, InventoryDetail{heads} (something did)
//!                           ◀───────────  Resume{partial}              (first, if bundles were cut off)
//! Piece…|Changes… Sync{msg} ───────────▶  (bundles, batches for far-behind docs; then Automerge sync)
//!                           ◀───────────  Sync{msg} | Synced{heads}
//! … live, both ways, until the link drops:
//! Push{changes}             ───────────▶  (peer's heads known and held here: see `push`)
//!                           ◀───────────  Synced{heads} | Sync{msg} (histories diverged)
//! Sync{msg}                 ───────────▶  (peer's heads unknown, or a peer before pushes)
//! ```
//!
//! Authorization: a link authenticated as child C carries only documents of C's subtree
//! upward, and only documents of C's subtree and ancestors downward. Anything else is
//! answered with `Refused` and changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use automerge::sync;
use automerge::ChangeHash;

use crate::org::OrgCode;
use crate::wire::{
    Contact, Frame, CLOCK_SINCE_VERSION, HEARD_SINCE_VERSION, MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
};

/// Largest catch-up batch of raw changes (bytes): a dropped link loses at most this.
pub const BATCH_BYTES: usize = 48 * 1024;

/// Which end of the link this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Dials its parent and pushes its subtree upward.
    Child,
    /// Accepts a child and sends its ancestors' documents down.
    Parent,
}

/// What a link between parent and child `child` may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkScope {
    /// The child end's org unit.
    pub child: OrgCode,
}

impl LinkScope {
    /// Documents the child may push up: its own subtree.
    pub fn upward(&self, org: &OrgCode) -> bool {
        org.is_in_subtree_of(&self.child)
    }

    /// Documents the parent may send down: the child's subtree and its ancestors.
    pub fn downward(&self, org: &OrgCode) -> bool {
        self.upward(org) || self.child.ancestors().contains(org)
    }
}

/// A catch-up record: key and value.
pub type Record = (Vec<u8>, Vec<u8>);
/// A catch-up write: key, and the value to put (`None`: remove the key).
pub type Write = (Vec<u8>, Option<Vec<u8>>);

/// A node's documents, as the session needs them.
pub trait Replica {
    /// Error of the underlying store, shown in `Abort` reasons.
    type Error: std::fmt::Display;
    /// Every document held whose org satisfies `filter`, with its heads, sorted by org.
    fn documents(
        &mut self,
        filter: &dyn Fn(&OrgCode) -> bool,
    ) -> Result<Vec<(OrgCode, Vec<ChangeHash>)>, Self::Error>;
    /// Heads of one document (empty if not held).
    fn heads(&mut self, org: &OrgCode) -> Result<Vec<ChangeHash>, Self::Error>;
    /// Saved sync state for (peer, document).
    fn load_state(&mut self, peer: &str, org: &OrgCode) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Saves sync state for (peer, document).
    fn save_state(&mut self, peer: &str, org: &OrgCode, state: &[u8]) -> Result<(), Self::Error>;
    /// Next Automerge sync message for the peer, if any.
    fn generate(
        &mut self,
        org: &OrgCode,
        state: &mut sync::State,
    ) -> Result<Option<sync::Message>, Self::Error>;
    /// Applies a sync message from `peer` (`<org>/<device>`); whatever it adds is
    /// admitted and durable on return. Returns true if the document changed.
    fn receive(
        &mut self,
        peer: &str,
        org: &OrgCode,
        state: &mut sync::State,
        message: sync::Message,
    ) -> Result<bool, Self::Error>;
    /// Changes the holder of `their_heads` lacks, in dependency order, as raw bytes;
    /// `None` if `their_heads` are not all known here (histories diverged).
    fn changes_since(
        &mut self,
        org: &OrgCode,
        their_heads: &[ChangeHash],
    ) -> Result<Option<Vec<Vec<u8>>>, Self::Error>;
    /// True if the document holds every one of `changes` (true for none).
    fn holds(&mut self, org: &OrgCode, changes: &[ChangeHash]) -> Result<bool, Self::Error>;
    /// Raw bytes of the named changes, in that order; `None` if one is not held.
    fn raw_changes(
        &mut self,
        org: &OrgCode,
        changes: &[ChangeHash],
    ) -> Result<Option<Vec<Vec<u8>>>, Self::Error>;
    /// Admits and applies raw changes (a catch-up batch or a live push, as
    /// `delivery` says) from `peer`, durable on return.
    fn apply_changes(
        &mut self,
        peer: &str,
        org: &OrgCode,
        changes: Vec<Vec<u8>>,
        delivery: Delivery,
    ) -> Result<bool, Self::Error>;
    /// What the holder of `their_heads` lacks, planned as bundles and a raw tail
    /// ([`catch_up::plan`]); `None` if `their_heads` are not all known here.
    fn bundles_since(
        &mut self,
        org: &OrgCode,
        their_heads: &[ChangeHash],
    ) -> Result<Option<Plan>, Self::Error>;
    /// One catch-up record (bundles kept for resuming, pieces received: see
    /// [`catch_up`]).
    fn catch_up_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error>;
    /// The catch-up records whose keys start with `prefix`, in key order.
    fn catch_up_scan(&mut self, prefix: &[u8]) -> Result<Vec<Record>, Self::Error>;
    /// Writes (`Some`) and removes (`None`) catch-up records all at once, durable on
    /// return.
    fn catch_up_write(
        &mut self,
        writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), Self::Error>;
    /// How much a bundle from another node may inflate to.
    fn caps(&self) -> crate::admission::Caps {
        crate::admission::Caps::default()
    }
}

/// What the node learns from a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// Hellos exchanged; the peer is who its certificate says.
    Ready,
    /// Everything this side had for the peer has reached it, and the reverse.
    Synced,
    /// A document changed through this session (propagate it to other links).
    DocChanged(OrgCode),
    /// The peer holds these heads of a document (acknowledgement).
    PeerHeads(OrgCode, Vec<ChangeHash>),
    /// A document message was refused (by us, or by the peer when `by_peer`).
    Refused {
        /// The document.
        org: OrgCode,
        /// Why.
        reason: String,
        /// The peer refused ours (rather than we theirs).
        by_peer: bool,
    },
    /// The child reported when units below it were last heard from; only units
    /// strictly inside its subtree are kept (`dropped` counts the others).
    Heard {
        /// Contacts with units of the child's subtree.
        units: Vec<Contact>,
        /// Rows about units outside the child's subtree, ignored.
        dropped: usize,
    },
    /// The peer told its wall clock ([`Frame::Clock`]): `skew_ms` is how far it runs
    /// ahead of this node's clock (negative: behind), network delay included.
    PeerClock {
        /// Peer's clock minus ours, in milliseconds.
        skew_ms: i64,
    },
    /// The session ended.
    Closed(String),
}

/// This machine's wall clock, Unix milliseconds.
pub fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitHello,
    Inventory,
    Live,
    Closed,
}

/// One end of a sync session.
#[derive(Debug)]
pub struct Session {
    role: Role,
    me: OrgCode,
    device: String,
    peer_org: OrgCode,
    peer_device: String,
    scope: LinkScope,
    phase: Phase,
    /// The protocol version the peer's Hello named (0 before it).
    peer_version: u16,
    states: BTreeMap<OrgCode, sync::State>,
    /// Child: documents still being brought in sync during the initial catch-up.
    pending: BTreeSet<OrgCode>,
    events: Vec<SessionEvent>,
    /// Frames that arrived before the peer's Hello (streams can overtake each other).
    early: Vec<Frame>,
    /// Child: the documents and heads summarised in its Inventory (acknowledged as a
    /// whole when the parent answers InventoryMatch).
    summarised: Vec<(OrgCode, Vec<ChangeHash>)>,
    /// Live: what the peer holds of each document, where known (see [`push`]).
    peer_copies: BTreeMap<OrgCode, push::PeerCopy>,
    /// Child: bundles the parent holds in part (from its `Resume`), by document.
    resume: BTreeMap<OrgCode, ([u8; 32], u64)>,
}

/// A contact row `child` may report: about a unit strictly below it, heard by `child`
/// or a unit between them.
fn admissible(c: &Contact, child: &OrgCode) -> bool {
    c.org != *child
        && c.org != c.heard_by
        && c.org.is_in_subtree_of(&c.heard_by)
        && c.heard_by.is_in_subtree_of(child)
}

/// Frames held back while waiting for the peer's Hello; more is a misbehaving peer.
const MAX_EARLY_FRAMES: usize = 256;

fn raw_heads(heads: &[ChangeHash]) -> Vec<[u8; 32]> {
    heads.iter().map(|h| h.0).collect()
}

fn hashes(raw: &[[u8; 32]]) -> Vec<ChangeHash> {
    raw.iter().map(|h| ChangeHash(*h)).collect()
}

impl Session {
    /// A session with the peer authenticated (by certificate) as `peer_org`/`peer_device`.
    /// Refuses a pairing that is not child-below-parent.
    pub fn new(
        role: Role,
        me: OrgCode,
        device: &str,
        peer_org: OrgCode,
        peer_device: &str,
    ) -> Result<Self, String> {
        let child = match role {
            Role::Child => me,
            Role::Parent => peer_org,
        };
        let parent = match role {
            Role::Child => peer_org,
            Role::Parent => me,
        };
        if parent == child || !child.is_in_subtree_of(&parent) {
            return Err(format!(
                "{child} is not below {parent}: a node syncs only with a unit above or below it"
            ));
        }
        Ok(Session {
            role,
            me,
            device: device.to_string(),
            peer_org,
            peer_device: peer_device.to_string(),
            scope: LinkScope { child },
            phase: Phase::AwaitHello,
            peer_version: 0,
            states: BTreeMap::new(),
            pending: BTreeSet::new(),
            events: Vec::new(),
            early: Vec::new(),
            summarised: Vec::new(),
            peer_copies: BTreeMap::new(),
            resume: BTreeMap::new(),
        })
    }

    /// The key under which sync states with this peer are saved.
    pub fn peer_key(&self) -> String {
        format!("{}/{}", self.peer_org, self.peer_device)
    }

    /// What this link may carry.
    pub fn scope(&self) -> LinkScope {
        self.scope
    }

    /// True once closed (after an `Abort`, sent or received).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// True in live mode (initial exchange done).
    pub fn is_live(&self) -> bool {
        self.phase == Phase::Live
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<SessionEvent> {
        std::mem::take(&mut self.events)
    }

    /// Documents this side sends on this link.
    fn may_send(&self, org: &OrgCode) -> bool {
        match self.role {
            Role::Child => self.scope.upward(org),
            Role::Parent => self.scope.downward(org),
        }
    }

    /// Documents the peer may send us with changes.
    fn may_receive(&self, org: &OrgCode) -> bool {
        match self.role {
            Role::Child => self.scope.downward(org),
            Role::Parent => self.scope.upward(org),
        }
    }

    /// Why the peer may not change `org` (its refusal reason).
    fn no_write_reason(&self, org: &OrgCode) -> String {
        format!(
            "{} may not change document {org}: a link from {} carries only its own subtree upward",
            self.peer_org, self.scope.child
        )
    }

    fn in_scope(&self, org: &OrgCode) -> bool {
        self.scope.downward(org)
    }

    /// First frames to send.
    pub fn start<R: Replica>(&mut self, replica: &mut R) -> Vec<Frame> {
        let mut out = vec![Frame::Hello {
            version: PROTOCOL_VERSION,
            org: self.me,
            device: self.device.clone(),
        }];
        if self.role == Role::Child {
            let scope = self.scope;
            match replica.documents(&|o| scope.downward(o)) {
                Ok(docs) => {
                    out.push(Frame::Inventory {
                        digest: digest(&docs),
                        docs: docs.len() as u32,
                    });
                    self.summarised = docs;
                }
                Err(e) => return self.abort(format!("cannot read local documents: {e}")),
            }
        }
        out
    }

    fn abort(&mut self, reason: String) -> Vec<Frame> {
        self.phase = Phase::Closed;
        self.events.push(SessionEvent::Closed(reason.clone()));
        vec![Frame::Abort { reason }]
    }

    fn refuse(&mut self, org: OrgCode, reason: String) -> Vec<Frame> {
        self.events.push(SessionEvent::Refused {
            org,
            reason: reason.clone(),
            by_peer: false,
        });
        vec![Frame::Refused { org, reason }]
    }

    fn state<R: Replica>(
        &mut self,
        org: &OrgCode,
        replica: &mut R,
    ) -> Result<&mut sync::State, String> {
        if !self.states.contains_key(org) {
            let peer = self.peer_key();
            let state = match replica.load_state(&peer, org).map_err(|e| e.to_string())? {
                // Always start from the saved state: a live state reused across a drop
                // can stall the protocol.
                Some(bytes) => sync::State::decode(&bytes).unwrap_or_default(),
                None => sync::State::new(),
            };
            self.states.insert(*org, state);
        }
        Ok(self.states.get_mut(org).expect("just inserted"))
    }

    fn save<R: Replica>(&mut self, org: &OrgCode, replica: &mut R) -> Result<(), String> {
        let peer = self.peer_key();
        if let Some(state) = self.states.get(org) {
            replica
                .save_state(&peer, org, &state.encode())
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Generates the next sync message for `org`: `Sync`, or `Synced` if nothing to say.
    fn next_message<R: Replica>(
        &mut self,
        org: OrgCode,
        replica: &mut R,
        quiet_reply: bool,
    ) -> Result<Vec<Frame>, String> {
        let state = self.state(&org, replica)?;
        let mut state_taken = std::mem::take(state);
        let generated = replica
            .generate(&org, &mut state_taken)
            .map_err(|e| e.to_string());
        *self.states.get_mut(&org).expect("loaded") = state_taken;
        self.save(&org, replica)?;
        match generated? {
            Some(message) => Ok(vec![Frame::Sync {
                org,
                message: message.encode(),
            }]),
            None if quiet_reply => {
                let heads = replica.heads(&org).map_err(|e| e.to_string())?;
                Ok(vec![Frame::Synced {
                    org,
                    heads: raw_heads(&heads),
                }])
            }
            None => Ok(Vec::new()),
        }
    }

    /// A local document changed: send it if this link carries it (live mode), as a
    /// push when the peer's heads are known, else as a sync message.
    pub fn local_change<R: Replica>(&mut self, org: &OrgCode, replica: &mut R) -> Vec<Frame> {
        if self.phase != Phase::Live || !self.may_send(org) {
            return Vec::new();
        }
        let frames = match self.push(org, replica) {
            Ok(Some(frames)) => Ok(frames),
            Ok(None) => self.next_message(*org, replica, false),
            Err(e) => Err(e),
        };
        match frames {
            Ok(frames) => frames,
            Err(e) => self.abort(format!("cannot read document {org}: {e}")),
        }
    }

    /// A contact report for the parent: `units` filtered to this child's subtree
    /// (itself excluded), each heard by a unit above it in that subtree. Nothing before
    /// the peer's Hello, after the end, at a parent or when no row is left.
    pub fn report_heard(&self, units: Vec<Contact>) -> Vec<Frame> {
        if self.role != Role::Child
            || matches!(self.phase, Phase::AwaitHello | Phase::Closed)
            || self.peer_version < HEARD_SINCE_VERSION
        {
            return Vec::new();
        }
        let units: Vec<Contact> = units
            .into_iter()
            .filter(|c| admissible(c, &self.me))
            .collect();
        if units.is_empty() {
            return Vec::new();
        }
        vec![Frame::Heard { units }]
    }

    fn on_heard(&mut self, units: Vec<Contact>) -> Result<Vec<Frame>, String> {
        if self.role != Role::Parent {
            return Err("the parent sent a contact report; only children report".into());
        }
        let child = self.scope.child;
        let total = units.len();
        let units: Vec<Contact> = units
            .into_iter()
            .filter(|c| admissible(c, &child))
            .collect();
        self.events.push(SessionEvent::Heard {
            dropped: total - units.len(),
            units,
        });
        Ok(Vec::new())
    }

    /// Handles one frame from the peer; returns frames to send.
    pub fn handle<R: Replica>(&mut self, frame: Frame, replica: &mut R) -> Vec<Frame> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        let result = match frame {
            Frame::Hello {
                version,
                org,
                device,
            } => self.on_hello(version, org, device),
            Frame::Abort { reason } => {
                self.phase = Phase::Closed;
                self.events.push(SessionEvent::Closed(format!(
                    "the peer ended the session: {reason}"
                )));
                return Vec::new();
            }
            _ if self.phase == Phase::AwaitHello => {
                if self.early.len() >= MAX_EARLY_FRAMES {
                    Err(format!("{} frames before Hello", self.early.len()))
                } else {
                    self.early.push(frame);
                    Ok(Vec::new())
                }
            }
            Frame::Inventory { digest: theirs, .. } => self.on_inventory(theirs, replica),
            Frame::InventoryMatch => self.on_inventory_match(),
            Frame::InventoryDetail { docs } => self.on_inventory_detail(docs, replica),
            Frame::Sync { org, message } => self.on_sync(org, &message, replica),
            Frame::Changes { org, changes } => self.on_changes(org, changes, replica),
            Frame::Push { org, base, packed } => self.on_push(org, hashes(&base), &packed, replica),
            Frame::Synced { org, heads } => self.on_synced(org, hashes(&heads), replica),
            Frame::Piece {
                org,
                id,
                total,
                offset,
                target,
                bytes,
            } => Ok(self.on_piece(
                org,
                catch_up::Piece {
                    id,
                    total,
                    offset,
                    target,
                    bytes,
                },
                replica,
            )),
            Frame::Resume { partial } => self.on_resume(partial),
            Frame::Heard { units } => self.on_heard(units),
            Frame::Clock { unix_ms } => {
                self.events.push(SessionEvent::PeerClock {
                    skew_ms: unix_ms.saturating_sub(unix_ms_now()),
                });
                Ok(Vec::new())
            }
            Frame::Refused { org, reason } => {
                // What the peer holds is no longer what we pushed.
                self.forget(&org);
                self.events.push(SessionEvent::Refused {
                    org,
                    reason,
                    by_peer: true,
                });
                self.pending.remove(&org);
                self.maybe_done();
                Ok(Vec::new())
            }
        };
        match result {
            Ok(mut frames) => {
                if self.phase != Phase::AwaitHello && !self.early.is_empty() {
                    for f in std::mem::take(&mut self.early) {
                        frames.extend(self.handle(f, replica));
                    }
                }
                frames
            }
            Err(reason) => self.abort(reason),
        }
    }

    fn on_hello(
        &mut self,
        version: u16,
        org: OrgCode,
        device: String,
    ) -> Result<Vec<Frame>, String> {
        if self.phase != Phase::AwaitHello {
            return Err("a second Hello".into());
        }
        if let Some(reason) = version_skew(version, self.me, org) {
            return Err(reason);
        }
        self.peer_version = version;
        if org != self.peer_org || device != self.peer_device {
            return Err(format!(
                "Hello says {org}/{device} but the certificate says {}/{}",
                self.peer_org, self.peer_device
            ));
        }
        self.phase = Phase::Inventory;
        self.events.push(SessionEvent::Ready);
        if version >= CLOCK_SINCE_VERSION {
            return Ok(vec![Frame::Clock {
                unix_ms: unix_ms_now(),
            }]);
        }
        Ok(Vec::new())
    }

    fn on_sync<R: Replica>(
        &mut self,
        org: OrgCode,
        bytes: &[u8],
        replica: &mut R,
    ) -> Result<Vec<Frame>, String> {
        if !self.in_scope(&org) {
            return Ok(self.refuse(
                org,
                format!(
                    "document {org} is outside what the link with {} may carry",
                    self.scope.child
                ),
            ));
        }
        let message = match sync::Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => return Ok(self.refuse(org, format!("malformed sync message: {e}"))),
        };
        if !message.changes.is_empty() && !self.may_receive(&org) {
            return Ok(self.refuse(org, self.no_write_reason(&org)));
        }
        // A sync exchange is running: what the peer holds is known again when it ends.
        self.forget(&org);
        let had_changes = !message.changes.is_empty();
        let their_heads = message.heads.clone();
        let state = self.state(&org, replica)?;
        let mut state_taken = std::mem::take(state);
        let peer = self.peer_key();
        let received = replica.receive(&peer, &org, &mut state_taken, message);
        *self.states.get_mut(&org).expect("loaded") = state_taken;
        match received {
            Ok(changed) => {
                if changed {
                    self.events.push(SessionEvent::DocChanged(org));
                }
            }
            Err(e) if had_changes => {
                return Ok(self.refuse(org, format!("changes could not be applied: {e}")));
            }
            Err(e) => return Err(format!("cannot apply sync message for {org}: {e}")),
        }
        self.save(&org, replica)?;
        self.events
            .push(SessionEvent::PeerHeads(org, their_heads.clone()));
        let reply = self.next_message(org, replica, true)?;
        if let [Frame::Synced { heads, .. }] = reply.as_slice() {
            // We are quiet; if the peer holds exactly what we hold, this document is done.
            let mut mine = hashes(heads);
            let mut theirs = their_heads;
            mine.sort();
            theirs.sort();
            if mine == theirs {
                self.learn(org, mine);
                self.pending.remove(&org);
                self.maybe_done();
            }
        }
        Ok(reply)
    }

    fn on_changes<R: Replica>(
        &mut self,
        org: OrgCode,
        changes: Vec<Vec<u8>>,
        replica: &mut R,
    ) -> Result<Vec<Frame>, String> {
        if !self.may_receive(&org) {
            return Ok(self.refuse(org, self.no_write_reason(&org)));
        }
        match replica.apply_changes(&self.peer_key(), &org, changes, Delivery::CatchUp) {
            Ok(true) => self.events.push(SessionEvent::DocChanged(org)),
            Ok(false) => {}
            Err(e) => return Ok(self.refuse(org, format!("changes could not be applied: {e}"))),
        }
        Ok(Vec::new())
    }

    fn on_synced<R: Replica>(
        &mut self,
        org: OrgCode,
        heads: Vec<ChangeHash>,
        replica: &mut R,
    ) -> Result<Vec<Frame>, String> {
        if !self.in_scope(&org) {
            return Ok(Vec::new());
        }
        self.events
            .push(SessionEvent::PeerHeads(org, heads.clone()));
        if let Some(frames) = self.on_answer(org, heads.clone(), replica)? {
            if frames.is_empty() {
                self.pending.remove(&org);
                self.maybe_done();
            }
            return Ok(frames);
        }
        let mut mine = replica.heads(&org).map_err(|e| e.to_string())?;
        let mut theirs = heads;
        mine.sort();
        theirs.sort();
        if mine == theirs {
            self.pending.remove(&org);
            self.maybe_done();
            return Ok(Vec::new());
        }
        // They are quiet but we differ: we may have more for them.
        let frames = if self.may_send(&org) || self.may_receive(&org) {
            self.next_message(org, replica, false)?
        } else {
            Vec::new()
        };
        if frames.is_empty() {
            self.pending.remove(&org);
            self.maybe_done();
        }
        Ok(frames)
    }

    fn maybe_done(&mut self) {
        if self.phase == Phase::Live
            && self.pending.is_empty()
            && !self.events.contains(&SessionEvent::Synced)
        {
            self.events.push(SessionEvent::Synced);
        }
    }

    /// Documents still being caught up (child side).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Why a peer speaking session protocol `version` cannot sync with this release, in
/// words that name the office to upgrade (read at both ends: it travels in `Abort`).
/// `None`: the versions sync.
pub fn version_skew(version: u16, me: OrgCode, peer: OrgCode) -> Option<String> {
    let (newer, upgrade) = if version > PROTOCOL_VERSION {
        ("a newer", me)
    } else if version < MIN_PROTOCOL_VERSION {
        ("an older", peer)
    } else {
        return None;
    };
    Some(format!(
        "unsupported protocol version {version}: {peer} ({}) runs {newer} halfsky than {me} ({}, which speaks versions {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}); upgrade the {} {upgrade} to the current halfsky release, then the two sync again",
        peer.level(),
        me.level(),
        upgrade.level()
    ))
}

/// How raw changes reached [`Replica::apply_changes`]: the receiver records it with
/// any refusal, so an administrator sees which door a bad change came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A catch-up: a `Changes` batch or a completed bundle of pieces.
    CatchUp,
    /// A live push of new changes.
    Push,
}

mod catch_up;
mod inventory;
pub use inventory::digest;
mod pack;
mod push;
pub use catch_up::{batches, partial_bundles, plan, Plan, Planned};

#[cfg(test)]
mod tests;
