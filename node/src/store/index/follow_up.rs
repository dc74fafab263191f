//! The index's follow-up rows: every woman under follow-up (status poor or at risk,
//! card not retired), filed under her unit and under each of its ancestors by the day
//! her follow-up period began. Any unit's overdue list is then one range scan of its
//! rows up to the cutoff day, already longest-without-a-visit first, that stops after a
//! page; before, the list read and parsed every woman of the unit (a million at a
//! city) on every request.
//!
//! # Rows (in the index's table)
//! - `f` + unit code + since + woman id → nothing, for her own unit and each
//!   ancestor. `since` is [`follow_up_since`] as `YYYY-MM-DD`, or `0000-00-00` when
//!   unknown (overdue by the rule, and listed first). Keys only: the order is all a
//!   range needs, and a page looks up the few rows it shows.
//! - `g` + woman id → since + [`FollowUp`] (JSON): what a list shows of her, and which
//!   `f` rows she has, so that a change moves them; read in id order (a unit's women
//!   share its code as the start of their ids), these are the API's pages and the
//!   lists sorted by name or filtered by helper. Kept once, not once per unit level:
//!   that halved the follow-up rows' bytes.
//!
//! Both are re-derived from her indexed row and her active pairings each time the
//! index re-derives her links (a change to her card, or to a visit or pairing of
//! hers), so incremental updates and a rebuild write the same rows.

use chrono::NaiveDate;
use halfsky_shared::local_time::Zone;
use halfsky_shared::rollup::follow_up_since;
use halfsky_shared::{Kind, OrgCode, RecordId};
use serde::{Deserialize, Serialize};

use super::{json, links_prefix, parse, Index, IndexError, IndexedRecord, Overlay};
use crate::store::{Batch, Table};

/// `since` of a woman whose follow-up period has no known beginning: before any day.
const UNKNOWN: &str = "0000-00-00";

/// Bytes of a `since` in a key (`YYYY-MM-DD`).
const SINCE_LEN: usize = 10;

/// Bytes of the tag and unit code that begin an `f` key.
const UNIT_PREFIX_LEN: usize = 13;

/// What a list shows of a woman under follow-up, kept small so that a whole unit's
/// list can be read (to sort by name, or filter by helper) without her record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    /// Her name.
    #[serde(rename = "n")]
    pub name: String,
    /// Her status code (`poor` or `at_risk`).
    #[serde(rename = "s")]
    pub status: String,
    /// Her latest visit (`YYYY-MM-DD`), if any.
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub last_visit: Option<String>,
    /// Her active helpers' names, in pairing-id order.
    #[serde(rename = "h", default, skip_serializing_if = "Vec::is_empty")]
    pub helpers: Vec<String>,
}

/// A woman under follow-up, as a list reads her from the follow-up rows.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUpRow {
    /// Her id.
    pub woman: RecordId,
    /// The day her follow-up period began (`None`: unknown).
    pub since: Option<NaiveDate>,
    /// What the list shows of her.
    pub follow_up: FollowUp,
}

