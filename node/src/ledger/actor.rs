//! The ledger actor: one thread owns the [`Ledger`] and every sync [`Session`]; async
//! tasks (QUIC links, the local API, the dashboard) talk to it through a
//! [`LedgerHandle`]. Keeping sessions inside the actor lets the sans-I/O session read and
//! write documents directly, while network tasks only move frames.
//!
//! After every request (with the requests already waiting behind it, for at most
//! [`COALESCE_AT_MOST`]) the actor pushes whatever documents changed to every live
//! session (the session decides what its link may carry, and how: a live push or a
//! sync message), so a record written at a village flows to the city hop by hop
//! without polling.

mod contact;
mod status;

use std::collections::BTreeMap;
use std::thread::JoinHandle;

use halfsky_shared::session::{Role, Session, SessionEvent};
use halfsky_shared::wire::Frame;
use tokio::sync::{mpsc, oneshot};

pub use status::offline_status;

use crate::ledger::reader::LedgerReader;
use crate::ledger::Ledger;
use crate::pki::PeerIdentity;
use crate::sync::status::{
    now_text, ChildStatus, NodeStatus, ParentStatus, StatusError, StatusStore, StoredStatus,
};

/// Identifies a session inside the actor.
pub type SessionId = u64;

type Job = Box<dyn FnOnce(&mut Ledger) + Send>;

enum Request {
    Open {
        role: Role,
        peer: PeerIdentity,
        outgoing: mpsc::UnboundedSender<Frame>,
        reply: oneshot::Sender<Result<SessionId, String>>,
    },
    Frame {
        session: SessionId,
        frame: Frame,
        /// Held until the actor has handled the frame: at most [`MAX_QUEUED_FRAMES`]
        /// wait in the mailbox, so a fast peer makes its link wait, not memory grow.
        _permit: tokio::sync::OwnedSemaphorePermit,
    },
    Closed {
        session: SessionId,
        reason: String,
        bytes_in: u64,
        bytes_out: u64,
    },
    LinkFailed {
        reason: String,
    },
    Traffic {
        session: SessionId,
        bytes_in: u64,
        bytes_out: u64,
    },
    Run(Job),
    Status(oneshot::Sender<Result<NodeStatus, StatusError>>),
    Shutdown,
}

/// The actor went away (the node is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the node is shutting down")]
pub struct ActorGone;

/// Why [`LedgerHandle::status`] gave no status: the node is going away, or a record
/// it needs could not be read (then the status says what failed instead of guessing).
#[derive(Debug, thiserror::Error)]
pub enum StatusRequestError {
    /// The actor went away.
    #[error(transparent)]
    Gone(#[from] ActorGone),
    /// A status record or the ledger could not be read.
    #[error(transparent)]
    Status(#[from] StatusError),
}

/// Cheap, cloneable way in to the ledger actor, and to its read-only view for reads
/// that must not queue behind it (the dashboard's pages).
#[derive(Debug, Clone)]
pub struct LedgerHandle {
    tx: mpsc::UnboundedSender<Request>,
    reader: LedgerReader,
    /// Permits for frames from links waiting in the mailbox.
    frames: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Most frames from links waiting for the actor (each at most a 4 MiB frame): beyond
/// this a link stops reading its stream until the actor catches up, and QUIC flow
/// control slows the peer.
pub const MAX_QUEUED_FRAMES: usize = 32;

/// Longest the actor goes on handling requests that were already waiting before it
/// sends the documents they changed: a burst of writes (a script, several cadres at
/// once, frames from several children) then leaves in one frame per link, while a
/// lone write, which finds no request waiting, goes at once. Short against a person's
/// pace and a rural round trip, long enough for many durable writes.
pub const COALESCE_AT_MOST: std::time::Duration = std::time::Duration::from_millis(30);

/// Where the changes of the requests handled in one go came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// No request yet.
    Nothing,
    /// Only frames of this session: changes they made are not echoed back to it, as
    /// its own exchange already covers them.
    Session(SessionId),
    /// Local requests, or frames of several sessions.
    Mixed,
}

impl Origin {
    fn and(self, request: &Request) -> Origin {
        let this = match request {
            Request::Frame { session, .. } => Origin::Session(*session),
            _ => Origin::Mixed,
        };
        match self {
            Origin::Nothing => this,
            same if same == this => same,
            _ => Origin::Mixed,
        }
    }

    fn session(self) -> Option<SessionId> {
        match self {
            Origin::Session(id) => Some(id),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Request")
    }
}

impl LedgerHandle {
    /// The ledger's read-only view: reads from any thread, never waiting on the actor.
    pub fn reader(&self) -> &LedgerReader {
        &self.reader
    }

    /// Runs `f` on the ledger and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Ledger) -> T + Send + 'static,
    ) -> Result<T, ActorGone> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Run(Box::new(move |ledger| {
                let _ = reply.send(f(ledger));
            })))
            .map_err(|_| ActorGone)?;
        rx.await.map_err(|_| ActorGone)
    }

