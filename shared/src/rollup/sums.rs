//! The per-org counters themselves: what one record contributes to its unit, and how
//! contributions add up and come off again.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::local_time::Zone;
use crate::record::Record;
use crate::schema::Kind;

/// A woman without a visit for this many days is overdue (seed 002: a visit every two
/// months).
pub const OVERDUE_DAYS: i64 = 60;

/// A woman whose follow-up period ends within this many days is "due soon".
pub const DUE_SOON_DAYS: i64 = 14;

/// The day a woman's current follow-up period began: her latest visit, or the local
/// day her card was made if that is later (a card made today is not overdue, whatever
/// visits an old sheet brought with it). `None` when neither is known.
///
/// A woman is overdue when this day is more than [`OVERDUE_DAYS`] before today: her
/// card is older than the period and she had no visit in it.
pub fn follow_up_since(record: &Record, links: &WomanLinks, zone: &Zone) -> Option<NaiveDate> {
    let visited = links
        .last_visit
        .as_deref()
        .and_then(crate::schema::parse_date);
    let carded = zone.day_of_stamp(&record.meta.created_at);
    visited.max(carded)
}

/// Facts about a woman that come from other records (her visits and pairings).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WomanLinks {
    /// Date of her latest visit (`YYYY-MM-DD`), if any.
    pub last_visit: Option<String>,
    /// Number of active pairings helping her.
    pub active_pairings: u32,
}

/// Training sessions and person-times of one year.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingYear {
    /// Sessions held.
    pub sessions: i64,
    /// Attendees with a card plus others.
    pub person_times: i64,
}

/// Counters of one org unit's own records (or of a subtree, once summed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    /// Households registered.
    pub households: i64,
    /// Of which registered poor (建档立卡).
    pub households_poor: i64,
    /// Women with a card (not retired).
    pub women: i64,
    /// Women by status code.
    pub women_by_status: BTreeMap<String, i64>,
    /// Women by `<labor code>|<wants work: yes/no>`.
    pub women_by_labor_work: BTreeMap<String, i64>,
    /// Women by poverty cause (a woman may count under several).
    pub women_by_cause: BTreeMap<String, i64>,
    /// Women by birth year.
    pub women_by_birth_year: BTreeMap<i64, i64>,
    /// Women insured against the two cancers.
    pub insured: i64,
    /// Women with at least one active pairing.
    pub women_paired: i64,
    /// Women under follow-up (status poor or at_risk), by the day their follow-up
    /// period began ([`follow_up_since`]: latest visit, or the day the card was made;
    /// `""` = unknown).
    pub followed_by_last_visit: BTreeMap<String, i64>,
    /// Exits by year of exit.
    pub exits_by_year: BTreeMap<i64, i64>,
    /// Visits recorded.
    pub visits: i64,
    /// Active pairings.
    pub pairings_active: i64,
    /// Measures by path.
    pub measures_by_path: BTreeMap<String, i64>,
    /// Measure money, fen.
    pub measures_amount_fen: i64,
    /// Trainings by year.
    pub trainings_by_year: BTreeMap<i64, TrainingYear>,
    /// Loans.
    pub loans: i64,
    /// Loan money, fen.
    pub loans_amount_fen: i64,
    /// Bases by kind.
    pub bases_by_kind: BTreeMap<String, i64>,
    /// Women employed at bases.
    pub bases_women_employed: i64,
    /// Verifications written by this unit, by result.
    pub verifications_by_result: BTreeMap<String, i64>,
}

fn bump<K: Ord + Clone>(map: &mut BTreeMap<K, i64>, key: K, by: i64) {
    let entry = map.entry(key.clone()).or_insert(0);
    *entry += by;
    if *entry == 0 {
        map.remove(&key);
    }
}

fn merge_map<K: Ord + Clone>(into: &mut BTreeMap<K, i64>, from: &BTreeMap<K, i64>, sign: i64) {
    for (k, v) in from {
        bump(into, k.clone(), v * sign);
    }
}

fn year_of(date: &str) -> Option<i64> {
    date.get(..4)?.parse().ok()
}

