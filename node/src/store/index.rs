//! The materialized index: flattened records and per-org rollups, kept in the store's
//! [`Table::Index`] and updated from Automerge patches on every change, local or synced.
//! Every query and statistic reads the index, never a document.
//!
//! # Layout (one table, `index-1`, so each update is one atomic batch)
//! - `r` + kind letter + record id → [`IndexedRecord`] (JSON). The id starts with its
//!   org code, so "all women of a subtree" is one prefix scan.
//! - `l` + woman id + `\0` + `V` + date + visit id → `()`: her visits, newest last.
//! - `l` + woman id + `\0` + `P` + pairing id → `()`: her active pairings.
//! - `u` + org → [`Rollup`] (JSON) of that unit's own records.
//! - `h` + org → the document heads the index reflects (written with its rows).
//! - `n` + org → the unit's name.
//! - `i` + ID-number key + `\0` + woman id → `()`: finds a woman registered twice, in
//!   one village or in two (every woman not retired with that key, adjacent). The key
//!   is this node's own ([`IdMatcher`]): the keyed hash of the opened number at an
//!   office holding the ID key, what the card shows at a village.
//! - `p` + woman id → `status|exit_date`: what training statistics need of a woman,
//!   without parsing her whole row.
//! - `f` + unit code + since + woman id, `g` + woman id: women under follow-up, by
//!   the day their period began, for every unit above them ([`follow_up`]).
//! - `v` → the [`RULES`] version, time zone and ID matching the rows were computed with.
//!
//! A change is applied as "subtract the record's old contribution, add its new one",
//! so incremental updates and a rebuild give identical rollups.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use automerge::ChangeHash;
use halfsky_shared::ledger_doc::{DocError, LedgerDoc, Touched};
use halfsky_shared::local_time::Zone;
use halfsky_shared::rollup::{Rollup, WomanLinks};
use halfsky_shared::{Kind, OrgCode, Record, RecordId};
use serde::{Deserialize, Serialize};

use crate::store::id_match::IdMatcher;

pub mod follow_up;
mod ids;
use crate::store::{decode_heads, encode_heads, Batch, Storage, StoreError, Table};

/// Why the index could not be read or updated.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The store failed.
    #[error("the index could not be read or written: {0}")]
    Store(#[from] StoreError),
    /// An index row is not what halfsky wrote.
    #[error("the index is damaged ({0}); run `halfsky reindex` to rebuild it from the ledger")]
    Corrupt(String),
    /// Reading the document failed.
    #[error(transparent)]
    Doc(#[from] DocError),
}

/// A record as the index keeps it: the record and, for women, her links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexedRecord {
    /// The record (winning values).
    pub record: Record,
    /// Her visits and pairings (women only).
    #[serde(default)]
    pub links: WomanLinks,
    /// Some field holds concurrent values (see `show`).
    #[serde(default)]
    pub conflicted: bool,
}

/// Version of the rules rollups are computed by. 2: a woman's follow-up period starts
/// at her latest visit or the local day her card was made (before: a card never
/// visited was overdue at once). 3: `i` rows hold every woman of a hash, not the last.
/// 4: `i` keys are this node's own ID matching ([`IdMatcher`]), from sealed numbers.
/// 5: the follow-up rows (`f`, `g`) of the overdue lists. 6: `f` rows are keys only.
pub const RULES: u32 = 6;

/// Records an update touches from which it first checks which of its document's row
/// prefixes the store holds nothing under (a dozen tree descents, saved many times
/// over when a whole new document arrives; not worth it for a local edit).
const EMPTY_CHECK_FROM: usize = 32;

/// `v` → `RULES|time zone` the rollups were computed with.
const RULES_KEY: &[u8] = b"v";

/// The index over the store's index table (a cheap clone: it shares the store).
#[derive(Debug, Clone)]
pub struct Index {
    store: Arc<dyn Storage>,
    /// The deployment's time zone: the day a card was made, for the overdue rule.
    zone: Zone,
    /// How this node matches ID numbers (the `i` rows' keys); shared by every clone,
    /// so a rotated hash key reaches the reader's copy too.
    ids: Arc<std::sync::RwLock<Arc<IdMatcher>>>,
}

