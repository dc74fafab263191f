//! Women overdue for a follow-up visit, by the rule of seed 002 (a visit every two
//! months): a woman under follow-up (poor or at risk) is overdue when her follow-up
//! period began more than [`OVERDUE_DAYS`] ago ([`follow_up_since`]: her latest visit,
//! or the local day her card was made) — a card made today is never overdue. "Due soon":
//! her period ends within [`DUE_SOON_DAYS`].
//!
//! The page list is filtered (a township or village below the page's unit, a helper's
//! name) and sorted (days since the period began, name, village) here; the API pages
//! through the same rows in id order. Counts agree with the statistics: both follow the
//! one rule.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use halfsky_shared::rollup::{follow_up_since, DUE_SOON_DAYS, OVERDUE_DAYS};
use halfsky_shared::{Kind, OrgCode};
use serde::{Deserialize, Serialize};

use crate::ledger::reader::LedgerReader;
use crate::ledger::LedgerError;
use crate::store::index::IndexedRecord;

/// One woman overdue (or due soon) for a visit.
#[derive(Debug, Clone, Serialize)]
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

/// Which side of the rule a woman is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Overdue,
    Soon,
}

/// Whether a woman is overdue or due soon today, and since when; `None` when she is
/// neither (or not under follow-up).
fn due(
    row: &IndexedRecord,
    today: NaiveDate,
    ledger: &LedgerReader,
) -> Option<(Due, Option<NaiveDate>)> {
    let r = &row.record;
    if r.meta.retired {
        return None;
    }
    let status = r.text("status").unwrap_or("poor");
    if status != "poor" && status != "at_risk" {
        return None;
    }
    let since = follow_up_since(r, &row.links, &ledger.index().zone());
    let Some(day) = since else {
        return Some((Due::Overdue, None));
    };
    let days = (today - day).num_days();
    if days > OVERDUE_DAYS {
        Some((Due::Overdue, since))
    } else if days > OVERDUE_DAYS - DUE_SOON_DAYS {
        Some((Due::Soon, since))
    } else {
        None
    }
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
    let count = match known_count {
        Some(n) => n as usize,
        None => {
            let mut total = halfsky_shared::rollup::Rollup::default();
            for (_, rollup) in ledger.index().rollups(org.subtree_prefix())? {
                total.merge(&rollup, 1);
            }
            total.overdue_women(today) as usize
        }
    };
    let mut names = BTreeMap::new();
    let mut out = Vec::new();
    let mut skipped = 0;
    for row in ledger.index().list(Kind::Woman, org.subtree_prefix()) {
        if out.len() >= limit {
            break;
        }
        let row = row?;
        let Some((Due::Overdue, since)) = due(&row, today, ledger) else {
            continue;
        };
        if skipped < skip {
            skipped += 1;
            continue;
        }
        out.push(build(ledger, &mut names, &row, since, today)?);
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
    let wanted = if filter.due_soon() {
        Due::Soon
    } else {
        Due::Overdue
    };
    let helper = filter
        .helper
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty());
    let scope = filter.scope(org);
    let mut names = BTreeMap::new();
    let mut out = Vec::new();
    for row in ledger.index().list(Kind::Woman, scope.subtree_prefix()) {
        let row = row?;
        match due(&row, today, ledger) {
            Some((d, since)) if d == wanted => {
                let built = build(ledger, &mut names, &row, since, today)?;
                if helper.is_none_or(|h| built.helpers.iter().any(|n| n.contains(h))) {
                    out.push(built);
                }
            }
            _ => {}
        }
    }
    match filter.sort.as_deref() {
        Some("name") => out.sort_by(|a, b| a.name.cmp(&b.name).then(a.woman_id.cmp(&b.woman_id))),
        Some("village") => out.sort_by(|a, b| {
            a.village
                .cmp(&b.village)
                .then(b.days_since.cmp(&a.days_since))
        }),
        // Longest without a visit first; unknown beginnings first of all.
        _ => out.sort_by(|a, b| {
            let key = |r: &OverdueRow| r.days_since.map_or(i64::MAX, |d| d);
            key(b).cmp(&key(a)).then(a.woman_id.cmp(&b.woman_id))
        }),
    }
    let count = out.len();
    out.truncate(limit);
    Ok((out, count))
}

/// The cutoff day: a follow-up period that began before it is over.
pub fn cutoff(today: NaiveDate) -> NaiveDate {
    today - Duration::days(OVERDUE_DAYS)
}

fn build(
    ledger: &LedgerReader,
    names: &mut BTreeMap<OrgCode, String>,
    row: &IndexedRecord,
    since: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<OverdueRow, LedgerError> {
    let r = &row.record;
    let village = r.id.org();
    let village_name = match names.get(&village) {
        Some(n) => n.clone(),
        None => {
            let n = ledger.index().name(&village)?.unwrap_or_default();
            names.insert(village, n.clone());
            n
        }
    };
    let mut helpers = Vec::new();
    for p in ledger.index().active_pairings(&r.id.to_string())? {
        if let Some(pr) = ledger.index().get(&p)? {
            if let Some(h) = pr.record.text("helper_name") {
                helpers.push(h.to_string());
            }
        }
    }
    Ok(OverdueRow {
        woman_id: r.id.to_string(),
        name: r.text("name").unwrap_or_default().to_string(),
        village,
        village_name,
        status: r.text("status").unwrap_or("poor").to_string(),
        last_visit: row.links.last_visit.clone(),
        since: since.map(|d| d.format("%Y-%m-%d").to_string()),
        days_since: since.map(|d| (today - d).num_days()),
        helpers,
    })
}
