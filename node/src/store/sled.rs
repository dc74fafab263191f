//! The sled engine behind [`Storage`]: one sled tree per document table and per
//! [`Table`], named as in the layout of [`crate::store`]. The only file of the node
//! that knows sled.

use std::path::Path;
use std::time::{Duration, Instant};

use automerge::ChangeHash;
use halfsky_shared::OrgCode;

use crate::store::{
    decode_heads, encode_heads, org_of, sync_key, Batch, Rows, Storage, StoreError, StoredDoc,
    Table,
};

/// The sled implementation of [`Storage`]: the node's store on disk.
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    snapshots: sled::Tree,
    changes: sled::Tree,
    sync_states: sled::Tree,
    index: sled::Tree,
    status: sled::Tree,
    freshness: sled::Tree,
    meta: sled::Tree,
    trust: sled::Tree,
    catch_up: sled::Tree,
}

/// Tag after the org code of a chunk key in `doc_changes-1`.
const CHUNK: u8 = 0x00;
/// Tag after the org code of the heads record in `doc_changes-1`.
const HEADS: u8 = 0x01;

fn chunk_key(org: &OrgCode, seq: u64) -> Vec<u8> {
    let mut key = prefix(org, CHUNK);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn prefix(org: &OrgCode, tag: u8) -> Vec<u8> {
    let mut key = org.as_bytes().to_vec();
    key.push(tag);
    key
}

fn io(op: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
    move |source| StoreError::Io {
        op,
        source: Box::new(source),
    }
}

/// Whether sled could not open a store because another process holds its lock. sled
/// 0.34 reports that as an `Other` error "could not acquire lock on …" (its file lock's
/// `WouldBlock` only inside the message), so both are recognised.
fn is_lock_held(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock")
}

impl SledStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let open_err = |source: sled::Error| StoreError::Open {
            path: dir.to_path_buf(),
            source: Box::new(source),
        };
        // Another command may be finishing with the store: wait a little for its lock.
        let deadline = Instant::now() + Duration::from_secs(3);
        let db = loop {
            let attempt = sled::Config::new()
                .path(dir)
                .cache_capacity(64 * 1024 * 1024)
                .open();
            match attempt {
                Err(sled::Error::Io(e)) if is_lock_held(&e) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(sled::Error::Io(e)) if is_lock_held(&e) => {
                    return Err(StoreError::Locked(dir.to_path_buf()))
                }
                other => break other.map_err(open_err)?,
            }
        };
        let tree = |name: &str| db.open_tree(name).map_err(open_err);
        crate::store::private::restrict_tree(dir).map_err(|source| StoreError::Open {
            path: dir.to_path_buf(),
            source: Box::new(sled::Error::Io(source)),
        })?;
        Ok(SledStore {
            snapshots: tree("doc_snapshot-1")?,
            changes: tree("doc_changes-1")?,
            sync_states: tree("sync_state-1")?,
            index: tree(Table::Index.name())?,
            status: tree(Table::Status.name())?,
            freshness: tree(Table::Freshness.name())?,
            meta: tree(Table::Meta.name())?,
            trust: tree(Table::Trust.name())?,
            catch_up: tree(Table::CatchUp.name())?,
            db,
        })
    }

    fn tree(&self, table: Table) -> &sled::Tree {
        match table {
            Table::Index => &self.index,
            Table::Status => &self.status,
            Table::Freshness => &self.freshness,
            Table::Meta => &self.meta,
            Table::Trust => &self.trust,
            Table::CatchUp => &self.catch_up,
        }
    }
}

impl Storage for SledStore {
    fn load(&self, org: &OrgCode) -> Result<Option<StoredDoc>, StoreError> {
        let snapshot = self
            .snapshots
            .get(org.as_bytes())
            .map_err(io("reading a snapshot"))?
            .map(|v| v.to_vec());
        let mut chunks = Vec::new();
        for item in self.changes.scan_prefix(prefix(org, CHUNK)) {
            let (key, value) = item.map_err(io("reading changes"))?;
            let seq_bytes: [u8; 8] = key[13..]
                .try_into()
                .map_err(|_| StoreError::Corrupt("a change key has a bad length".into()))?;
            chunks.push((u64::from_be_bytes(seq_bytes), value.to_vec()));
        }
        if snapshot.is_none() && chunks.is_empty() {
            return Ok(None);
        }
        Ok(Some(StoredDoc { snapshot, chunks }))
    }

    fn append(&self, org: &OrgCode, chunk: &[u8], heads: &[ChangeHash]) -> Result<u64, StoreError> {
        let seq = match self
            .changes
            .get(prefix(org, HEADS))
            .map_err(io("reading heads"))?
        {
            Some(v) if v.len() >= 8 => u64::from_be_bytes(v[..8].try_into().expect("8 bytes")) + 1,
            Some(_) => return Err(StoreError::Corrupt("heads record too short".into())),
            None => 1,
        };
        let mut value = seq.to_be_bytes().to_vec();
        value.extend(encode_heads(heads));
        let mut batch = sled::Batch::default();
        batch.insert(chunk_key(org, seq), chunk);
        batch.insert(prefix(org, HEADS), value);
        self.changes
            .apply_batch(batch)
            .map_err(io("writing a change"))?;
        Ok(seq)
    }

