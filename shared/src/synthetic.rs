//! Realistic synthetic ledgers, seeded and repeatable. The demo, the tests and the
//! benchmarks all draw their data from here, so they exercise the same shapes.
//!
//! Records come out as raw `(field, text)` inputs, exactly what a cadre types or a
//! spreadsheet holds, so they go through the same parsing and validation as real input.

use chrono::{Datelike, Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::idcard::with_check_digit;
use crate::org::OrgCode;
use crate::record::RecordId;
use crate::schema::Kind;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "于", "董", "宋", "韩", "冯",
];
const GIVEN: &[&str] = &[
    "秀英", "桂兰", "玉兰", "淑珍", "凤英", "丽华", "秀兰", "海燕", "春梅", "红霞", "艳", "敏",
    "静", "丽", "霞", "芳", "玉梅", "淑华", "桂芝", "翠花", "晓燕", "金凤", "美玲", "素芬",
];
const HELPERS: &[(&str, &str)] = &[
    ("entrepreneur", "刘建国"),
    ("coop_leader", "孙红梅"),
    ("capable_woman", "赵巧云"),
    ("craftswoman", "钱秀芝"),
    ("cadre", "周丽娟"),
];

/// Raw field inputs for one record.
pub type Inputs = Vec<(String, String)>;

/// A seeded generator of plausible records.
#[derive(Debug)]
pub struct Generator {
    rng: StdRng,
    today: NaiveDate,
}

