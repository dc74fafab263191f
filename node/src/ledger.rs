//! The `Ledger`: the one API through which records are written and read at a node.
//! The CLI, imports, the dashboard and sync all go through it.
//!
//! A write is: edit the document in memory (one change per logical edit) → append the
//! new changes as one chunk → update the index from the patches → flush → acknowledge.
//! If any step fails the cached document is dropped, so memory never runs ahead of disk.
//!
//! # Layout
//! - this file: opening, the document cache, the durable edit, reads, reindex, and
//!   applying changes from other nodes.
//! - `write`: new ids, reference checks, `add` / `update` / `retire`.
//! - [`reader`]: the read-only view other threads use (the dashboard's pages).
//! - [`actor`]: the thread that owns the ledger while the node runs.
//! - [`replica`]: the ledger as the sync session sees it.
//! - [`admit`]: the one door for changes from other nodes (admission, quarantine).
//! - [`trust`]: refusals, quarantines and held changes in the store.
//! - [`verification`]: four-level verification: queues, checks, progress per level.

pub mod actor;
pub mod admit;
pub mod duplicates;
mod id_keys;
pub mod reader;
pub mod replica;
pub mod rhythm;
mod signing;
pub use signing::ATTEST_EVERY_EDITS;
pub mod trust;
pub mod verification;
mod write;
pub use write::{Prepared, PreparedUpdate};

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use automerge::{AutoCommit, Change, ChangeHash};
use chrono::NaiveDate;
use halfsky_shared::ledger_doc::{touched, Author, DocError, HistoryEntry, LedgerDoc, Touched};
use halfsky_shared::rollup::StatsReport;
use halfsky_shared::schema::FieldError;
use halfsky_shared::{Kind, OrgCode, RecordId};
use lru::LruCache;

use crate::config::{ConfigError, NodeConfig, NodeHome};
use crate::store::compact::Compactor;
use crate::store::id_match::IdMatcher;
use crate::store::index::{Index, IndexError, IndexedRecord};
use crate::store::{SledStore, Storage, StoreError};
use crate::sync::freshness::{ArrivalPath, Freshness, FreshnessError};
use reader::LedgerReader;

/// Documents kept loaded; others are loaded on demand from the store.
const DOC_CACHE: usize = 32;
/// Compact a document once it has this many chunks.
const COMPACT_AFTER_CHUNKS: usize = 128;

