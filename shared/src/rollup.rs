//! Per-org counters ("rollups") and the statistics report built from them.
//!
//! Each record *contributes* a small [`Rollup`] to its org unit; the index keeps one
//! rollup per org and applies a change as "subtract the record's old contribution,
//! add its new one". Statistics for any subtree are the sum of its units' rollups, so a
//! page never reads documents, and a rebuild from scratch (`reindex`) gives exactly the
//! same numbers. Everything that depends on today's date (overdue visits, age bands,
//! exits this year) is kept as a histogram and resolved when the report is made.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::org::OrgCode;
use crate::record::Record;
use crate::schema::{enums, Kind};

/// A woman without a visit for this many days is overdue (seed 002: a visit every two
/// months).
pub const OVERDUE_DAYS: i64 = 60;

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
    /// Women under follow-up (status poor or at_risk), by the date of their latest visit
    /// (`""` = never visited).
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

    /// What one record contributes to its org's rollup. Retired records contribute
    /// nothing; `links` is only read for women.
    pub fn of_record(record: &Record, links: &WomanLinks) -> Rollup {
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
                    let last = links.last_visit.clone().unwrap_or_default();
                    bump(&mut r.followed_by_last_visit, last, 1);
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

/// One unit one level down, with its key numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildStats {
    /// The child unit.
    pub org: OrgCode,
    /// Its name, if known.
    pub name: String,
    /// Women with a card in its subtree.
    pub women_total: i64,
    /// Households in its subtree.
    pub households_total: i64,
    /// Women overdue for a visit.
    pub overdue_women: i64,
    /// Exits this year.
    pub exits_this_year: i64,
    /// Training person-times this year.
    pub training_person_times_this_year: i64,
}

/// Counts by code (status, cause, path…): every code of its enum is present, so a
/// code nobody has shows 0 rather than being absent. Serialised as a plain JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Counts(pub BTreeMap<String, i64>);

impl Counts {
    /// The count of `code` (0 for a code nobody has).
    pub fn of(&self, code: &str) -> i64 {
        self.0.get(code).copied().unwrap_or(0)
    }

    /// Every code with its count, in code order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The sum over all codes.
    pub fn total(&self) -> i64 {
        self.0.values().sum()
    }
}

// The sections below serialise to the JSON objects `halfsky stats --json` has always
// printed. serde_json sorts object keys, so fields are declared in alphabetical order:
// the bytes stay the same as when the sections were built with `json!`.

/// Households of a subtree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HouseholdStats {
    /// Of which registered poor (建档立卡).
    pub registered_poor: i64,
    /// Households registered.
    pub total: i64,
}

/// Women of one labour capacity, by whether they want work.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkWish {
    /// Not wishing to work.
    pub no_wish: i64,
    /// Wishing to work.
    pub wants_work: i64,
}

/// Women with a card in a subtree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WomenStats {
    /// By age band ([`AGE_BANDS`]).
    pub by_age_band: Counts,
    /// By poverty cause (a woman may count under several).
    pub by_cause: Counts,
    /// By labour capacity.
    pub by_labor: Counts,
    /// By labour capacity and wish to work.
    pub by_labor_and_work: BTreeMap<String, WorkWish>,
    /// By status.
    pub by_status: Counts,
    /// With at least one active pairing.
    pub paired: i64,
    /// `paired` as a percentage of `total`, one decimal.
    pub pairing_coverage_percent: f64,
    /// Women with a card (not retired).
    pub total: i64,
}

/// Follow-up visits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VisitStats {
    /// Women under follow-up (poor or at risk).
    pub followed_women: i64,
    /// A followed woman is overdue after this many days without a visit.
    pub overdue_after_days: i64,
    /// Followed women overdue for a visit.
    pub overdue_women: i64,
    /// Visits recorded.
    pub total: i64,
}

/// Pairings (结对帮扶).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairingStats {
    /// Active pairings.
    pub active: i64,
}

/// Measures (帮扶措施).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeasureStats {
    /// Money spent, yuan.
    pub amount_yuan: f64,
    /// By path (六大路径).
    pub by_path: Counts,
    /// Measures recorded.
    pub total: i64,
}

/// Trainings, overall and in the report's year.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingStats {
    /// Person-times, all years.
    pub person_times: i64,
    /// Person-times in `year`.
    pub person_times_this_year: i64,
    /// Poor women's share of `year`'s person-times, percent (None: no trainings).
    pub poor_share_percent_this_year: Option<f64>,
    /// Sessions, all years.
    pub sessions: i64,
    /// Sessions in `year`.
    pub sessions_this_year: i64,
    /// The report's year.
    pub year: i64,
}

/// Loans (小额担保贷款).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoanStats {
    /// Money lent, yuan.
    pub amount_yuan: f64,
    /// Loans recorded.
    pub count: i64,
}

/// Bases (基地).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaseStats {
    /// By kind (only kinds that exist).
    pub by_kind: Counts,
    /// Bases recorded.
    pub total: i64,
    /// Women employed at them.
    pub women_employed: i64,
}

