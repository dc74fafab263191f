//! Women overdue for a follow-up visit, by the rule of seed 002 (a visit every two
//! months): a woman under follow-up (poor or at risk) is overdue when her follow-up
//! period began more than [`OVERDUE_DAYS`] ago ([`follow_up_since`]: her latest visit,
//! or the local day her card was made) — a card made today is never overdue. "Due soon":
//! her period ends within [`DUE_SOON_DAYS`].
//!
//! The lists read the index's follow-up rows ([`crate::store::index::follow_up`]),
//! kept per unit in the order of the day each period began: the page's default list
//! (longest without a visit first) is a range scan that stops after a page, whatever
//! the unit's size; sorting by name or filtering by helper reads the unit's compact
//! rows, never its records. The API pages through the same rows in id order. Counts
//! come from the rollups, so they agree with the statistics.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use halfsky_shared::rollup::{DUE_SOON_DAYS, OVERDUE_DAYS};
use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use crate::ledger::reader::LedgerReader;
use crate::ledger::LedgerError;
use crate::store::index::follow_up::FollowUpRow;
use crate::store::index::Index;

/// One woman overdue (or due soon) for a visit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverdueRow {
    /// Her id.
    pub woman_id: String,
    /// Her name.
    pub name: String,
    /// Her village's code.
    pub village: OrgCode,
    /// Its name.
    pub village_name: String,
    /// Her status.
    pub status: String,
    /// Her latest visit, if any.
    pub last_visit: Option<String>,
    /// The day her follow-up period began (latest visit, or the day her card was made).
    pub since: Option<String>,
    /// Days since then (`None`: unknown, counted as overdue).
    pub days_since: Option<i64>,
    /// Her active helpers.
    pub helpers: Vec<String>,
}

/// What the overdue page lists: every field optional (`?unit=&helper=&due=&sort=`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OverdueFilter {
    /// A township or village code below the page's unit: only its women.
    pub unit: Option<String>,
    /// Only women one of whose active helpers' names contains this.
    pub helper: Option<String>,
    /// `soon`: women due within [`DUE_SOON_DAYS`] instead of those already overdue.
    pub due: Option<String>,
    /// `days` (default: longest without a visit first), `name` or `village`.
    pub sort: Option<String>,
}

impl OverdueFilter {
    /// Whether it lists women due soon rather than overdue.
    pub fn due_soon(&self) -> bool {
        self.due.as_deref() == Some("soon")
    }

    /// The unit whose women are listed: `unit` if it is `org` or below it, else `org`.
    pub fn scope(&self, org: OrgCode) -> OrgCode {
        self.unit
            .as_deref()
            .and_then(|u| OrgCode::parse(u.trim()).ok())
            .filter(|u| u.is_in_subtree_of(&org))
            .unwrap_or(org)
    }
}

/// The days a list takes: periods that began in `from..until` (`from` `None`: from
/// the very start, unknown beginnings included).
#[derive(Debug, Clone, Copy)]
struct Window {
    from: Option<NaiveDate>,
    until: NaiveDate,
}

impl Window {
    /// Overdue today, or (`soon`) due within [`DUE_SOON_DAYS`].
    fn of(today: NaiveDate, soon: bool) -> Window {
        let cut = cutoff(today);
        if soon {
            Window {
                from: Some(cut),
                until: cut + Duration::days(DUE_SOON_DAYS),
            }
        } else {
            Window {
                from: None,
                until: cut,
            }
        }
    }

    fn holds(&self, since: Option<NaiveDate>) -> bool {
        match since {
            None => self.from.is_none(),
            Some(d) => self.from.is_none_or(|f| d >= f) && d < self.until,
        }
    }