/// Why a ledger operation failed. Messages say what, where and what to do.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The node home is missing or its config is bad.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The freshness records failed.
    #[error(transparent)]
    Freshness(#[from] FreshnessError),
    /// A document operation failed.
    #[error(transparent)]
    Doc(#[from] DocError),
    /// The input is not a valid record; every problem is listed.
    #[error("the {kind} was not saved:\n{}", list_errors(.errors))]
    Invalid {
        /// The record kind.
        kind: Kind,
        /// One entry per bad field.
        errors: Vec<FieldError>,
    },
    /// Changes from another node failed the admission check (size caps, malformed
    /// chunks) before Automerge saw them.
    #[error("changes to document {org} refused ({}): {error}", .error.rule())]
    Refused {
        /// The document the changes were for.
        org: OrgCode,
        /// The rule they broke.
        #[source]
        error: halfsky_shared::admission::AdmissionError,
    },
    /// A change from another node broke a rule of record-level authority (or did not
    /// parse); the changes that passed were applied.
    #[error("change {change} to document {org} refused ({rule}): {reason}")]
    NotAdmitted {
        /// The document.
        org: OrgCode,
        /// The change (hex; empty if the bytes were not a change).
        change: String,
        /// The rule (`foreign-record`, `protected-layout`, …).
        rule: String,
        /// What exactly.
        reason: String,
    },
    /// The document is quarantined: its new changes are held for an admin.
    #[error("document {org} is quarantined since {since} ({rule}); its new changes are held until an admin runs `halfsky quarantine release {org}` or `drop {org}`")]
    Quarantined {
        /// The document.
        org: OrgCode,
        /// Since when.
        since: String,
        /// The rule of the refusal that started it.
        rule: String,
    },
    /// `quarantine release|drop` of a document that is not quarantined.
    #[error("document {0} is not quarantined; `halfsky quarantine list` shows those that are")]
    NotQuarantined(OrgCode),
    /// The refusal records failed.
    #[error(transparent)]
    Trust(#[from] trust::TrustError),
    /// No such record at this node.
    #[error("no record {0} in this ledger; `halfsky list <kind>` shows the ids")]
    NotFound(RecordId),
    /// Only devices of a unit write that unit's records.
    #[error("record {id} belongs to unit {}, but this node writes for {own}; ask that unit to change it", id.org())]
    NotOurs {
        /// The record.
        id: RecordId,
        /// This node's unit.
        own: OrgCode,
    },
    /// A record is given as the wrong kind.
    #[error("{id} is a {}, not a {expected}", id.kind())]
    WrongKind {
        /// The record.
        id: RecordId,
        /// The kind the command named.
        expected: Kind,
    },
}

fn list_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a rebuild of the index did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReindexReport {
    /// Records indexed.
    pub records: usize,
    /// Documents skipped, each with why.
    pub skipped: Vec<String>,
}

/// A record with what `show` needs beyond the index.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RecordView {
    /// The indexed record.
    #[serde(flatten)]
    pub indexed: IndexedRecord,
    /// Fields holding concurrent values, each value displayed.
    pub conflicts: BTreeMap<String, Vec<String>>,
}

struct CachedDoc {
    doc: LedgerDoc,
    /// Heads of what is already in the store.
    persisted: Vec<ChangeHash>,
}

/// A node's ledger: store, index and the documents it holds.
pub struct Ledger {
    config: NodeConfig,
    /// The node home (certificates and peer certificates live beside the store).
    home: NodeHome,
    store: Arc<dyn Storage>,
    index: Index,
    docs: LruCache<OrgCode, CachedDoc>,
    next_seq: BTreeMap<OrgCode, u64>,
    compactor: Compactor,
    /// Documents changed since [`Ledger::take_changed`] was last called (for sync).
    changed: std::collections::BTreeSet<OrgCode>,
    /// When and how each document's changes last arrived.
    freshness: Freshness,
    /// Path recorded for changes from elsewhere (set by `apply_changes_from`).
    incoming: ArrivalPath,
    /// The read-only view shared with the dashboard: generation, today, statistics.
    reader: LedgerReader,
    /// Signed authorship: this device's key and the CA (`None` without a CA).
    authorship: Option<Arc<crate::pki::attest::Authorship>>,
    /// Edits of this unit's document since its heads were last attested (see signing.rs).
    unattested_edits: u32,
    /// The next edit signs the heads whatever the count (set when settling).
    attest_next: bool,
    /// Changes waiting for their attestation or a dependency (see admit.rs).
    waiting: admit::WaitingRoom,
    /// The deployment's CA (`None` without a certificate): its unit's document carries
    /// the notices of a replaced ID key, which this node follows (id_keys.rs).
    ca: Option<crate::pki::revocation::CaKey>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("org", &self.config.org)
            .finish()
    }
}

impl Ledger {
    /// Opens the ledger of a node home, bringing the index up to date with the store
    /// (after a crash between writing a change and indexing it).
    pub fn open(home: &NodeHome) -> Result<Self, LedgerError> {
        let store = Arc::new(SledStore::open(&home.store_path())?);
        Self::open_in(home, store)
    }

