//! The statistics report built from a subtree's summed rollups: typed sections that
//! serialise to the JSON of `halfsky stats --json` and `/api/v1/stats`.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::org::OrgCode;
use crate::schema::enums;

use super::sums::*;

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

/// Progress of one verifying level over a subtree's checked records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelProgress {
    /// Latest check at this level confirmed the record.
    pub confirmed: i64,
    /// Latest check rejected it.
    pub rejected: i64,
    /// Latest check asked for a fix.
    pub needs_fix: i64,
    /// Not checked at this level yet.
    pub pending: i64,
}

/// Four-level verification progress (filled in by the node, which reads the checks).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerificationProgress {
    /// By verifying level (`village`, `township`, `county`, `city`).
    pub by_level: BTreeMap<String, LevelProgress>,
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
    /// Verification progress by level over the subtree's checked records.
    #[serde(default)]
    pub verification: VerificationProgress,
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
            verification: VerificationProgress::default(),
            children,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Fields, Record, RecordId, RecordMeta};
    use crate::schema::Kind;
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