    /// How many women of `scope` it holds, from the rollups (as the statistics count).
    fn count(&self, ledger: &LedgerReader, scope: OrgCode) -> Result<usize, LedgerError> {
        let sums = ledger.subtree_rollup(scope)?;
        let until = day(self.until);
        let by_day = &sums.followed_by_last_visit;
        let n: i64 = match self.from {
            None => by_day.range(..until).map(|(_, n)| n).sum(),
            Some(from) => by_day.range(day(from)..until).map(|(_, n)| n).sum(),
        };
        Ok(n.max(0) as usize)
    }
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Women under `org` overdue for a visit, in id order: at most `limit` rows after the
/// first `skip` (the scan stops there), and the total count (from the rollups, the same
/// figure as the statistics; `known_count` if the caller already has that figure).
pub fn overdue(
    ledger: &LedgerReader,
    org: OrgCode,
    today: NaiveDate,
    skip: usize,
    limit: usize,
    known_count: Option<i64>,
) -> Result<(Vec<OverdueRow>, usize), LedgerError> {
    let window = Window::of(today, false);
    let count = match known_count {
        Some(n) => n.max(0) as usize,
        None => window.count(ledger, org)?,
    };
    let mut names = BTreeMap::new();
    let mut out = Vec::new();
    let mut skipped = 0;
    for row in ledger.index().follow_ups_by_id(org.subtree_prefix()) {
        if out.len() >= limit {
            break;
        }
        let row = row?;
        if !window.holds(row.since) {
            continue;
        }
        if skipped < skip {
            skipped += 1;
            continue;
        }
        out.push(build(ledger, &mut names, row, today)?);
    }
    Ok((out, count))
}

/// The page's list: women under `org` matching `filter`, sorted as it asks; at most
/// `limit` rows, and how many match in all.
pub fn overdue_list(
    ledger: &LedgerReader,
    org: OrgCode,
    today: NaiveDate,
    filter: &OverdueFilter,
    limit: usize,
) -> Result<(Vec<OverdueRow>, usize), LedgerError> {
    let window = Window::of(today, filter.due_soon());
    let helper = filter
        .helper
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty());
    let scope = filter.scope(org);
    let index = ledger.index();
    let sort = filter.sort.as_deref();
    let (rows, count) = match (helper, sort) {
        // A page straight from the unit's rows, already in order.
        (None, Some("village")) => (
            by_village(index, scope, window, limit)?,
            window.count(ledger, scope)?,
        ),
        (None, s) if s != Some("name") => (
            first(index, scope, window, limit)?,
            window.count(ledger, scope)?,
        ),
        // The unit's whole list (compact rows), then filtered and sorted.
        _ => {
            // One pass over the unit's `g` rows (one per woman, in id order), which
            // carry what a list shows: no lookup per row.
            let mut all = Vec::new();
            for row in index.follow_ups_by_id(scope.subtree_prefix()) {
                let row = row?;
                if window.holds(row.since)
                    && helper.is_none_or(|h| row.follow_up.helpers.iter().any(|n| n.contains(h)))
                {
                    all.push(row);
                }
            }
            let count = all.len();
            // Longest-running first (unknown beginnings first of all), ties in id order;
            // the sorts below are stable.
            all.sort_by_key(|r| r.since);
            match sort {
                Some("name") => all.sort_by(|a, b| {
                    a.follow_up
                        .name
                        .cmp(&b.follow_up.name)
                        .then_with(|| a.woman.to_string().cmp(&b.woman.to_string()))
                }),
                Some("village") => all.sort_by_key(|r| r.woman.org()),
                _ => {}
            }
            all.truncate(limit);
            (all, count)
        }
    };
    let mut names = BTreeMap::new();
    let rows = rows
        .into_iter()
        .map(|row| build(ledger, &mut names, row, today))
        .collect::<Result<_, _>>()?;
    Ok((rows, count))
}

/// The first `limit` rows of `scope` in `window`, longest-running first.
fn first(
    index: &Index,
    scope: OrgCode,
    window: Window,
    limit: usize,
) -> Result<Vec<FollowUpRow>, LedgerError> {
    Ok(index
        .follow_ups(&scope, window.from, window.until)
        .take(limit)
        .collect::<Result<_, _>>()?)
}

/// The first `limit` rows of `scope` in `window` by village, each village's
/// longest-running first: read in id order (a woman's id begins with her village's
/// code, so a village's women are adjacent), stopping after the village that fills
/// the page.
fn by_village(
    index: &Index,
    scope: OrgCode,
    window: Window,
    limit: usize,
) -> Result<Vec<FollowUpRow>, LedgerError> {
    let mut out: Vec<FollowUpRow> = Vec::new();
    let mut village: Vec<FollowUpRow> = Vec::new();
    let flush = |village: &mut Vec<FollowUpRow>, out: &mut Vec<FollowUpRow>| {
        // In id order already: a stable sort keeps ties so.
        village.sort_by_key(|r| r.since);
        out.append(village);
    };
    for row in index.follow_ups_by_id(scope.subtree_prefix()) {
        let row = row?;
        if !window.holds(row.since) {
            continue;
        }
        if village
            .last()
            .is_some_and(|v| v.woman.org() != row.woman.org())
        {
            flush(&mut village, &mut out);
            if out.len() >= limit {
                break;
            }
        }
        village.push(row);
    }
    flush(&mut village, &mut out);
    out.truncate(limit);
    Ok(out)
}

/// The cutoff day: a follow-up period that began before it is over.
pub fn cutoff(today: NaiveDate) -> NaiveDate {
    today - Duration::days(OVERDUE_DAYS)
}

fn build(
    ledger: &LedgerReader,
    names: &mut BTreeMap<OrgCode, String>,
    row: FollowUpRow,
    today: NaiveDate,
) -> Result<OverdueRow, LedgerError> {
    let village = row.woman.org();
    let village_name = match names.get(&village) {
        Some(n) => n.clone(),
        None => {
            let n = ledger.index().name(&village)?.unwrap_or_default();
            names.insert(village, n.clone());
            n
        }
    };
    let f = row.follow_up;
    Ok(OverdueRow {
        woman_id: row.woman.to_string(),
        name: f.name,
        village,
        village_name,
        status: f.status,
        last_visit: f.last_visit,
        since: row.since.map(day),
        days_since: row.since.map(|d| (today - d).num_days()),
        helpers: f.helpers,
    })
}

#[cfg(test)]
mod tests;
