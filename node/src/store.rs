//! Durable storage of a node, behind one narrow trait ([`Storage`]) so the crash tests
//! can judge it and a replacement engine stays a one-file change: everything above
//! this module (ledger, index, status, freshness, sync) sees only the trait.
//!
//! Two kinds of data live in a store:
//! - **documents**: per org code, an optional compacted snapshot plus the incremental
//!   chunks written after it, the heads after the last chunk, and per-peer sync states;
//! - **tables** ([`Table`]): small named key-value maps for the index, the link status
//!   and the freshness records, with prefix scans and atomic batches.
//!
//! # Table layout (versioned names; the sled trees carry the same names)
//! - `doc_snapshot-1`: org code (12 bytes) → compacted `save()` of the document.
//! - `doc_changes-1`:  org + `0x00` + seq (u64 BE) → incremental chunk (Automerge
//!   `save_after`); org + `0x01` → last seq (u64 BE) + the document's heads after the
//!   last chunk. Chunk and heads go in one atomic batch, so the heads always describe
//!   what is stored, and sequence numbers are never reused after a compaction.
//! - `sync_state-1`:   peer + `/` + org → encoded Automerge sync state.
//! - `index-1`:        the materialized index (layout in [`index`]).
//! - `status-1`:       link status (layout in [`crate::sync::status`]).
//! - `freshness-1`:    last arrival per unit (layout in [`crate::sync::freshness`]).
//! - `meta-1`:         the store's format (layout and migrations in [`version`]).
//! - `trust-1`:        refusals, quarantines, held changes (layout in [`crate::ledger::trust`]).
//! - `catch_up-1`:     bundles kept for a peer to resume, pieces of bundles being
//!   received (layout in `halfsky_shared::session`'s catch-up module).
//!
//! Loading = snapshot + every chunk after it; Automerge ignores changes it already has,
//! so a crash between writing a snapshot and deleting its chunks loses nothing.
//! Nothing is durable until [`Storage::flush`].

pub mod compact;
pub mod id_match;
pub mod index;
pub mod memory;
pub mod private;
pub mod sled;
pub mod version;

use std::path::PathBuf;

use automerge::ChangeHash;
use halfsky_shared::OrgCode;

pub use self::memory::MemoryStore;
pub use self::sled::SledStore;

/// The engine's own error, kept as the source of [`StoreError`] so the message still
/// says what the disk said, whatever the engine.
pub type EngineError = Box<dyn std::error::Error + Send + Sync>;

/// Why the store failed; says which directory and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store.
    #[error("the ledger store in {0} is in use by another halfsky process; wait for it to finish (or stop it) and try again")]
    Locked(PathBuf),
    /// Opening failed (damaged files).
    #[error("cannot open the ledger store in {path}; if its files are damaged, restore the directory from a backup or re-sync it from the parent")]
    Open {
        /// Store directory.
        path: PathBuf,
        /// What the engine said.
        source: EngineError,
    },
    /// A read or write failed.
    #[error("ledger store {op} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// What the engine said.
        source: EngineError,
    },
    /// The store was written by a newer release, in a format this one cannot read.
    #[error("the ledger store in {path} was written by a newer halfsky (store format {found}; this release reads up to {supported}); install that release or a newer one on this computer: an older one must not open it")]
    TooNew {
        /// Store directory.
        path: PathBuf,
        /// The format found.
        found: u32,
        /// The newest format this release reads.
        supported: u32,
    },
    /// Stored bytes are not what halfsky wrote.
    #[error("the ledger store is damaged ({0}); restore it from a backup or re-sync it")]
    Corrupt(String),
}

/// A document as stored: its last snapshot and the chunks written after it.
#[derive(Debug, Default)]
pub struct StoredDoc {
    /// Compacted document, if any compaction happened.
    pub snapshot: Option<Vec<u8>>,
    /// `(seq, chunk)` in write order.
    pub chunks: Vec<(u64, Vec<u8>)>,
}

impl StoredDoc {
    /// All bytes to hand to `AutoCommit::load` (snapshot then chunks).
    pub fn concatenated(&self) -> Vec<u8> {
        let mut out = self.snapshot.clone().unwrap_or_default();
        for (_, chunk) in &self.chunks {
            out.extend_from_slice(chunk);
        }
        out
    }

    /// The last chunk's sequence number (0 if none).
    pub fn last_seq(&self) -> u64 {
        self.chunks.last().map(|(s, _)| *s).unwrap_or(0)
    }
}

