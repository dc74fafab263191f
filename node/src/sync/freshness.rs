//! Freshness: when each unit below was last heard from and by which path ([`contact`]),
//! and when each unit's document last received changes and how new the newest change
//! inside it is. The dashboard never shows a total without the freshness of its parts;
//! a total is as fresh as the oldest contact among them.
//!
//! # Layout (store table [`Table::Freshness`], `freshness-1`)
//! - org code (12 ASCII digits) → [`Arrival`] as JSON.
//! - `heard/<org>` → [`Heard`] as JSON ([`contact`]).
//!
//! The ledger records `local` writes and `direct` sync arrivals itself; relay and
//! bundle code calls [`Freshness::record_arrival`] with [`ArrivalPath::Relay`] or
//! [`ArrivalPath::Bundle`] (or applies through [`crate::Ledger::apply_changes_from`]).

use std::sync::Arc;

use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use crate::store::{Storage, StoreError, Table};

pub mod contact;

pub use contact::{Heard, UnitFreshness};

/// Why a freshness record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FreshnessError {
    /// The store failed.
    #[error("cannot read or write the freshness records: {0}")]
    Store(#[from] StoreError),
    /// A row is not what halfsky wrote.
    #[error("the freshness record of {key} is damaged ({reason}); the next arrival from that unit rewrites it")]
    Corrupt {
        /// The row's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// How changes reached this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalPath {
    /// Written on this node.
    Local,
    /// Synced over a direct QUIC link.
    Direct,
    /// Collected from the relay.
    Relay,
    /// Imported from a bundle file (USB stick, phone).
    Bundle,
}

impl ArrivalPath {
    /// The stable code (`local`, `direct`, `relay`, `bundle`).
    pub fn as_str(self) -> &'static str {
        match self {
            ArrivalPath::Local => "local",
            ArrivalPath::Direct => "direct",
            ArrivalPath::Relay => "relay",
            ArrivalPath::Bundle => "bundle",
        }
    }
}

/// The last arrival of changes to one unit's document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    /// Unix seconds when the changes arrived here (durably).
    pub arrived_at: i64,
    /// How they came.
    pub path: ArrivalPath,
    /// Unix seconds of the newest change inside the document, as its author's clock
    /// said (may be older than `arrived_at` for a village that was offline).
    pub newest_change: Option<i64>,
}

/// The freshness records of a node (a cheap clone: it shares the store).
#[derive(Debug, Clone)]
pub struct Freshness {
    store: Arc<dyn Storage>,
}

fn decode_row<T: for<'de> Deserialize<'de>>(key: &[u8], value: &[u8]) -> Result<T, FreshnessError> {
    serde_json::from_slice(value).map_err(|e| FreshnessError::Corrupt {
        key: String::from_utf8_lossy(key).to_string(),
        reason: e.to_string(),
    })
}

impl Freshness {
    /// The freshness records kept in `store`.
    pub fn open(store: Arc<dyn Storage>) -> Self {
        Freshness { store }
    }

    /// Records that changes to `org`'s document arrived now through `path`.
    pub fn record_arrival(&self, org: OrgCode, path: ArrivalPath) -> Result<(), FreshnessError> {
        self.record(org, path, chrono::Utc::now().timestamp(), None)
    }

    /// Records an arrival at `arrived_at` with the newest change time it brought
    /// (kept if older than what is already recorded).
    pub fn record(
        &self,
        org: OrgCode,
        path: ArrivalPath,
        arrived_at: i64,
        newest_change: Option<i64>,
    ) -> Result<(), FreshnessError> {
        let previous = self.get(&org)?;
        let newest = match (previous.and_then(|p| p.newest_change), newest_change) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let row = Arrival {
            arrived_at,
            path,
            newest_change: newest,
        };
        let bytes = serde_json::to_vec(&row).expect("arrival serializes");
        self.store
            .insert(Table::Freshness, org.as_bytes(), &bytes)?;
        Ok(())
    }

    /// The last arrival for `org`, if any was recorded.
    pub fn get(&self, org: &OrgCode) -> Result<Option<Arrival>, FreshnessError> {
        self.store
            .get(Table::Freshness, org.as_bytes())?
            .map(|v| decode_row(org.as_bytes(), &v))
            .transpose()
    }

    /// Every unit under `prefix` (a subtree prefix) with its last arrival.
    pub fn subtree(&self, prefix: &str) -> Result<Vec<(OrgCode, Arrival)>, FreshnessError> {
        let mut out = Vec::new();
        for item in self.store.scan_prefix(Table::Freshness, prefix.as_bytes()) {
            let (k, v) = item?;
            let org = OrgCode::parse(&String::from_utf8_lossy(&k)).map_err(|e| {
                FreshnessError::Corrupt {
                    key: String::from_utf8_lossy(&k).to_string(),
                    reason: e.to_string(),
                }
            })?;
            out.push((org, decode_row(&k, &v)?));
        }
        Ok(out)
    }
}

