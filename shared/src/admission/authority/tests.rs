//! Unit tests of record-level authority: every rule refuses what it names, and
//! everything the normal writer does passes.

use automerge::transaction::Transactable;
use automerge::AutoCommit;

use super::*;
use crate::ledger_doc::Author;
use crate::record::Fields;

fn org() -> OrgCode {
    OrgCode::parse("230129100201").unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 30).unwrap()
}

fn author() -> Author {
    Author {
        device: "230129100201/t".into(),
        time: 1_780_000_000,
    }
}

fn woman(status: &str) -> Fields {
    [
        ("name", Value::Text("王秀英".into())),
        ("birth_year", Value::Int(1975)),
        ("labor_capacity", Value::Text("full".into())),
        ("status", Value::Text(status.into())),
        ("poverty_causes", Value::List(vec!["illness".into()])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A village document written by the normal writer: genesis, a woman added,
/// updated and retired.
fn written() -> (LedgerDoc, RecordId) {
    let mut doc = LedgerDoc::create(org(), ActorId::from([1u8; 16]));
    let id = RecordId::new(org(), Kind::Woman, "AAAA", 1);
    doc.insert(&id, &woman("poor"), None, &author()).unwrap();
    let exited = [("status".to_string(), Value::Text("exited".into()))].into();
    doc.update(&id, &exited, &["poverty_causes".into()], None, &author())
        .unwrap();
    doc.retire(&id, "moved away", &author()).unwrap();
    (doc, id)
}

fn all_changes(doc: &mut AutoCommit) -> Vec<Change> {
    doc.get_changes(&[]).into_iter().collect()
}

/// The receiver's copy: the writer's history up to (not including) the last `n`.
fn receiver(changes: &[Change], n: usize) -> AutoCommit {
    let mut doc = AutoCommit::new();
    doc.apply_changes(changes[..changes.len() - n].to_vec())
        .unwrap();
    doc
}

/// One hostile change on top of `base`, made by `edit` outside the normal writer.
fn hostile(base: &mut AutoCommit, edit: impl FnOnce(&mut AutoCommit)) -> Change {
    let mut fork = base.fork().with_actor(ActorId::from([9u8; 16]));
    edit(&mut fork);
    let hash = fork.commit().expect("the edit made a change");
    fork.get_change_by_hash(&hash).unwrap()
}

fn map(doc: &AutoCommit, at: &ObjId, key: &str) -> ObjId {
    doc.get(at, key).unwrap().unwrap().1
}

fn rule_of(doc: &AutoCommit, change: Change) -> Option<Rule> {
    let verdicts = check_batch(doc, org(), vec![change], today());
    verdicts.refused.first().map(|r| r.rule)
}

#[test]
fn the_normal_writer_passes_into_an_empty_and_a_partial_copy() {
    let (mut doc, _) = written();
    let changes = all_changes(doc.automerge());
    for n in 0..=changes.len() {
        let copy = receiver(&changes, n);
        let verdicts = check_batch(&copy, org(), changes.clone(), today());
        assert!(verdicts.refused.is_empty(), "{n}: {:?}", verdicts.refused);
        assert_eq!(verdicts.admitted.len(), n);
        assert_eq!(verdicts.known, changes.len() - n);
    }
    let empty = AutoCommit::new();
    let mut reversed = changes.clone();
    reversed.reverse();
    let verdicts = check_batch(&empty, org(), reversed, today());
    assert!(
        verdicts.refused.is_empty(),
        "order in the batch does not matter"
    );
}

#[test]
fn each_rule_refuses_what_it_names() {
    let (mut doc, id) = written();
    let changes = all_changes(doc.automerge());
    let mut base = receiver(&changes, 0);
    let women = map(&base, &ROOT, "women");
    let meta = map(&base, &ROOT, "meta");
    let record = map(&base, &women, &id.to_string());
    let sibling = "230129100202-W-AAAA-2";
    let own = "230129100201-W-AAAA-2";
    let cases: Vec<(&str, Change, Rule)> = vec![
        (
            "sibling's record",
            hostile(&mut base, |d| {
                d.put_object(&women, sibling, ObjType::Map).unwrap();
            }),
            Rule::ForeignRecord,
        ),
        (
            "a household under women",
            hostile(&mut base, |d| {
                d.put_object(&women, "230129100201-H-AAAA-2", ObjType::Map)
                    .unwrap();
            }),
            Rule::ForeignRecord,
        ),
        (
            "deleted kind map",
            hostile(&mut base, |d| d.delete(ROOT, "visits").unwrap()),
            Rule::ProtectedLayout,
        ),
        (
            "replaced kind map",
            hostile(&mut base, |d| {
                d.put_object(ROOT, "women", ObjType::Map).unwrap();
            }),
            Rule::ProtectedLayout,
        ),
        (
            "deleted meta",
            hostile(&mut base, |d| d.delete(ROOT, "meta").unwrap()),
            Rule::ProtectedLayout,
        ),
        (
            "meta.org rewritten",
            hostile(&mut base, |d| d.put(&meta, "org", "230129100202").unwrap()),
            Rule::ProtectedLayout,
        ),
        (
            "deleted record",
            hostile(&mut base, |d| d.delete(&women, id.to_string()).unwrap()),
            Rule::RecordShape,
        ),
        (
            "nested object",
            hostile(&mut base, |d| {
                d.put_object(&record, "name", ObjType::List).unwrap();
            }),
            Rule::RecordShape,
        ),
        (
            "birth year out of range",
            hostile(&mut base, |d| d.put(&record, "birth_year", 1850).unwrap()),
            Rule::InvalidValue,
        ),
        (
            "a clear ID number",
            hostile(&mut base, |d| {
                d.put(&record, "id_number", "230129197503041234").unwrap()
            }),
            Rule::InvalidValue,
        ),
        (
            "a field from the future",
            hostile(&mut base, |d| d.put(&record, "shoe_size", 38).unwrap()),
            Rule::UnknownField,
        ),
        (
            "an enum value from the future",
            hostile(&mut base, |d| {
                d.put(&record, "status", "graduated").unwrap()
            }),
            Rule::UnknownValue,
        ),
        (
            "a bad value inside _fields",
            hostile(&mut base, |d| {
                let rec = d.put_object(&women, own, ObjType::Map).unwrap();
                d.put(&rec, "_fields", r#"{"name":"x","status":"rich"}"#)
                    .unwrap();
            }),
            Rule::UnknownValue,
        ),
    ];
    for (name, change, rule) in cases {
        assert_eq!(rule_of(&base, change), Some(rule), "{name}");
    }
}

#[test]
fn dependents_of_a_refused_change_are_held_and_missing_dependencies_refused() {
    let (mut doc, _) = written();
    let changes = all_changes(doc.automerge());
    let mut base = receiver(&changes, 0);
    let bad = hostile(&mut base, |d| d.delete(ROOT, "meta").unwrap());
    let mut after = base.fork().with_actor(ActorId::from([9u8; 16]));
    after.apply_changes(vec![bad.clone()]).unwrap();
    let women = map(&base, &ROOT, "women");
    after
        .put_object(&women, "230129100201-W-AAAA-3", ObjType::Map)
        .unwrap();
    let hash = after.commit().unwrap();
    let dependent = after.get_change_by_hash(&hash).unwrap();
    let verdicts = check_batch(&base, org(), vec![dependent.clone(), bad.clone()], today());
    assert_eq!(verdicts.refused.len(), 1);
    assert_eq!(verdicts.refused[0].change, bad.hash());
    assert_eq!(verdicts.held.len(), 2);
    assert!(verdicts.admitted.is_empty());

    let verdicts = check_batch(&base, org(), vec![dependent], today());
    assert_eq!(verdicts.refused[0].rule, Rule::MissingDependency);
    assert!(!verdicts.refused[0].rule.quarantines());
}

#[test]
fn a_batch_is_put_in_dependency_order_stably() {
    let mut doc = AutoCommit::new();
    for i in 0..40 {
        doc.put(automerge::ROOT, "n", i as i64).unwrap();
        doc.commit();
    }
    let chain: Vec<Change> = doc.get_changes(&[]);
    let hashes = |changes: &[Change]| changes.iter().map(Change::hash).collect::<Vec<_>>();
    // Reversed, shuffled by halves: the chain comes back in its own order.
    let mut reversed = chain.clone();
    reversed.reverse();
    assert_eq!(hashes(&in_dependency_order(reversed)), hashes(&chain));
    let mut halves = chain[20..].to_vec();
    halves.extend_from_slice(&chain[..20]);
    assert_eq!(hashes(&in_dependency_order(halves)), hashes(&chain));
    // Two independent changes keep the order given.
    let mut other = AutoCommit::new();
    other.put(automerge::ROOT, "m", 1).unwrap();
    other.commit();
    let lone = other.get_changes(&[]).remove(0);
    let given = vec![lone.clone(), chain[0].clone()];
    assert_eq!(hashes(&in_dependency_order(given.clone())), hashes(&given));
}