fn since_text(since: Option<NaiveDate>) -> String {
    since.map_or_else(|| UNKNOWN.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

fn since_of(text: &[u8]) -> Result<Option<NaiveDate>, IndexError> {
    let text = std::str::from_utf8(text)
        .map_err(|_| IndexError::Corrupt("follow-up row: since is not text".into()))?;
    if text == UNKNOWN {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Some)
        .map_err(|e| IndexError::Corrupt(format!("follow-up row: since {text:?}: {e}")))
}

fn unit_prefix(unit: &OrgCode) -> Vec<u8> {
    let mut key = vec![b'f'];
    key.extend_from_slice(unit.as_bytes());
    key
}

fn pointer_key(woman: &str) -> Vec<u8> {
    let mut key = vec![b'g'];
    key.extend_from_slice(woman.as_bytes());
    key
}

/// Her `f` keys: one for her own unit and one for each of its ancestors.
fn unit_keys(woman: &RecordId, since: &str) -> Vec<Vec<u8>> {
    let org = woman.org();
    let id = woman.to_string();
    std::iter::once(org)
        .chain(org.ancestors())
        .map(|unit| {
            let mut key = unit_prefix(&unit);
            key.extend_from_slice(since.as_bytes());
            key.extend_from_slice(id.as_bytes());
            key
        })
        .collect()
}

/// The day her period began (as in a key) and what a list shows of her (helpers not
/// yet filled in), if she is under follow-up: the rule the rollups count by.
fn followed(row: &IndexedRecord, zone: &Zone) -> Option<(String, FollowUp)> {
    let r = &row.record;
    if r.kind() != Kind::Woman || r.meta.retired {
        return None;
    }
    let status = r.text("status").unwrap_or("poor");
    if status != "poor" && status != "at_risk" {
        return None;
    }
    let since = since_text(follow_up_since(r, &row.links, zone));
    Some((
        since,
        FollowUp {
            name: r.text("name").unwrap_or_default().to_string(),
            status: status.to_string(),
            last_visit: row.links.last_visit.clone(),
            helpers: Vec::new(),
        },
    ))
}

fn pointer_value(since: &str, entry: &FollowUp) -> Vec<u8> {
    let mut value = since.as_bytes().to_vec();
    value.extend(json(entry));
    value
}

/// Names of a woman's active helpers, as this update leaves her pairings.
fn helpers(overlay: &Overlay<'_>, woman: &str) -> Result<Vec<String>, IndexError> {
    let mut prefix = links_prefix(woman);
    prefix.push(b'P');
    let mut out = Vec::new();
    for key in overlay.keys_with_prefix(&prefix)? {
        let Ok(id) = RecordId::parse(&String::from_utf8_lossy(&key[prefix.len()..])) else {
            continue;
        };
        if let Some(pairing) = overlay.indexed(&id)? {
            if let Some(name) = pairing.record.text("helper_name") {
                out.push(name.to_string());
            }
        }
    }
    Ok(out)
}

/// The writes that move a woman's rows from `old` (her `g` value) to `new`.
fn moves(
    woman: &RecordId,
    old: Option<&[u8]>,
    new: Option<(&str, &FollowUp)>,
    mut write: impl FnMut(Vec<u8>, Option<Vec<u8>>),
) {
    if let Some(old) = old {
        let since = String::from_utf8_lossy(&old[..SINCE_LEN.min(old.len())]).to_string();
        for key in unit_keys(woman, &since) {
            write(key, None);
        }
    }
    let pointer = pointer_key(&woman.to_string());
    match new {
        Some((since, entry)) => {
            for key in unit_keys(woman, since) {
                write(key, Some(Vec::new()));
            }
            write(pointer, Some(pointer_value(since, entry)));
        }
        None => write(pointer, None),
    }
}

fn decode(since: &[u8], woman: &[u8], value: &[u8]) -> Result<FollowUpRow, IndexError> {
    let woman = RecordId::parse(&String::from_utf8_lossy(woman))
        .map_err(|e| IndexError::Corrupt(format!("follow-up row: {e}")))?;
    Ok(FollowUpRow {
        woman,
        since: since_of(since)?,
        follow_up: parse(value, "follow-up row")?,
    })
}

impl Index {
    /// Re-derives a woman's follow-up rows from her row as this update leaves it
    /// (`None`: she has none) and from her active pairings; writes only if they moved.
    pub(super) fn update_follow_up(
        &self,
        overlay: &mut Overlay<'_>,
        woman: &RecordId,
        row: Option<&IndexedRecord>,
    ) -> Result<(), IndexError> {
        let id = woman.to_string();
        let new = match row.and_then(|r| followed(r, &self.zone)) {
            Some((since, mut entry)) => {
                // Her links count her active pairings: most women have none, and then
                // there is nothing to scan.
                if row.is_some_and(|r| r.links.active_pairings > 0) {
                    entry.helpers = helpers(overlay, &id)?;
                }
                Some((since, entry))
            }
            None => None,
        };
        let old = overlay.get(&pointer_key(&id))?;
        let unchanged = match (&old, &new) {
            (Some(o), Some((since, entry))) => *o == pointer_value(since, entry),
            (None, None) => true,
            _ => false,
        };
        if unchanged {
            return Ok(());
        }
        moves(
            woman,
            old.as_deref(),
            new.as_ref().map(|(s, e)| (s.as_str(), e)),
            |key, value| match value {
                Some(v) => overlay.put(key, v),
                None => overlay.remove(key),
            },
        );
        Ok(())
    }

    /// The follow-up rows of a row [`Index::bulk_load`] writes, replacing any she had;
    /// her helpers are those of the pairing rows already in the index.
    pub(super) fn bulk_follow_up(
        &self,
        batch: &mut Batch,
        row: &IndexedRecord,
    ) -> Result<(), IndexError> {
        let woman = &row.record.id;
        let id = woman.to_string();
        let old = self.row(&pointer_key(&id))?;
        let new = match followed(row, &self.zone) {
            Some((since, entry)) if row.links.active_pairings == 0 => Some((since, entry)),
            Some((since, mut entry)) => {
                for pairing in self.active_pairings(&id)? {
                    if let Some(p) = self.get(&pairing)? {
                        if let Some(name) = p.record.text("helper_name") {
                            entry.helpers.push(name.to_string());
                        }
                    }
                }
                Some((since, entry))
            }
            None => None,
        };
        if old.is_none() && new.is_none() {
            return Ok(());
        }
        moves(
            woman,
            old.as_deref(),
            new.as_ref().map(|(s, e)| (s.as_str(), e)),
            |key, value| match value {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            },
        );
        Ok(())
    }

    /// Women under follow-up in `unit`'s subtree whose period began on a day in
    /// `from..until` (`from` `None`: from the very start, unknown beginnings first),
    /// the longest-running first, ties in id order. Reads only the rows it yields.
    pub fn follow_ups(
        &self,
        unit: &OrgCode,
        from: Option<NaiveDate>,
        until: NaiveDate,
    ) -> impl Iterator<Item = Result<FollowUpRow, IndexError>> + '_ {
        let prefix = unit_prefix(unit);
        let mut start = prefix.clone();
        if from.is_some() {
            start.extend_from_slice(since_text(from).as_bytes());
        }
        let mut end = prefix;
        end.extend_from_slice(since_text(Some(until)).as_bytes());
        self.store.range(Table::Index, &start, &end).map(|item| {
            let (key, _) = item?;
            if key.len() <= UNIT_PREFIX_LEN + SINCE_LEN {
                return Err(IndexError::Corrupt("follow-up row: short key".into()));
            }
            let (since, woman) = key[UNIT_PREFIX_LEN..].split_at(SINCE_LEN);
            let mut pointer = vec![b'g'];
            pointer.extend_from_slice(woman);
            let value = self.row(&pointer)?.ok_or_else(|| {
                IndexError::Corrupt("follow-up row without its woman's row".into())
            })?;
            decode(since, woman, value.get(SINCE_LEN..).unwrap_or_default())
        })
    }

    /// Every woman under follow-up whose unit code starts with `org_prefix`, in id
    /// order (whatever the day her period began).
    pub fn follow_ups_by_id(
        &self,
        org_prefix: &str,
    ) -> impl Iterator<Item = Result<FollowUpRow, IndexError>> + '_ {
        let mut prefix = vec![b'g'];
        prefix.extend_from_slice(org_prefix.as_bytes());
        self.store.scan_prefix(Table::Index, &prefix).map(|item| {
            let (key, value) = item?;
            if value.len() < SINCE_LEN {
                return Err(IndexError::Corrupt("follow-up row: short value".into()));
            }
            let (since, entry) = value.split_at(SINCE_LEN);
            decode(since, &key[1..], entry)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use halfsky_shared::record::{Record, RecordMeta};
    use halfsky_shared::rollup::WomanLinks;
    use halfsky_shared::Value;

    use super::*;
    use crate::store::{MemoryStore, Storage};

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn woman(seq: u64, status: &str, carded: &str) -> IndexedRecord {
        let village = OrgCode::parse("230129100201").unwrap();
        IndexedRecord {
            record: Record {
                id: RecordId::new(village, Kind::Woman, "T", seq),
                fields: [
                    ("name".to_string(), Value::Text(format!("妇女{seq}"))),
                    ("status".to_string(), Value::Text(status.into())),
                ]
                .into(),
                meta: RecordMeta {
                    created_at: carded.into(),
                    ..RecordMeta::default()
                },
            },
            links: WomanLinks::default(),
            conflicted: false,
        }
    }

    fn ids(rows: impl Iterator<Item = Result<FollowUpRow, IndexError>>) -> Vec<u64> {
        rows.map(|r| r.unwrap().woman.to_string())
            .map(|id| id.rsplit('-').next().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn ranges_read_by_day_every_unit_above_and_rows_move() {
        let store = Arc::new(MemoryStore::new());
        let index = Index::open(store.clone());
        let rows = [
            woman(1, "poor", "2026-03-01T00:00:00Z"),
            woman(2, "at_risk", "2026-01-01T00:00:00Z"),
            woman(3, "poor", "not a time"),
            woman(4, "exited", "2026-01-01T00:00:00Z"),
        ];
        index.bulk_load(&[], &rows).unwrap();
        let city = OrgCode::parse("230100000000").unwrap();
        let township = OrgCode::parse("230129100000").unwrap();
        assert_eq!(
            ids(index.follow_ups(&city, None, day("2026-12-31"))),
            vec![3, 2, 1],
            "unknown first, then the longest-running"
        );
        assert_eq!(
            ids(index.follow_ups(&township, None, day("2026-03-01"))),
            vec![3, 2],
            "up to, not at, the end day"
        );
        assert_eq!(
            ids(index.follow_ups(&city, Some(day("2026-01-01")), day("2026-12-31"))),
            vec![2, 1],
            "from a day: no unknown beginnings"
        );
        assert_eq!(ids(index.follow_ups_by_id("2301")), vec![1, 2, 3]);
        let first = index.follow_ups_by_id("").next().unwrap().unwrap();
        assert_eq!(first.since, Some(day("2026-03-01")));
        assert_eq!(first.follow_up.name, "妇女1");
        let count = || store.scan_prefix(Table::Index, b"f").count();
        assert_eq!(count(), 3 * 4, "village, township, county, city");
        index
            .bulk_load(&[], &[woman(1, "exited", "2026-03-01T00:00:00Z")])
            .unwrap();
        assert_eq!(count(), 2 * 4, "her rows went");
        assert_eq!(ids(index.follow_ups_by_id("")), vec![2, 3]);
        index
            .bulk_load(&[], &[woman(2, "poor", "2026-05-01T00:00:00Z")])
            .unwrap();
        assert_eq!(
            ids(index.follow_ups(&city, Some(day("2026-04-01")), day("2026-12-31"))),
            vec![2],
            "moved to her new day"
        );
        assert_eq!(count(), 2 * 4);
    }
}
