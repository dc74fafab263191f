//! An in-memory engine behind [`Storage`]: the same contract as the sled store, no
//! disk. For unit tests of everything above the store (ledger, index, status), which
//! then run fast and can make writes fail on purpose ([`MemoryStore::fail_writes`]) to
//! check what a failing disk leaves behind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use automerge::ChangeHash;
use halfsky_shared::OrgCode;

use crate::store::{sync_key, Batch, Rows, Storage, StoreError, StoredDoc, Table};

/// One document as kept in memory.
#[derive(Debug, Default, Clone)]
struct Doc {
    snapshot: Option<Vec<u8>>,
    chunks: BTreeMap<u64, Vec<u8>>,
    /// Last sequence number handed out (never reused, as on disk).
    last_seq: u64,
    heads: Option<Vec<ChangeHash>>,
}

#[derive(Debug, Default)]
struct Inner {
    docs: BTreeMap<OrgCode, Doc>,
    sync_states: BTreeMap<Vec<u8>, Vec<u8>>,
    tables: BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>,
}

/// The in-memory implementation of [`Storage`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Document writes (append, compact, sync state) fail while set.
    fail_documents: AtomicBool,
    /// Table writes (insert, remove, batches, clear) fail while set.
    fail_tables: AtomicBool,
}

/// The error an injected fault returns.
#[derive(Debug, thiserror::Error)]
#[error("injected write failure")]
struct Injected;

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes document writes and/or table writes fail from now on (until called
    /// again): to test that a failed write leaves memory equal to what is stored.
    pub fn fail_writes(&self, documents: bool, tables: bool) {
        self.fail_documents.store(documents, Ordering::SeqCst);
        self.fail_tables.store(tables, Ordering::SeqCst);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self, flag: &AtomicBool, op: &'static str) -> Result<(), StoreError> {
        if flag.load(Ordering::SeqCst) {
            return Err(StoreError::Io {
                op,
                source: Box::new(Injected),
            });
        }
        Ok(())
    }
}

impl Storage for MemoryStore {
    fn load(&self, org: &OrgCode) -> Result<Option<StoredDoc>, StoreError> {
        Ok(self.lock().docs.get(org).and_then(|doc| {
            if doc.snapshot.is_none() && doc.chunks.is_empty() {
                return None;
            }
            Some(StoredDoc {
                snapshot: doc.snapshot.clone(),
                chunks: doc.chunks.iter().map(|(s, c)| (*s, c.clone())).collect(),
            })
        }))
    }

    fn append(&self, org: &OrgCode, chunk: &[u8], heads: &[ChangeHash]) -> Result<u64, StoreError> {
        self.check(&self.fail_documents, "writing a change")?;
        let mut inner = self.lock();
        let doc = inner.docs.entry(*org).or_default();
        doc.last_seq += 1;
        doc.chunks.insert(doc.last_seq, chunk.to_vec());
        doc.heads = Some(heads.to_vec());
        Ok(doc.last_seq)
    }

    fn compact(&self, org: &OrgCode, snapshot: &[u8], upto_seq: u64) -> Result<(), StoreError> {
        self.check(&self.fail_documents, "writing a snapshot")?;
        let mut inner = self.lock();
        let doc = inner.docs.entry(*org).or_default();
        doc.snapshot = Some(snapshot.to_vec());
        doc.chunks.retain(|seq, _| *seq > upto_seq);
        Ok(())
    }

    fn heads(&self, org: &OrgCode) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        Ok(self.lock().docs.get(org).and_then(|d| d.heads.clone()))
    }

    fn docs(&self) -> Result<Vec<OrgCode>, StoreError> {
        Ok(self
            .lock()
            .docs
            .iter()
            .filter(|(_, d)| d.heads.is_some() || d.snapshot.is_some())
            .map(|(org, _)| *org)
            .collect())
    }

    fn chunk_count(&self, org: &OrgCode) -> Result<usize, StoreError> {
        Ok(self.lock().docs.get(org).map_or(0, |d| d.chunks.len()))
    }

    fn sync_state(&self, peer: &str, org: &OrgCode) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().sync_states.get(&sync_key(peer, org)).cloned())
    }

    fn set_sync_state(&self, peer: &str, org: &OrgCode, state: &[u8]) -> Result<(), StoreError> {
        self.check(&self.fail_documents, "writing sync state")?;
        self.lock()
            .sync_states
            .insert(sync_key(peer, org), state.to_vec());
        Ok(())
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .lock()
            .tables
            .get(&table)
            .and_then(|t| t.get(key).cloned()))
    }

    fn insert(&self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.check(&self.fail_tables, "writing")?;
        self.lock()
            .tables
            .entry(table)
            .or_default()
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn remove(&self, table: Table, key: &[u8]) -> Result<(), StoreError> {
        self.check(&self.fail_tables, "removing")?;
        if let Some(t) = self.lock().tables.get_mut(&table) {
            t.remove(key);
        }
        Ok(())
    }

    fn sync_states(&self) -> Rows<'_> {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = self
            .lock()
            .sync_states
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Box::new(rows.into_iter().map(Ok))
    }

    fn scan_prefix<'a>(&'a self, table: Table, prefix: &[u8]) -> Rows<'a> {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = self
            .lock()
            .tables
            .get(&table)
            .map(|t| {
                t.range(prefix.to_vec()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Box::new(rows.into_iter().map(Ok))
    }

    fn range<'a>(&'a self, table: Table, start: &[u8], end: &[u8]) -> Rows<'a> {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = if start < end {
            self.lock()
                .tables
                .get(&table)
                .map(|t| {
                    t.range(start.to_vec()..end.to_vec())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Box::new(rows.into_iter().map(Ok))
    }

    fn apply(&self, table: Table, batch: Batch) -> Result<(), StoreError> {
        self.check(&self.fail_tables, "writing a batch")?;
        let mut inner = self.lock();
        let t = inner.tables.entry(table).or_default();
        for (key, value) in batch.into_writes() {
            match value {
                Some(value) => t.insert(key, value),
                None => t.remove(&key),
            };
        }
        Ok(())
    }

    fn clear(&self, table: Table) -> Result<(), StoreError> {
        self.check(&self.fail_tables, "clearing")?;
        self.lock().tables.remove(&table);
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract;

    #[test]
    fn keeps_the_storage_contract() {
        let store = MemoryStore::new();
        contract::documents(&store);
        contract::tables(&store);
    }

    #[test]
    fn injected_faults_fail_writes_and_change_nothing() {
        let store = MemoryStore::new();
        let org = OrgCode::parse("230129100201").unwrap();
        store.fail_writes(true, false);
        assert!(store.append(&org, b"x", &[]).is_err());
        assert!(store.load(&org).unwrap().is_none());
        store.insert(Table::Index, b"k", b"v").unwrap();
        store.fail_writes(false, true);
        assert!(store.apply(Table::Index, Batch::default()).is_err());
        assert!(store.remove(Table::Index, b"k").is_err());
        assert_eq!(store.get(Table::Index, b"k").unwrap().unwrap(), b"v");
        store.fail_writes(false, false);
        assert_eq!(store.append(&org, b"x", &[]).unwrap(), 1);
    }
}
