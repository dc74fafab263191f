//! Contact ("last heard"): when this node last heard from each unit below it, directly
//! or as reported by the child that heard it, and by which path. Freshness is contact,
//! not change: a quiet village on a live link is fresh, a village silent for a week is
//! stale however new its last record was.
//!
//! # Layout (store table [`Table::Freshness`], `freshness-1`, beside the arrivals)
//! - `heard/<org>` → [`Heard`] as JSON. Org-code keys start with a digit, so a
//!   subtree's prefix scan of arrivals never meets these rows.

use std::collections::BTreeMap;

use halfsky_shared::wire::{Contact, ContactPath};
use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use super::{decode_row, ArrivalPath, Freshness, FreshnessError};
use crate::store::Table;

const PREFIX: &str = "heard/";

/// The last contact with one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heard {
    /// Unix seconds of the contact (never later than this node's clock).
    pub at: i64,
    /// The path the contact took at the hop that had it.
    pub via: ArrivalPath,
    /// The unit below whose node had the contact and reported it up (`None`: this
    /// node heard the unit itself).
    pub reported_by: Option<OrgCode>,
}

impl Heard {
    /// The row as sent up to the parent by the node of unit `me`.
    pub fn contact(&self, org: OrgCode, me: OrgCode) -> Contact {
        Contact {
            org,
            heard_by: self.reported_by.unwrap_or(me),
            at: self.at,
            via: match self.via {
                ArrivalPath::Relay => ContactPath::Relay,
                ArrivalPath::Bundle => ContactPath::Bundle,
                ArrivalPath::Direct | ArrivalPath::Local => ContactPath::Direct,
            },
        }
    }
}

impl From<ContactPath> for ArrivalPath {
    fn from(p: ContactPath) -> Self {
        match p {
            ContactPath::Direct => ArrivalPath::Direct,
            ContactPath::Relay => ArrivalPath::Relay,
            ContactPath::Bundle => ArrivalPath::Bundle,
        }
    }
}

/// One unit below a node: when it was last heard from and when its data last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitFreshness {
    /// The unit.
    pub org: OrgCode,
    /// Unix seconds of the last contact (`None`: never heard from).
    pub last_heard: Option<i64>,
    /// The path of that contact.
    pub via: Option<ArrivalPath>,
    /// The unit below whose node had the contact, if this node did not have it itself.
    pub reported_by: Option<OrgCode>,
    /// Unix seconds of the newest change in its data (its author's clock).
    pub data_changed: Option<i64>,
    /// Unix seconds when its data last arrived here.
    pub data_arrived: Option<i64>,
}

impl UnitFreshness {
    /// Seconds since the last contact at `now` (`None`: never heard from).
    pub fn age(&self, now: i64) -> Option<i64> {
        self.last_heard.map(|at| (now - at).max(0))
    }

    /// Not heard from within `stale_after_secs` (or never).
    pub fn is_stale(&self, now: i64, stale_after_secs: i64) -> bool {
        self.age(now).is_none_or(|age| age > stale_after_secs)
    }
}

fn key(org: &OrgCode) -> String {
    format!("{PREFIX}{org}")
}

impl Freshness {
    /// Records a contact with `org` at `at` (capped at `now`: another node's clock is
    /// not trusted into the future). An older contact than the one kept changes
    /// nothing; returns whether the row moved.
    pub fn heard(
        &self,
        org: OrgCode,
        at: i64,
        now: i64,
        via: ArrivalPath,
        reported_by: Option<OrgCode>,
    ) -> Result<bool, FreshnessError> {
        let at = at.min(now);
        if self.last_heard(&org)?.is_some_and(|h| h.at >= at) {
            return Ok(false);
        }
        let row = Heard {
            at,
            via,
            reported_by,
        };
        let bytes = serde_json::to_vec(&row).expect("a contact serializes");
        self.store
            .insert(Table::Freshness, key(&org).as_bytes(), &bytes)?;
        Ok(true)
    }

    /// The last contact with `org`, if any.
    pub fn last_heard(&self, org: &OrgCode) -> Result<Option<Heard>, FreshnessError> {
        let k = key(org);
        self.store
            .get(Table::Freshness, k.as_bytes())?
            .map(|v| decode_row(k.as_bytes(), &v))
            .transpose()
    }

    /// Every contact recorded with a unit of the subtree `prefix`.
    pub fn heard_subtree(&self, prefix: &str) -> Result<Vec<(OrgCode, Heard)>, FreshnessError> {
        let scan = format!("{PREFIX}{prefix}");
        let mut out = Vec::new();
        for item in self.store.scan_prefix(Table::Freshness, scan.as_bytes()) {
            let (k, v) = item?;
            let text = String::from_utf8_lossy(&k).to_string();
            let org =
                OrgCode::parse(&text[PREFIX.len()..]).map_err(|e| FreshnessError::Corrupt {
                    key: text.clone(),
                    reason: e.to_string(),
                })?;
            out.push((org, decode_row(&k, &v)?));
        }
        Ok(out)
    }