    fn compact(&self, org: &OrgCode, snapshot: &[u8], upto_seq: u64) -> Result<(), StoreError> {
        self.snapshots
            .insert(org.as_bytes(), snapshot)
            .map_err(io("writing a snapshot"))?;
        // The snapshot must be durable before the chunks it replaces go.
        self.snapshots.flush().map_err(io("flushing a snapshot"))?;
        let mut batch = sled::Batch::default();
        for item in self
            .changes
            .range(chunk_key(org, 0)..=chunk_key(org, upto_seq))
        {
            let (key, _) = item.map_err(io("reading changes"))?;
            batch.remove(key);
        }
        self.changes
            .apply_batch(batch)
            .map_err(io("removing compacted changes"))?;
        self.changes.flush().map_err(io("flushing"))?;
        Ok(())
    }

    fn heads(&self, org: &OrgCode) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        self.changes
            .get(prefix(org, HEADS))
            .map_err(io("reading heads"))?
            .map(|v| decode_heads(v.get(8..).unwrap_or_default()))
            .transpose()
    }

    fn docs(&self) -> Result<Vec<OrgCode>, StoreError> {
        let mut out = Vec::new();
        for item in self.changes.iter() {
            let (key, _) = item.map_err(io("listing documents"))?;
            if key.get(12) == Some(&HEADS) {
                out.push(org_of(&key)?);
            }
        }
        for item in self.snapshots.iter() {
            let (key, _) = item.map_err(io("listing documents"))?;
            let org = org_of(&key)?;
            if !out.contains(&org) {
                out.push(org);
            }
        }
        out.sort();
        Ok(out)
    }

    fn chunk_count(&self, org: &OrgCode) -> Result<usize, StoreError> {
        let mut count = 0;
        for item in self.changes.scan_prefix(prefix(org, CHUNK)).keys() {
            item.map_err(io("counting changes"))?;
            count += 1;
        }
        Ok(count)
    }

    fn sync_state(&self, peer: &str, org: &OrgCode) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .sync_states
            .get(sync_key(peer, org))
            .map_err(io("reading sync state"))?
            .map(|v| v.to_vec()))
    }

    fn set_sync_state(&self, peer: &str, org: &OrgCode, state: &[u8]) -> Result<(), StoreError> {
        self.sync_states
            .insert(sync_key(peer, org), state)
            .map_err(io("writing sync state"))?;
        Ok(())
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree(table)
            .get(key)
            .map_err(io("reading"))?
            .map(|v| v.to_vec()))
    }

    fn insert(&self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tree(table).insert(key, value).map_err(io("writing"))?;
        Ok(())
    }

    fn remove(&self, table: Table, key: &[u8]) -> Result<(), StoreError> {
        self.tree(table).remove(key).map_err(io("removing"))?;
        Ok(())
    }

    fn sync_states(&self) -> Rows<'_> {
        Box::new(self.sync_states.iter().map(|item| {
            item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(io("scanning"))
        }))
    }

    fn scan_prefix<'a>(&'a self, table: Table, prefix: &[u8]) -> Rows<'a> {
        Box::new(self.tree(table).scan_prefix(prefix).map(|item| {
            item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(io("scanning"))
        }))
    }

    fn range<'a>(&'a self, table: Table, start: &[u8], end: &[u8]) -> Rows<'a> {
        if start >= end {
            return Box::new(std::iter::empty());
        }
        Box::new(
            self.tree(table)
                .range(start.to_vec()..end.to_vec())
                .map(|item| {
                    item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                        .map_err(io("scanning"))
                }),
        )
    }

    fn apply(&self, table: Table, batch: Batch) -> Result<(), StoreError> {
        let mut writes = sled::Batch::default();
        for (key, value) in batch.into_writes() {
            match value {
                Some(value) => writes.insert(key, value),
                None => writes.remove(key),
            }
        }
        self.tree(table)
            .apply_batch(writes)
            .map_err(io("writing a batch"))
    }

    fn clear(&self, table: Table) -> Result<(), StoreError> {
        self.tree(table).clear().map_err(io("clearing"))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(io("flushing to disk"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract;

    #[test]
    fn keeps_the_storage_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        contract::documents(&store);
        contract::tables(&store);
    }

    #[test]
    fn what_was_flushed_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let org = OrgCode::parse("230129100201").unwrap();
        let h = ChangeHash([3; 32]);
        {
            let store = SledStore::open(dir.path()).unwrap();
            store.append(&org, b"chunk", &[h]).unwrap();
            store.insert(Table::Status, b"k", b"v").unwrap();
            store.flush().unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.heads(&org).unwrap().unwrap(), vec![h]);
        assert_eq!(store.get(Table::Status, b"k").unwrap().unwrap(), b"v");
    }
}