/// Verifications written by the subtree's units.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerificationStats {
    /// By result.
    pub by_result: Counts,
    /// Verifications recorded.
    pub total: i64,
}

/// The statistics of a subtree as `halfsky stats --json` and the dashboard show them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    /// The unit at the top of the subtree.
    pub org: OrgCode,
    /// Its name.
    pub name: String,
    /// Its level.
    pub level: crate::org::Level,
    /// The day the date-dependent figures refer to.
    pub as_of: NaiveDate,
    /// Households.
    pub households: HouseholdStats,
    /// Women.
    pub women: WomenStats,
    /// Visits and overdue follow-ups.
    pub visits: VisitStats,
    /// Pairings.
    pub pairings: PairingStats,
    /// Measures by path.
    pub measures: MeasureStats,
    /// Trainings.
    pub trainings: TrainingStats,
    /// Loans.
    pub loans: LoanStats,
    /// Bases.
    pub bases: BaseStats,
    /// Women insured against the two cancers.
    pub insured: i64,
    /// Women who exited poverty this calendar year.
    pub exits_this_year: i64,
    /// Verifications by result.
    pub verifications: VerificationStats,
    /// One level down.
    pub children: Vec<ChildStats>,
}

/// Every code of `spec` with its count in `counts` (0 if absent), plus any code
/// `counts` has that the enum does not (data from a newer schema).
fn all_codes(spec: &enums::EnumSpec, counts: &BTreeMap<String, i64>) -> Counts {
    let mut out: BTreeMap<String, i64> = spec
        .codes()
        .map(|code| (code.to_string(), counts.get(code).copied().unwrap_or(0)))
        .collect();
    for (code, n) in counts {
        out.entry(code.clone()).or_insert(*n);
    }
    Counts(out)
}

impl Rollup {
    /// Women under follow-up whose latest visit is older than [`OVERDUE_DAYS`] (or none).
    pub fn overdue_women(&self, today: NaiveDate) -> i64 {
        let cutoff = (today - Duration::days(OVERDUE_DAYS))
            .format("%Y-%m-%d")
            .to_string();
        self.followed_by_last_visit
            .range(..cutoff)
            .map(|(_, n)| n)
            .sum()
    }

    /// Women under follow-up (poor or at risk).
    pub fn followed_women(&self) -> i64 {
        self.followed_by_last_visit.values().sum()
    }

    /// Exits in `today`'s year.
    pub fn exits_in(&self, year: i64) -> i64 {
        self.exits_by_year.get(&year).copied().unwrap_or(0)
    }

    /// Training figures of one year.
    pub fn training_year(&self, year: i64) -> TrainingYear {
        self.trainings_by_year
            .get(&year)
            .cloned()
            .unwrap_or_default()
    }

    /// Key numbers for a child row.
    pub fn child_stats(&self, org: OrgCode, name: String, today: NaiveDate) -> ChildStats {
        ChildStats {
            org,
            name,
            women_total: self.women,
            households_total: self.households,
            overdue_women: self.overdue_women(today),
            exits_this_year: self.exits_in(today.year() as i64),
            training_person_times_this_year: self.training_year(today.year() as i64).person_times,
        }
    }