impl Rollup {
    /// Adds (`sign` = 1) or subtracts (`sign` = -1) another rollup.
    pub fn merge(&mut self, other: &Rollup, sign: i64) {
        self.households += other.households * sign;
        self.households_poor += other.households_poor * sign;
        self.women += other.women * sign;
        merge_map(&mut self.women_by_status, &other.women_by_status, sign);
        merge_map(
            &mut self.women_by_labor_work,
            &other.women_by_labor_work,
            sign,
        );
        merge_map(&mut self.women_by_cause, &other.women_by_cause, sign);
        merge_map(
            &mut self.women_by_birth_year,
            &other.women_by_birth_year,
            sign,
        );
        self.insured += other.insured * sign;
        self.women_paired += other.women_paired * sign;
        merge_map(
            &mut self.followed_by_last_visit,
            &other.followed_by_last_visit,
            sign,
        );
        merge_map(&mut self.exits_by_year, &other.exits_by_year, sign);
        self.visits += other.visits * sign;
        self.pairings_active += other.pairings_active * sign;
        merge_map(&mut self.measures_by_path, &other.measures_by_path, sign);
        self.measures_amount_fen += other.measures_amount_fen * sign;
        for (year, t) in &other.trainings_by_year {
            let entry = self.trainings_by_year.entry(*year).or_default();
            entry.sessions += t.sessions * sign;
            entry.person_times += t.person_times * sign;
            if *entry == TrainingYear::default() {
                self.trainings_by_year.remove(year);
            }
        }
        self.loans += other.loans * sign;
        self.loans_amount_fen += other.loans_amount_fen * sign;
        merge_map(&mut self.bases_by_kind, &other.bases_by_kind, sign);
        self.bases_women_employed += other.bases_women_employed * sign;
        merge_map(
            &mut self.verifications_by_result,
            &other.verifications_by_result,
            sign,
        );
    }

    /// True when every counter is zero.
    pub fn is_empty(&self) -> bool {
        *self == Rollup::default()
    }

    /// What one record contributes to its org's rollup, days taken in China's time
    /// zone (see [`Rollup::of_record_in`]).
    pub fn of_record(record: &Record, links: &WomanLinks) -> Rollup {
        Rollup::of_record_in(record, links, &Zone::default())
    }

    /// What one record contributes to its org's rollup, days taken in `zone`. Retired
    /// records contribute nothing; `links` is only read for women.
    pub fn of_record_in(record: &Record, links: &WomanLinks, zone: &Zone) -> Rollup {
        let mut r = Rollup::default();
        if record.meta.retired {
            return r;
        }
        match record.kind() {
            Kind::Household => {
                r.households = 1;
                r.households_poor = record.flag("registered_poor") as i64;
            }
            Kind::Woman => {
                r.women = 1;
                let status = record.text("status").unwrap_or("poor").to_string();
                let labor = record.text("labor_capacity").unwrap_or("none");
                let work = if record.flag("wants_work") {
                    "yes"
                } else {
                    "no"
                };
                bump(&mut r.women_by_labor_work, format!("{labor}|{work}"), 1);
                for cause in record.list("poverty_causes") {
                    bump(&mut r.women_by_cause, cause.clone(), 1);
                }
                if let Some(year) = record.int("birth_year") {
                    bump(&mut r.women_by_birth_year, year, 1);
                }
                r.insured = record.flag("insured_two_cancers") as i64;
                r.women_paired = (links.active_pairings > 0) as i64;
                if status == "poor" || status == "at_risk" {
                    let since = follow_up_since(record, links, zone)
                        .map(|d| d.format("%Y-%m-%d").to_string())
                        .unwrap_or_default();
                    bump(&mut r.followed_by_last_visit, since, 1);
                }
                if status == "exited" {
                    if let Some(year) = record.text("exit_date").and_then(year_of) {
                        bump(&mut r.exits_by_year, year, 1);
                    }
                }
                bump(&mut r.women_by_status, status, 1);
            }
            Kind::Visit => r.visits = 1,
            Kind::Pairing => r.pairings_active = record.flag("active") as i64,
            Kind::Measure => {
                if let Some(path) = record.text("path") {
                    bump(&mut r.measures_by_path, path.to_string(), 1);
                }
                r.measures_amount_fen = record.int("amount_yuan").unwrap_or(0);
            }
            Kind::Training => {
                if let Some(year) = record.text("date").and_then(year_of) {
                    let person_times = record.list("attendees").len() as i64
                        + record.int("others_count").unwrap_or(0);
                    r.trainings_by_year.insert(
                        year,
                        TrainingYear {
                            sessions: 1,
                            person_times,
                        },
                    );
                }
            }
            Kind::Loan => {
                r.loans = 1;
                r.loans_amount_fen = record.int("amount_yuan").unwrap_or(0);
            }
            Kind::Base => {
                if let Some(kind) = record.text("kind") {
                    bump(&mut r.bases_by_kind, kind.to_string(), 1);
                }
                r.bases_women_employed = record.int("women_employed").unwrap_or(0);
            }
            Kind::Verification => {
                if let Some(result) = record.text("result") {
                    bump(&mut r.verifications_by_result, result.to_string(), 1);
                }
            }
            Kind::Target => {}
        }
        r
    }
}

