//! The targets (目标任务) the overview measures a unit against, read from the ledger's
//! target records (`Kind::Target`: org, metric, period, value).
//!
//! A target for unit U can be set by U itself or by any unit above it, so the records
//! are looked up in U's own document and its ancestors' (a node holds both). Of the
//! records for U and the metric:
//! - one whose period is exactly the year shown wins over a span (`2016-2020`) holding
//!   that year; a span's value is a yearly figure over the plan, as the seed's are;
//! - among equally specific ones, the latest written wins (`updated_at`, then id).
//!
//! Where no record exists the seed's figure is shown, marked as a default so nobody
//! takes it for a target someone set (seed 001, the five-year plan: 300 training
//! person-times per county per year — 300 × its counties at the city, the county's 300
//! below a county — and poor women at least 40% of them).

use halfsky_shared::org::Level;
use halfsky_shared::{Kind, OrgCode, Record};
use serde::Serialize;

use crate::store::index::{Index, IndexError};

/// Person-times each county must train per year (seed 001), when no record says.
pub const DEFAULT_TRAINING_PER_COUNTY: i64 = 300;
/// Poor women's minimum share of training person-times, percent (seed 001), when no
/// record says.
pub const DEFAULT_POOR_SHARE_PERCENT: i64 = 40;

/// Where a target's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TargetSource {
    /// A target record (its id).
    Record {
        /// The record's id.
        id: String,
    },
    /// No record sets it: the seed's figure.
    Default,
}

/// One target value and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The figure to reach.
    pub value: i64,
    /// A record, or the seed's default.
    pub source: TargetSource,
}

impl Target {
    /// True when no record set it.
    pub fn is_default(&self) -> bool {
        self.source == TargetSource::Default
    }
}

/// The targets the overview shows for one unit and year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Targets {
    /// Training person-times in the year.
    pub training_person_times: Target,
    /// Poor women's share of the year's training person-times, percent.
    pub poor_share_percent: Target,
}

/// The targets of `org` for `year`; `counties` is how many counties its subtree holds
/// (for the city's default).
pub fn targets(
    index: &Index,
    org: OrgCode,
    year: i64,
    counties: i64,
) -> Result<Targets, IndexError> {
    let mut records = Vec::new();
    for unit in std::iter::once(org).chain(org.ancestors()) {
        for row in index.list(Kind::Target, unit.as_str()) {
            let record = row?.record;
            if !record.meta.retired && record.text("org") == Some(org.as_str()) {
                records.push(record);
            }
        }
    }
    let training_default = match org.level() {
        Level::City => DEFAULT_TRAINING_PER_COUNTY * counties.max(1),
        _ => DEFAULT_TRAINING_PER_COUNTY,
    };
    Ok(Targets {
        training_person_times: pick(&records, "training_person_times", year, training_default),
        poor_share_percent: pick(
            &records,
            "poor_share_percent",
            year,
            DEFAULT_POOR_SHARE_PERCENT,
        ),
    })
}

/// How specifically `period` names `year`: 2 for the year itself, 1 for a span
/// holding it, None if it does not hold it.
fn fit(period: &str, year: i64) -> Option<u8> {
    let period = period.trim();
    if period.parse::<i64>().ok() == Some(year) {
        return Some(2);
    }
    let (from, to) = period.split_once(['-', '–', '—', '~'])?;
    let (from, to) = (
        from.trim().parse::<i64>().ok()?,
        to.trim().parse::<i64>().ok()?,
    );
    (from..=to).contains(&year).then_some(1)
}

/// The best record for `metric` in `year`, else `default`.
fn pick(records: &[Record], metric: &str, year: i64, default: i64) -> Target {
    records
        .iter()
        .filter(|r| r.text("metric") == Some(metric))
        .filter_map(|r| Some((fit(r.text("period")?, year)?, r)))
        .filter_map(|(fit, r)| {
            Some((
                fit,
                r.meta.updated_at.as_str(),
                r.id.to_string(),
                r.int("value")?,
            ))
        })
        .max()
        .map(|(_, _, id, value)| Target {
            value,
            source: TargetSource::Record { id },
        })
        .unwrap_or(Target {
            value: default,
            source: TargetSource::Default,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_beats_a_span_and_other_years_do_not_count() {
        assert_eq!(fit("2026", 2026), Some(2));
        assert_eq!(fit("2016-2020", 2018), Some(1));
        assert_eq!(fit(" 2016 – 2020 ", 2020), Some(1));
        assert_eq!(fit("2016-2020", 2026), None);
        assert_eq!(fit("2025", 2026), None);
        assert_eq!(fit("soon", 2026), None);
    }
}
