//! The index's reads, incremental updates against a rebuild, a missed chunk caught up
//! on open, damaged rows.

use halfsky_shared::ledger_doc::Author;

use super::*;
use crate::ledger::testing::{self, Village, VILLAGE};
use crate::ledger::Ledger;

fn village() -> OrgCode {
    OrgCode::parse(VILLAGE).unwrap()
}

/// Everything the index holds about the village, to compare two moments.
fn snapshot(ledger: &Ledger) -> (Vec<IndexedRecord>, Vec<(OrgCode, Rollup)>) {
    let mut rows = Vec::new();
    for kind in Kind::ALL {
        rows.extend(ledger.index().list(kind, "").map(Result::unwrap));
    }
    (rows, ledger.index().rollups("").unwrap())
}

/// A village with two households, three women and a visit.
fn filled(v: &Village) -> (Ledger, Vec<RecordId>) {
    let mut ledger = v.open();
    let mut generator = testing::generator();
    let mut women = Vec::new();
    for _ in 0..2 {
        ledger.add(Kind::Household, &generator.household()).unwrap();
    }
    for _ in 0..3 {
        women.push(
            ledger
                .add(Kind::Woman, &testing::woman(&mut generator))
                .unwrap(),
        );
    }
    ledger
        .add(Kind::Visit, &generator.visit(&women[0], 3))
        .unwrap();
    (ledger, women)
}

#[test]
fn reads_serve_subtrees_names_and_links() {
    let v = Village::new();
    let (ledger, women) = filled(&v);
    let index = ledger.index();
    assert_eq!(index.list(Kind::Woman, VILLAGE).count(), 3);
    assert_eq!(index.list(Kind::Woman, "230129100202").count(), 0);
    assert_eq!(index.list(Kind::Household, "2301").count(), 2);
    assert_eq!(index.name(&village()).unwrap().as_deref(), Some("红星村"));
    assert_eq!(
        index.names("230129").unwrap(),
        vec![(village(), "红星村".to_string())]
    );
    let visited = index.get(&women[0]).unwrap().unwrap();
    assert!(
        visited.links.last_visit.is_some(),
        "the visit is linked to her"
    );
    assert!(index
        .get(&women[1])
        .unwrap()
        .unwrap()
        .links
        .last_visit
        .is_none());
    let rollups = index.rollups(VILLAGE).unwrap();
    assert_eq!(rollups.len(), 1);
    assert_eq!(rollups[0].0, village());
    let bytes = index.rollup_bytes(VILLAGE).unwrap();
    assert_eq!(Index::decode_rollup(&bytes[0].1).unwrap(), rollups[0].1);
    assert!(index.woman_status(&women[0].to_string()).unwrap().is_some());
}

#[test]
fn incremental_updates_equal_a_rebuild() {
    let v = Village::new();
    let (mut ledger, women) = filled(&v);
    ledger
        .update(&women[1], None, &[("name".into(), "张桂兰".into())])
        .unwrap();
    ledger.retire(&women[2], None, "duplicate card").unwrap();
    let incremental = snapshot(&ledger);
    assert_eq!(
        ledger.reindex().unwrap(),
        6,
        "2 households, 3 women, 1 visit"
    );
    assert_eq!(snapshot(&ledger), incremental);
}

#[test]
fn a_chunk_the_index_missed_is_re_diffed_on_open() {
    let v = Village::new();
    let (ledger, women) = filled(&v);
    let indexed_heads = ledger.index().heads(&village()).unwrap().unwrap();
    drop(ledger);

    // A crash between the two writes: a chunk (retiring a woman) is appended to the
    // store, and the index never hears of it.
    let stored = v.store.load(&village()).unwrap().unwrap();
    let actor = v.home.config().unwrap().actor;
    let mut doc = LedgerDoc::load(&stored.concatenated(), village(), actor).unwrap();
    let before = doc.heads();
    let author = Author {
        device: format!("{VILLAGE}/test"),
        time: 1_780_000_000,
    };
    doc.retire(&women[0], "moved away", &author).unwrap();
    let chunk = doc.automerge().save_after(&before);
    v.store.append(&village(), &chunk, &doc.heads()).unwrap();
    assert_ne!(v.store.heads(&village()).unwrap().unwrap(), indexed_heads);

    let mut ledger = v.open();
    assert_eq!(
        ledger.index().heads(&village()).unwrap(),
        v.store.heads(&village()).unwrap(),
        "the index caught up on open"
    );
    let row = ledger.index().get(&women[0]).unwrap().unwrap();
    assert!(row.record.meta.retired, "the missed change is indexed");
    assert!(
        ledger.index().get(&women[1]).unwrap().is_some(),
        "earlier rows are kept"
    );
    let caught_up = snapshot(&ledger);
    ledger.reindex().unwrap();
    assert_eq!(
        snapshot(&ledger),
        caught_up,
        "re-diffed only the difference, counted once"
    );
}

#[test]
fn a_damaged_row_is_reported() {
    let v = Village::new();
    let (ledger, women) = filled(&v);
    v.store
        .insert(Table::Index, &record_key(&women[0]), b"{not json")
        .unwrap();
    assert!(matches!(
        ledger.index().get(&women[0]),
        Err(IndexError::Corrupt(_))
    ));
    assert!(ledger
        .index()
        .list(Kind::Woman, VILLAGE)
        .any(|r| r.is_err()));
}

/// Every row of the index table.
fn all_rows(store: &dyn Storage) -> Vec<(Vec<u8>, Vec<u8>)> {
    store
        .scan_prefix(Table::Index, b"")
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_document_new_to_the_node_is_indexed_as_a_rebuild_indexes_it() {
    // A village with more records than the index checks for absent rows from, with
    // visits and pairings linked to its women.
    let v = Village::new();
    let mut village_ledger = v.open();
    let mut generator = testing::generator();
    let mut women = Vec::new();
    for _ in 0..(EMPTY_CHECK_FROM + 8) {
        women.push(
            village_ledger
                .add(Kind::Woman, &testing::woman(&mut generator))
                .unwrap(),
        );
    }
    for woman in women.iter().take(6) {
        village_ledger
            .add(Kind::Visit, &generator.visit(woman, 12))
            .unwrap();
        village_ledger
            .add(Kind::Pairing, &generator.pairing(woman))
            .unwrap();
    }
    drop(village_ledger);
    let stored = v.store.load(&village()).unwrap().unwrap();
    let actor = v.home.config().unwrap().actor;
    let mut doc = LedgerDoc::load(&stored.concatenated(), village(), actor).unwrap();
    let changes = doc.automerge().get_changes(&[]);

    // The township above it receives the whole document at once.
    let dir = tempfile::tempdir().unwrap();
    let home = crate::config::NodeHome::new(dir.path().join("township"));
    home.init_with(
        OrgCode::parse("230129100000").unwrap(),
        "加信镇",
        "test",
        None,
        Some("127.0.0.1:9".into()),
        None,
    )
    .unwrap();
    let store = Arc::new(crate::store::MemoryStore::new());
    let mut township = testing::open(&home, &store);
    township.apply_changes(village(), changes).unwrap();
    let applied = all_rows(store.as_ref());
    assert!(township.index().get(&women[0]).unwrap().is_some());

    township.rebuild_index().unwrap();
    assert_eq!(
        all_rows(store.as_ref()),
        applied,
        "the same rows as a rebuild"
    );
}
