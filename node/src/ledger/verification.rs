//! Four-level verification (四级核查) as work: which records of a subtree a level has
//! not checked yet (its queue, with a random sample per village), writing its
//! checks, and progress per level. A level's checks are verification records in its
//! own document that name the record checked (a village checks its own records, a
//! township, county or city those below it), so write authority stays per document.
//!
//! A record marked "needs fix" comes back to the queue once its village edits it.

use std::collections::BTreeMap;

use halfsky_shared::org::Level;
use halfsky_shared::rollup::LevelProgress;
use halfsky_shared::{Kind, OrgCode, RecordId};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::ledger::reader::LedgerReader;
use crate::ledger::{Ledger, LedgerError};

/// Kinds a level checks: what villages register about households and women.
pub const CHECKED_KINDS: [Kind; 5] = [
    Kind::Household,
    Kind::Woman,
    Kind::Measure,
    Kind::Visit,
    Kind::Loan,
];

/// The verifying levels, bottom up.
pub const LEVELS: [Level; 4] = [Level::Village, Level::Township, Level::County, Level::City];

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The record is right.
    Confirmed,
    /// The record is wrong and must not count.
    Rejected,
    /// The village must correct it.
    NeedsFix,
}

impl Outcome {
    /// The schema code (`confirmed`, `rejected`, `needs_fix`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Confirmed => "confirmed",
            Outcome::Rejected => "rejected",
            Outcome::NeedsFix => "needs_fix",
        }
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "confirmed" | "confirm" => Ok(Outcome::Confirmed),
            "rejected" | "reject" => Ok(Outcome::Rejected),
            "needs_fix" | "needs-fix" | "fix" => Ok(Outcome::NeedsFix),
            other => Err(format!(
                "\"{other}\" is not a verification result; use confirmed, rejected or needs_fix"
            )),
        }
    }
}

/// The latest check of one record at one level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The verification record.
    pub id: RecordId,
    /// Its result.
    pub result: String,
    /// Its date.
    pub date: String,
    /// When it was written (RFC 3339), to tell whether the record changed since.
    pub written_at: String,
    /// The verifier's note.
    pub note: String,
    /// Who checked.
    pub verifier: String,
    /// How many changes the record had when checked (older checks: unknown).
    pub record_version: Option<usize>,
}

/// Latest checks by (level, record), from the documents of `org`'s subtree and
/// ancestors that may check records of it.
pub fn latest_checks(
    ledger: &LedgerReader,
    org: OrgCode,
) -> Result<BTreeMap<(Level, RecordId), Check>, LedgerError> {
    let mut out: BTreeMap<(Level, RecordId), Check> = BTreeMap::new();
    let mut sources = vec![org.subtree_prefix().to_string()];
    sources.extend(org.ancestors().iter().map(|a| a.as_str().to_string()));
    for prefix in sources {
        for row in ledger.list(Kind::Verification, &prefix, false)? {
            let r = row.record;
            let Some(target) = r.text("record").and_then(|t| RecordId::parse(t).ok()) else {
                continue;
            };
            let checker = r.id.org();
            // Only a unit above (or the village itself) checks a record, and only one
            // of the subtree asked about counts here.
            if !target.org().is_in_subtree_of(&checker) || !target.org().is_in_subtree_of(&org) {
                continue;
            }
            let check = Check {
                result: r.text("result").unwrap_or_default().to_string(),
                date: r.text("date").unwrap_or_default().to_string(),
                written_at: r.meta.created_at.clone(),
                note: r.text("note").unwrap_or_default().to_string(),
                verifier: r.text("verifier").unwrap_or_default().to_string(),
                record_version: r.text("record_version").and_then(|v| v.parse().ok()),
                id: r.id.clone(),
            };
            let key = (checker.level(), target);
            if out
                .get(&key)
                .is_none_or(|c| (&c.date, &c.written_at) <= (&check.date, &check.written_at))
            {
                out.insert(key, check);
            }
        }
    }
    Ok(out)
}

/// One record waiting for a level's check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueRow {
    /// The record.
    pub id: RecordId,
    /// Its kind.
    pub kind: Kind,
    /// Its title (name, head of household…).
    pub title: String,
    /// Its village (or the unit whose document holds it).
    pub unit: OrgCode,
    /// When it last changed.
    pub updated_at: String,
    /// This level's earlier check, if it asked for a fix the village has since made.
    pub earlier: Option<Check>,
}

/// Which records a queue shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueFilter {
    /// Only this unit's subtree (inside the checking unit's).
    pub unit: Option<OrgCode>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// A random sample of this many percent of each village's queue (at least one
    /// record of a village with any).
    pub sample_percent: Option<u8>,
    /// Seed of the sample (the same seed draws the same sample).
    pub seed: u64,
}