/// Freshness of a subtree: its most and least recently heard parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtreeFreshness {
    /// Units known below (heard from, or holding a document).
    pub units: usize,
    /// The most recently heard unit.
    pub newest: Option<UnitFreshness>,
    /// The least recently heard unit (one never heard from first): the total is only
    /// as fresh as this.
    pub oldest: Option<UnitFreshness>,
    /// Units not heard from within the stale limit (or never).
    pub stale_units: usize,
    /// The newest change in any part's data (its author's clock).
    pub data_changed: Option<i64>,
    /// The stale limit applied, seconds.
    pub stale_after_secs: i64,
}

impl SubtreeFreshness {
    /// Summarises `rows` (all of one subtree) against a stale limit at `now`.
    pub fn of(rows: &[UnitFreshness], now: i64, stale_after_secs: i64) -> Self {
        // The node itself is "heard" whenever it is read: the most recent contact worth
        // naming is another unit's, when any was heard.
        let heard = |r: &&UnitFreshness| r.last_heard.is_some();
        let newest = rows
            .iter()
            .filter(heard)
            .filter(|r| r.via != Some(ArrivalPath::Local))
            .max_by_key(|r| r.last_heard)
            .or_else(|| rows.iter().filter(heard).max_by_key(|r| r.last_heard))
            .cloned();
        let oldest = rows
            .iter()
            .min_by_key(|r| r.last_heard.unwrap_or(i64::MIN))
            .cloned();
        SubtreeFreshness {
            units: rows.len(),
            newest,
            oldest,
            stale_units: rows
                .iter()
                .filter(|r| r.is_stale(now, stale_after_secs))
                .count(),
            data_changed: rows.iter().filter_map(|r| r.data_changed).max(),
            stale_after_secs,
        }
    }

    /// Is a part not heard from within the limit?
    pub fn is_stale(&self) -> bool {
        self.stale_units > 0
    }
}

/// One unit of a [`FreshnessReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRow {
    /// When it was last heard from, how, and when its data last changed.
    #[serde(flatten)]
    pub unit: UnitFreshness,
    /// Seconds since it was last heard from (`None`: never).
    pub age_secs: Option<i64>,
    /// Not heard from within the limit.
    pub stale: bool,
}

/// Freshness of a subtree as `halfsky freshness --json`, `status` and the API tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshnessReport {
    /// The subtree's root.
    pub org: OrgCode,
    /// Unix seconds the report was made at.
    pub now: i64,
    /// The summary: the total is as fresh as its least recently heard part.
    pub summary: SubtreeFreshness,
    /// Every unit known below (and the root).
    pub units: Vec<UnitRow>,
}

/// The freshness report of `org`'s subtree from its units' rows.
pub fn report(
    org: OrgCode,
    units: Vec<UnitFreshness>,
    now: i64,
    stale_after_secs: i64,
) -> FreshnessReport {
    FreshnessReport {
        org,
        now,
        summary: SubtreeFreshness::of(&units, now, stale_after_secs),
        units: units
            .into_iter()
            .map(|u| UnitRow {
                age_secs: u.age(now),
                stale: u.is_stale(now, stale_after_secs),
                unit: u,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_summarises() {
        let f = Freshness::open(Arc::new(crate::store::MemoryStore::new()));
        let a = OrgCode::parse("230129100201").unwrap();
        let b = OrgCode::parse("230129100202").unwrap();
        f.record(a, ArrivalPath::Direct, 1000, Some(900)).unwrap();
        f.record(b, ArrivalPath::Relay, 5000, Some(4000)).unwrap();
        f.record(a, ArrivalPath::Bundle, 2000, Some(800)).unwrap();
        let got = f.get(&a).unwrap().unwrap();
        assert_eq!(got.path, ArrivalPath::Bundle);
        assert_eq!(got.newest_change, Some(900));
        let rows = f.subtree("230129").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].1.path, ArrivalPath::Relay);
    }

    #[test]
    fn a_damaged_row_is_an_error_not_a_gap() {
        let store = Arc::new(crate::store::MemoryStore::new());
        let f = Freshness::open(store.clone());
        let a = OrgCode::parse("230129100201").unwrap();
        store
            .insert(Table::Freshness, a.as_bytes(), b"not json")
            .unwrap();
        assert!(matches!(f.get(&a), Err(FreshnessError::Corrupt { .. })));
        assert!(f.subtree("230129").is_err());
    }
}
