//! A read-only view of a ledger that any thread may use while the ledger actor works:
//! the dashboard answers every GET through it, so a page never queues behind sync.
//!
//! It reads what the actor writes: the index's trees (records, rollups, names), the
//! freshness records and the stored documents. sled lets readers run concurrently with
//! writes; an index write is one batch, so a reader sees a document's rows either
//! before or after it. The statistics are computed here, for the ledger and the
//! dashboard alike, with the rollup sums kept between calls. Everything is cheap to
//! clone (trees and `Arc`s).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use automerge::ActorId;
use chrono::{Datelike, NaiveDate};
use halfsky_shared::ledger_doc::{HistoryEntry, LedgerDoc};
use halfsky_shared::rollup::{poor_on, Rollup, StatsReport};
use halfsky_shared::{Kind, OrgCode, RecordId};

use super::{LedgerError, RecordView};
use crate::store::index::{Index, IndexedRecord};
use crate::store::Storage;
use crate::sync::freshness::Freshness;

/// Sums of one subtree's rollups, kept between `stats` calls and brought up to date
/// by re-reading only the units whose rollup row changed: at a city of 2,000 villages
/// summing every rollup again takes hundreds of milliseconds, one changed village
/// well under one.
#[derive(Default)]
struct SubtreeSums {
    /// Each unit's rollup row as last read, and its decoded value.
    units: BTreeMap<OrgCode, (Vec<u8>, Rollup)>,
    /// Sum over all units.
    total: Rollup,
    /// Sum per child of the subtree's top unit.
    children: BTreeMap<OrgCode, Rollup>,
    /// The generation `total` is known to be current at, if any: until the next write
    /// [`LedgerReader::subtree_rollup`] answers without re-reading a rollup row.
    current_at: Option<u64>,
}

/// Subtrees whose sums are kept (the dashboard's most visited units).
const STATS_CACHE_UNITS: usize = 32;

/// What the ledger and its readers share.
#[derive(Default)]
struct Shared {
    /// Counts durable changes since open: readers cache what they computed and
    /// recompute when this moves.
    generation: AtomicU64,
    /// "Today" fixed by tests and reproducible demos; None: the local date.
    today: Mutex<Option<NaiveDate>>,
    /// Rollup sums per subtree, for `stats`.
    sums: Mutex<BTreeMap<OrgCode, SubtreeSums>>,
    /// Statistics per subtree with the generation they were computed at: one page
    /// asks for the same unit's several times (a city's overview: each county for its
    /// row, then again for its targets), and a dashboard's readers share them.
    reports: Mutex<BTreeMap<OrgCode, (u64, StatsReport)>>,
}