    /// Starts a session with an authenticated peer; its frames go to `outgoing`.
    pub async fn open_session(
        &self,
        role: Role,
        peer: PeerIdentity,
        outgoing: mpsc::UnboundedSender<Frame>,
    ) -> Result<Result<SessionId, String>, ActorGone> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Open {
                role,
                peer,
                outgoing,
                reply,
            })
            .map_err(|_| ActorGone)?;
        rx.await.map_err(|_| ActorGone)
    }

    /// Hands a frame from the peer to its session; waits while
    /// [`MAX_QUEUED_FRAMES`] frames are already waiting for the actor.
    pub async fn frame(&self, session: SessionId, frame: Frame) {
        let permit = self
            .frames
            .clone()
            .acquire_owned()
            .await
            .expect("the frame semaphore is never closed");
        let _ = self.tx.send(Request::Frame {
            session,
            frame,
            _permit: permit,
        });
    }

    /// The link of a session is gone.
    pub fn closed(&self, session: SessionId, reason: String, bytes_in: u64, bytes_out: u64) {
        let _ = self.tx.send(Request::Closed {
            session,
            reason,
            bytes_in,
            bytes_out,
        });
    }

    /// Bytes moved so far by a session's connection (reported every few seconds).
    pub fn traffic(&self, session: SessionId, bytes_in: u64, bytes_out: u64) {
        let _ = self.tx.send(Request::Traffic {
            session,
            bytes_in,
            bytes_out,
        });
    }

    /// Dialling the parent failed (recorded in status).
    pub fn link_failed(&self, reason: String) {
        let _ = self.tx.send(Request::LinkFailed { reason });
    }

    /// The node's status.
    pub async fn status(&self) -> Result<NodeStatus, StatusRequestError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Status(reply))
            .map_err(|_| ActorGone)?;
        Ok(rx.await.map_err(|_| ActorGone)??)
    }
}

/// The actor's thread; dropping it (or calling [`LedgerActor::shutdown`]) stops the
/// actor after the request in hand and closes the ledger.
#[derive(Debug)]
pub struct LedgerActor {
    tx: mpsc::UnboundedSender<Request>,
    thread: Option<JoinHandle<()>>,
}

struct Live {
    session: Session,
    role: Role,
    peer: PeerIdentity,
    /// Cut off (its device was revoked): its frames are ignored until the link closes.
    cut: bool,
    outgoing: mpsc::UnboundedSender<Frame>,
    /// Bytes of this connection so far (added to the totals when it closes).
    bytes_in: u64,
    bytes_out: u64,
    /// Child end: contact times already reported to the parent on this link, and
    /// when the last report went.
    reported: contact::Reported,
}

struct State {
    ledger: Ledger,
    sessions: BTreeMap<SessionId, Live>,
    next_id: SessionId,
    status: StatusStore,
    stored: StoredStatus,
    parent_addr: Option<String>,
}

