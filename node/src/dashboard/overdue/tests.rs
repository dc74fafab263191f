//! The lists read from the follow-up rows against the full scan of every woman they
//! replaced (kept here as the oracle), on a generated city of three villages in two
//! townships; and women moving in and out of the lists as visits, pairings, status and
//! retirement change, with a rebuild writing the same rows.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use halfsky_shared::record::{Record, RecordMeta};
use halfsky_shared::rollup::WomanLinks;
use halfsky_shared::synthetic::Generator;
use halfsky_shared::{Kind, OrgCode, RecordId, Value};
use rand::{Rng, SeedableRng};

use super::*;
use crate::config::NodeHome;
use crate::ledger::testing::{self, Village};
use crate::ledger::Ledger;
use crate::store::index::IndexedRecord;
use crate::store::{MemoryStore, Storage, Table};

/// The full scan the follow-up rows replaced: every woman of the scope read, parsed,
/// judged and sorted on each request. Village order puts unknown beginnings first, as
/// the default order does.
mod oracle {
    use super::*;
    use halfsky_shared::rollup::follow_up_since;

    #[derive(PartialEq)]
    enum Due {
        Overdue,
        Soon,
    }

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
        let Some(day) = follow_up_since(r, &row.links, &ledger.index().zone()) else {
            return Some((Due::Overdue, None));
        };
        let days = (today - day).num_days();
        if days > OVERDUE_DAYS {
            Some((Due::Overdue, Some(day)))
        } else if days > OVERDUE_DAYS - DUE_SOON_DAYS {
            Some((Due::Soon, Some(day)))
        } else {
            None
        }
    }

    fn build(
        ledger: &LedgerReader,
        row: &IndexedRecord,
        since: Option<NaiveDate>,
        today: NaiveDate,
    ) -> OverdueRow {
        let r = &row.record;
        let mut helpers = Vec::new();
        for p in ledger.index().active_pairings(&r.id.to_string()).unwrap() {
            if let Some(pr) = ledger.index().get(&p).unwrap() {
                if let Some(h) = pr.record.text("helper_name") {
                    helpers.push(h.to_string());
                }
            }
        }
        OverdueRow {
            woman_id: r.id.to_string(),
            name: r.text("name").unwrap_or_default().to_string(),
            village: r.id.org(),
            village_name: ledger
                .index()
                .name(&r.id.org())
                .unwrap()
                .unwrap_or_default(),
            status: r.text("status").unwrap_or("poor").to_string(),
            last_visit: row.links.last_visit.clone(),
            since: since.map(|d| d.format("%Y-%m-%d").to_string()),
            days_since: since.map(|d| (today - d).num_days()),
            helpers,
        }
    }

    pub fn overdue(
        ledger: &LedgerReader,
        org: OrgCode,
        today: NaiveDate,
        skip: usize,
        limit: usize,
    ) -> Vec<OverdueRow> {
        ledger
            .index()
            .list(Kind::Woman, org.subtree_prefix())
            .map(Result::unwrap)
            .filter_map(|row| match due(&row, today, ledger) {
                Some((Due::Overdue, since)) => Some(build(ledger, &row, since, today)),
                _ => None,
            })
            .skip(skip)
            .take(limit)
            .collect()
    }

    pub fn overdue_list(
        ledger: &LedgerReader,
        org: OrgCode,
        today: NaiveDate,
        filter: &OverdueFilter,
        limit: usize,
    ) -> (Vec<OverdueRow>, usize) {
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
        let mut out = Vec::new();
        for row in ledger
            .index()
            .list(Kind::Woman, filter.scope(org).subtree_prefix())
        {
            let row = row.unwrap();
            match due(&row, today, ledger) {
                Some((d, since)) if d == wanted => {
                    let built = build(ledger, &row, since, today);
                    if helper.is_none_or(|h| built.helpers.iter().any(|n| n.contains(h))) {
                        out.push(built);
                    }
                }
                _ => {}
            }
        }
        let key = |r: &OverdueRow| r.days_since.map_or(i64::MAX, |d| d);
        match filter.sort.as_deref() {
            Some("name") => {
                out.sort_by(|a, b| a.name.cmp(&b.name).then(a.woman_id.cmp(&b.woman_id)))
            }
            Some("village") => {
                out.sort_by(|a, b| a.village.cmp(&b.village).then(key(b).cmp(&key(a))))
            }
            _ => out.sort_by(|a, b| key(b).cmp(&key(a)).then(a.woman_id.cmp(&b.woman_id))),
        }
        let count = out.len();
        out.truncate(limit);
        (out, count)
    }
}

const CITY: &str = "230100000000";
const VILLAGES: [&str; 3] = ["230129100201", "230129100202", "230129101203"];

/// The day the lists are read: 90 days after the cards were made (today).
fn read_day(ledger: &Ledger) -> NaiveDate {
    ledger.index().zone().day_of(chrono::Utc::now()) + Duration::days(90)
}

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).expect("valid code")
}