    /// The full report of a subtree whose summed rollup is `self`.
    pub fn report(
        &self,
        org: OrgCode,
        name: String,
        today: NaiveDate,
        children: Vec<ChildStats>,
        poor_share_percent: Option<f64>,
    ) -> StatsReport {
        let year = today.year() as i64;
        let mut by_labor = BTreeMap::new();
        let mut by_labor_and_work = BTreeMap::new();
        for labor in enums::LABOR.codes() {
            let count = |work: &str| {
                self.women_by_labor_work
                    .get(&format!("{labor}|{work}"))
                    .copied()
                    .unwrap_or(0)
            };
            let wish = WorkWish {
                wants_work: count("yes"),
                no_wish: count("no"),
            };
            by_labor.insert(labor.to_string(), wish.wants_work + wish.no_wish);
            by_labor_and_work.insert(labor.to_string(), wish);
        }
        let mut by_age: BTreeMap<String, i64> =
            AGE_BANDS.iter().map(|b| (b.to_string(), 0)).collect();
        for (birth_year, n) in &self.women_by_birth_year {
            *by_age
                .entry(age_band(year - birth_year).to_string())
                .or_default() += n;
        }
        let coverage = if self.women > 0 {
            (self.women_paired as f64 * 1000.0 / self.women as f64).round() / 10.0
        } else {
            0.0
        };
        let this_year = self.training_year(year);
        StatsReport {
            org,
            name,
            level: org.level(),
            as_of: today,
            households: HouseholdStats {
                total: self.households,
                registered_poor: self.households_poor,
            },
            women: WomenStats {
                total: self.women,
                by_status: all_codes(&enums::STATUS, &self.women_by_status),
                by_labor: Counts(by_labor),
                by_labor_and_work,
                by_cause: all_codes(&enums::CAUSE, &self.women_by_cause),
                by_age_band: Counts(by_age),
                paired: self.women_paired,
                pairing_coverage_percent: coverage,
            },
            visits: VisitStats {
                total: self.visits,
                followed_women: self.followed_women(),
                overdue_women: self.overdue_women(today),
                overdue_after_days: OVERDUE_DAYS,
            },
            pairings: PairingStats {
                active: self.pairings_active,
            },
            measures: MeasureStats {
                total: self.measures_by_path.values().sum(),
                by_path: all_codes(&enums::PATH, &self.measures_by_path),
                amount_yuan: self.measures_amount_fen as f64 / 100.0,
            },
            trainings: TrainingStats {
                sessions: self.trainings_by_year.values().map(|t| t.sessions).sum(),
                person_times: self
                    .trainings_by_year
                    .values()
                    .map(|t| t.person_times)
                    .sum(),
                year,
                sessions_this_year: this_year.sessions,
                person_times_this_year: this_year.person_times,
                poor_share_percent_this_year: poor_share_percent,
            },
            loans: LoanStats {
                count: self.loans,
                amount_yuan: self.loans_amount_fen as f64 / 100.0,
            },
            bases: BaseStats {
                total: self.bases_by_kind.values().sum(),
                by_kind: Counts(self.bases_by_kind.clone()),
                women_employed: self.bases_women_employed,
            },
            insured: self.insured,
            exits_this_year: self.exits_in(year),
            verifications: VerificationStats {
                total: self.verifications_by_result.values().sum(),
                by_result: all_codes(&enums::VERIFICATION_RESULT, &self.verifications_by_result),
            },
            children,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Fields, RecordId, RecordMeta};
    use crate::schema::Value;

    fn woman(status: &str, last_visit: Option<&str>) -> (Record, WomanLinks) {
        let org = OrgCode::parse("230129100201").unwrap();
        let mut fields = Fields::new();
        fields.insert("status".into(), Value::Text(status.into()));
        fields.insert("labor_capacity".into(), Value::Text("full".into()));
        fields.insert("wants_work".into(), Value::Bool(true));
        fields.insert("birth_year".into(), Value::Int(1975));
        fields.insert("poverty_causes".into(), Value::List(vec!["illness".into()]));
        if status == "exited" {
            fields.insert("exit_date".into(), Value::Text("2026-03-01".into()));
        }
        let record = Record {
            id: RecordId::new(org, Kind::Woman, "A", 1),
            fields,
            meta: RecordMeta::default(),
        };
        let links = WomanLinks {
            last_visit: last_visit.map(str::to_string),
            active_pairings: 1,
        };
        (record, links)
    }

    #[test]
    fn add_then_subtract_is_empty() {
        let (w, l) = woman("poor", Some("2026-10-01"));
        let c = Rollup::of_record(&w, &l);
        let mut total = Rollup::default();
        total.merge(&c, 1);
        total.merge(&c, -1);
        assert!(total.is_empty(), "{total:?}");
    }

    #[test]
    fn report_resolves_dates() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let mut total = Rollup::default();
        for (status, visit) in [
            ("poor", Some("2026-11-01")),
            ("poor", Some("2026-08-01")),
            ("at_risk", None),
            ("exited", None),
        ] {
            let (w, l) = woman(status, visit);
            total.merge(&Rollup::of_record(&w, &l), 1);
        }
        assert_eq!(total.overdue_women(today), 2);
        let report = total.report(
            OrgCode::parse("230129100201").unwrap(),
            "村".into(),
            today,
            vec![],
            None,
        );
        assert_eq!(report.women.total, 4);
        assert_eq!(report.women.by_status.of("poor"), 2);
        assert_eq!(report.women.by_status.of("exited"), 1);
        assert_eq!(report.women.by_age_band.of("50_59"), 4);
        assert_eq!(report.women.by_cause.of("illness"), 4);
        assert_eq!(report.women.by_cause.of("disaster"), 0);
        assert_eq!(report.exits_this_year, 1);
        assert_eq!(report.visits.overdue_women, 2);
    }

    #[test]
    fn report_json_keeps_its_keys_and_reads_back() {
        let (w, l) = woman("poor", None);
        let mut total = Rollup::default();
        total.merge(&Rollup::of_record(&w, &l), 1);
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let org = OrgCode::parse("230129100201").unwrap();
        let report = total.report(org, "村".into(), today, vec![], Some(40.0));
        let text = serde_json::to_string(&report).unwrap();
        assert!(
            text.contains(r#""households":{"registered_poor":0,"total":0}"#),
            "{text}"
        );
        assert!(
            text.contains(r#""loans":{"amount_yuan":0.0,"count":0}"#),
            "{text}"
        );
        assert!(
            text.contains(r#""full":{"no_wish":0,"wants_work":1}"#),
            "{text}"
        );
        assert!(
            text.contains(r#""poor_share_percent_this_year":40.0"#),
            "{text}"
        );
        let back: StatsReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn poor_at_training_time() {
        let (w, _) = woman("exited", None);
        assert!(was_poor_on(
            &w,
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
        ));
        assert!(!was_poor_on(
            &w,
            NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
        ));
    }
}