/// Was this woman poor on `date`? (Poor or at risk now, or exited after that date.)
/// Used for poor women's share of training attendance.
pub fn was_poor_on(woman: &Record, date: NaiveDate) -> bool {
    poor_on(
        woman.text("status").unwrap_or_default(),
        woman.date("exit_date"),
        date,
    )
}

/// [`was_poor_on`] from a woman's status code and exit date alone.
pub fn poor_on(status: &str, exit_date: Option<NaiveDate>, date: NaiveDate) -> bool {
    match status {
        "poor" | "at_risk" => true,
        "exited" => exit_date.is_none_or(|exit| exit > date),
        _ => false,
    }
}

/// The age bands the report uses, youngest first.
pub const AGE_BANDS: [&str; 5] = ["under_30", "30_39", "40_49", "50_59", "60_plus"];

/// The report's age band of an age (one of [`AGE_BANDS`]).
pub fn age_band(age: i64) -> &'static str {
    match age {
        i64::MIN..=29 => AGE_BANDS[0],
        30..=39 => AGE_BANDS[1],
        40..=49 => AGE_BANDS[2],
        50..=59 => AGE_BANDS[3],
        _ => AGE_BANDS[4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Fields, RecordId, RecordMeta};
    use crate::schema::Value;
    use crate::OrgCode;

    fn card(created_at: &str) -> Record {
        let mut fields = Fields::new();
        fields.insert("status".into(), Value::Text("poor".into()));
        Record {
            id: RecordId::new(
                OrgCode::parse("230129100201").expect("code"),
                Kind::Woman,
                "A",
                1,
            ),
            fields,
            meta: RecordMeta {
                created_at: created_at.into(),
                ..RecordMeta::default()
            },
        }
    }

    fn day(s: &str) -> NaiveDate {
        crate::schema::parse_date(s).expect("a date")
    }

    #[test]
    fn a_card_is_overdue_only_once_older_than_the_period_without_a_visit() {
        let zone = Zone::default();
        let never = WomanLinks::default();
        let woman = card("2026-11-28T00:14:00Z"); // 08:14 in China
        let rollup = Rollup::of_record(&woman, &never);
        assert_eq!(rollup.overdue_women(day("2026-11-28")), 0, "made today");
        assert_eq!(rollup.overdue_women(day("2027-01-27")), 0, "60 days old");
        assert_eq!(rollup.overdue_women(day("2027-01-28")), 1, "61 days old");
        // An old visit brought with the card does not make a new card overdue.
        let visited = WomanLinks {
            last_visit: Some("2026-01-05".into()),
            active_pairings: 0,
        };
        assert_eq!(
            follow_up_since(&woman, &visited, &zone),
            Some(day("2026-11-28"))
        );
        let rollup = Rollup::of_record(&woman, &visited);
        assert_eq!(rollup.overdue_women(day("2026-12-01")), 0);
        // A later visit starts a new period.
        let recent = WomanLinks {
            last_visit: Some("2027-01-20".into()),
            active_pairings: 0,
        };
        let rollup = Rollup::of_record(&woman, &recent);
        assert_eq!(rollup.overdue_women(day("2027-03-21")), 0);
        assert_eq!(rollup.overdue_women(day("2027-03-22")), 1);
    }

    #[test]
    fn days_are_the_deployments_days() {
        // 00:30 on 30 September in China is still 29 September in UTC.
        let woman = card("2026-09-29T16:30:00Z");
        let links = WomanLinks::default();
        let today = day("2026-11-29"); // 60 days after 30 September
        let china = Rollup::of_record_in(&woman, &links, &Zone::default());
        assert_eq!(china.overdue_women(today), 0, "made on 30 September, China");
        let utc: Zone = "UTC".parse().expect("zone");
        let in_utc = Rollup::of_record_in(&woman, &links, &utc);
        assert_eq!(in_utc.overdue_women(today), 1, "29 September in UTC");
        // 23:30 in China counts for that day.
        let late = card("2026-09-30T15:30:00Z");
        assert_eq!(
            follow_up_since(&late, &links, &Zone::default()),
            Some(day("2026-09-30"))
        );
    }
}
