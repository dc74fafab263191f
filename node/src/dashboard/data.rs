//! What pages and the JSON API show, computed in one place from the ledger's index
//! through its read-only view ([`LedgerReader`]: never inside the ledger actor). Pages render these structs as HTML; the API
//! serialises them as they are, so both always show the same numbers. The statistics
//! are [`LedgerReader::stats`], the very report `halfsky stats --json` prints.

use std::collections::BTreeMap;

use chrono::Datelike;
use halfsky_shared::rollup::{ChildStats, StatsReport};
use halfsky_shared::{Kind, OrgCode, Record, RecordId};
use serde::Serialize;

use super::targets::{level_targets, LevelTargets};
use crate::ledger::reader::LedgerReader;
use crate::ledger::{LedgerError, RecordView};
use crate::sync::freshness::{SubtreeFreshness, UnitFreshness};

/// At most this many rows of a list are shown on a page (exports have them all).
pub const PAGE_ROWS: usize = 200;

/// Verification progress of one verifying level over a subtree's checked records.
#[derive(Debug, Clone, Serialize)]
pub struct LevelVerification {
    /// The verifying level (`village`…`city`).
    pub level: halfsky_shared::org::Level,
    /// Confirmed, rejected, needs fix and pending (as `stats --json` tells them).
    #[serde(flatten)]
    pub progress: halfsky_shared::rollup::LevelProgress,
    /// Records of the checked kinds in the subtree (the denominator).
    pub records: i64,
}

/// One child row of the drill-down, with the freshness of its parts.
#[derive(Debug, Clone, Serialize)]
pub struct ChildRow {
    /// Key numbers (from the same report as `stats --json`).
    #[serde(flatten)]
    pub stats: ChildStats,
    /// When its parts were last heard from.
    pub freshness: SubtreeFreshness,
    /// A part was not heard from within the stale limit.
    pub stale: bool,
    /// Verification of its subtree's records at the viewed unit's level.
    pub verification: halfsky_shared::rollup::LevelProgress,
}

/// The overview of a unit: its statistics, its children and how fresh they are.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// The statistics (`halfsky stats --json` for this unit).
    pub stats: StatsReport,
    /// Freshness of the whole subtree.
    pub freshness: SubtreeFreshness,
    /// A part of the total was not heard from within the stale limit.
    pub stale: bool,
    /// Minutes after which a unit not heard from counts as stale.
    pub stale_after_minutes: i64,
    /// Children with their freshness.
    pub children: Vec<ChildRow>,
    /// Verification progress by verifying level.
    pub verification: Vec<LevelVerification>,
    /// Names of units in the subtree (for freshness labels).
    #[serde(skip)]
    pub names: BTreeMap<OrgCode, String>,
    /// The targets that belong to this unit, and its part in the levels' ones.
    pub targets: LevelTargets,
}

/// Builds the overview of `org`.
pub fn overview(
    ledger: &LedgerReader,
    org: OrgCode,
    now: i64,
    stale_after_secs: i64,
) -> Result<Overview, LedgerError> {
    let stats = ledger.stats(org)?;
    let rows = units(ledger, &org, now)?;
    let freshness = SubtreeFreshness::of(&rows, now, stale_after_secs);
    let mut by_child: BTreeMap<OrgCode, Vec<UnitFreshness>> = BTreeMap::new();
    for unit in &rows {
        if let Some(child) = org.child_towards(&unit.org) {
            by_child.entry(child).or_default().push(unit.clone());
        }
    }
    let mut children = Vec::with_capacity(stats.children.len());
    for c in &stats.children {
        let parts = by_child.remove(&c.org).unwrap_or_default();
        let f = SubtreeFreshness::of(&parts, now, stale_after_secs);
        // Progress per unit: this level's checks of each child's records.
        let verification = ledger
            .stats(c.org)?
            .verification
            .by_level
            .remove(org.level().as_str())
            .unwrap_or_default();
        children.push(ChildRow {
            stale: f.is_stale() || f.units == 0,
            stats: c.clone(),
            freshness: f,
            verification,
        });
    }
    let mut names: BTreeMap<OrgCode, String> = ledger
        .index()
        .names(org.subtree_prefix())?
        .into_iter()
        .collect();
    for a in org.ancestors() {
        if let Some(n) = ledger.index().name(&a)? {
            names.insert(a, n);
        }
    }
    Ok(Overview {
        stale: freshness.is_stale(),
        freshness,
        stale_after_minutes: stale_after_secs / 60,
        children,
        verification: verification(&stats),
        names,
        targets: level_targets(ledger, &stats)?,
        stats,
    })
}

/// Every unit of `org`'s subtree this node knows of: when it was last heard from, by
/// which path, and when its data last changed.
pub fn units(
    ledger: &LedgerReader,
    org: &OrgCode,
    now: i64,
) -> Result<Vec<UnitFreshness>, LedgerError> {
    ledger
        .freshness()
        .units(ledger.org(), *org, now)
        .map_err(LedgerError::from)
}

