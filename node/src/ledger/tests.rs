//! Unit tests of the Ledger API: writes, reindex, failures caught up from the store.

use halfsky_shared::rollup::Rollup;
use halfsky_shared::{Kind, OrgCode};

use super::testing::{self, Village, VILLAGE};
use super::*;

fn village() -> OrgCode {
    OrgCode::parse(VILLAGE).unwrap()
}

/// Everything the index says, to compare two ledgers or two moments.
fn indexed(ledger: &Ledger) -> (Vec<IndexedRecord>, Vec<(OrgCode, Rollup)>) {
    (
        ledger.list(Kind::Woman, "", true).unwrap(),
        ledger.index().rollups("").unwrap(),
    )
}

/// The index reflects exactly what the store holds.
fn assert_index_matches_store(ledger: &Ledger) {
    assert_eq!(
        ledger.store().heads(&village()).unwrap(),
        ledger.index().heads(&village()).unwrap(),
        "index heads = stored heads"
    );
}

#[test]
fn add_update_retire_are_durable_and_indexed() {
    let v = Village::new();
    let mut generator = testing::generator();
    let mut ledger = v.open();
    let id = ledger
        .add(Kind::Woman, &testing::woman(&mut generator))
        .unwrap();
    let other = ledger
        .add(Kind::Woman, &testing::woman(&mut generator))
        .unwrap();
    assert_eq!(ledger.index().get(&id).unwrap().unwrap().record.id, id);
    assert_index_matches_store(&ledger);

    let rename = [("name".to_string(), "王秀英".to_string())];
    assert!(ledger.update(&id, Some(Kind::Woman), &rename).unwrap());
    assert!(!ledger.update(&id, None, &rename).unwrap(), "nothing new");
    let row = ledger.index().get(&id).unwrap().unwrap();
    assert_eq!(row.record.text("name"), Some("王秀英"));

    ledger.retire(&other, None, "moved to the city").unwrap();
    assert!(
        ledger
            .index()
            .get(&other)
            .unwrap()
            .unwrap()
            .record
            .meta
            .retired
    );
    assert_eq!(ledger.list(Kind::Woman, VILLAGE, false).unwrap().len(), 1);
    assert_index_matches_store(&ledger);
    let before = indexed(&ledger);
    let generation = ledger.generation();
    drop(ledger);

    // A new ledger over the same store sees the same, without re-indexing.
    let ledger = v.open();
    assert_eq!(indexed(&ledger), before);
    assert!(
        ledger.generation() < generation,
        "nothing was re-indexed on open"
    );
}

#[test]
fn refused_input_writes_nothing() {
    let v = Village::new();
    let mut ledger = v.open();
    let heads = ledger.stored_heads(&village()).unwrap();
    let bad = [("birth_year".to_string(), "not a year".to_string())];
    assert!(matches!(
        ledger.add(Kind::Woman, &bad),
        Err(LedgerError::Invalid { .. })
    ));
    let foreign = RecordId::parse("230129100202-W-abcd-1").unwrap();
    assert!(matches!(
        ledger.retire(&foreign, None, "why"),
        Err(LedgerError::NotOurs { .. })
    ));
    assert_eq!(ledger.stored_heads(&village()).unwrap(), heads);
}

#[test]
fn a_failed_append_leaves_memory_equal_to_the_store() {
    let v = Village::new();
    let mut generator = testing::generator();
    let mut ledger = v.open();
    let first = ledger
        .add(Kind::Woman, &testing::woman(&mut generator))
        .unwrap();
    let heads = ledger.stored_heads(&village()).unwrap();

    v.store.fail_writes(true, false);
    let lost = testing::woman(&mut generator);
    assert!(matches!(
        ledger.add(Kind::Woman, &lost),
        Err(LedgerError::Store(_))
    ));
    v.store.fail_writes(false, false);
    assert_eq!(ledger.stored_heads(&village()).unwrap(), heads);

    // The next write carries only itself: the failed change is not in memory.
    let second = ledger
        .add(Kind::Woman, &testing::woman(&mut generator))
        .unwrap();
    let names: Vec<String> = ledger
        .list(Kind::Woman, "", true)
        .unwrap()
        .into_iter()
        .map(|r| r.record.id.to_string())
        .collect();
    assert_eq!(names, vec![first.to_string(), second.to_string()]);
    assert_index_matches_store(&ledger);
    let before = indexed(&ledger);
    drop(ledger);
    assert_eq!(indexed(&v.open()), before);
}

#[test]
fn reindex_skips_and_reports_a_document_it_cannot_load() {
    let v = Village::new();
    let mut generator = testing::generator();
    let mut ledger = v.open();
    ledger
        .add(Kind::Woman, &testing::woman(&mut generator))
        .unwrap();
    let before = indexed(&ledger);
    let broken = OrgCode::parse("230129100202").unwrap();
    v.store.append(&broken, b"not a document", &[]).unwrap();
    let report = ledger.rebuild_index().unwrap();
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert!(report.skipped[0].contains("230129100202"));
    assert_eq!(report.records, 1);
    assert_eq!(
        indexed(&ledger),
        before,
        "the good document is indexed as before"
    );
    assert_index_matches_store(&ledger);
}

#[test]
fn a_failed_index_write_is_caught_up_from_the_store() {
    let v = Village::new();
    let mut generator = testing::generator();
    let mut ledger = v.open();
    ledger
        .add(Kind::Woman, &testing::woman(&mut generator))
        .unwrap();

    // The chunk is stored, its index rows are not: a crash between the two writes.
    v.store.fail_writes(false, true);
    assert!(matches!(
        ledger.add(Kind::Woman, &testing::woman(&mut generator)),
        Err(LedgerError::Index(_))
    ));
    v.store.fail_writes(false, false);
    assert_ne!(
        ledger.store().heads(&village()).unwrap(),
        ledger.index().heads(&village()).unwrap()
    );
    // The next use of the document reloads it from the store and indexes the rest.
    ledger
        .add(Kind::Woman, &testing::woman(&mut generator))
        .unwrap();
    assert_index_matches_store(&ledger);
    assert_eq!(ledger.list(Kind::Woman, "", false).unwrap().len(), 3);
}

#[test]
fn statistics_are_kept_until_the_next_write_and_follow_it() {
    let v = Village::new();
    let mut generator = testing::generator();
    let mut ledger = v.open();
    let reader = ledger.reader();
    ledger
        .add(Kind::Woman, &testing::woman(&mut generator))
        .unwrap();
    let first = reader.stats(village()).unwrap();
    assert_eq!(first.women.total, 1);
    assert_eq!(reader.stats(village()).unwrap(), first, "kept");
    let second = ledger
        .add(Kind::Woman, &testing::woman(&mut generator))
        .unwrap();
    assert_eq!(
        reader.stats(village()).unwrap().women.total,
        2,
        "a write moves them"
    );
    ledger.retire(&second, None, "registered twice").unwrap();
    assert_eq!(reader.stats(village()).unwrap().women.total, 1);
    ledger.rebuild_index().unwrap();
    assert_eq!(
        reader.stats(village()).unwrap().women.total,
        1,
        "after a rebuild"
    );
}
