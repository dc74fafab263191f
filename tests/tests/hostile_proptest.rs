//! proptest: arbitrary sequences of changes, made outside the normal writer, applied
//! at a township never make it fail to open, reindex or export — whether they come
//! through the admission door (refused or admitted) or are applied as they are (what
//! `halfsky quarantine release` does with held changes).

use std::path::Path;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ReadDoc, ScalarValue, ROOT};
use halfsky_node::cli::Captured;
use halfsky_node::Ledger;
use halfsky_shared::session::{Delivery, Replica};
use halfsky_shared::OrgCode;
use halfsky_tests::{fill_village, new_home, VILLAGE};
use proptest::prelude::*;

const TOWNSHIP: &str = "230129100000";

/// One hostile edit of the village's document.
#[derive(Debug, Clone)]
enum Edit {
    /// Deletes a root key (a kind map, meta, or anything).
    DeleteRoot(String),
    /// Puts a scalar at the root, over whatever is there.
    PutRoot(String, i64),
    /// Makes a map under `key` in a kind map.
    NewRecord(String, String),
    /// Puts a scalar into the n-th record of a kind map.
    PutField(String, usize, String, Value),
    /// Deletes the n-th record of a kind map.
    DeleteRecord(String, usize),
    /// Makes a list inside the n-th record of a kind map.
    NestList(String, usize, String),
}

#[derive(Debug, Clone)]
enum Value {
    Int(i64),
    Text(String),
    Bool(bool),
    Null,
}

fn root_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("meta".to_string()),
        Just("women".to_string()),
        Just("households".to_string()),
        Just("visits".to_string()),
        "[a-z_]{1,8}",
    ]
}

fn field_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("_fields".to_string()),
        Just("status".to_string()),
        Just("birth_year".to_string()),
        Just("_retired".to_string()),
        Just("name".to_string()),
        "[a-z_]{1,8}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Int),
        "\\PC{0,12}".prop_map(Value::Text),
        Just(Value::Text("{\"status\":\"graduated\"}".into())),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        root_key().prop_map(Edit::DeleteRoot),
        (root_key(), any::<i64>()).prop_map(|(k, v)| Edit::PutRoot(k, v)),
        (
            root_key(),
            prop_oneof![
                Just("230129100202-W-ABCD-1".to_string()),
                Just("230129100201-W-ABCD-1".to_string()),
                Just("230129100201-H-ABCD-2".to_string()),
                "\\PC{0,10}",
            ]
        )
            .prop_map(|(m, k)| Edit::NewRecord(m, k)),
        (root_key(), 0usize..8, field_key(), value())
            .prop_map(|(m, n, k, v)| Edit::PutField(m, n, k, v)),
        (root_key(), 0usize..8).prop_map(|(m, n)| Edit::DeleteRecord(m, n)),
        (root_key(), 0usize..8, field_key()).prop_map(|(m, n, k)| Edit::NestList(m, n, k)),
    ]
}

/// Applies one edit (edits that do not fit the document as it is do nothing) and
/// commits it as its own change.
fn apply(doc: &mut AutoCommit, edit: &Edit) {
    let map = |doc: &AutoCommit, key: &str| match doc.get(ROOT, key) {
        Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    };
    let nth = |doc: &AutoCommit, key: &str, n: usize| {
        let m = map(doc, key)?;
        let k = doc.keys(&m).nth(n)?;
        match doc.get(&m, k.as_str()) {
            Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Some((m, k, id)),
            _ => None,
        }
    };
    let _ = match edit {
        Edit::DeleteRoot(k) => doc.delete(ROOT, k.as_str()).is_ok(),
        Edit::PutRoot(k, v) => doc.put(ROOT, k.as_str(), *v).is_ok(),
        Edit::NewRecord(m, k) => match map(doc, m) {
            Some(m) => doc.put_object(&m, k.as_str(), ObjType::Map).is_ok(),
            None => false,
        },
        Edit::PutField(m, n, k, v) => match nth(doc, m, *n) {
            Some((_, _, rec)) => {
                let v: ScalarValue = match v {
                    Value::Int(i) => (*i).into(),
                    Value::Text(t) => t.as_str().into(),
                    Value::Bool(b) => (*b).into(),
                    Value::Null => ScalarValue::Null,
                };
                doc.put(&rec, k.as_str(), v).is_ok()
            }
            None => false,
        },
        Edit::DeleteRecord(m, n) => match nth(doc, m, *n) {
            Some((m, k, _)) => doc.delete(&m, k.as_str()).is_ok(),
            None => false,
        },
        Edit::NestList(m, n, k) => match nth(doc, m, *n) {
            Some((_, _, rec)) => doc.put_object(&rec, k.as_str(), ObjType::List).is_ok(),
            None => false,
        },
    };
    doc.commit();
}

fn run(ledger: &mut Ledger, args: &[&str]) -> Captured {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    halfsky_node::cli::execute_args(ledger, Path::new("/"), &args)
}

/// Opens, reindexes and exports every kind: each must succeed.
fn still_reads(township: &mut Ledger, dir: &Path) {
    let reply = run(township, &["reindex"]);
    assert_eq!(reply.code, 0, "{}", reply.stderr);
    for kind in halfsky_shared::Kind::ALL {
        let out = dir.join(format!("{}.csv", kind.spec().name));
        let reply = run(
            township,
            &[
                "export",
                "--kind",
                kind.spec().name,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(reply.code, 0, "{kind:?}: {}", reply.stderr);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_changes_never_break_open_reindex_or_export(
        edits in proptest::collection::vec(edit(), 1..8),
        through_the_door in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let org = OrgCode::parse(VILLAGE).unwrap();
        let village_home = new_home(dir.path(), org, "红星村");
        let township_home = new_home(dir.path(), OrgCode::parse(TOWNSHIP).unwrap(), "兴隆镇");
        let mut village = Ledger::open(&village_home).unwrap();
        fill_village(&mut village, 2, 21);
        let real = Replica::changes_since(&mut village, &org, &[]).unwrap().unwrap();
        let mut doc = AutoCommit::new().with_actor(ActorId::from([5u8; 16]));
        doc.apply_changes(
            real.iter().map(|r| automerge::Change::from_bytes(r.clone()).unwrap()).collect::<Vec<_>>(),
        ).unwrap();
        let base = doc.get_heads();
        for e in &edits {
            apply(&mut doc, e);
        }
        let hostile: Vec<automerge::Change> = doc.get_changes(&base).into_iter().collect();
        let mut township = Ledger::open(&township_home).unwrap();
        if through_the_door {
            let mut batch = real.clone();
            batch.extend(hostile.iter().map(|c| c.raw_bytes().to_vec()));
            // Refused or admitted: either way the township keeps working.
            let _ = Replica::apply_changes(&mut township, "230129100201/v1", &org, batch, Delivery::CatchUp);
        } else {
            let mut all: Vec<automerge::Change> =
                real.iter().map(|r| automerge::Change::from_bytes(r.clone()).unwrap()).collect();
            all.extend(hostile);
            township.apply_changes(org, all).unwrap();
        }
        still_reads(&mut township, dir.path());
        drop(township);
        let mut township = Ledger::open(&township_home).unwrap();
        still_reads(&mut township, dir.path());
    }
}