impl LedgerActor {
    /// Starts the actor on its own thread.
    pub fn start(ledger: Ledger) -> Result<(LedgerActor, LedgerHandle), StatusError> {
        let status = StatusStore::new(ledger.store().clone());
        let mut stored = status.load()?;
        let parent_addr = ledger.config().sync.parent.clone();
        // Nothing is connected at start, whatever was saved.
        if let Some(p) = stored.parent.as_mut() {
            p.connected = false;
        }
        if let Some(addr) = &parent_addr {
            stored.parent.get_or_insert_with(ParentStatus::default).addr = addr.clone();
        } else {
            stored.parent = None;
        }
        for child in stored.children.values_mut() {
            child.connected = false;
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
        let reader = ledger.reader();
        let mut state = State {
            ledger,
            sessions: BTreeMap::new(),
            next_id: 1,
            status,
            stored,
            parent_addr,
        };
        let thread = std::thread::Builder::new()
            .name("halfsky-ledger".into())
            .spawn(move || {
                while let Some(mut request) = rx.blocking_recv() {
                    // Requests already waiting are handled before the changes go out, so
                    // a burst leaves in one frame per link; an idle actor waits for nothing.
                    let started = std::time::Instant::now();
                    let mut origin = Origin::Nothing;
                    let stop = loop {
                        if matches!(request, Request::Shutdown) {
                            break true;
                        }
                        origin = origin.and(&request);
                        state.handle_guarded(request);
                        if started.elapsed() >= COALESCE_AT_MOST {
                            break false;
                        }
                        match rx.try_recv() {
                            Ok(next) => request = next,
                            Err(_) => break false,
                        }
                    };
                    state.propagate(origin.session());
                    if stop {
                        break;
                    }
                }
                state.save_status();
                if let Err(e) = state.ledger.store().flush() {
                    tracing::error!(error = %e, "cannot flush the store while stopping");
                }
            })
            .expect("the OS can start a thread");
        Ok((
            LedgerActor {
                tx: tx.clone(),
                thread: Some(thread),
            },
            LedgerHandle {
                tx,
                reader,
                frames: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_QUEUED_FRAMES)),
            },
        ))
    }

    /// Stops the actor and waits until the ledger is closed (everything durable).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.tx.send(Request::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LedgerActor {
    fn drop(&mut self) {
        self.stop();
    }
}

