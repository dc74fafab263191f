//! Freshness: when each unit's document last received changes, by which path, and how
//! new the newest change inside it is. The dashboard never shows a total without the
//! freshness of its parts; this is where those facts live.
//!
//! # Layout (sled tree `freshness-1`)
//! - org code (12 ASCII digits) → [`Arrival`] as JSON.
//!
//! The ledger records `local` writes and `direct` sync arrivals itself; relay and
//! bundle code calls [`Freshness::record_arrival`] with [`ArrivalPath::Relay`] or
//! [`ArrivalPath::Bundle`] (or applies through [`crate::Ledger::apply_changes_from`]).

use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

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

/// The freshness records of a node (a cheap clone of a sled tree).
#[derive(Debug, Clone)]
pub struct Freshness {
    tree: sled::Tree,
}

impl Freshness {
    /// Opens the tree in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(Freshness {
            tree: db.open_tree("freshness-1")?,
        })
    }

    /// Records that changes to `org`'s document arrived now through `path`.
    pub fn record_arrival(&self, org: OrgCode, path: ArrivalPath) -> Result<(), sled::Error> {
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
    ) -> Result<(), sled::Error> {
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
        self.tree.insert(org.as_bytes(), bytes)?;
        Ok(())
    }

    /// The last arrival for `org`, if any was recorded.
    pub fn get(&self, org: &OrgCode) -> Result<Option<Arrival>, sled::Error> {
        Ok(self
            .tree
            .get(org.as_bytes())?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Every unit under `prefix` (a subtree prefix) with its last arrival.
    pub fn subtree(&self, prefix: &str) -> Result<Vec<(OrgCode, Arrival)>, sled::Error> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item?;
            let Ok(org) = OrgCode::parse(&String::from_utf8_lossy(&k)) else {
                continue;
            };
            if let Ok(row) = serde_json::from_slice(&v) {
                out.push((org, row));
            }
        }
        Ok(out)
    }
}

/// Freshness of a subtree: its newest and oldest parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubtreeFreshness {
    /// Units with a recorded arrival.
    pub units: usize,
    /// The most recent arrival, its unit and path.
    pub newest: Option<(OrgCode, Arrival)>,
    /// The least recent arrival and its unit: the total is only as fresh as this.
    pub oldest: Option<(OrgCode, Arrival)>,
    /// Units whose last arrival is older than the stale limit.
    pub stale_units: usize,
}

impl SubtreeFreshness {
    /// Summarises `rows` (all of one subtree) against a stale limit at `now`.
    pub fn of(rows: &[(OrgCode, Arrival)], now: i64, stale_after_secs: i64) -> Self {
        let newest = rows.iter().max_by_key(|(_, a)| a.arrived_at).cloned();
        let oldest = rows.iter().min_by_key(|(_, a)| a.arrived_at).cloned();
        let stale_units = rows
            .iter()
            .filter(|(_, a)| now - a.arrived_at > stale_after_secs)
            .count();
        SubtreeFreshness {
            units: rows.len(),
            newest,
            oldest,
            stale_units,
        }
    }

    /// Is the oldest part older than the limit?
    pub fn is_stale(&self, now: i64, stale_after_secs: i64) -> bool {
        self.oldest
            .as_ref()
            .is_some_and(|(_, a)| now - a.arrived_at > stale_after_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_summarises() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let f = Freshness::open(&db).unwrap();
        let a = OrgCode::parse("230129100201").unwrap();
        let b = OrgCode::parse("230129100202").unwrap();
        f.record(a, ArrivalPath::Direct, 1000, Some(900)).unwrap();
        f.record(b, ArrivalPath::Relay, 5000, Some(4000)).unwrap();
        f.record(a, ArrivalPath::Bundle, 2000, Some(800)).unwrap();
        let got = f.get(&a).unwrap().unwrap();
        assert_eq!(got.path, ArrivalPath::Bundle);
        assert_eq!(got.newest_change, Some(900));
        let rows = f.subtree("230129").unwrap();
        let s = SubtreeFreshness::of(&rows, 6000, 3600);
        assert_eq!(s.oldest.unwrap().0, a);
        assert_eq!(s.newest.unwrap().0, b);
        assert_eq!(s.stale_units, 1);
    }
}