fn record_key(id: &RecordId) -> Vec<u8> {
    let mut key = vec![b'r', id.kind().spec().id_letter as u8];
    key.extend_from_slice(id.to_string().as_bytes());
    key
}

fn kind_prefix(kind: Kind, org_prefix: &str) -> Vec<u8> {
    let mut key = vec![b'r', kind.spec().id_letter as u8];
    key.extend_from_slice(org_prefix.as_bytes());
    key
}

fn links_prefix(woman: &str) -> Vec<u8> {
    let mut key = vec![b'l'];
    key.extend_from_slice(woman.as_bytes());
    key.push(0);
    key
}

fn link_key(record: &Record) -> Option<(String, Vec<u8>)> {
    if record.meta.retired {
        return None;
    }
    let woman = record.text("woman_id")?.to_string();
    let mut key = links_prefix(&woman);
    match record.kind() {
        Kind::Visit => {
            key.push(b'V');
            key.extend_from_slice(record.text("date")?.as_bytes());
        }
        Kind::Pairing if record.flag("active") => key.push(b'P'),
        _ => return None,
    }
    key.extend_from_slice(record.id.to_string().as_bytes());
    Some((woman, key))
}

fn tagged(tag: u8, org: &OrgCode) -> Vec<u8> {
    let mut key = vec![tag];
    key.extend_from_slice(org.as_bytes());
    key
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("index rows serialize")
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, IndexError> {
    serde_json::from_slice(bytes).map_err(|e| IndexError::Corrupt(format!("{what}: {e}")))
}

/// Pending writes of one update, readable before they are applied.
///
/// Record rows are kept typed until the end of the update: a woman's row is read
/// again when her links are re-derived, and parsing back the JSON just written cost
/// a large share of applying a catch-up (a new city applies hundreds of thousands).
///
/// Key prefixes the store was found to hold nothing under when the update began are
/// not looked up again: a document new to this node (a city's first catch-up of a
/// county) has no rows yet, and each miss was a tree descent per row read.
struct Overlay<'a> {
    store: &'a dyn Storage,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    rows: HashMap<RecordId, Option<IndexedRecord>>,
    empty: Vec<Vec<u8>>,
}

impl<'a> Overlay<'a> {
    fn new(store: &'a dyn Storage) -> Self {
        Overlay {
            store,
            writes: BTreeMap::new(),
            rows: HashMap::new(),
            empty: Vec::new(),
        }
    }

    /// Notes which of `prefixes` the store holds no row under (those are then read
    /// from this overlay alone).
    fn find_empty(&mut self, prefixes: Vec<Vec<u8>>) -> Result<(), IndexError> {
        for prefix in prefixes {
            if self
                .store
                .scan_prefix(Table::Index, &prefix)
                .next()
                .transpose()?
                .is_none()
            {
                self.empty.push(prefix);
            }
        }
        Ok(())
    }

    /// Whether the store may hold rows under `key` (as a key or a prefix).
    fn may_be_stored(&self, key: &[u8]) -> bool {
        !self.empty.iter().any(|p| key.starts_with(p))
    }

    fn stored(&self, key: &[u8]) -> Result<Option<Vec<u8>>, IndexError> {
        if !self.may_be_stored(key) {
            return Ok(None);
        }
        Ok(self.store.get(Table::Index, key)?)
    }

    /// Sets (or with `None` removes) a record's row.
    fn put_row(&mut self, id: &RecordId, row: Option<IndexedRecord>) {
        self.rows.insert(id.clone(), row);
    }