/// The key-value tables a store keeps beside the documents. A closed list (not free
/// names) so the layout of every store is written down here, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// The materialized index ([`index`]).
    Index,
    /// Link status ([`crate::sync::status`]).
    Status,
    /// Last arrival per unit ([`crate::sync::freshness`]).
    Freshness,
    /// The store's format version ([`version`]).
    Meta,
    /// Refusals, quarantines and held changes ([`crate::ledger::trust`]).
    Trust,
    /// Catch-up bundles kept for resuming and pieces being received, so a dropped
    /// link goes on where it stopped.
    CatchUp,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 6] = [
        Table::Index,
        Table::Status,
        Table::Freshness,
        Table::Meta,
        Table::Trust,
        Table::CatchUp,
    ];

    /// The versioned name of the table (the sled tree's name).
    pub fn name(self) -> &'static str {
        match self {
            Table::Index => "index-1",
            Table::Status => "status-1",
            Table::Freshness => "freshness-1",
            Table::Meta => "meta-1",
            Table::Trust => "trust-1",
            Table::CatchUp => "catch_up-1",
        }
    }
}

/// Writes to one table that are applied all or nothing ([`Storage::apply`]): the index
/// writes a document's rows and the heads they reflect in one batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    /// `(key, Some(value))` to insert, `(key, None)` to remove, in order.
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.writes.push((key.into(), Some(value.into())));
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.writes.push((key.into(), None));
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// No writes at all.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The writes, in order.
    pub fn into_writes(self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.writes
    }
}

/// Rows of a prefix scan, in key order, read lazily (a city's index holds millions).
pub type Rows<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + Send + 'a>;

