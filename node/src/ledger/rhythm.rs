//! Pairing rhythm (牵手结对包保): a cadre or helper paired with a woman contacts her at
//! least monthly (a phone call counts) and visits her in person at least every two
//! months (seed 002; both periods configurable in `[dashboard]`). Read from the active
//! pairings and the visits of a subtree: who is overdue for which, per helper and per
//! unit, and the visits by mode.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use halfsky_shared::schema::parse_date;
use halfsky_shared::{Kind, OrgCode, RecordId};
use serde::{Deserialize, Serialize};

use crate::ledger::reader::LedgerReader;
use crate::ledger::LedgerError;
use crate::store::index::IndexedRecord;

/// How often a paired helper must be in touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rhythm {
    /// Any contact (phone, online or in person) at least this often, days.
    pub phone_every_days: u32,
    /// An in-person visit at least this often, days.
    pub visit_every_days: u32,
}

impl Default for Rhythm {
    /// Monthly phone calls, a visit every two months.
    fn default() -> Self {
        Rhythm {
            phone_every_days: 30,
            visit_every_days: 60,
        }
    }
}

/// One active pairing and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairingRhythm {
    /// The pairing record.
    pub pairing: RecordId,
    /// The woman helped.
    pub woman: RecordId,
    /// Her name.
    pub woman_name: String,
    /// The unit whose ledger holds the pairing.
    pub unit: OrgCode,
    /// Who helps her.
    pub helper_name: String,
    /// Which kind of helper (code, e.g. `cadre`).
    pub helper_kind: String,
    /// When the pairing began.
    pub since: Option<NaiveDate>,
    /// Her latest visit of any mode.
    pub last_contact: Option<NaiveDate>,
    /// Her latest visit in person.
    pub last_in_person: Option<NaiveDate>,
    /// Days past the contact due date (0: not overdue).
    pub contact_overdue_days: i64,
    /// Days past the in-person visit due date (0: not overdue).
    pub visit_overdue_days: i64,
}

/// Counts for one helper or one unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RhythmCounts {
    /// Active pairings.
    pub pairings: usize,
    /// Of them, overdue for a contact.
    pub contact_overdue: usize,
    /// Of them, overdue for a visit in person.
    pub visit_overdue: usize,
}

impl RhythmCounts {
    fn add(&mut self, row: &PairingRhythm) {
        self.pairings += 1;
        self.contact_overdue += usize::from(row.contact_overdue_days > 0);
        self.visit_overdue += usize::from(row.visit_overdue_days > 0);
    }
}

/// The rhythm of a subtree on a day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RhythmReport {
    /// The unit.
    pub org: OrgCode,
    /// The day it is measured on.
    pub as_of: NaiveDate,
    /// The rules applied.
    pub rhythm: Rhythm,
    /// All active pairings of the subtree.
    pub total: RhythmCounts,
    /// Per helper (by name).
    pub by_helper: BTreeMap<String, RhythmCounts>,
    /// Per unit holding the pairings.
    pub by_unit: BTreeMap<OrgCode, RhythmCounts>,
    /// Visits of the subtree by mode (code → count).
    pub visits_by_mode: BTreeMap<String, usize>,
    /// Every active pairing, the most overdue first.
    pub pairings: Vec<PairingRhythm>,
}

fn text<'a>(row: &'a IndexedRecord, field: &str) -> &'a str {
    row.record
        .fields
        .get(field)
        .and_then(|v| v.as_text())
        .unwrap_or_default()
}

/// Days `today` is past `start + every` (0 if not past).
fn overdue(start: Option<NaiveDate>, every: u32, today: NaiveDate) -> i64 {
    start.map_or(0, |s| ((today - s).num_days() - i64::from(every)).max(0))
}

impl LedgerReader {
    /// The pairing rhythm of `org`'s subtree under `rhythm`, as of today.
    pub fn rhythm(&self, org: OrgCode, rhythm: Rhythm) -> Result<RhythmReport, LedgerError> {
        let today = self.today();
        let prefix = org.subtree_prefix();
        // Each woman's latest contact and latest visit in person.
        let mut latest: BTreeMap<String, (Option<NaiveDate>, Option<NaiveDate>)> = BTreeMap::new();
        let mut visits_by_mode = BTreeMap::new();
        for visit in self.list(Kind::Visit, prefix, false)? {
            let mode = text(&visit, "mode").to_string();
            let Some(date) = parse_date(text(&visit, "date")) else {
                continue;
            };
            let entry = latest
                .entry(text(&visit, "woman_id").to_string())
                .or_default();
            entry.0 = entry.0.max(Some(date));
            if mode == "home" {
                entry.1 = entry.1.max(Some(date));
            }
            *visits_by_mode.entry(mode).or_insert(0) += 1;
        }
        let mut rows = Vec::new();
        for pairing in self.list(Kind::Pairing, prefix, false)? {
            let active = pairing
                .record
                .fields
                .get("active")
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            if !active {
                continue;
            }
            let woman_id = text(&pairing, "woman_id");
            let Ok(woman) = RecordId::parse(woman_id) else {
                continue;
            };
            let since = parse_date(text(&pairing, "since"));
            let (last_contact, last_in_person) = latest.get(woman_id).copied().unwrap_or_default();
            let woman_name = self
                .index()
                .get(&woman)?
                .map(|w| text(&w, "name").to_string())
                .unwrap_or_default();
            rows.push(PairingRhythm {
                unit: pairing.record.id.org(),
                helper_name: text(&pairing, "helper_name").to_string(),
                helper_kind: text(&pairing, "helper_kind").to_string(),
                contact_overdue_days: overdue(
                    since.max(last_contact),
                    rhythm.phone_every_days,
                    today,
                ),
                visit_overdue_days: overdue(
                    since.max(last_in_person),
                    rhythm.visit_every_days,
                    today,
                ),
                pairing: pairing.record.id.clone(),
                woman,
                woman_name,
                since,
                last_contact,
                last_in_person,
            });
        }
        rows.sort_by_key(|r| {
            (
                std::cmp::Reverse(r.visit_overdue_days.max(r.contact_overdue_days)),
                r.pairing.clone(),
            )
        });
        let mut total = RhythmCounts::default();
        let mut by_helper: BTreeMap<String, RhythmCounts> = BTreeMap::new();
        let mut by_unit: BTreeMap<OrgCode, RhythmCounts> = BTreeMap::new();
        for row in &rows {
            total.add(row);
            by_helper
                .entry(row.helper_name.clone())
                .or_default()
                .add(row);
            by_unit.entry(row.unit).or_default().add(row);
        }
        Ok(RhythmReport {
            org,
            as_of: today,
            rhythm,
            total,
            by_helper,
            by_unit,
            visits_by_mode,
            pairings: rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn overdue_counts_days_past_the_period() {
        let today = day("2026-11-28");
        assert_eq!(overdue(Some(day("2026-10-29")), 30, today), 0, "due today");
        assert_eq!(overdue(Some(day("2026-10-28")), 30, today), 1);
        assert_eq!(overdue(Some(day("2026-09-01")), 60, today), 28);
        assert_eq!(overdue(None, 30, today), 0, "no start, no rhythm yet");
    }
}