fn ledger_of(dir: &std::path::Path, code: &str, name: &str) -> Ledger {
    let home = NodeHome::new(dir.join(code));
    home.init_with(
        org(code),
        name,
        "test",
        None,
        Some("127.0.0.1:9".into()),
        None,
    )
    .expect("init");
    Ledger::open_in(&home, Arc::new(MemoryStore::new())).expect("open")
}

/// A city holding three generated villages' documents (women of every status, visits
/// over the last 120 days, pairings with helpers), plus two women filled into its
/// index directly whose follow-up has no known beginning. Returns it, the day to
/// read it on and a helper's name.
fn city(dir: &std::path::Path) -> (Ledger, NaiveDate, String) {
    let mut city = ledger_of(dir, CITY, "哈尔滨市");
    let day = read_day(&city);
    city.set_today(day);
    let mut helper = String::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for (n, code) in VILLAGES.iter().enumerate() {
        let mut village = ledger_of(dir, code, &format!("村{n}"));
        village.set_today(day);
        let mut generator = Generator::new(20 + n as u64, day);
        for _ in 0..40 {
            let woman = village
                .add(Kind::Woman, &generator.woman(&org(code), None))
                .expect("woman");
            for _ in 0..rng.random_range(0..3) {
                village
                    .add(Kind::Visit, &generator.visit(&woman, 120))
                    .expect("visit");
            }
            if rng.random_bool(0.4) {
                let pairing = generator.pairing(&woman);
                helper = pairing[1].1.clone();
                village.add(Kind::Pairing, &pairing).expect("pairing");
            }
        }
        let stored = village.store().load(&org(code)).unwrap().unwrap();
        let mut doc = automerge::AutoCommit::load(&stored.concatenated()).unwrap();
        city.apply_changes(org(code), doc.get_changes(&[]))
            .expect("apply");
    }
    let unknown: Vec<IndexedRecord> = (1..=2)
        .map(|seq| IndexedRecord {
            record: Record {
                id: RecordId::new(org(VILLAGES[seq as usize]), Kind::Woman, "OLD", seq),
                fields: [
                    ("name".to_string(), Value::Text("赵老".into())),
                    ("status".to_string(), Value::Text("poor".into())),
                ]
                .into(),
                meta: RecordMeta::default(),
            },
            links: WomanLinks::default(),
            conflicted: false,
        })
        .collect();
    city.index().bulk_load(&[], &unknown).expect("bulk load");
    (city, day, helper)
}

fn filter(
    unit: Option<&str>,
    helper: Option<&str>,
    due: Option<&str>,
    sort: Option<&str>,
) -> OverdueFilter {
    OverdueFilter {
        unit: unit.map(str::to_string),
        helper: helper.map(str::to_string),
        due: due.map(str::to_string),
        sort: sort.map(str::to_string),
    }
}

#[test]
fn lists_equal_the_full_scan_of_every_woman() {
    let dir = tempfile::tempdir().unwrap();
    let (city, day, helper) = city(dir.path());
    let reader = city.reader();
    let scopes = [CITY, "230129000000", "230129100000", "230129101000"]
        .into_iter()
        .chain(VILLAGES);
    let helper_part: String = helper.chars().take(1).collect();
    let mut seen = (0, 0, 0, 0);
    for scope in scopes {
        for unit in [None, Some("230129100000"), Some(VILLAGES[2])] {
            for helper in [None, Some(helper.as_str()), Some(helper_part.as_str())] {
                for due in [None, Some("soon")] {
                    for sort in [None, Some("days"), Some("name"), Some("village")] {
                        let f = filter(unit, helper, due, sort);
                        for limit in [1, 5, usize::MAX] {
                            let new = overdue_list(&reader, org(scope), day, &f, limit).unwrap();
                            let old = oracle::overdue_list(&reader, org(scope), day, &f, limit);
                            assert_eq!(new, old, "{scope} {f:?} limit {limit}");
                            if limit == usize::MAX && unit.is_none() && scope == CITY {
                                match (helper.is_some(), due.is_some()) {
                                    (false, false) => seen.0 = new.1,
                                    (false, true) => seen.1 = new.1,
                                    (true, _) => seen.2 += new.1,
                                }
                                let unknown = new.0.iter().filter(|r| r.since.is_none());
                                seen.3 += unknown.count();
                            }
                        }
                    }
                }
            }
        }
        for (skip, limit) in [(0, 1), (0, 7), (3, 5), (10, 1000), (1000, 5)] {
            let (rows, count) = overdue(&reader, org(scope), day, skip, limit, None).unwrap();
            assert_eq!(rows, oracle::overdue(&reader, org(scope), day, skip, limit));
            assert_eq!(
                count,
                oracle::overdue(&reader, org(scope), day, 0, usize::MAX).len()
            );
        }
    }
    let (overdue, soon, helped, unknown) = seen;
    assert!(
        overdue > 10 && soon > 0 && helped > 0 && unknown > 0,
        "{seen:?}"
    );
    assert_eq!(
        overdue as i64,
        city.stats(None).unwrap().visits.overdue_women,
        "the list's count is the statistics' figure"
    );
}