    /// Opens the ledger of `home` over an already open store (the in-memory one in
    /// tests); `home` gives the config and the certificates.
    pub fn open_in(home: &NodeHome, store: Arc<dyn Storage>) -> Result<Self, LedgerError> {
        let config = home.config()?;
        crate::store::version::migrate(store.as_ref(), &home.store_path())?;
        let index = Index::open_in_zone(store.clone(), config.zone)
            .matching_ids(IdMatcher::of(&config.ids));
        let freshness = Freshness::open(store.clone());
        let reader = LedgerReader::new(
            config.org,
            config.actor.clone(),
            store.clone(),
            index.clone(),
            freshness.clone(),
        );
        let mut ledger = Ledger {
            authorship: crate::pki::attest::Authorship::load(home).map(Arc::new),
            freshness,
            incoming: ArrivalPath::Direct,
            reader,
            config,
            home: home.clone(),
            compactor: Compactor::start(store.clone()),
            store,
            index,
            docs: LruCache::new(NonZeroUsize::new(DOC_CACHE).expect("non-zero")),
            next_seq: BTreeMap::new(),
            changed: Default::default(),
            unattested_edits: 0,
            attest_next: false,
            waiting: Default::default(),
            ca: crate::pki::revocation::ca_of_home(home.dir()).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the CA certificate");
                None
            }),
        };
        ledger.follow_id_key_notice();
        ledger.catch_up_index()?;
        if !ledger.index.rules_current()? {
            tracing::info!("rollups were computed by older rules; rebuilding the index");
            ledger.reindex()?;
        }
        if ledger.store.heads(&ledger.config.org)?.is_none() {
            let name = ledger.config.name.clone();
            let author = ledger.author();
            let org = ledger.config.org;
            let meta = Touched {
                meta: true,
                ..Touched::default()
            };
            ledger.edit(org, Some(meta), |doc| doc.set_name(&name, &author))?;
        } else {
            // A store from before signed authorship, or writes of a run that stopped
            // before sending them: this device attests the history its unit's document
            // holds (a no-op once attested).
            ledger.unattested_edits = 1;
            ledger.attest_before_sending()?;
        }
        Ok(ledger)
    }

    /// The node home this ledger was opened from.
    pub fn home(&self) -> &NodeHome {
        &self.home
    }

    /// This node's config.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The index (read-only queries).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// A number that changes whenever anything is written (locally or from sync):
    /// what was computed from the index at one generation is still true at it.
    pub fn generation(&self) -> u64 {
        self.reader.generation()
    }

    /// A read-only view for other threads (the dashboard): see [`LedgerReader`].
    pub fn reader(&self) -> LedgerReader {
        self.reader.clone()
    }

    /// When and how each unit's data last arrived (dashboard freshness).
    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    /// The store (for sync, status and bundles).
    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.store
    }

    /// Fixes "today" (tests and reproducible demos); by default the local date.
    pub fn set_today(&mut self, today: NaiveDate) {
        self.reader.set_today(today);
    }

    /// Today's date as the ledger sees it.
    pub fn today(&self) -> NaiveDate {
        self.reader.today()
    }

    fn author(&self) -> Author {
        Author {
            device: format!("{}/{}", self.config.org, self.config.device),
            time: chrono::Utc::now().timestamp(),
        }
    }

    fn catch_up_index(&mut self) -> Result<(), LedgerError> {
        for org in self.store.docs()? {
            if self.store.heads(&org)? != self.index.heads(&org)? {
                tracing::info!(%org, "index behind the store; re-indexing the difference");
                self.doc(org)?;
            }
        }
        Ok(())
    }

    /// Loads (or creates) `org`'s document into the cache, indexing whatever the index
    /// has not seen yet.
    fn doc(&mut self, org: OrgCode) -> Result<&mut CachedDoc, LedgerError> {
        if !self.docs.contains(&org) {
            let cached = match self.store.load(&org)? {
                Some(stored) => {
                    let mut doc =
                        LedgerDoc::load(&stored.concatenated(), org, self.config.actor.clone())?;
                    let persisted = doc.heads();
                    let indexed = self.index.heads(&org)?.unwrap_or_default();
                    if indexed != persisted {
                        let patches = doc.automerge().diff(&indexed, &persisted);
                        let t = touched(&patches);
                        self.index.apply(&mut doc, &t)?;
                        self.store.flush()?;
                    }
                    doc.automerge().update_diff_cursor();
                    CachedDoc { doc, persisted }
                }
                None => {
                    let mut doc = LedgerDoc::create(org, self.config.actor.clone());
                    doc.automerge().update_diff_cursor();
                    CachedDoc {
                        doc,
                        persisted: Vec::new(),
                    }
                }
            };
            self.docs.put(org, cached);
        }
        Ok(self.docs.get_mut(&org).expect("just inserted"))
    }

    /// Runs `edit` on `org`'s document and makes the result durable and indexed.
    /// `known`: what a local edit touches (then Automerge need not log or diff patches;
    /// measured 65 % of an update on a 5,000-woman village). `None` for changes from
    /// elsewhere, which are indexed from Automerge's patches.
    fn edit<T>(
        &mut self,
        org: OrgCode,
        known: Option<Touched>,
        edit: impl FnOnce(&mut LedgerDoc) -> Result<T, DocError>,
    ) -> Result<T, LedgerError> {
        let from_elsewhere = known.is_none();
        let result = self.edit_inner(org, known, edit);
        if result.is_err() {
            // Memory may hold changes the store does not: forget them.
            self.docs.pop(&org);
            self.next_seq.remove(&org);
        } else if from_elsewhere && self.ca.as_ref().is_some_and(|ca| ca.org == org) {
            self.follow_id_key_notice();
        }
        result
    }

    fn edit_inner<T>(
        &mut self,
        org: OrgCode,
        known: Option<Touched>,
        edit: impl FnOnce(&mut LedgerDoc) -> Result<T, DocError>,
    ) -> Result<T, LedgerError> {
        let store = self.store.clone();
        let index = self.index.clone();
        let path = if known.is_some() {
            ArrivalPath::Local
        } else {
            self.incoming
        };
        let authorship = self.signer_of(org);
        let attest_now = authorship.is_some() && {
            self.unattested_edits += 1;
            std::mem::take(&mut self.attest_next) || self.unattested_edits >= ATTEST_EVERY_EDITS
        };
        let cached = self.doc(org)?;
        // A document this node holds nothing of yet (a first catch-up) is indexed
        // whole, as a rebuild does: Automerge need not log patches to say what changed.
        let whole = known.is_none() && cached.persisted.is_empty();
        if known.is_some() || whole {
            // No patch log while we make edits we already know.
            cached.doc.automerge().reset_diff_cursor();
        }
        let out = edit(&mut cached.doc)?;
        if let Some(a) = authorship.filter(|_| attest_now) {
            // This unit's document: sign its heads after this device's writes.
            a.attest(org, cached.doc.automerge())
                .map_err(|e| LedgerError::Doc(e.into()))?;
        }
        let before = cached.persisted.clone();
        let known = match known {
            None if whole => Some(everything(&cached.doc)?),
            known => known,
        };
        if persist(store.as_ref(), &index, cached, known)? {
            let newest = cached
                .doc
                .automerge()
                .get_changes_meta(&before)
                .iter()
                .map(|c| c.timestamp)
                .filter(|t| *t > 0)
                .max()
                .map(|t| if t > 100_000_000_000 { t / 1000 } else { t });
            let now = chrono::Utc::now().timestamp();
            if let Err(e) = self.freshness.record(org, path, now, newest) {
                tracing::warn!(%org, error = %e, "cannot record the arrival time");
            }
            self.changed.insert(org);
            self.reader.bump();
        }
        if attest_now {
            self.unattested_edits = 0;
        }
        self.maybe_compact(org)?;
        Ok(out)
    }

    fn maybe_compact(&self, org: OrgCode) -> Result<(), LedgerError> {
        if self.store.chunk_count(&org)? > COMPACT_AFTER_CHUNKS {
            self.compactor.request(org);
        }
        Ok(())
    }

    /// One record, with any conflicting values.
    pub fn show(&mut self, id: &RecordId) -> Result<RecordView, LedgerError> {
        let indexed = self
            .index
            .get(id)?
            .ok_or_else(|| LedgerError::NotFound(id.clone()))?;
        let conflicts = if indexed.conflicted {
            self.doc(id.org())?.doc.conflicts(id)?
        } else {
            BTreeMap::new()
        };
        Ok(RecordView { indexed, conflicts })
    }

    /// A record's history, oldest first.
    pub fn history(&mut self, id: &RecordId) -> Result<Vec<HistoryEntry>, LedgerError> {
        if self.index.get(id)?.is_none() {
            return Err(LedgerError::NotFound(id.clone()));
        }
        Ok(self.doc(id.org())?.doc.history(id)?)
    }

    /// Records of `kind` under `org_prefix` (retired ones only if `include_retired`).
    pub fn list(
        &self,
        kind: Kind,
        org_prefix: &str,
        include_retired: bool,
    ) -> Result<Vec<IndexedRecord>, LedgerError> {
        self.reader.list(kind, org_prefix, include_retired)
    }

    /// Statistics of the subtree under `org` (this node's unit by default).
    pub fn stats(&self, org: Option<OrgCode>) -> Result<StatsReport, LedgerError> {
        self.reader.stats(org.unwrap_or(self.config.org))
    }

    /// Rebuilds the index from the documents; returns how many records it indexed
    /// (documents that cannot be read are skipped: see [`Ledger::rebuild_index`]).
    pub fn reindex(&mut self) -> Result<usize, LedgerError> {
        Ok(self.rebuild_index()?.records)
    }

    /// Rebuilds the index beside the old one and swaps when complete: the new rows are
    /// built in memory (the old index keeps answering meanwhile), then replace the old
    /// ones in one atomic batch, so a failure half-way leaves the old index whole. A
    /// document that cannot be loaded is skipped and reported; a malformed record
    /// reads leniently (a missing map as empty) and never fails the rebuild.
    pub fn rebuild_index(&mut self) -> Result<ReindexReport, LedgerError> {
        let beside = Arc::new(crate::store::MemoryStore::new());
        let fresh = Index::open_in_zone(beside.clone(), self.config.zone)
            .matching_ids(IdMatcher::of(&self.config.ids));
        let mut report = ReindexReport::default();
        for org in self.store.docs()? {
            let Some(stored) = self.store.load(&org)? else {
                continue;
            };
            let mut doc =
                match LedgerDoc::load(&stored.concatenated(), org, self.config.actor.clone()) {
                    Ok(doc) => doc,
                    Err(e) => {
                        tracing::warn!(%org, error = %e, "reindex skips a document it cannot load");
                        report.skipped.push(format!("document {org}: {e}"));
                        continue;
                    }
                };
            let t = everything(&doc)?;
            report.records += t.records.len();
            fresh.apply(&mut doc, &t)?;
        }
        // The rules the totals were computed with go in the same swap.
        fresh.mark_rules_current()?;
        let mut swap = crate::store::Batch::default();
        for row in self.store.scan_prefix(crate::store::Table::Index, b"") {
            swap.remove(row?.0);
        }
        for row in beside.scan_prefix(crate::store::Table::Index, b"") {
            let (k, v) = row?;
            swap.insert(k, v);
        }
        self.docs.clear();
        self.store.apply(crate::store::Table::Index, swap)?;
        self.store.flush()?;
        self.reader.bump();
        self.reader.forget_sums();
        Ok(report)
    }

    /// Applies changes to `org`'s document as they are, unchecked; durable and indexed
    /// on return. Returns the new heads. For changes this node trusts (set-up, an
    /// admin's release); changes from other nodes come in through
    /// [`Ledger::receive_changes`].
    pub fn apply_changes(
        &mut self,
        org: OrgCode,
        changes: Vec<Change>,
    ) -> Result<Vec<ChangeHash>, LedgerError> {
        self.apply_changes_from(org, changes, ArrivalPath::Direct)
    }

    /// [`Ledger::apply_changes`], recording in the freshness records how the changes
    /// came (`Relay`, `Bundle`, …).
    pub fn apply_changes_from(
        &mut self,
        org: OrgCode,
        changes: Vec<Change>,
        path: ArrivalPath,
    ) -> Result<Vec<ChangeHash>, LedgerError> {
        self.incoming = path;
        let result = self.edit(org, None, |doc| {
            doc.automerge().apply_changes(changes)?;
            Ok(doc.heads())
        });
        self.incoming = ArrivalPath::Direct;
        result
    }

    /// Runs `f` on `org`'s Automerge document (for the sync protocol), then persists and
    /// indexes whatever it added.
    pub fn with_automerge<T>(
        &mut self,
        org: OrgCode,
        f: impl FnOnce(&mut AutoCommit) -> T,
    ) -> Result<T, LedgerError> {
        self.edit(org, None, |doc| Ok(f(doc.automerge())))
    }

    /// Runs `f` on `org`'s Automerge document to read it: nothing is stored or indexed
    /// (for readers that may run while that document is being stored).
    pub fn read_automerge<T>(
        &mut self,
        org: OrgCode,
        f: impl FnOnce(&AutoCommit) -> T,
    ) -> Result<T, LedgerError> {
        let cached = self.doc(org)?;
        Ok(f(cached.doc.automerge()))
    }

    /// Drops every loaded document, so each is read again from the store on next use:
    /// after a failure mid-edit, memory may hold what the store does not.
    pub fn reload_documents(&mut self) {
        self.docs.clear();
    }

    /// Documents changed (durably) since the last call.
    pub fn take_changed(&mut self) -> std::collections::BTreeSet<OrgCode> {
        std::mem::take(&mut self.changed)
    }

    /// Heads of a stored document (empty if not held), without loading it.
    pub fn stored_heads(&self, org: &OrgCode) -> Result<Vec<ChangeHash>, LedgerError> {
        Ok(self.store.heads(org)?.unwrap_or_default())
    }

    /// Org codes of every document this node holds.
    pub fn documents(&self) -> Result<Vec<OrgCode>, LedgerError> {
        Ok(self.store.docs()?)
    }
}