    /// Every unit of `root`'s subtree this node knows of (heard from, or holding a
    /// document), as seen by the node of unit `me`: `me` itself is always heard now.
    pub fn units(
        &self,
        me: OrgCode,
        root: OrgCode,
        now: i64,
    ) -> Result<Vec<UnitFreshness>, FreshnessError> {
        let prefix = root.subtree_prefix();
        let mut rows: BTreeMap<OrgCode, UnitFreshness> = BTreeMap::new();
        let blank = |org| UnitFreshness {
            org,
            last_heard: None,
            via: None,
            reported_by: None,
            data_changed: None,
            data_arrived: None,
        };
        for (org, heard) in self.heard_subtree(prefix)? {
            if !org.is_in_subtree_of(&me) {
                continue;
            }
            let row = rows.entry(org).or_insert_with(|| blank(org));
            row.last_heard = Some(heard.at);
            row.via = Some(heard.via);
            row.reported_by = heard.reported_by;
        }
        for (org, arrival) in self.subtree(prefix)? {
            let row = rows.entry(org).or_insert_with(|| blank(org));
            row.data_changed = arrival.newest_change;
            row.data_arrived = Some(arrival.arrived_at);
        }
        if me.is_in_subtree_of(&root) {
            let row = rows.entry(me).or_insert_with(|| blank(me));
            row.last_heard = Some(now);
            row.via = Some(ArrivalPath::Local);
            row.reported_by = None;
        }
        Ok(rows.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::MemoryStore;
    use crate::sync::freshness::SubtreeFreshness;

    fn code(s: &str) -> OrgCode {
        OrgCode::parse(s).unwrap()
    }

    fn freshness() -> Freshness {
        Freshness::open(Arc::new(MemoryStore::new()))
    }

    #[test]
    fn a_newer_contact_wins_and_the_future_is_capped() {
        let f = freshness();
        let v = code("230129100201");
        assert!(f.heard(v, 100, 1_000, ArrivalPath::Direct, None).unwrap());
        assert!(!f.heard(v, 90, 1_000, ArrivalPath::Relay, None).unwrap());
        assert_eq!(f.last_heard(&v).unwrap().unwrap().via, ArrivalPath::Direct);
        // A clock running ahead cannot make a unit look fresh for longer.
        assert!(f.heard(v, 9_999, 1_000, ArrivalPath::Relay, None).unwrap());
        assert_eq!(f.last_heard(&v).unwrap().unwrap().at, 1_000);
    }

    #[test]
    fn contact_travels_up_with_its_path_and_reporter() {
        // Township: heard its relay-only village through the relay, its other village
        // directly.
        let township = code("230129100000");
        let relayed = code("230129100201");
        let direct = code("230129100202");
        let t = freshness();
        t.heard(relayed, 500, 600, ArrivalPath::Relay, None)
            .unwrap();
        t.heard(direct, 590, 600, ArrivalPath::Direct, None)
            .unwrap();
        let report: Vec<Contact> = t
            .heard_subtree(township.subtree_prefix())
            .unwrap()
            .into_iter()
            .map(|(org, h)| h.contact(org, township))
            .collect();
        // County: records what the township reported, and its own direct contact with
        // the township.
        let county_org = code("230129000000");
        let c = freshness();
        c.heard(township, 600, 600, ArrivalPath::Direct, None)
            .unwrap();
        for contact in report {
            c.heard(
                contact.org,
                contact.at,
                600,
                contact.via.into(),
                Some(township),
            )
            .unwrap();
        }
        c.record(direct, ArrivalPath::Direct, 580, Some(570))
            .unwrap();
        let units = c.units(county_org, township, 700).unwrap();
        assert_eq!(
            units.iter().map(|u| u.org).collect::<Vec<_>>(),
            vec![township, relayed, direct]
        );
        let r = &units[1];
        assert_eq!(
            (r.last_heard, r.via, r.reported_by),
            (Some(500), Some(ArrivalPath::Relay), Some(township))
        );
        assert_eq!(
            (units[2].data_changed, units[2].data_arrived),
            (Some(570), Some(580))
        );
        // The total is as old as its least recently heard part, not its newest data.
        let s = SubtreeFreshness::of(&units, 700, 150);
        assert_eq!(s.oldest.as_ref().unwrap().org, relayed);
        assert_eq!(s.newest.as_ref().unwrap().org, township);
        assert_eq!(s.stale_units, 1);
        assert!(s.is_stale());
        assert!(!SubtreeFreshness::of(&units, 700, 250).is_stale());
    }

    #[test]
    fn the_node_itself_is_heard_now_and_a_silent_unit_is_stale() {
        let f = freshness();
        let me = code("230129000000");
        let silent = code("230129100201");
        f.record(silent, ArrivalPath::Direct, 10, Some(10)).unwrap();
        let units = f.units(me, me, 1_000).unwrap();
        assert_eq!(units[0].org, me);
        assert_eq!(units[0].last_heard, Some(1_000));
        assert_eq!(units[1].last_heard, None);
        assert!(units[1].is_stale(1_000, 1_000_000));
        let s = SubtreeFreshness::of(&units, 1_000, 60);
        assert_eq!(s.oldest.unwrap().org, silent);
        // Nobody else heard: the node itself is the most recent contact.
        assert_eq!(s.newest.unwrap().org, me);
        // Once another unit is heard, even a second before now, it is named instead
        // of the node itself (which is "heard" whenever it is read).
        f.heard(silent, 999, 999, ArrivalPath::Direct, None)
            .unwrap();
        let units = f.units(me, me, 1_000).unwrap();
        let s = SubtreeFreshness::of(&units, 1_000, 60);
        assert_eq!(s.newest.unwrap().org, silent);
    }
}
