//! Background compaction: replaces a document's many small chunks by one snapshot, on
//! its own thread so writers never wait for it. Requests for a document already queued
//! are merged; dropping the handle finishes the compaction in flight, skips the queue
//! (everything is already durable) and stops the thread.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use automerge::AutoCommit;
use halfsky_shared::OrgCode;

use crate::store::{Storage, StoreError};

/// Handle to the compaction thread.
#[derive(Debug)]
pub struct Compactor {
    sender: Option<mpsc::Sender<OrgCode>>,
    thread: Option<JoinHandle<()>>,
    /// Documents requested and not yet compacted: a request is sent once per document,
    /// however many writes ask for it meanwhile.
    pending: Arc<Mutex<BTreeSet<OrgCode>>>,
    /// Set on drop: queued requests are skipped (their data is already durable).
    stopping: Arc<AtomicBool>,
}

/// Compacts one document now: load everything, save one snapshot, drop the chunks.
pub fn compact_now(store: &dyn Storage, org: &OrgCode) -> Result<(), StoreError> {
    let Some(stored) = store.load(org)? else {
        return Ok(());
    };
    let mut doc = AutoCommit::load(&stored.concatenated())
        .map_err(|e| StoreError::Corrupt(format!("document {org} does not load: {e}")))?;
    store.compact(org, &doc.save(), stored.last_seq())
}

impl Compactor {
    /// Starts the thread.
    pub fn start(store: Arc<dyn Storage>) -> Self {
        let (sender, receiver) = mpsc::channel::<OrgCode>();
        let pending: Arc<Mutex<BTreeSet<OrgCode>>> = Arc::default();
        let stopping = Arc::new(AtomicBool::new(false));
        let (thread_pending, thread_stopping) = (pending.clone(), stopping.clone());
        let thread = std::thread::Builder::new()
            .name("halfsky-compactor".into())
            .spawn(move || {
                while let Ok(org) = receiver.recv() {
                    if thread_stopping.load(Ordering::Relaxed) {
                        break;
                    }
                    thread_pending.lock().expect("compactor lock").remove(&org);
                    if let Err(e) = compact_now(store.as_ref(), &org) {
                        tracing::warn!(%org, error = %e, "compaction failed; will retry on the next write");
                    }
                }
            })
            .expect("the OS can start a thread");
        Compactor {
            sender: Some(sender),
            thread: Some(thread),
            pending,
            stopping,
        }
    }

    /// Asks for `org` to be compacted soon (once, however often it is asked).
    pub fn request(&self, org: OrgCode) {
        if !self.pending.lock().expect("compactor lock").insert(org) {
            return;
        }
        if let Some(sender) = &self.sender {
            let _ = sender.send(org);
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        // Finish the compaction in progress, skip the queue.
        self.stopping.store(true, Ordering::Relaxed);
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