/// Logs how long a batch insert took, on every exit path.
fn scopeguard_log(started: std::time::Instant, records: usize) -> impl Drop {
    struct Log(std::time::Instant, usize);
    impl Drop for Log {
        fn drop(&mut self) {
            tracing::debug!(records = self.1, total = ?self.0.elapsed(), "batch insert");
        }
    }
    Log(started, records)
}

/// Every record of `doc` and its meta: what indexing a whole document touches (as
/// [`Ledger::rebuild_index`] does).
fn everything(doc: &LedgerDoc) -> Result<Touched, DocError> {
    let mut all = Touched {
        meta: true,
        ..Touched::default()
    };
    for kind in Kind::ALL {
        all.records.extend(doc.ids(kind)?);
    }
    Ok(all)
}

/// Appends what `cached` holds beyond the store, indexes it, and flushes. Returns
/// whether anything was written.
fn persist(
    store: &dyn Storage,
    index: &Index,
    cached: &mut CachedDoc,
    known: Option<Touched>,
) -> Result<bool, LedgerError> {
    let heads = cached.doc.heads();
    if heads == cached.persisted {
        if known.is_some() {
            cached.doc.automerge().update_diff_cursor();
        }
        return Ok(false);
    }
    let started = std::time::Instant::now();
    let chunk = cached.doc.automerge().save_after(&cached.persisted);
    let saved = started.elapsed();
    store.append(&cached.doc.org(), &chunk, &heads)?;
    let appended = started.elapsed();
    let (touched, patches) = match known {
        Some(known) => {
            cached.doc.automerge().update_diff_cursor();
            (known, 0)
        }
        None => {
            let patches = cached.doc.automerge().diff_incremental();
            (touched(&patches), patches.len())
        }
    };
    let diffed = started.elapsed();
    index.apply(&mut cached.doc, &touched)?;
    let indexed = started.elapsed();
    store.flush()?;
    tracing::debug!(
        org = %cached.doc.org(),
        chunk_bytes = chunk.len(),
        patches,
        records = touched.records.len(),
        ?saved,
        ?appended,
        ?diffed,
        ?indexed,
        total = ?started.elapsed(),
        "persisted"
    );
    cached.persisted = heads;
    Ok(true)
}

