//! The targets (目标任务) of a unit, drawn at the level they belong to.
//!
//! A target record (`Kind::Target`: org, metric, period, value) belongs to the unit its
//! `org` names, normally the city or a county; it is kept in the document of the unit
//! that set it (that unit or one above). What each overview shows:
//! - **its own targets**: every record for the unit, any metric and period, with the
//!   unit's own measured figure beside it; a county also gets the seed's yearly training
//!   targets (300 person-times, poor women ≥ 40 %) when no record sets them, marked as
//!   defaults;
//! - at the **city**: how many of its counties reached their own yearly training target
//!   (the seed's rule is per county, so the city's sum says nothing about it);
//! - at a **township or village**: its share of its county's yearly training target
//!   ("15 of the county's 300"), never the county's target as its own.
//!
//! Of several records for one unit and metric in a period, the latest written wins.

use std::collections::BTreeMap;

use halfsky_shared::org::Level;
use halfsky_shared::rollup::StatsReport;
use halfsky_shared::{Kind, OrgCode, Record};
use serde::Serialize;

use crate::ledger::reader::LedgerReader;
use crate::ledger::LedgerError;

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

/// One target of a unit and how far the unit is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetLine {
    /// The metric's code (`training_person_times`, `insured`…).
    pub metric: String,
    /// The period as written (`2026`, `2016-2020`).
    pub period: String,
    /// The figure to reach.
    pub value: i64,
    /// A record, or the seed's default.
    pub source: TargetSource,
    /// The unit's figure: for a period that is the current year, this year's; for
    /// another period, everything recorded (said so by `actual_is_this_year`). `None`
    /// when the ledger does not measure the metric.
    pub actual: Option<f64>,
    /// `actual` counts this year only.
    pub actual_is_this_year: bool,
}

impl TargetLine {
    /// True when no record set it.
    pub fn is_default(&self) -> bool {
        self.source == TargetSource::Default
    }

    /// Reached: the measured figure is at least the target.
    pub fn reached(&self) -> Option<bool> {
        self.actual.map(|a| a >= self.value as f64)
    }
}

/// A township's or village's part in its county's yearly training target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountyShare {
    /// The county.
    pub county: OrgCode,
    /// The county's target (record or default).
    pub target: TargetLine,
    /// This unit's person-times this year.
    pub own: i64,
    /// The whole county's person-times this year, if this node holds the county.
    pub county_total: Option<i64>,
}

/// The city's view of the per-county rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountiesReached {
    /// Counties whose person-times this year reached their own target.
    pub reached: usize,
    /// Counties below the city.
    pub of: usize,
    /// Each county: its target and its person-times this year.
    pub counties: Vec<(OrgCode, i64, i64)>,
}

/// Everything the overview shows of targets for one unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelTargets {
    /// Targets that belong to this unit.
    pub own: Vec<TargetLine>,
    /// At the city: how many counties reached their yearly training target.
    pub counties: Option<CountiesReached>,
    /// Below a county: this unit's share of the county's yearly training target.
    pub share_of_county: Option<CountyShare>,
}

/// Target records for `org`, from its document and its ancestors' (not retired).
fn records_for(ledger: &LedgerReader, org: OrgCode) -> Result<Vec<Record>, LedgerError> {
    let mut out = Vec::new();
    for unit in std::iter::once(org).chain(org.ancestors()) {
        for row in ledger.index().list(Kind::Target, unit.as_str()) {
            let record = row?.record;
            if !record.meta.retired
                && record.id.org() == unit
                && record.text("org") == Some(org.as_str())
            {
                out.push(record);
            }
        }
    }
    Ok(out)
}

/// The latest written record per (metric, period).
fn latest(records: Vec<Record>) -> BTreeMap<(String, String), Record> {
    let mut out: BTreeMap<(String, String), Record> = BTreeMap::new();
    for r in records {
        let (Some(metric), Some(period)) = (r.text("metric"), r.text("period")) else {
            continue;
        };
        let key = (metric.to_string(), period.trim().to_string());
        let newer = out.get(&key).is_none_or(|o| {
            (&r.meta.updated_at, r.id.to_string()) > (&o.meta.updated_at, o.id.to_string())
        });
        if newer {
            out.insert(key, r);
        }
    }
    out
}

