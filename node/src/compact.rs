//! Background compaction: replaces a document's many small chunks by one snapshot, on
//! its own thread so writers never wait for it. Dropping the handle finishes the work
//! in flight and stops the thread.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use automerge::AutoCommit;
use halfsky_shared::OrgCode;

use crate::store::{SledStore, Storage, StoreError};

/// Handle to the compaction thread.
#[derive(Debug)]
pub struct Compactor {
    sender: Option<mpsc::Sender<OrgCode>>,
    thread: Option<JoinHandle<()>>,
}

/// Compacts one document now: load everything, save one snapshot, drop the chunks.
pub fn compact_now(store: &SledStore, org: &OrgCode) -> Result<(), StoreError> {
    let Some(stored) = store.load(org)? else {
        return Ok(());
    };
    let mut doc = AutoCommit::load(&stored.concatenated())
        .map_err(|e| StoreError::Corrupt(format!("document {org} does not load: {e}")))?;
    store.compact(org, &doc.save(), stored.last_seq())
}

impl Compactor {
    /// Starts the thread.
    pub fn start(store: Arc<SledStore>) -> Self {
        let (sender, receiver) = mpsc::channel::<OrgCode>();
        let thread = std::thread::Builder::new()
            .name("halfsky-compactor".into())
            .spawn(move || {
                while let Ok(org) = receiver.recv() {
                    if let Err(e) = compact_now(&store, &org) {
                        tracing::warn!(%org, error = %e, "compaction failed; will retry on the next write");
                    }
                }
            })
            .expect("the OS can start a thread");
        Compactor {
            sender: Some(sender),
            thread: Some(thread),
        }
    }

    /// Asks for `org` to be compacted soon.
    pub fn request(&self, org: OrgCode) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(org);
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