/// A ledger over the in-memory store, for the unit tests of the floors above the store.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;
    use std::sync::Arc;

    use chrono::NaiveDate;
    use halfsky_shared::synthetic::Generator;
    use halfsky_shared::OrgCode;
    use tempfile::TempDir;

    use super::Ledger;
    use crate::config::NodeHome;
    use crate::store::MemoryStore;

    /// The test village.
    pub const VILLAGE: &str = "230129100201";

    /// The date the test ledgers live at.
    pub fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 30).expect("valid date")
    }

    /// A fresh village home in `dir`, with a parent address so status has a parent.
    pub fn home(dir: &Path) -> NodeHome {
        let home = NodeHome::new(dir.join("village"));
        home.init_with(
            OrgCode::parse(VILLAGE).expect("valid code"),
            "红星村",
            "test",
            None,
            Some("127.0.0.1:9".into()),
            None,
        )
        .expect("init");
        home
    }

    /// Opens `home`'s ledger over `store`.
    pub fn open(home: &NodeHome, store: &Arc<MemoryStore>) -> Ledger {
        let mut ledger = Ledger::open_in(home, store.clone()).expect("open");
        ledger.set_today(today());
        ledger
    }

    /// A village node home (in a temporary directory) and its in-memory store, which
    /// outlives the ledgers opened over it: a reopen sees what was stored.
    pub struct Village {
        _dir: TempDir,
        /// The node home (config).
        pub home: NodeHome,
        /// The store its ledgers use.
        pub store: Arc<MemoryStore>,
    }

    impl Village {
        /// A fresh village with an empty store.
        pub fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            Village {
                home: home(dir.path()),
                _dir: dir,
                store: Arc::new(MemoryStore::new()),
            }
        }

        /// Opens a ledger over the village's store.
        pub fn open(&self) -> Ledger {
            open(&self.home, &self.store)
        }
    }

    /// Field inputs of a plausible woman.
    pub fn woman(generator: &mut Generator) -> Vec<(String, String)> {
        generator.woman(&OrgCode::parse(VILLAGE).expect("valid code"), None)
    }

    /// A generator with a fixed seed.
    pub fn generator() -> Generator {
        Generator::new(11, today())
    }
}

#[cfg(test)]
mod tests;