    /// Every pending write, record rows serialized.
    fn into_batch(self) -> Batch {
        let mut batch = Batch::default();
        for (k, v) in self.writes {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        for (id, row) in self.rows {
            match row {
                Some(row) => batch.insert(record_key(&id), json(&row)),
                None => batch.remove(record_key(&id)),
            }
        }
        batch
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, IndexError> {
        if let Some(v) = self.writes.get(key) {
            return Ok(v.clone());
        }
        self.stored(key)
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<BTreeSet<Vec<u8>>, IndexError> {
        let mut keys = BTreeSet::new();
        if self.may_be_stored(prefix) {
            for item in self.store.scan_prefix(Table::Index, prefix) {
                keys.insert(item?.0);
            }
        }
        for (k, v) in self.writes.range(prefix.to_vec()..) {
            if !k.starts_with(prefix) {
                break;
            }
            if v.is_some() {
                keys.insert(k.clone());
            } else {
                keys.remove(k);
            }
        }
        Ok(keys)
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    fn indexed(&self, id: &RecordId) -> Result<Option<IndexedRecord>, IndexError> {
        if let Some(row) = self.rows.get(id) {
            return Ok(row.clone());
        }
        self.stored_row(id)
    }

    /// A record's row as the store holds it.
    fn stored_row(&self, id: &RecordId) -> Result<Option<IndexedRecord>, IndexError> {
        self.stored(&record_key(id))?
            .map(|b| parse(&b, "record row"))
            .transpose()
    }

    /// [`Overlay::indexed`], taken out of the pending rows rather than copied; the
    /// flag says it was pending (it must then be put back).
    fn take_indexed(&mut self, id: &RecordId) -> Result<(Option<IndexedRecord>, bool), IndexError> {
        match self.rows.remove(id) {
            Some(row) => Ok((row, true)),
            None => Ok((self.stored_row(id)?, false)),
        }
    }

    fn links_of(&self, woman: &str) -> Result<WomanLinks, IndexError> {
        let prefix = links_prefix(woman);
        let mut links = WomanLinks::default();
        for key in self.keys_with_prefix(&prefix)? {
            match key.get(prefix.len()) {
                Some(b'V') => {
                    let date = String::from_utf8_lossy(&key[prefix.len() + 1..prefix.len() + 11])
                        .to_string();
                    if links.last_visit.as_ref().is_none_or(|d| *d < date) {
                        links.last_visit = Some(date);
                    }
                }
                Some(b'P') => links.active_pairings += 1,
                _ => {}
            }
        }
        Ok(links)
    }
}

impl Index {
    /// The index kept in `store`, days taken in China's time zone.
    pub fn open(store: Arc<dyn Storage>) -> Self {
        Index::open_in_zone(store, Zone::default())
    }

    /// The index kept in `store`, days taken in `zone` (the deployment's).
    pub fn open_in_zone(store: Arc<dyn Storage>, zone: Zone) -> Self {
        Index {
            store,
            zone,
            ids: Arc::new(std::sync::RwLock::new(Arc::new(IdMatcher::ByCard))),
        }
    }

    /// This index, matching ID numbers with `ids` (the node's keys decide which).
    pub fn matching_ids(self, ids: IdMatcher) -> Self {
        self.set_id_matcher(ids);
        self
    }

    /// Matches ID numbers with `ids` from now on, in every clone of this index (the
    /// rows must then be rebuilt: [`crate::Ledger::rebuild_index`]).
    pub fn set_id_matcher(&self, ids: IdMatcher) {
        *self.ids.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ids);
    }

    /// How this index matches ID numbers.
    pub fn id_matcher(&self) -> Arc<IdMatcher> {
        self.ids.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The time zone the index takes days in.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// Whether the rollups were computed by this release's rules in this index's time
    /// zone (see [`RULES`]); if not, the ledger rebuilds the index on open.
    pub fn rules_current(&self) -> Result<bool, IndexError> {
        Ok(self.row(RULES_KEY)?.as_deref() == Some(self.rules_text().as_bytes()))
    }

    /// Records that the rollups follow this release's rules (after a rebuild).
    pub fn mark_rules_current(&self) -> Result<(), IndexError> {
        let mut batch = Batch::default();
        batch.insert(RULES_KEY.to_vec(), self.rules_text().into_bytes());
        self.store.apply(Table::Index, batch)?;
        Ok(())
    }

    fn rules_text(&self) -> String {
        format!("{RULES}|{}|{}", self.zone, self.id_matcher().fingerprint())
    }

    fn row(&self, key: &[u8]) -> Result<Option<Vec<u8>>, IndexError> {
        Ok(self.store.get(Table::Index, key)?)
    }

    /// Rows whose key starts with `tag` + `org_prefix`, as (org code, value).
    fn org_rows(&self, tag: u8, org_prefix: &str) -> Result<Vec<(OrgCode, Vec<u8>)>, IndexError> {
        let mut prefix = vec![tag];
        prefix.extend_from_slice(org_prefix.as_bytes());
        let mut out = Vec::new();
        for item in self.store.scan_prefix(Table::Index, &prefix) {
            let (k, v) = item?;
            let org = OrgCode::parse(&String::from_utf8_lossy(&k[1..]))
                .map_err(|e| IndexError::Corrupt(e.to_string()))?;
            out.push((org, v));
        }
        Ok(out)
    }

    /// The heads of `org`'s document that the index reflects.
    pub fn heads(&self, org: &OrgCode) -> Result<Option<Vec<ChangeHash>>, IndexError> {
        self.row(&tagged(b'h', org))?
            .map(|v| decode_heads(&v).map_err(|e| IndexError::Corrupt(e.to_string())))
            .transpose()
    }

    /// Applies what changed in `doc` (as named by patches) to the index, atomically,
    /// and records `doc`'s current heads.
    pub fn apply(&self, doc: &mut LedgerDoc, touched: &Touched) -> Result<(), IndexError> {
        let org = doc.org();
        let mut overlay = Overlay::new(self.store.as_ref());
        if touched.records.len() >= EMPTY_CHECK_FROM {
            // Rows of this document's own records (and of its women's links and
            // follow-up) exist only once it was indexed here.
            let mut prefixes: Vec<Vec<u8>> = Kind::ALL
                .iter()
                .map(|kind| {
                    let mut prefix = vec![b'r', kind.spec().id_letter as u8];
                    prefix.extend_from_slice(org.as_bytes());
                    prefix
                })
                .collect();
            prefixes.push(tagged(b'l', &org));
            prefixes.push(tagged(b'g', &org));
            overlay.find_empty(prefixes)?;
        }
        let mut deltas: HashMap<OrgCode, Rollup> = HashMap::new();
        let mut dirty_women: BTreeSet<String> = BTreeSet::new();
        let ids = self.id_matcher();
        let mut current = doc.records_flagged(&touched.records)?;
        for id in &touched.records {
            // A record is filed under the document that holds it: one whose id names
            // another unit cannot be that unit's record (only its own devices write
            // it), so it never overwrites or counts as that unit's row.
            if id.org() != org {
                tracing::warn!(document = %org, record = %id, "record under another unit's id skipped");
                continue;
            }
            let old = overlay.indexed(id)?;
            let (new, conflicted) = match current.remove(id) {
                Some((mut record, conflicted)) => {
                    if id.kind() == Kind::Woman {
                        record.meta.id_hash = ids.key_of_record(&record);
                    }
                    (Some(record), conflicted)
                }
                None => (None, false),
            };
            // Links: visits and pairings feed their woman's figures.
            if let Some((woman, key)) = old.as_ref().and_then(|o| link_key(&o.record)) {
                overlay.remove(key);
                dirty_women.insert(woman);
            }
            if let Some((woman, key)) = new.as_ref().and_then(link_key) {
                overlay.put(key, Vec::new());
                dirty_women.insert(woman);
            }
            if id.kind() == Kind::Woman {
                self.update_id_hash(&mut overlay, old.as_ref(), new.as_ref());
                let mut key = vec![b'p'];
                key.extend_from_slice(id.to_string().as_bytes());
                match new.as_ref().filter(|r| !r.meta.retired) {
                    Some(r) => overlay.put(
                        key,
                        format!(
                            "{}|{}",
                            r.text("status").unwrap_or_default(),
                            r.text("exit_date").unwrap_or_default()
                        )
                        .into_bytes(),
                    ),
                    None => overlay.remove(key),
                }
                // The woman's own row is written below, with her links.
                match new {
                    Some(record) => {
                        let links = old.as_ref().map(|o| o.links.clone()).unwrap_or_default();
                        let delta = deltas.entry(id.org()).or_default();
                        if let Some(o) = &old {
                            delta.merge(&Rollup::of_record_in(&o.record, &o.links, &self.zone), -1);
                        }
                        delta.merge(&Rollup::of_record_in(&record, &links, &self.zone), 1);
                        overlay.put_row(
                            id,
                            Some(IndexedRecord {
                                record,
                                links,
                                conflicted,
                            }),
                        );
                    }
                    None => {
                        if let Some(o) = &old {
                            deltas
                                .entry(id.org())
                                .or_default()
                                .merge(&Rollup::of_record_in(&o.record, &o.links, &self.zone), -1);
                        }
                        overlay.put_row(id, None);
                    }
                }
                dirty_women.insert(id.to_string());
                continue;
            }
            let delta = deltas.entry(id.org()).or_default();
            if let Some(o) = &old {
                delta.merge(&Rollup::of_record_in(&o.record, &o.links, &self.zone), -1);
            }
            match new {
                Some(record) => {
                    delta.merge(
                        &Rollup::of_record_in(&record, &WomanLinks::default(), &self.zone),
                        1,
                    );
                    let row = IndexedRecord {
                        record,
                        links: WomanLinks::default(),
                        conflicted,
                    };
                    overlay.put_row(id, Some(row));
                }
                None => overlay.put_row(id, None),
            }
        }
        // Re-derive each affected woman's links and move her contribution accordingly.
        for woman in dirty_women {
            let Ok(woman_id) = RecordId::parse(&woman) else {
                continue;
            };
            let is_woman = woman_id.kind() == Kind::Woman;
            let (row, pending) = overlay.take_indexed(&woman_id)?;
            let Some(mut row) = row else {
                if pending {
                    overlay.put_row(&woman_id, None);
                }
                // Her card has not arrived yet (her links wait for it), or is gone.
                if is_woman {
                    self.update_follow_up(&mut overlay, &woman_id, None)?;
                }
                continue;
            };
            let links = overlay.links_of(&woman)?;
            let moved = links != row.links;
            if moved {
                let delta = deltas.entry(woman_id.org()).or_default();
                delta.merge(
                    &Rollup::of_record_in(&row.record, &row.links, &self.zone),
                    -1,
                );
                delta.merge(&Rollup::of_record_in(&row.record, &links, &self.zone), 1);
                row.links = links;
            }
            if is_woman {
                self.update_follow_up(&mut overlay, &woman_id, Some(&row))?;
            }
            if moved || pending {
                overlay.put_row(&woman_id, Some(row));
            }
        }
        for (unit, delta) in deltas {
            if delta.is_empty() {
                continue;
            }
            let key = tagged(b'u', &unit);
            let mut rollup: Rollup = match overlay.get(&key)? {
                Some(b) => parse(&b, "rollup row")?,
                None => Rollup::default(),
            };
            rollup.merge(&delta, 1);
            if rollup.is_empty() {
                overlay.remove(key);
            } else {
                overlay.put(key, json(&rollup));
            }
        }
        if touched.meta || overlay.get(&tagged(b'n', &org))?.is_none() {
            if let Some(name) = doc.name() {
                overlay.put(tagged(b'n', &org), name.into_bytes());
            }
        }
        overlay.put(tagged(b'h', &org), encode_heads(&doc.heads()));
        self.store.apply(Table::Index, overlay.into_batch())?;
        Ok(())
    }

    /// A woman's status code and exit date (not retired women).
    pub fn woman_status(
        &self,
        id: &str,
    ) -> Result<Option<(String, Option<chrono::NaiveDate>)>, IndexError> {
        let mut key = vec![b'p'];
        key.extend_from_slice(id.as_bytes());
        Ok(self.row(&key)?.map(|v| {
            let text = String::from_utf8_lossy(&v);
            let (status, exit) = text.split_once('|').unwrap_or((&text, ""));
            (status.to_string(), halfsky_shared::schema::parse_date(exit))
        }))
    }

    /// One record.
    pub fn get(&self, id: &RecordId) -> Result<Option<IndexedRecord>, IndexError> {
        self.row(&record_key(id))?
            .map(|b| parse(&b, "record row"))
            .transpose()
    }

    /// Every record of `kind` whose org code starts with `org_prefix`, in id order.
    pub fn list(
        &self,
        kind: Kind,
        org_prefix: &str,
    ) -> impl Iterator<Item = Result<IndexedRecord, IndexError>> + '_ {
        self.store
            .scan_prefix(Table::Index, &kind_prefix(kind, org_prefix))
            .map(|item| parse(&item?.1, "record row"))
    }

    /// Rollups of every unit whose code starts with `org_prefix`.
    pub fn rollups(&self, org_prefix: &str) -> Result<Vec<(OrgCode, Rollup)>, IndexError> {
        self.org_rows(b'u', org_prefix)?
            .into_iter()
            .map(|(org, v)| Ok((org, parse(&v, "rollup row")?)))
            .collect()
    }

    /// Rollup rows of every unit whose code starts with `org_prefix`, undecoded (to
    /// tell which changed since they were last read).
    pub fn rollup_bytes(&self, org_prefix: &str) -> Result<Vec<(OrgCode, Vec<u8>)>, IndexError> {
        self.org_rows(b'u', org_prefix)
    }

    /// Decodes a rollup row read by [`Index::rollup_bytes`].
    pub fn decode_rollup(bytes: &[u8]) -> Result<Rollup, IndexError> {
        parse(bytes, "rollup row")
    }

    /// The name of a unit, if its document has one.
    pub fn name(&self, org: &OrgCode) -> Result<Option<String>, IndexError> {
        Ok(self
            .row(&tagged(b'n', org))?
            .map(|v| String::from_utf8_lossy(&v).to_string()))
    }

    /// Every unit that has a name in the index, with that name.
    pub fn names(&self, org_prefix: &str) -> Result<Vec<(OrgCode, String)>, IndexError> {
        let mut prefix = vec![b'n'];
        prefix.extend_from_slice(org_prefix.as_bytes());
        let mut out = Vec::new();
        for item in self.store.scan_prefix(Table::Index, &prefix) {
            let (k, v) = item?;
            if let Ok(org) = OrgCode::parse(&String::from_utf8_lossy(&k[1..])) {
                out.push((org, String::from_utf8_lossy(&v).to_string()));
            }
        }
        Ok(out)
    }

    /// Writes records straight into the index, without documents: for benchmarks and
    /// load tests that need a city-sized index (a million women) faster than Automerge
    /// can build one. Each record's `links` are taken as given (no visit or pairing
    /// link rows are written); rollups, follow-up rows and names are updated as a real
    /// write would (rollups as for new records: an old row's share is not taken off).
    pub fn bulk_load(
        &self,
        names: &[(OrgCode, String)],
        rows: &[IndexedRecord],
    ) -> Result<(), IndexError> {
        let mut batch = Batch::default();
        let mut deltas: BTreeMap<OrgCode, Rollup> = BTreeMap::new();
        for (org, name) in names {
            batch.insert(tagged(b'n', org), name.as_bytes());
        }
        for row in rows {
            let id = &row.record.id;
            batch.insert(record_key(id), json(row));
            if id.kind() == Kind::Woman {
                let mut key = vec![b'p'];
                key.extend_from_slice(id.to_string().as_bytes());
                let value = format!(
                    "{}|{}",
                    row.record.text("status").unwrap_or_default(),
                    row.record.text("exit_date").unwrap_or_default()
                );
                batch.insert(key, value.into_bytes());
                self.bulk_follow_up(&mut batch, row)?;
            }
            deltas.entry(id.org()).or_default().merge(
                &Rollup::of_record_in(&row.record, &row.links, &self.zone),
                1,
            );
        }
        for (org, delta) in deltas {
            let key = tagged(b'u', &org);
            let mut rollup: Rollup = match self.row(&key)? {
                Some(b) => parse(&b, "rollup row")?,
                None => Rollup::default(),
            };
            rollup.merge(&delta, 1);
            batch.insert(key, json(&rollup));
        }
        Ok(self.store.apply(Table::Index, batch)?)
    }

    /// Ids of a woman's active pairings.
    pub fn active_pairings(&self, woman: &str) -> Result<Vec<RecordId>, IndexError> {
        let mut prefix = links_prefix(woman);
        prefix.push(b'P');
        let mut out = Vec::new();
        for item in self.store.scan_prefix(Table::Index, &prefix) {
            let (k, _) = item?;
            if let Ok(id) = RecordId::parse(&String::from_utf8_lossy(&k[prefix.len()..])) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Removes every row (before a rebuild).
    pub fn clear(&self) -> Result<(), IndexError> {
        Ok(self.store.clear(Table::Index)?)
    }
}

#[cfg(test)]
mod tests;