/// The follow-up rows, raw.
fn follow_up_rows(store: &dyn Storage) -> Vec<(Vec<u8>, Vec<u8>)> {
    [b"f", b"g"]
        .iter()
        .flat_map(|p| store.scan_prefix(Table::Index, *p).map(Result::unwrap))
        .collect()
}

#[test]
fn women_move_in_and_out_as_their_records_change() {
    let v = Village::new();
    let mut ledger = v.open();
    let day = read_day(&ledger);
    ledger.set_today(day);
    let village = org(testing::VILLAGE);
    let card = |name: &str| -> Vec<(String, String)> {
        [
            ("name", name),
            ("birth_year", "1975"),
            ("labor_capacity", "full"),
            ("status", "poor"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let [a, b, c] =
        ["王秀英", "李桂芝", "张玉兰"].map(|n| ledger.add(Kind::Woman, &card(n)).unwrap());
    let text = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    let date = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let ids = |l: &Ledger, f: &OverdueFilter| -> (Vec<String>, usize) {
        let reader = l.reader();
        let (rows, count) = overdue_list(&reader, village, day, f, usize::MAX).unwrap();
        assert_eq!(
            (rows.clone(), count),
            oracle::overdue_list(&reader, village, day, f, usize::MAX)
        );
        (rows.into_iter().map(|r| r.woman_id).collect(), count)
    };
    let overdue_now = filter(None, None, None, None);
    let soon = filter(None, None, Some("soon"), None);
    let by = |h: &str| filter(None, Some(h), None, None);
    let all = [a.to_string(), b.to_string(), c.to_string()];
    assert_eq!(
        ids(&ledger, &overdue_now),
        (all.to_vec(), 3),
        "carded 90 days ago"
    );

    let visit = |w: &RecordId, d: NaiveDate| {
        text(&[
            ("woman_id", w.to_string()),
            ("date", date(d)),
            ("visitor", "刘英".into()),
            ("mode", "home".into()),
        ])
    };
    ledger.add(Kind::Visit, &visit(&a, day)).unwrap();
    assert_eq!(
        ids(&ledger, &overdue_now).1,
        2,
        "a visit today takes her out"
    );
    ledger
        .add(Kind::Visit, &visit(&b, day - Duration::days(50)))
        .unwrap();
    assert_eq!(ids(&ledger, &overdue_now), (vec![c.to_string()], 1));
    assert_eq!(
        ids(&ledger, &soon),
        (vec![b.to_string()], 1),
        "50 days ago: due soon"
    );

    let pairing = ledger
        .add(
            Kind::Pairing,
            &text(&[
                ("woman_id", c.to_string()),
                ("helper_name", "李四".into()),
                ("helper_kind", "cadre".into()),
                ("since", date(day - Duration::days(5))),
            ]),
        )
        .unwrap();
    assert_eq!(
        ids(&ledger, &by("李")).0,
        vec![c.to_string()],
        "her helper finds her"
    );
    ledger
        .update(&pairing, None, &text(&[("helper_name", "王五".into())]))
        .unwrap();
    assert_eq!(ids(&ledger, &by("李")).1, 0, "the helper's new name");
    assert_eq!(ids(&ledger, &by("王五")).0, vec![c.to_string()]);
    ledger
        .update(&pairing, None, &text(&[("active", "false".into())]))
        .unwrap();
    assert_eq!(ids(&ledger, &by("王五")).1, 0, "an ended pairing");

    let before = follow_up_rows(v.store.as_ref());
    ledger.reindex().unwrap();
    assert_eq!(
        follow_up_rows(v.store.as_ref()),
        before,
        "a rebuild writes the same rows"
    );

    ledger
        .update(&c, None, &text(&[("status", "exited".into())]))
        .unwrap();
    assert_eq!(
        ids(&ledger, &overdue_now).1,
        0,
        "out of poverty: not followed"
    );
    ledger
        .update(&b, None, &text(&[("status", "at_risk".into())]))
        .unwrap();
    assert_eq!(
        ids(&ledger, &soon).0,
        vec![b.to_string()],
        "at risk: still followed"
    );
    ledger.retire(&b, None, "moved away").unwrap();
    assert_eq!(ids(&ledger, &soon).1, 0, "a retired card leaves");
    ledger
        .add(Kind::Visit, &visit(&a, day - Duration::days(70)))
        .unwrap();
    assert_eq!(
        ids(&ledger, &overdue_now).1,
        0,
        "an older visit does not move her back"
    );
    let before = follow_up_rows(v.store.as_ref());
    assert_eq!(
        before.len(),
        5,
        "a's rows: her village, township, county, city, and `g`"
    );
    ledger.reindex().unwrap();
    assert_eq!(follow_up_rows(v.store.as_ref()), before);
}