/// Progress at each of the four levels, bottom up, from the statistics.
fn verification(stats: &StatsReport) -> Vec<LevelVerification> {
    crate::ledger::verification::LEVELS
        .iter()
        .map(|level| {
            let progress = stats
                .verification
                .by_level
                .get(level.as_str())
                .cloned()
                .unwrap_or_default();
            LevelVerification {
                level: *level,
                records: progress.confirmed
                    + progress.rejected
                    + progress.needs_fix
                    + progress.pending,
                progress,
            }
        })
        .collect()
}

pub use super::overdue::{overdue, overdue_list, OverdueRow};

/// A filter over women, from the query string (every field optional).
#[derive(Debug, Clone, Default, serde::Deserialize, Serialize)]
pub struct WomenFilter {
    /// Status code.
    #[serde(default)]
    pub status: Option<String>,
    /// Labour capacity code.
    #[serde(default)]
    pub labor: Option<String>,
    /// `yes` / `no`.
    #[serde(default)]
    pub wants_work: Option<String>,
    /// Poverty cause code.
    #[serde(default)]
    pub cause: Option<String>,
    /// Age band (`under_30`, `30_39`, …).
    #[serde(default)]
    pub age: Option<String>,
    /// `yes` / `no`.
    #[serde(default)]
    pub insured: Option<String>,
    /// `yes` / `no`: has an active pairing.
    #[serde(default)]
    pub paired: Option<String>,
    /// Part of her name.
    #[serde(default)]
    pub name: Option<String>,
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn yes(v: &str) -> bool {
    matches!(v, "yes" | "true" | "1" | "是")
}

impl WomenFilter {
    /// Does this woman pass?
    pub fn matches(&self, row: &crate::store::index::IndexedRecord, year: i64) -> bool {
        let r = &row.record;
        if r.meta.retired {
            return false;
        }
        if let Some(s) = set(&self.status) {
            if r.text("status").unwrap_or("poor") != s {
                return false;
            }
        }
        if let Some(l) = set(&self.labor) {
            if r.text("labor_capacity") != Some(l) {
                return false;
            }
        }
        if let Some(w) = set(&self.wants_work) {
            if r.flag("wants_work") != yes(w) {
                return false;
            }
        }
        if let Some(c) = set(&self.cause) {
            if !r.list("poverty_causes").iter().any(|x| x == c) {
                return false;
            }
        }
        if let Some(a) = set(&self.age) {
            let band = r
                .int("birth_year")
                .map(|b| halfsky_shared::rollup::age_band(year - b));
            if band != Some(a) {
                return false;
            }
        }
        if let Some(i) = set(&self.insured) {
            if r.flag("insured_two_cancers") != yes(i) {
                return false;
            }
        }
        if let Some(p) = set(&self.paired) {
            if (row.links.active_pairings > 0) != yes(p) {
                return false;
            }
        }
        if let Some(n) = set(&self.name) {
            if !r.text("name").unwrap_or_default().contains(n) {
                return false;
            }
        }
        true
    }
}

/// Women under `org` passing `filter`: at most `limit` rows after the first `skip`,
/// and the total count.
pub fn women(
    ledger: &LedgerReader,
    org: OrgCode,
    filter: &WomenFilter,
    skip: usize,
    limit: usize,
) -> Result<(Vec<crate::store::index::IndexedRecord>, usize), LedgerError> {
    let year = ledger.today().year() as i64;
    let mut out = Vec::new();
    let mut count = 0;
    for row in ledger.index().list(Kind::Woman, org.subtree_prefix()) {
        let row = row?;
        if filter.matches(&row, year) {
            count += 1;
            if count > skip && out.len() < limit {
                out.push(row);
            }
        }
    }
    Ok((out, count))
}

/// A record with its history and the records that point at it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordPage {
    /// The record and its conflicting values.
    pub view: RecordView,
    /// Who changed what, when, from which device.
    pub history: Vec<halfsky_shared::ledger_doc::HistoryEntry>,
    /// Visits, pairings, measures, loans of a woman (newest first).
    pub related: Vec<Record>,
}

/// `record` as any dashboard reader may receive it: without her sealed ID number and
/// this node's matching key of it. A key confirms a guessed number offline and a sealed
/// number is the number itself to whoever gets the ID key, so both stay inside the node;
/// the masked number in the fields is all a reader needs.
pub fn for_readers(mut record: Record) -> Record {
    record.meta = record.meta.for_readers();
    record
}

/// The record page of `id`.
pub fn record(ledger: &LedgerReader, id: &RecordId) -> Result<RecordPage, LedgerError> {
    let mut view = ledger.show(id)?;
    view.indexed.record = for_readers(view.indexed.record);
    let mut history = ledger.history(id)?;
    for entry in &mut history {
        entry.values.retain(|(key, _)| !key.starts_with('_'));
    }
    let mut related = Vec::new();
    if id.kind() == Kind::Woman {
        let sid = id.to_string();
        for kind in [Kind::Visit, Kind::Pairing, Kind::Measure, Kind::Loan] {
            for row in ledger.list(kind, id.org().as_str(), false)? {
                if row.record.text("woman_id") == Some(sid.as_str()) {
                    related.push(for_readers(row.record));
                }
            }
        }
        related.sort_by(|a, b| b.meta.created_at.cmp(&a.meta.created_at));
    }
    Ok(RecordPage {
        view,
        history,
        related,
    })
}