fn pair(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

impl Generator {
    /// A generator whose output depends only on `seed` and `today`.
    pub fn new(seed: u64, today: NaiveDate) -> Self {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            today,
        }
    }

    fn name(&mut self) -> String {
        let s = SURNAMES.choose(&mut self.rng).expect("non-empty");
        let g = GIVEN.choose(&mut self.rng).expect("non-empty");
        format!("{s}{g}")
    }

    fn date_within(&mut self, days: i64) -> String {
        let back = self.rng.random_range(0..days.max(1));
        (self.today - Duration::days(back))
            .format("%Y-%m-%d")
            .to_string()
    }

    /// A household.
    pub fn household(&mut self) -> Inputs {
        let mut v = vec![
            pair("head_name", self.name()),
            pair("members", self.rng.random_range(1..=6)),
            pair("registered_poor", self.rng.random_bool(0.7)),
        ];
        if self.rng.random_bool(0.8) {
            v.push(pair("income_per_capita", self.rng.random_range(1800..9000)));
        }
        v
    }

    /// A woman's card, optionally in a household, with an ID number built for `org`.
    pub fn woman(&mut self, org: &OrgCode, household: Option<&RecordId>) -> Inputs {
        let birth_year = self.rng.random_range(1950..=2002);
        let status = *[
            "poor", "poor", "poor", "poor", "poor", "exited", "exited", "exited", "at_risk",
        ]
        .choose(&mut self.rng)
        .expect("non-empty");
        let labor = *["full", "full", "full", "partial", "none"]
            .choose(&mut self.rng)
            .expect("non-empty");
        let mut v = vec![
            pair("name", self.name()),
            pair("birth_year", birth_year),
            pair("labor_capacity", labor),
            pair("wants_work", labor != "none" && self.rng.random_bool(0.7)),
            pair("status", status),
            pair("insured_two_cancers", self.rng.random_bool(0.5)),
            pair(
                "education",
                *["none", "primary", "junior", "junior", "senior"]
                    .choose(&mut self.rng)
                    .expect("non-empty"),
            ),
        ];
        if let Some(h) = household {
            v.push(pair("household_id", h));
        }
        let causes = [
            "illness",
            "disability",
            "lack_of_skills",
            "lack_of_labor",
            "lack_of_funds",
            "education_costs",
            "disaster",
            "other",
        ];
        for _ in 0..self.rng.random_range(1..=2) {
            v.push(pair(
                "poverty_causes",
                causes.choose(&mut self.rng).expect("non-empty"),
            ));
        }
        if status == "exited" {
            v.push(pair("exit_date", self.date_within(700)));
        }
        if self.rng.random_bool(0.6) {
            let birth = format!(
                "{}{:04}{:02}{:02}{:03}",
                &org.as_str()[..6],
                birth_year,
                self.rng.random_range(1..=12),
                self.rng.random_range(1..=28),
                self.rng.random_range(0..500) * 2
            );
            v.push(pair("id_number", with_check_digit(&birth)));
        }
        v
    }

    /// A follow-up visit of `woman`, within the last `days` days.
    pub fn visit(&mut self, woman: &RecordId, days: i64) -> Inputs {
        vec![
            pair("woman_id", woman),
            pair("date", self.date_within(days)),
            pair("visitor", self.name()),
            pair(
                "mode",
                *["home", "home", "phone", "online"]
                    .choose(&mut self.rng)
                    .expect("non-empty"),
            ),
            pair("note", "生产生活情况良好"),
        ]
    }

    /// A pairing of `woman` with a helper.
    pub fn pairing(&mut self, woman: &RecordId) -> Inputs {
        let (kind, name) = *HELPERS.choose(&mut self.rng).expect("non-empty");
        vec![
            pair("woman_id", woman),
            pair("helper_name", name),
            pair("helper_kind", kind),
            pair("since", self.date_within(900)),
        ]
    }

    /// A measure for `woman`.
    pub fn measure(&mut self, woman: &RecordId) -> Inputs {
        let path = *[
            "skills",
            "industry",
            "base",
            "funding",
            "demonstration",
            "health",
        ]
        .choose(&mut self.rng)
        .expect("non-empty");
        vec![
            pair("woman_id", woman),
            pair("path", path),
            pair("date", self.date_within(700)),
            pair("amount_yuan", self.rng.random_range(0..5000)),
        ]
    }

    /// A small guaranteed loan for `woman`.
    pub fn loan(&mut self, woman: &RecordId) -> Inputs {
        vec![
            pair("woman_id", woman),
            pair("amount_yuan", self.rng.random_range(1..=10) * 5000),
            pair("date", self.date_within(700)),
            pair(
                "status",
                *["granted", "granted", "repaid", "applied"]
                    .choose(&mut self.rng)
                    .expect("non-empty"),
            ),
        ]
    }

    /// A training session attended by some of `women`.
    pub fn training(&mut self, women: &[RecordId]) -> Inputs {
        let topic = *[
            "planting_breeding",
            "rural_tourism",
            "domestic_service",
            "handicraft",
            "ecommerce",
        ]
        .choose(&mut self.rng)
        .expect("non-empty");
        let date = self.date_within(self.today.ordinal() as i64);
        let mut v = vec![
            pair("topic", topic),
            pair("date", date),
            pair("others_count", self.rng.random_range(0..15)),
        ];
        let n = women.len().min(self.rng.random_range(3..20));
        for w in women.choose_multiple(&mut self.rng, n) {
            v.push(pair("attendees", w));
        }
        v
    }

    /// A whole village: `households` households with their women and the records that
    /// follow them. `add` writes one record and returns its id.
    pub fn village<E>(
        &mut self,
        org: &OrgCode,
        households: usize,
        mut add: impl FnMut(Kind, Inputs) -> Result<RecordId, E>,
    ) -> Result<Vec<RecordId>, E> {
        let mut women = Vec::new();
        for _ in 0..households {
            let inputs = self.household();
            let h = add(Kind::Household, inputs)?;
            for _ in 0..self.rng.random_range(1..=2) {
                let inputs = self.woman(org, Some(&h));
                let w = add(Kind::Woman, inputs)?;
                if self.rng.random_bool(0.6) {
                    let inputs = self.pairing(&w);
                    add(Kind::Pairing, inputs)?;
                }
                for _ in 0..self.rng.random_range(0..3) {
                    let inputs = self.visit(&w, 120);
                    add(Kind::Visit, inputs)?;
                }
                if self.rng.random_bool(0.4) {
                    let inputs = self.measure(&w);
                    add(Kind::Measure, inputs)?;
                }
                if self.rng.random_bool(0.1) {
                    let inputs = self.loan(&w);
                    add(Kind::Loan, inputs)?;
                }
                women.push(w);
            }
        }
        for _ in 0..(households / 25).max(1) {
            let inputs = self.training(&women);
            add(Kind::Training, inputs)?;
        }
        Ok(women)
    }

    /// The year of `today`, for callers that need it.
    pub fn year(&self) -> i32 {
        self.today.year()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{complete, parse_fields};

    #[test]
    fn every_generated_record_is_valid() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let org = OrgCode::parse("230129100201").unwrap();
        let mut gen = Generator::new(7, today);
        let mut seq = 0;
        let women = gen
            .village(&org, 40, |kind, inputs| {
                let mut parsed = parse_fields(kind, &inputs, today)
                    .unwrap_or_else(|e| panic!("{kind}: {e:?} in {inputs:?}"));
                let errors = complete(kind, &mut parsed.fields, today);
                assert!(errors.is_empty(), "{kind}: {errors:?}");
                seq += 1;
                Ok::<_, ()>(RecordId::new(org, kind, "TEST", seq))
            })
            .unwrap();
        assert!(women.len() >= 40);
    }
}