/// A read-only view of a ledger (see the module doc). Obtained from
/// [`super::Ledger::reader`] or [`super::actor::LedgerHandle::reader`].
#[derive(Clone)]
pub struct LedgerReader {
    org: OrgCode,
    actor: ActorId,
    store: Arc<dyn Storage>,
    index: Index,
    freshness: Freshness,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LedgerReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerReader")
            .field("org", &self.org)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LedgerReader {
    /// The refusal records (refusals, quarantines): the dashboard's admin page.
    pub fn trust(&self) -> crate::ledger::trust::TrustStore {
        crate::ledger::trust::TrustStore::new(self.store.clone())
    }

    /// A reader of the ledger of `org` over its store, index and freshness records.
    pub(super) fn new(
        org: OrgCode,
        actor: ActorId,
        store: Arc<dyn Storage>,
        index: Index,
        freshness: Freshness,
    ) -> Self {
        LedgerReader {
            org,
            actor,
            store,
            index,
            freshness,
            shared: Default::default(),
        }
    }

    /// The node's own unit.
    pub fn org(&self) -> OrgCode {
        self.org
    }

    /// The index (records, rollups, names).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// When and how each unit's data last arrived.
    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    /// A number that changes whenever anything is written (locally or from sync):
    /// what was computed from the index at one generation is still true at it. Read
    /// it *before* computing, so a write during the computation is seen next time.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Called by the ledger after every durable write (and reindex, and a new "today").
    pub(super) fn bump(&self) {
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Forgets the kept rollup sums (after a reindex).
    pub(super) fn forget_sums(&self) {
        lock(&self.shared.reports).clear();
        lock(&self.shared.sums).clear();
    }

    /// Fixes "today" (tests and reproducible demos).
    pub(super) fn set_today(&self, today: NaiveDate) {
        *lock(&self.shared.today) = Some(today);
        self.bump();
    }

    /// Today's date as the ledger sees it.
    pub fn today(&self) -> NaiveDate {
        lock(&self.shared.today).unwrap_or_else(|| self.index().zone().day_of(chrono::Utc::now()))
    }

    /// Records of `kind` under `org_prefix` (retired ones only if `include_retired`).
    pub fn list(
        &self,
        kind: Kind,
        org_prefix: &str,
        include_retired: bool,
    ) -> Result<Vec<IndexedRecord>, LedgerError> {
        let mut out = Vec::new();
        for row in self.index.list(kind, org_prefix) {
            let row = row?;
            if include_retired || !row.record.meta.retired {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// The stored document of `org`, loaded for reading (not the actor's cached copy).
    fn load(&self, org: OrgCode) -> Result<LedgerDoc, LedgerError> {
        let stored = self.store.load(&org)?;
        let bytes = stored.map(|s| s.concatenated()).unwrap_or_default();
        Ok(LedgerDoc::load(&bytes, org, self.actor.clone())?)
    }

    /// One record, with any conflicting values.
    pub fn show(&self, id: &RecordId) -> Result<RecordView, LedgerError> {
        let indexed = self
            .index
            .get(id)?
            .ok_or_else(|| LedgerError::NotFound(id.clone()))?;
        let conflicts = if indexed.conflicted {
            self.load(id.org())?.conflicts(id)?
        } else {
            BTreeMap::new()
        };
        Ok(RecordView { indexed, conflicts })
    }

    /// A record's history, oldest first.
    pub fn history(&self, id: &RecordId) -> Result<Vec<HistoryEntry>, LedgerError> {
        if self.index.get(id)?.is_none() {
            return Err(LedgerError::NotFound(id.clone()));
        }
        Ok(self.load(id.org())?.history(id)?)
    }

    /// Histories of several records of `org`'s document, loading it once.
    pub fn histories(
        &self,
        org: OrgCode,
        ids: &[RecordId],
    ) -> Result<Vec<Vec<HistoryEntry>>, LedgerError> {
        let mut doc = self.load(org)?;
        ids.iter().map(|id| Ok(doc.history(id)?)).collect()
    }

    /// Statistics of the subtree under `org`, computed once per generation.
    pub fn stats(&self, org: OrgCode) -> Result<StatsReport, LedgerError> {
        let generation = self.generation();
        if let Some((at, report)) = lock(&self.shared.reports).get(&org) {
            if *at == generation {
                return Ok(report.clone());
            }
        }
        let report = self.compute_stats(org)?;
        let mut reports = lock(&self.shared.reports);
        if !reports.contains_key(&org) && reports.len() >= STATS_CACHE_UNITS {
            reports.clear();
        }
        reports.insert(org, (generation, report.clone()));
        Ok(report)
    }

    fn compute_stats(&self, org: OrgCode) -> Result<StatsReport, LedgerError> {
        let today = self.today();
        let (total, mut children) = self.subtree_sums(org)?;
        let names: BTreeMap<OrgCode, String> = self
            .index
            .names(org.subtree_prefix())?
            .into_iter()
            .collect();
        for unit in names.keys() {
            if let Some(child) = org.child_towards(unit) {
                children.entry(child).or_default();
            }
        }
        let children = children
            .into_iter()
            .map(|(child, rollup)| {
                let name = names.get(&child).cloned().unwrap_or_default();
                rollup.child_stats(child, name, today)
            })
            .collect();
        let name = names.get(&org).cloned().unwrap_or_default();
        let share = self.poor_share(org, today.year())?;
        let mut report = total.report(org, name, today, children, share);
        let records = report.households.total
            + report.women.total
            + report.measures.total
            + report.visits.total
            + report.loans.count;
        report.verification.by_level = super::verification::progress(self, org, records)?;
        Ok(report)
    }

    /// The summed rollups of `org`'s subtree, kept between calls as for
    /// [`LedgerReader::stats`]: lists count by them, so they agree with the statistics.
    /// Until something is written the kept sum is returned as it is; a city's overdue
    /// page would otherwise re-read some 2,000 rollup rows for its count each time.
    pub fn subtree_rollup(&self, org: OrgCode) -> Result<Rollup, LedgerError> {
        let generation = self.generation();
        if let Some(sums) = lock(&self.shared.sums).get(&org) {
            if sums.current_at == Some(generation) {
                return Ok(sums.total.clone());
            }
        }
        let (total, _) = self.subtree_sums(org)?;
        if let Some(sums) = lock(&self.shared.sums).get_mut(&org) {
            sums.current_at = Some(generation);
        }
        Ok(total)
    }

    /// The summed rollups of `org`'s subtree and of each of its children, updated
    /// from the rollup rows that changed since the last call.
    fn subtree_sums(
        &self,
        org: OrgCode,
    ) -> Result<(Rollup, BTreeMap<OrgCode, Rollup>), LedgerError> {
        let rows = self.index.rollup_bytes(org.subtree_prefix())?;
        let mut cache = lock(&self.shared.sums);
        if !cache.contains_key(&org) && cache.len() >= STATS_CACHE_UNITS {
            cache.clear();
        }
        let sums = cache.entry(org).or_default();
        let mut seen = std::collections::BTreeSet::new();
        for (unit, bytes) in rows {
            seen.insert(unit);
            if sums.units.get(&unit).is_some_and(|(old, _)| *old == bytes) {
                continue;
            }
            let rollup = Index::decode_rollup(&bytes)?;
            if let Some((_, old)) = sums.units.remove(&unit) {
                sums.total.merge(&old, -1);
                if let Some(child) = org.child_towards(&unit) {
                    sums.children.entry(child).or_default().merge(&old, -1);
                }
            }
            sums.total.merge(&rollup, 1);
            if let Some(child) = org.child_towards(&unit) {
                sums.children.entry(child).or_default().merge(&rollup, 1);
            }
            sums.units.insert(unit, (bytes, rollup));
        }
        let gone: Vec<OrgCode> = sums
            .units
            .keys()
            .filter(|u| !seen.contains(*u))
            .copied()
            .collect();
        for unit in gone {
            if let Some((_, old)) = sums.units.remove(&unit) {
                sums.total.merge(&old, -1);
                if let Some(child) = org.child_towards(&unit) {
                    sums.children.entry(child).or_default().merge(&old, -1);
                }
            }
        }
        let present: std::collections::BTreeSet<OrgCode> = sums
            .units
            .keys()
            .filter_map(|u| org.child_towards(u))
            .collect();
        let children = sums
            .children
            .iter()
            .filter(|(child, _)| present.contains(child))
            .map(|(c, r)| (*c, r.clone()))
            .collect();
        Ok((sums.total.clone(), children))
    }

    /// Poor women's share of this year's training person-times, in percent.
    fn poor_share(&self, org: OrgCode, year: i32) -> Result<Option<f64>, LedgerError> {
        let (mut total, mut poor) = (0i64, 0i64);
        for row in self.index.list(Kind::Training, org.subtree_prefix()) {
            let training = row?.record;
            let Some(date) = training.date("date").filter(|d| d.year() == year) else {
                continue;
            };
            if training.meta.retired {
                continue;
            }
            total += training.int("others_count").unwrap_or(0);
            for attendee in training.list("attendees") {
                total += 1;
                if let Some((status, exit)) = self.index.woman_status(attendee)? {
                    poor += poor_on(&status, exit, date) as i64;
                }
            }
        }
        Ok((total > 0).then(|| (poor as f64 * 1000.0 / total as f64).round() / 10.0))
    }
}
