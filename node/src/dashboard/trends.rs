//! By help path, by cause and over time, for any unit: exits and measures by the six
//! help paths (技能/产业/基地/资金/示范/健康) and by poverty cause, and month by month
//! over the last year the women carded, exits, returns to poverty, visits and training
//! person-times. Read from the records of the unit's subtree.
//!
//! An exit's path is the path of the measures recorded for that woman (a woman helped
//! by two paths counts under both; one with no measure recorded under `none`). A return
//! to poverty is a woman with an exit date whose status is poor or at risk again; its
//! month is when her status was set back, read from her history.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use halfsky_shared::schema::enums::STATUS;
use halfsky_shared::schema::parse_date;
use halfsky_shared::{Kind, OrgCode};
use serde::Serialize;

use crate::ledger::reader::LedgerReader;
use crate::ledger::LedgerError;

/// Months the series cover, the current one last.
pub const MONTHS: usize = 12;

/// The figures of one unit by path, cause and month.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trends {
    /// First days of the months of the series, oldest first.
    pub months: Vec<NaiveDate>,
    /// Women carded per month.
    pub registered: Vec<i64>,
    /// Exits per month (by exit date).
    pub exits: Vec<i64>,
    /// Returns to poverty per month.
    pub returns: Vec<i64>,
    /// Visits per month.
    pub visits: Vec<i64>,
    /// Training person-times per month.
    pub training_person_times: Vec<i64>,
    /// Exited women by the path of their measures (`none`: no measure recorded).
    pub exits_by_path: BTreeMap<String, i64>,
    /// Exited women by poverty cause.
    pub exits_by_cause: BTreeMap<String, i64>,
    /// Measures by path.
    pub measures_by_path: BTreeMap<String, i64>,
    /// Measures by the poverty cause of the woman helped.
    pub measures_by_cause: BTreeMap<String, i64>,
}

/// The index of `day`'s month in `months`, if it is one of them.
fn slot(months: &[NaiveDate], day: Option<NaiveDate>) -> Option<usize> {
    let day = day?;
    months
        .iter()
        .position(|m| m.year() == day.year() && m.month() == day.month())
}

/// The first days of the `n` months ending with `today`'s, oldest first.
pub fn last_months(today: NaiveDate, n: usize) -> Vec<NaiveDate> {
    let mut out = Vec::with_capacity(n);
    let (mut y, mut m) = (today.year(), today.month());
    for _ in 0..n {
        out.push(NaiveDate::from_ymd_opt(y, m, 1).expect("a month's first day"));
        (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    }
    out.reverse();
    out
}

/// The trends of `org`'s subtree, as of today.
pub fn trends(ledger: &LedgerReader, org: OrgCode) -> Result<Trends, LedgerError> {
    let prefix = org.subtree_prefix();
    let zone = ledger.index().zone();
    let months = last_months(ledger.today(), MONTHS);
    let mut t = Trends {
        registered: vec![0; months.len()],
        exits: vec![0; months.len()],
        returns: vec![0; months.len()],
        visits: vec![0; months.len()],
        training_person_times: vec![0; months.len()],
        ..Trends::default()
    };
    let mut paths_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let measures = ledger.list(Kind::Measure, prefix, false)?;
    for m in &measures {
        if let (Some(woman), Some(path)) = (m.record.text("woman_id"), m.record.text("path")) {
            paths_of
                .entry(woman.to_string())
                .or_default()
                .push(path.to_string());
            *t.measures_by_path.entry(path.to_string()).or_insert(0) += 1;
        }
    }
    let mut causes_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut candidates: BTreeMap<OrgCode, Vec<halfsky_shared::RecordId>> = BTreeMap::new();
    for w in ledger.list(Kind::Woman, prefix, false)? {
        let r = &w.record;
        let id = r.id.to_string();
        let causes: Vec<String> = r.list("poverty_causes").to_vec();
        if let Some(i) = slot(&months, zone.day_of_stamp(&r.meta.created_at)) {
            t.registered[i] += 1;
        }
        let exit = r.text("exit_date").and_then(parse_date);
        let status = r.text("status").unwrap_or_default();
        if status == "exited" {
            if let Some(i) = slot(&months, exit) {
                t.exits[i] += 1;
            }
            let mut paths = paths_of.get(&id).cloned().unwrap_or_default();
            paths.sort();
            paths.dedup();
            if paths.is_empty() {
                paths.push("none".into());
            }
            for p in paths {
                *t.exits_by_path.entry(p).or_insert(0) += 1;
            }
            for c in &causes {
                *t.exits_by_cause.entry(c.clone()).or_insert(0) += 1;
            }
        } else if (status == "poor" || status == "at_risk")
            && zone.day_of_stamp(&r.meta.updated_at) >= months.first().copied()
        {
            // Possibly back in poverty after an exit within the series: her history says.
            candidates.entry(r.id.org()).or_default().push(r.id.clone());
        }
        causes_of.insert(id, causes);
    }
    for (unit, ids) in candidates {
        for history in ledger.histories(unit, &ids)? {
            if let Some(i) = slot(&months, returned_on(&history, &zone)) {
                t.returns[i] += 1;
            }
        }
    }
    for m in &measures {
        let causes = m
            .record
            .text("woman_id")
            .and_then(|w| causes_of.get(w))
            .cloned()
            .unwrap_or_default();
        for c in causes {
            *t.measures_by_cause.entry(c).or_insert(0) += 1;
        }
    }
    for v in ledger.list(Kind::Visit, prefix, false)? {
        if let Some(i) = slot(&months, v.record.text("date").and_then(parse_date)) {
            t.visits[i] += 1;
        }
    }
    for tr in ledger.list(Kind::Training, prefix, false)? {
        if let Some(i) = slot(&months, tr.record.text("date").and_then(parse_date)) {
            t.training_person_times[i] += tr.record.list("attendees").len() as i64
                + tr.record.int("others_count").unwrap_or(0);
        }
    }
    t.months = months;
    Ok(t)
}

/// The day a woman's status was last set back to poor or at risk after having been
/// exited, from her history (oldest first); `None` if it never was.
fn returned_on(
    history: &[halfsky_shared::ledger_doc::HistoryEntry],
    zone: &halfsky_shared::local_time::Zone,
) -> Option<NaiveDate> {
    let mut exited = false;
    let mut back = None;
    for entry in history {
        for (field, value) in &entry.values {
            if field != "status" {
                continue;
            }
            match STATUS.resolve(value) {
                Some("exited") => exited = true,
                Some("poor" | "at_risk") if exited => {
                    back = chrono::DateTime::from_timestamp(entry.time, 0).map(|t| zone.day_of(t));
                }
                _ => {}
            }
        }
    }
    back
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_twelve_months_cross_the_new_year() {
        let months = last_months(NaiveDate::from_ymd_opt(2026, 2, 17).unwrap(), 12);
        assert_eq!(months.len(), 12);
        assert_eq!(months[0], NaiveDate::from_ymd_opt(2025, 3, 1).unwrap());
        assert_eq!(months[11], NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(slot(&months, day(2025, 12, 31)), Some(9));
        assert_eq!(
            slot(&months, day(2025, 2, 28)),
            None,
            "a month before the series"
        );
        assert_eq!(slot(&months, None), None);
    }
}