/// What the node needs from a storage engine, and nothing more.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// The stored document of `org`, or `None` if there is none.
    fn load(&self, org: &OrgCode) -> Result<Option<StoredDoc>, StoreError>;
    /// Appends a chunk and records the document's new heads, atomically. Returns the
    /// chunk's sequence number.
    fn append(&self, org: &OrgCode, chunk: &[u8], heads: &[ChangeHash]) -> Result<u64, StoreError>;
    /// Replaces chunks up to `upto_seq` by a snapshot (durably: the snapshot is
    /// flushed before the chunks go).
    fn compact(&self, org: &OrgCode, snapshot: &[u8], upto_seq: u64) -> Result<(), StoreError>;
    /// The heads recorded with the last append of `org`.
    fn heads(&self, org: &OrgCode) -> Result<Option<Vec<ChangeHash>>, StoreError>;
    /// Every stored document, sorted.
    fn docs(&self) -> Result<Vec<OrgCode>, StoreError>;
    /// Number of chunks not yet compacted.
    fn chunk_count(&self, org: &OrgCode) -> Result<usize, StoreError>;
    /// Saved sync state for (peer, document).
    fn sync_state(&self, peer: &str, org: &OrgCode) -> Result<Option<Vec<u8>>, StoreError>;
    /// Saves sync state for (peer, document).
    fn set_sync_state(&self, peer: &str, org: &OrgCode, state: &[u8]) -> Result<(), StoreError>;
    /// Every saved sync state, keyed `peer/org` (for backups).
    fn sync_states(&self) -> Rows<'_>;

    /// The value of `key` in `table`.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key` in `table`.
    fn insert(&self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key` from `table`.
    fn remove(&self, table: Table, key: &[u8]) -> Result<(), StoreError>;
    /// Every row of `table` whose key starts with `prefix`, in key order.
    fn scan_prefix<'a>(&'a self, table: Table, prefix: &[u8]) -> Rows<'a>;
    /// Every row of `table` whose key is at least `start` and below `end`, in key
    /// order: a page of an ordered list without reading the rows before it.
    fn range<'a>(&'a self, table: Table, start: &[u8], end: &[u8]) -> Rows<'a>;
    /// Applies `batch` to `table` atomically (all of it or none of it).
    fn apply(&self, table: Table, batch: Batch) -> Result<(), StoreError>;
    /// Removes every row of `table`.
    fn clear(&self, table: Table) -> Result<(), StoreError>;

    /// Makes every earlier write (documents and tables) durable.
    fn flush(&self) -> Result<(), StoreError>;
}

/// Encodes heads as concatenated 32-byte hashes.
pub fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// Decodes heads written by [`encode_heads`].
pub fn decode_heads(bytes: &[u8]) -> Result<Vec<ChangeHash>, StoreError> {
    if !bytes.len().is_multiple_of(32) {
        return Err(StoreError::Corrupt(
            "heads record has a partial hash".into(),
        ));
    }
    Ok(bytes
        .chunks(32)
        .map(|c| ChangeHash(c.try_into().expect("chunks of 32")))
        .collect())
}

/// The org code a document key starts with.
fn org_of(key: &[u8]) -> Result<OrgCode, StoreError> {
    let text = key
        .get(..12)
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or_else(|| StoreError::Corrupt("a document key is not an org code".into()))?;
    OrgCode::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The key of a (peer, document) sync state.
fn sync_key(peer: &str, org: &OrgCode) -> Vec<u8> {
    format!("{peer}/{org}").into_bytes()
}

/// The behaviour every engine must show, run against each one in its own tests.
#[cfg(test)]
pub(crate) mod contract {
    use super::*;

    /// Documents: append, load, heads, compact, list, sync state.
    pub fn documents(store: &dyn Storage) {
        let org = OrgCode::parse("230129100201").unwrap();
        assert!(store.load(&org).unwrap().is_none());
        assert!(store.heads(&org).unwrap().is_none());
        let h = ChangeHash([7; 32]);
        assert_eq!(store.append(&org, b"one", &[h]).unwrap(), 1);
        assert_eq!(store.append(&org, b"two", &[h, h]).unwrap(), 2);
        store.flush().unwrap();
        assert_eq!(store.heads(&org).unwrap().unwrap(), vec![h, h]);
        assert_eq!(store.load(&org).unwrap().unwrap().concatenated(), b"onetwo");
        assert_eq!(store.chunk_count(&org).unwrap(), 2);
        store.compact(&org, b"SNAP", 2).unwrap();
        let doc = store.load(&org).unwrap().unwrap();
        assert_eq!(doc.concatenated(), b"SNAP");
        assert_eq!(
            store.append(&org, b"three", &[h]).unwrap(),
            3,
            "seqs are never reused"
        );
        let other = OrgCode::parse("230129100000").unwrap();
        store.append(&other, b"x", &[h]).unwrap();
        assert_eq!(store.docs().unwrap(), vec![other, org]);
        assert_eq!(store.chunk_count(&org).unwrap(), 1);
        assert_eq!(store.sync_state("p", &org).unwrap(), None);
        store.set_sync_state("p", &org, b"state").unwrap();
        assert_eq!(store.sync_state("p", &org).unwrap().unwrap(), b"state");
        assert_eq!(store.sync_state("q", &org).unwrap(), None);
        let states: Vec<_> = store.sync_states().map(Result::unwrap).collect();
        assert_eq!(states, vec![(sync_key("p", &org), b"state".to_vec())]);
    }

    /// Tables: get, insert, remove, prefix scans in key order, batches, clear, and
    /// tables that do not see each other's rows.
    pub fn tables(store: &dyn Storage) {
        store.insert(Table::Index, b"b2", b"two").unwrap();
        store.insert(Table::Index, b"b1", b"one").unwrap();
        store.insert(Table::Index, b"c", b"other").unwrap();
        store.insert(Table::Status, b"b3", b"elsewhere").unwrap();
        assert_eq!(store.get(Table::Index, b"b1").unwrap().unwrap(), b"one");
        assert_eq!(store.get(Table::Freshness, b"b1").unwrap(), None);
        let scan = |table, prefix: &[u8]| -> Vec<(Vec<u8>, Vec<u8>)> {
            store
                .scan_prefix(table, prefix)
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(
            scan(Table::Index, b"b"),
            vec![
                (b"b1".to_vec(), b"one".to_vec()),
                (b"b2".to_vec(), b"two".to_vec())
            ]
        );
        let mut batch = Batch::default();
        batch.remove(b"b1".to_vec());
        batch.insert(b"b0".to_vec(), b"zero".to_vec());
        batch.insert(b"b2".to_vec(), b"TWO".to_vec());
        store.apply(Table::Index, batch).unwrap();
        assert_eq!(
            scan(Table::Index, b"b"),
            vec![
                (b"b0".to_vec(), b"zero".to_vec()),
                (b"b2".to_vec(), b"TWO".to_vec())
            ]
        );
        let range: Vec<_> = store
            .range(Table::Index, b"b1", b"c")
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(
            range,
            vec![b"b2".to_vec()],
            "from start, up to but not at end"
        );
        store.remove(Table::Index, b"b0").unwrap();
        assert_eq!(store.get(Table::Index, b"b0").unwrap(), None);
        store.clear(Table::Index).unwrap();
        assert!(scan(Table::Index, b"").is_empty());
        assert_eq!(scan(Table::Status, b"").len(), 1, "clear touches one table");
        store.flush().unwrap();
    }
}