/// The records of `checker`'s subtree (narrowed by `filter`) that `checker`'s level
/// has not checked, or asked to fix and the village has edited since.
pub fn queue(
    ledger: &LedgerReader,
    checker: OrgCode,
    filter: &QueueFilter,
) -> Result<Vec<QueueRow>, LedgerError> {
    let root = filter
        .unit
        .filter(|u| u.is_in_subtree_of(&checker))
        .unwrap_or(checker);
    let checks = latest_checks(ledger, root)?;
    let level = checker.level();
    let kinds: Vec<Kind> = match filter.kind {
        Some(k) => vec![k],
        None => CHECKED_KINDS.to_vec(),
    };
    let mut rows = Vec::new();
    for kind in kinds {
        for row in ledger.list(kind, root.subtree_prefix(), false)? {
            let r = row.record;
            let earlier = checks.get(&(level, r.id.clone()));
            let waiting = match earlier {
                None => true,
                Some(c) if c.result == Outcome::NeedsFix.as_str() => {
                    edited_since(ledger, &r.id, c, &r.meta.updated_at)?
                }
                Some(_) => false,
            };
            if !waiting {
                continue;
            }
            rows.push(QueueRow {
                kind,
                title: r
                    .text(kind.spec().title_field)
                    .unwrap_or_default()
                    .to_string(),
                unit: r.id.org(),
                updated_at: r.meta.updated_at.clone(),
                earlier: earlier.cloned(),
                id: r.id.clone(),
            });
        }
    }
    if let Some(pct) = filter.sample_percent {
        rows = sample(rows, pct.min(100), filter.seed);
    }
    Ok(rows)
}

/// Has the record changed since check `c`? Counted in changes when the check says how
/// many it saw (times have one-second resolution), else by time (`updated_at`: the
/// record's last change).
pub fn edited_since(
    ledger: &LedgerReader,
    id: &RecordId,
    c: &Check,
    updated_at: &str,
) -> Result<bool, LedgerError> {
    Ok(match c.record_version {
        Some(seen) => ledger.history(id)?.len() > seen,
        None => updated_at > c.written_at.as_str(),
    })
}

/// `pct` % of each unit's rows (rounded up), drawn at random from `seed` (rows come
/// in id order, so the same seed over the same queue draws the same records).
fn sample(rows: Vec<QueueRow>, pct: u8, seed: u64) -> Vec<QueueRow> {
    let mut by_unit: BTreeMap<OrgCode, Vec<QueueRow>> = BTreeMap::new();
    for row in rows {
        by_unit.entry(row.unit).or_default().push(row);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for (_, mut rows) in by_unit {
        rows.shuffle(&mut rng);
        let take = (rows.len() * pct as usize).div_ceil(100);
        out.extend(rows.into_iter().take(take));
    }
    out
}

/// Progress at every level over `org`'s subtree: `records` is how many records of the
/// checked kinds the subtree holds (from the statistics).
pub fn progress(
    ledger: &LedgerReader,
    org: OrgCode,
    records: i64,
) -> Result<BTreeMap<String, LevelProgress>, LedgerError> {
    let checks = latest_checks(ledger, org)?;
    let mut out = BTreeMap::new();
    for level in LEVELS {
        // A level above the subtree's root checks it too; one below its root does not
        // exist for it, except the root's own level.
        let mut p = LevelProgress::default();
        for ((l, id), c) in &checks {
            if *l != level || !CHECKED_KINDS.contains(&id.kind()) {
                continue;
            }
            match c.result.as_str() {
                "confirmed" => p.confirmed += 1,
                "rejected" => p.rejected += 1,
                _ => p.needs_fix += 1,
            }
        }
        p.pending = (records - p.confirmed - p.rejected - p.needs_fix).max(0);
        out.insert(level.as_str().to_string(), p);
    }
    Ok(out)
}

/// Why checks could not be recorded (nothing was written for the record named, nor
/// for any after it).
#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    /// The ledger failed, or the record is not here.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A record outside the checking unit's subtree.
    #[error(
        "{id} is not in {me}'s subtree: a level checks only its own records and those below it"
    )]
    Outside {
        /// The record.
        id: RecordId,
        /// The checking unit.
        me: OrgCode,
    },
    /// A kind verification does not cover.
    #[error("{id} is a {kind}: verification covers households, women, measures, visits and loans")]
    NotChecked {
        /// The record.
        id: RecordId,
        /// Its kind.
        kind: Kind,
    },
}