impl State {
    /// Saves the link status; a failure is logged (the links go on working) and shows
    /// again in `status`, which reads the records back.
    fn save_status(&self) {
        if let Err(e) = self.status.save(&self.stored) {
            tracing::warn!(error = %e, "could not save the link status");
        }
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Open {
                role,
                peer,
                outgoing,
                reply,
            } => {
                let me = self.ledger.config().org;
                let device = self.ledger.config().device.clone();
                let opened = match revoked(&mut self.ledger, &peer) {
                    Some(reason) => Err(reason),
                    None => Session::new(role, me, &device, peer.org, &peer.device),
                };
                match opened {
                    Ok(mut session) => {
                        let frames = session.start(&mut self.ledger);
                        for f in frames {
                            let _ = outgoing.send(f);
                        }
                        let id = self.next_id;
                        self.next_id += 1;
                        let live = Live {
                            session,
                            role,
                            peer,
                            cut: false,
                            outgoing,
                            bytes_in: 0,
                            bytes_out: 0,
                            reported: contact::Reported::default(),
                        };
                        self.sessions.insert(id, live);
                        self.events(id);
                        let _ = reply.send(Ok(id));
                    }
                    Err(reason) => {
                        tracing::warn!(peer = %peer, %reason, "refusing a link");
                        let _ = outgoing.send(Frame::Abort {
                            reason: reason.clone(),
                        });
                        let _ = reply.send(Err(reason));
                    }
                }
            }
            Request::Frame { session, frame, .. } => {
                let Some(live) = self.sessions.get_mut(&session).filter(|l| !l.cut) else {
                    return;
                };
                let frames = live.session.handle(frame, &mut self.ledger);
                for f in frames {
                    let _ = live.outgoing.send(f);
                }
                self.events(session);
            }
            Request::Closed {
                session,
                reason,
                bytes_in,
                bytes_out,
            } => {
                if let Some(live) = self.sessions.remove(&session) {
                    tracing::info!(peer = %live.peer, %reason, "link closed");
                    match live.role {
                        Role::Child => {
                            let p = self.parent_status();
                            p.connected = false;
                            p.bytes_in += bytes_in;
                            p.bytes_out += bytes_out;
                            if !reason.is_empty() {
                                p.last_error = Some(reason);
                            }
                        }
                        Role::Parent => {
                            // Another session of the same device (a reconnect that
                            // overtook this one, or `doctor` checking) keeps it connected.
                            let still = self.sessions.values().any(|other| {
                                other.peer.org == live.peer.org
                                    && other.peer.device == live.peer.device
                            });
                            let c = self.child_status(&live.peer);
                            c.connected = still;
                            c.last_seen = Some(now_text());
                        }
                    }
                    self.save_status();
                }
            }
            Request::Traffic {
                session,
                bytes_in,
                bytes_out,
            } => {
                if let Some(live) = self.sessions.get_mut(&session) {
                    let heard_now = bytes_in > live.bytes_in;
                    live.bytes_in = bytes_in;
                    live.bytes_out = bytes_out;
                    // Changes held behind a push wait at most until this report.
                    for f in live.session.release_held(&mut self.ledger) {
                        let _ = live.outgoing.send(f);
                    }
                    self.on_traffic(session, heard_now);
                    self.events(session);
                }
            }
            Request::LinkFailed { reason } => {
                let p = self.parent_status();
                p.connected = false;
                p.last_error = Some(reason);
                self.save_status();
            }
            Request::Run(job) => job(&mut self.ledger),
            Request::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Request::Shutdown => {}
        }
    }

    /// Handles `request`, catching a panic inside it (a bug, or a document that trips
    /// one in a library) so that the node and its other links go on: the link whose
    /// frame caused it is cut with the reason, and documents reload from the store,
    /// which holds only what was made durable.
    fn handle_guarded(&mut self, request: Request) {
        let session = match &request {
            Request::Frame { session, .. } => Some(*session),
            _ => None,
        };
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.handle(request);
        }));
        let Err(panic) = caught else {
            return;
        };
        let what = panic_message(panic.as_ref());
        tracing::error!(%what, ?session, "a request failed inside the node; documents reload from the store");
        self.ledger.reload_documents();
        if let Some(live) = session.and_then(|id| self.sessions.get_mut(&id)) {
            live.cut = true;
            let _ = live.outgoing.send(Frame::Abort {
                reason: format!(
                    "the node failed while handling a frame ({what}); the link is closed and the next one starts afresh"
                ),
            });
        }
    }

    fn parent_status(&mut self) -> &mut ParentStatus {
        let addr = self.parent_addr.clone().unwrap_or_default();
        self.stored.parent.get_or_insert_with(|| ParentStatus {
            addr,
            ..ParentStatus::default()
        })
    }

    fn child_status(&mut self, peer: &PeerIdentity) -> &mut ChildStatus {
        self.stored
            .children
            .entry(format!("{}/{}", peer.org, peer.device))
            .or_insert_with(|| ChildStatus {
                org: peer.org,
                device: peer.device.clone(),
                connected: false,
                last_seen: None,
                last_sync: None,
                documents: 0,
                last_error: None,
                heard: None,
                clock_skew_ms: None,
            })
    }

    /// Applies what a session reported to the status.
    fn events(&mut self, id: SessionId) {
        let Some(live) = self.sessions.get_mut(&id) else {
            return;
        };
        let events = live.session.take_events();
        let role = live.role;
        let peer = live.peer.clone();
        let closed = live.session.is_closed();
        let mut dirty = false;
        for event in events {
            match (&event, role) {
                (SessionEvent::Ready, Role::Child) => {
                    self.heard_directly(peer.org);
                    self.report_heard(id, true);
                    let p = self.parent_status();
                    p.connected = true;
                    p.connected_since = Some(now_text());
                    dirty = true;
                }
                (SessionEvent::Ready, Role::Parent) => {
                    self.heard_directly(peer.org);
                    let c = self.child_status(&peer);
                    c.connected = true;
                    c.last_seen = Some(now_text());
                    dirty = true;
                }
                (SessionEvent::Synced, Role::Child) => {
                    self.heard_directly(peer.org);
                    let p = self.parent_status();
                    p.last_sync = Some(now_text());
                    p.last_error = None;
                    dirty = true;
                }
                (SessionEvent::Synced, Role::Parent) => {
                    let c = self.child_status(&peer);
                    c.last_sync = Some(now_text());
                    c.last_seen = Some(now_text());
                    dirty = true;
                }
                (SessionEvent::PeerHeads(org, heads), Role::Child) => {
                    if let Err(e) = self.status.set_acked(org, heads) {
                        tracing::warn!(document = %org, error = %e, "could not save an acknowledgement");
                    }
                }
                (SessionEvent::PeerHeads(..), Role::Parent) => {
                    self.child_status(&peer).last_seen = Some(now_text());
                }
                (
                    SessionEvent::Refused {
                        org,
                        reason,
                        by_peer,
                    },
                    _,
                ) => {
                    let who = if *by_peer {
                        "the peer refused"
                    } else {
                        "refused"
                    };
                    tracing::warn!(peer = %peer, document = %org, %reason, "{who} a document");
                    if *by_peer {
                        // The sender's end of a refusal: recorded beside this node's own.
                        let record = crate::ledger::trust::RefusalRecord {
                            at: now_text(),
                            org: *org,
                            change: None,
                            rule: rule_in(reason).to_string(),
                            reason: reason.clone(),
                            sender: peer.to_string(),
                            door: "sync".into(),
                            by_peer: true,
                        };
                        if let Err(e) = self.ledger.trust().record(&record) {
                            tracing::warn!(error = %e, "cannot record a refusal by the peer");
                        }
                    }
                    let text = format!("{who} document {org}: {reason}");
                    match role {
                        Role::Child => self.parent_status().last_error = Some(text),
                        Role::Parent => self.child_status(&peer).last_error = Some(text),
                    }
                    dirty = true;
                }
                (SessionEvent::Closed(reason), _) => {
                    tracing::warn!(peer = %peer, %reason, "session ended");
                    match role {
                        Role::Child => self.parent_status().last_error = Some(reason.clone()),
                        Role::Parent => self.child_status(&peer).last_error = Some(reason.clone()),
                    }
                    dirty = true;
                }
                (SessionEvent::PeerClock { skew_ms }, _) => {
                    let skew_ms = *skew_ms;
                    let who = match role {
                        Role::Child => format!("the parent {}", peer.org),
                        Role::Parent => format!("the child {}", peer.org),
                    };
                    if crate::sync::clock::level(skew_ms) != crate::sync::clock::SkewLevel::Fine {
                        tracing::warn!(peer = %peer, skew_ms, "{}", crate::sync::clock::describe(skew_ms, &who));
                    }
                    match role {
                        Role::Child => self.parent_status().clock_skew_ms = Some(skew_ms),
                        Role::Parent => self.child_status(&peer).clock_skew_ms = Some(skew_ms),
                    }
                    dirty = true;
                }
                (SessionEvent::Heard { units, dropped }, _) => {
                    self.record_reported(&peer, units, *dropped);
                }
                (SessionEvent::DocChanged(_), _) => {}
            }
        }
        if closed {
            self.sessions.remove(&id);
        }
        if dirty {
            self.save_status();
        }
    }

    /// Pushes changed documents to every live session but `origin`.
    fn propagate(&mut self, origin: Option<SessionId>) {
        let changed = self.ledger.take_changed();
        if changed.is_empty() {
            return;
        }
        self.cut_revoked(&changed);
        let ids: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(id, live)| Some(**id) != origin && !live.cut)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let Some(live) = self.sessions.get_mut(&id) else {
                continue;
            };
            for org in &changed {
                for f in live.session.local_change(org, &mut self.ledger) {
                    let _ = live.outgoing.send(f);
                }
            }
            self.events(id);
        }
        // Writes made while answering sessions may have changed more documents.
        if !self.ledger.take_changed().is_empty() {
            tracing::debug!("documents changed while propagating");
        }
    }

    /// When the CA unit's document changed (it carries the revocations), cuts off every
    /// live link whose device is now revoked: it gets an Abort with the reason, and
    /// nothing more it sends is applied.
    fn cut_revoked(&mut self, changed: &std::collections::BTreeSet<halfsky_shared::OrgCode>) {
        let ca = crate::pki::revocation::ca_of_home(self.ledger.home().dir());
        if !matches!(&ca, Ok(Some(ca)) if changed.contains(&ca.org)) {
            return;
        }
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            let peer = match self.sessions.get(&id) {
                Some(live) if !live.cut => live.peer.clone(),
                _ => continue,
            };
            if let Some(reason) = revoked(&mut self.ledger, &peer) {
                tracing::warn!(%peer, %reason, "cutting off a link");
                if let Some(live) = self.sessions.get_mut(&id) {
                    live.cut = true;
                    let _ = live.outgoing.send(Frame::Abort { reason });
                }
            }
        }
    }

    fn status(&mut self) -> Result<NodeStatus, StatusError> {
        let live = self
            .sessions
            .values()
            .filter(|l| l.role == Role::Child)
            .fold((0, 0), |(i, o), l| (i + l.bytes_in, o + l.bytes_out));
        status::node_status(&mut self.ledger, &self.status, &self.stored, Some(live))
    }
}

/// The text a panic carried, if it was a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Why `peer` may not have a link: its device was revoked (or the list cannot be
/// read, and then no link is opened until it can).
fn revoked(ledger: &mut Ledger, peer: &PeerIdentity) -> Option<String> {
    match crate::pki::revocation::find(ledger, peer) {
        Ok(Some(r)) => Some(crate::pki::revocation::refusal(&r)),
        Ok(None) => None,
        Err(e) => Some(format!("cannot check whether {peer} is revoked: {e}")),
    }
}

/// The rule named in a refusal's reason (`… refused (foreign-record): …`), or
/// `refused` when the peer gave none (an older release, a scope refusal).
fn rule_in(reason: &str) -> &str {
    reason
        .split('(')
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .find(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .unwrap_or("refused")
}

#[cfg(test)]
mod tests;
