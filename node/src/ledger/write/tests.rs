//! Who writes where, and the overdue rule as a ledger applies it.

use chrono::Duration;
use halfsky_shared::{Kind, OrgCode};

use crate::config::NodeHome;
use crate::ledger::testing::{self, Village, VILLAGE};
use crate::ledger::{Ledger, LedgerError};

fn inputs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A city ledger holding a copy of the village's document, as after a sync.
fn city_with(village: &Ledger, dir: &std::path::Path) -> Ledger {
    let home = NodeHome::new(dir.join("city"));
    home.init(
        OrgCode::parse("230100000000").expect("code"),
        "哈尔滨市",
        "test",
        None,
    )
    .expect("init");
    let mut city = Ledger::open(&home).expect("open");
    city.set_today(testing::today());
    let org = OrgCode::parse(VILLAGE).expect("code");
    let stored = village.store().load(&org).expect("load").expect("stored");
    let mut doc = automerge::AutoCommit::load(&stored.concatenated()).expect("a document");
    let changes = doc.get_changes(&[]);
    city.apply_changes(org, changes).expect("apply");
    city
}

#[test]
fn the_city_cannot_file_a_villages_visit_as_its_own() {
    let village = Village::new();
    let mut ledger = village.open();
    let woman = ledger
        .add(Kind::Woman, &testing::woman(&mut testing::generator()))
        .expect("woman");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut city = city_with(&ledger, dir.path());
    let before = city.stats(None).expect("stats").visits.total;
    let visit = inputs(&[
        ("woman_id", &woman.to_string()),
        ("date", "2026-06-01"),
        ("visitor", "市妇联"),
        ("mode", "home"),
    ]);
    let err = city.add(Kind::Visit, &visit).unwrap_err();
    let LedgerError::Invalid { errors, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(errors[0].field, "woman_id", "{err}");
    assert!(errors[0].reason.contains(VILLAGE), "says where: {err}");
    assert_eq!(city.stats(None).expect("stats").visits.total, before);
    // The village itself records it.
    ledger
        .add(Kind::Visit, &visit)
        .expect("the village's own visit");
}

#[test]
fn a_card_added_today_is_not_overdue() {
    let village = Village::new();
    let mut ledger = village.open();
    let today = ledger.index().zone().day_of(chrono::Utc::now());
    ledger.set_today(today);
    let card = inputs(&[
        ("name", "王秀英"),
        ("birth_year", "1975"),
        ("labor_capacity", "full"),
        ("status", "poor"),
    ]);
    let woman = ledger.add(Kind::Woman, &card).expect("woman");
    let overdue = |l: &Ledger| l.stats(None).expect("stats").visits.overdue_women;
    assert_eq!(overdue(&ledger), 0, "carded minutes ago");
    ledger.set_today(today + Duration::days(60));
    assert_eq!(overdue(&ledger), 0, "60 days: still in the period");
    let later = today + Duration::days(61);
    ledger.set_today(later);
    assert_eq!(overdue(&ledger), 1, "61 days without a visit");
    let date = later.format("%Y-%m-%d").to_string();
    ledger
        .add(
            Kind::Visit,
            &inputs(&[
                ("woman_id", &woman.to_string()),
                ("date", &date),
                ("visitor", "李主席"),
                ("mode", "home"),
            ]),
        )
        .expect("visit");
    assert_eq!(overdue(&ledger), 0, "visited today");
}