/// Records checks of `ids` by this node's unit, one verification record each in its
/// own document; refuses ids outside its subtree or of kinds it does not check.
pub fn mark(
    ledger: &mut Ledger,
    ids: &[RecordId],
    outcome: Outcome,
    note: &str,
    verifier: &str,
) -> Result<Vec<RecordId>, MarkError> {
    let me = ledger.config().org;
    let today = ledger.today().format("%Y-%m-%d").to_string();
    for id in ids {
        if !id.org().is_in_subtree_of(&me) {
            return Err(MarkError::Outside { id: id.clone(), me });
        }
        if !CHECKED_KINDS.contains(&id.kind()) {
            return Err(MarkError::NotChecked {
                id: id.clone(),
                kind: id.kind(),
            });
        }
        // The record must exist here (a typo must not become a verification).
        ledger.show(id)?;
    }
    let mut written = Vec::with_capacity(ids.len());
    for id in ids {
        let version = ledger.history(id)?.len();
        let mut fields = vec![
            ("record".to_string(), id.to_string()),
            ("verifier".to_string(), verifier.to_string()),
            ("date".to_string(), today.clone()),
            ("result".to_string(), outcome.as_str().to_string()),
            ("record_version".to_string(), version.to_string()),
        ];
        if !note.trim().is_empty() {
            fields.push(("note".to_string(), note.trim().to_string()));
        }
        written.push(ledger.add(Kind::Verification, &fields)?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::testing::{self, Village};

    fn women(ledger: &mut Ledger, n: usize) -> Vec<RecordId> {
        let mut g = testing::generator();
        (0..n)
            .map(|_| ledger.add(Kind::Woman, &testing::woman(&mut g)).unwrap())
            .collect()
    }

    #[test]
    fn a_check_leaves_the_queue_and_a_fixed_record_comes_back() {
        let v = Village::new();
        let mut ledger = v.open();
        let me = ledger.config().org;
        let ids = women(&mut ledger, 10);
        let all = QueueFilter::default();
        assert_eq!(queue(&ledger.reader(), me, &all).unwrap().len(), 10);

        mark(
            &mut ledger,
            &ids[..1],
            Outcome::NeedsFix,
            "出生年份有误",
            "张主任",
        )
        .unwrap();
        mark(&mut ledger, &ids[1..3], Outcome::Confirmed, "", "张主任").unwrap();
        mark(
            &mut ledger,
            &ids[3..4],
            Outcome::Rejected,
            "重复登记",
            "张主任",
        )
        .unwrap();
        let waiting = queue(&ledger.reader(), me, &all).unwrap();
        assert_eq!(waiting.len(), 6);
        assert!(!waiting.iter().any(|r| ids[..4].contains(&r.id)));

        let stats = ledger.stats(None).unwrap();
        let village = &stats.verification.by_level["village"];
        assert_eq!(
            (
                village.confirmed,
                village.rejected,
                village.needs_fix,
                village.pending
            ),
            (2, 1, 1, 6)
        );
        assert_eq!(stats.verification.by_level["county"].pending, 10);

        // The village answers the fix with an edit: the record is back, with the note.
        ledger
            .update(
                &ids[0],
                Some(Kind::Woman),
                &[("birth_year".to_string(), "1976".to_string())],
            )
            .unwrap();
        let waiting = queue(&ledger.reader(), me, &all).unwrap();
        let back = waiting
            .iter()
            .find(|r| r.id == ids[0])
            .expect("back in the queue");
        assert_eq!(back.earlier.as_ref().unwrap().note, "出生年份有误");
        // Checked again, it leaves for good.
        mark(&mut ledger, &ids[..1], Outcome::Confirmed, "", "张主任").unwrap();
        assert_eq!(queue(&ledger.reader(), me, &all).unwrap().len(), 6);
        let stats = ledger.stats(None).unwrap();
        assert_eq!(stats.verification.by_level["village"].confirmed, 3);
        assert_eq!(stats.verification.by_level["village"].needs_fix, 0);
    }

    #[test]
    fn a_sample_is_a_share_of_each_village_drawn_by_seed() {
        let v = Village::new();
        let mut ledger = v.open();
        let me = ledger.config().org;
        women(&mut ledger, 10);
        let filter = |seed| QueueFilter {
            sample_percent: Some(25),
            seed,
            ..QueueFilter::default()
        };
        let ids = |seed| -> Vec<RecordId> {
            queue(&ledger.reader(), me, &filter(seed))
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        // 25 % of 10, rounded up.
        assert_eq!(ids(1).len(), 3);
        assert_eq!(ids(1), ids(1));
        assert!((2..40).any(|seed| ids(seed) != ids(1)), "the seed draws");
        let kind = QueueFilter {
            kind: Some(Kind::Visit),
            ..QueueFilter::default()
        };
        assert!(queue(&ledger.reader(), me, &kind).unwrap().is_empty());
    }

    #[test]
    fn checks_outside_the_subtree_or_of_other_kinds_are_refused() {
        let v = Village::new();
        let mut ledger = v.open();
        let ids = women(&mut ledger, 1);
        let neighbour = RecordId::new(
            OrgCode::parse("230129100202").unwrap(),
            Kind::Woman,
            "S1",
            1,
        );
        assert!(matches!(
            mark(
                &mut ledger,
                &[ids[0].clone(), neighbour],
                Outcome::Confirmed,
                "",
                "x"
            ),
            Err(MarkError::Outside { .. })
        ));
        let check = mark(&mut ledger, &ids, Outcome::Confirmed, "", "x").unwrap();
        assert!(matches!(
            mark(&mut ledger, &check, Outcome::Confirmed, "", "x"),
            Err(MarkError::NotChecked { .. })
        ));
        let unknown = RecordId::new(ledger.config().org, Kind::Woman, "S9", 99);
        assert!(mark(&mut ledger, &[unknown], Outcome::Confirmed, "", "x").is_err());
        // Nothing of a refused batch was written.
        assert_eq!(ledger.stats(None).unwrap().verifications.total, 1);
    }
}
