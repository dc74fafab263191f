//! Unit tests of the ledger document mapping.

use super::*;

fn org() -> OrgCode {
    OrgCode::parse("230129100201").unwrap()
}

fn author(device: &str, time: i64) -> Author {
    Author {
        device: format!("230129100201/{device}"),
        time,
    }
}

fn fields(pairs: &[(&str, Value)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn woman_fields() -> Fields {
    fields(&[
        ("name", Value::Text("王秀英".into())),
        ("birth_year", Value::Int(1975)),
        ("labor_capacity", Value::Text("full".into())),
        ("status", Value::Text("poor".into())),
        ("poverty_causes", Value::List(vec!["illness".into()])),
        ("wants_work", Value::Bool(true)),
    ])
}

#[test]
fn genesis_is_identical_everywhere() {
    let mut a = LedgerDoc::genesis(org());
    let mut b = LedgerDoc::genesis(org());
    assert_eq!(a.get_heads(), b.get_heads());
    assert_eq!(a.save(), b.save());
}

#[test]
fn concurrent_devices_share_kind_maps_and_see_conflicts() {
    let mut a = LedgerDoc::create(org(), ActorId::from([1u8; 16]));
    let mut b = LedgerDoc::create(org(), ActorId::from([2u8; 16]));
    let id_a = RecordId::new(org(), Kind::Woman, "AAAA", 1);
    let id_b = RecordId::new(org(), Kind::Woman, "BBBB", 1);
    a.insert(&id_a, &woman_fields(), None, &author("a", 10))
        .unwrap();
    b.insert(&id_b, &woman_fields(), None, &author("b", 11))
        .unwrap();
    a.automerge().merge(b.automerge()).unwrap();
    b.automerge().merge(a.automerge()).unwrap();
    assert_eq!(a.ids(Kind::Woman).unwrap().len(), 2);
    // Same field, concurrently.
    let status = |s: &str| fields(&[("status", Value::Text(s.into()))]);
    a.update(&id_a, &status("exited"), &[], None, &author("a", 20))
        .unwrap();
    b.update(&id_a, &status("at_risk"), &[], None, &author("b", 21))
        .unwrap();
    a.automerge().merge(b.automerge()).unwrap();
    b.automerge().merge(a.automerge()).unwrap();
    assert_eq!(a.record(&id_a).unwrap(), b.record(&id_a).unwrap());
    let conflicts = a.conflicts(&id_a).unwrap();
    let mut values = conflicts["status"].clone();
    values.sort();
    assert_eq!(values, ["at_risk", "exited"]);
}

#[test]
fn concurrent_edits_of_different_fields_merge_and_clears_stick() {
    let mut a = LedgerDoc::create(org(), ActorId::from([1u8; 16]));
    let id = RecordId::new(org(), Kind::Woman, "AAAA", 1);
    a.insert(&id, &woman_fields(), None, &author("a", 1))
        .unwrap();
    let mut b = LedgerDoc::load(&a.automerge().save(), org(), ActorId::from([2u8; 16])).unwrap();
    a.update(
        &id,
        &fields(&[("birth_year", Value::Int(1976))]),
        &[],
        None,
        &author("a", 2),
    )
    .unwrap();
    b.update(
        &id,
        &fields(&[("status", Value::Text("at_risk".into()))]),
        &["poverty_causes".to_string()],
        None,
        &author("b", 3),
    )
    .unwrap();
    a.automerge().merge(b.automerge()).unwrap();
    let rec = a.record(&id).unwrap().unwrap();
    assert_eq!(rec.fields["birth_year"], Value::Int(1976));
    assert_eq!(rec.fields["status"], Value::Text("at_risk".into()));
    assert!(
        !rec.fields.contains_key("poverty_causes"),
        "a cleared field stays cleared"
    );
    assert!(a.conflicts(&id).unwrap().is_empty());
    let history = a.history(&id).unwrap();
    let cleared = history
        .iter()
        .flat_map(|h| &h.values)
        .rfind(|(k, _)| k == "poverty_causes")
        .unwrap();
    assert_eq!(cleared.1, "(cleared)");
}

#[test]
fn round_trip_history_and_retire() {
    let mut doc = LedgerDoc::create(org(), ActorId::from([1u8; 16]));
    let id = RecordId::new(org(), Kind::Woman, "AAAA", 1);
    doc.insert(&id, &woman_fields(), Some("abc"), &author("a", 100))
        .unwrap();
    let rec = doc.record(&id).unwrap().unwrap();
    assert_eq!(rec.fields, woman_fields());
    assert_eq!(rec.meta.id_sealed.as_deref(), Some("abc"));
    assert!(doc
        .update(
            &id,
            &fields(&[("birth_year", Value::Int(1975))]),
            &[],
            None,
            &author("a", 150)
        )
        .unwrap()
        .is_none());
    doc.update(
        &id,
        &fields(&[("birth_year", Value::Int(1976))]),
        &[],
        None,
        &author("a", 200),
    )
    .unwrap();
    doc.retire(&id, "moved away", &author("a", 300)).unwrap();
    let history = doc.history(&id).unwrap();
    let ops: Vec<_> = history.iter().map(|h| h.op.as_str()).collect();
    assert_eq!(ops, ["add", "update", "retire"]);
    assert_eq!(
        history[0]
            .values
            .iter()
            .find(|(k, _)| k == "birth_year")
            .unwrap()
            .1,
        "1975"
    );
    assert_eq!(
        history[1].values,
        [("birth_year".to_string(), "1976".to_string())]
    );
    assert!(doc.record(&id).unwrap().unwrap().meta.retired);
    let saved = doc.automerge().save();
    let loaded = LedgerDoc::load(&saved, org(), ActorId::from([1u8; 16])).unwrap();
    assert_eq!(loaded.record(&id).unwrap(), doc.record(&id).unwrap());
}

#[test]
fn patches_name_the_touched_records() {
    let mut doc = LedgerDoc::create(org(), ActorId::from([1u8; 16]));
    doc.automerge().update_diff_cursor();
    let id = RecordId::new(org(), Kind::Visit, "AAAA", 3);
    let f = fields(&[("date", Value::Text("2026-01-01".into()))]);
    doc.insert(&id, &f, None, &author("a", 1)).unwrap();
    let t = touched(&doc.automerge().diff_incremental());
    assert_eq!(
        t.records.into_iter().collect::<Vec<_>>(),
        std::slice::from_ref(&id)
    );
    doc.update(
        &id,
        &fields(&[("date", Value::Text("2026-01-02".into()))]),
        &[],
        None,
        &author("a", 2),
    )
    .unwrap();
    let t = touched(&doc.automerge().diff_incremental());
    assert_eq!(t.records.len(), 1);
    doc.set_name("红星村", &author("a", 3)).unwrap();
    assert!(touched(&doc.automerge().diff_incremental()).meta);
}

#[test]
fn refuses_foreign_records_and_duplicates() {
    let mut doc = LedgerDoc::create(org(), ActorId::from([1u8; 16]));
    let foreign = RecordId::new(OrgCode::parse("230129100202").unwrap(), Kind::Woman, "A", 1);
    assert!(matches!(
        doc.insert(&foreign, &woman_fields(), None, &author("a", 1)),
        Err(DocError::WrongOrg { .. })
    ));
    let id = RecordId::new(org(), Kind::Woman, "A", 1);
    doc.insert(&id, &woman_fields(), None, &author("a", 1))
        .unwrap();
    assert!(matches!(
        doc.insert(&id, &woman_fields(), None, &author("a", 1)),
        Err(DocError::DuplicateId(_))
    ));
    assert!(LedgerDoc::load(b"garbage", org(), ActorId::random()).is_err());
}

#[test]
fn a_deleted_kind_map_reads_as_empty_and_the_rest_still_reads() {
    let mut doc = LedgerDoc::create(org(), ActorId::from([1u8; 16]));
    let woman = RecordId::new(org(), Kind::Woman, "A", 1);
    doc.insert(&woman, &woman_fields(), None, &author("a", 1))
        .unwrap();
    // A hostile node deletes every other kind map, outside the normal writer.
    let mut raw = doc.automerge().fork().with_actor(ActorId::from([9u8; 16]));
    for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Woman) {
        raw.delete(ROOT, kind.spec().plural).unwrap();
    }
    raw.commit();
    let bytes = raw.save();
    let mut loaded = LedgerDoc::load(&bytes, org(), ActorId::from([2u8; 16])).unwrap();
    for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Woman) {
        assert_eq!(loaded.ids(kind).unwrap(), vec![], "{kind:?}");
        let id = RecordId::new(org(), kind, "A", 1);
        assert!(loaded.record(&id).unwrap().is_none());
    }
    assert_eq!(loaded.ids(Kind::Woman).unwrap(), vec![woman.clone()]);
    assert!(loaded.record(&woman).unwrap().is_some());
    // Writing into a deleted map is refused, not a panic.
    let other = Kind::ALL.into_iter().find(|k| *k != Kind::Woman).unwrap();
    let id = RecordId::new(org(), other, "A", 2);
    assert!(matches!(
        loaded.insert(&id, &Fields::new(), None, &author("a", 2)),
        Err(DocError::NotALedger(_))
    ));
}