/// The unit's figure for `metric`: this year's if `this_year`, else all recorded.
fn measured(
    ledger: &LedgerReader,
    stats: &StatsReport,
    metric: &str,
    this_year: bool,
) -> Result<Option<f64>, LedgerError> {
    let t = &stats.trainings;
    let bases = |wanted: &dyn Fn(&Record) -> bool| -> Result<Option<f64>, LedgerError> {
        let rows = ledger.list(Kind::Base, stats.org.subtree_prefix(), false)?;
        Ok(Some(
            rows.iter().filter(|r| wanted(&r.record)).count() as f64
        ))
    };
    Ok(match metric {
        "training_person_times" if this_year => Some(t.person_times_this_year as f64),
        "training_person_times" => Some(t.person_times as f64),
        "poor_share_percent" => t.poor_share_percent_this_year,
        "exits" if this_year => Some(stats.exits_this_year as f64),
        "exits" => Some(stats.women.by_status.of("exited") as f64),
        "insured" => Some(stats.insured as f64),
        "city_bases" => bases(&|r| r.text("level") == Some("city"))?,
        "handicraft_bases" => bases(&|r| r.text("kind") == Some("handicraft"))?,
        _ => None,
    })
}

/// The targets that belong to `stats.org`, with its figures.
fn own_targets(ledger: &LedgerReader, stats: &StatsReport) -> Result<Vec<TargetLine>, LedgerError> {
    let year = stats.trainings.year.to_string();
    let mut lines = Vec::new();
    let set = latest(records_for(ledger, stats.org)?);
    for ((metric, period), record) in &set {
        let Some(value) = record.int("value") else {
            continue;
        };
        let this_year = *period == year;
        lines.push(TargetLine {
            actual: measured(ledger, stats, metric, this_year)?,
            actual_is_this_year: this_year,
            metric: metric.clone(),
            period: period.clone(),
            value,
            source: TargetSource::Record {
                id: record.id.to_string(),
            },
        });
    }
    if stats.org.level() == Level::County {
        for (metric, value) in [
            ("training_person_times", DEFAULT_TRAINING_PER_COUNTY),
            ("poor_share_percent", DEFAULT_POOR_SHARE_PERCENT),
        ] {
            if !set.contains_key(&(metric.to_string(), year.clone())) {
                lines.push(TargetLine {
                    actual: measured(ledger, stats, metric, true)?,
                    actual_is_this_year: true,
                    metric: metric.into(),
                    period: year.clone(),
                    value,
                    source: TargetSource::Default,
                });
            }
        }
    }
    Ok(lines)
}

/// A county's training target for `year` (its record for that year, else the seed's
/// default), without its measured figure.
fn county_training_target(
    ledger: &LedgerReader,
    county: OrgCode,
    year: i64,
) -> Result<TargetLine, LedgerError> {
    let year = year.to_string();
    let set = latest(records_for(ledger, county)?);
    let key = ("training_person_times".to_string(), year.clone());
    let (value, source) = match set.get(&key).and_then(|r| Some((r.int("value")?, r))) {
        Some((value, r)) => (
            value,
            TargetSource::Record {
                id: r.id.to_string(),
            },
        ),
        None => (DEFAULT_TRAINING_PER_COUNTY, TargetSource::Default),
    };
    Ok(TargetLine {
        metric: key.0,
        period: year,
        value,
        source,
        actual: None,
        actual_is_this_year: true,
    })
}

/// The targets the overview of `stats.org` shows.
pub fn level_targets(
    ledger: &LedgerReader,
    stats: &StatsReport,
) -> Result<LevelTargets, LedgerError> {
    let org = stats.org;
    let own = own_targets(ledger, stats)?;
    let year = stats.trainings.year;
    let counties = if org.level() == Level::City {
        let mut rows = Vec::new();
        for child in &stats.children {
            let target = county_training_target(ledger, child.org, year)?;
            rows.push((
                child.org,
                target.value,
                child.training_person_times_this_year,
            ));
        }
        Some(CountiesReached {
            reached: rows.iter().filter(|(_, t, a)| a >= t).count(),
            of: rows.len(),
            counties: rows,
        })
    } else {
        None
    };
    // The county's whole figure only where this node holds the whole county.
    let holds_county = |county: &OrgCode| county.is_in_subtree_of(&ledger.org());
    let share_of_county = match org.ancestor_at(Level::County) {
        Some(county) if county != org => Some(CountyShare {
            county,
            target: county_training_target(ledger, county, year)?,
            own: stats.trainings.person_times_this_year,
            county_total: if holds_county(&county) {
                Some(ledger.stats(county)?.trainings.person_times_this_year)
            } else {
                None
            },
        }),
        _ => None,
    };
    Ok(LevelTargets {
        own,
        counties,
        share_of_county,
    })
}
