//! Record-level authority: what a change to document D may do, checked op by op
//! before the change is applied.
//!
//! How: each change's operations are decoded (`Change::decode`) and each op's object
//! is resolved against the current document (`parents` of the object id) or against
//! the objects created earlier in the same batch. That is exact (every op is seen)
//! and cheap (no copy of the document): the alternative, applying to a fork and
//! diffing, costs a fork of the whole document per batch and still has to map the
//! patches back to the change that made them.
//!
//! The rules (a change breaking one is refused; its dependents are held with it):
//! - the root of the document (meta and the kind maps) is written only by the
//!   genesis change, byte-identical on every device: no later change may delete or
//!   replace a kind map or `meta`, and `meta` takes only its `name` and CA-signed
//!   revocations (`revoked/<org>/<device>`, checked against the CA where read);
//! - a kind map takes only new records (a map under a record id of that kind and of
//!   D itself): never a record of another unit, never a deletion or replacement;
//! - a record takes only scalar puts of its known keys: bookkeeping (`_created_at`…)
//!   and the kind's fields, each value passing the schema as a local write would;
//! - every dependency of a change is in the document or in the batch.
//!
//! A field or enumeration code this release does not know (a newer release wrote it)
//! is refused with its own rule, `unknown-field` / `unknown-value`: the node keeps
//! the change (quarantined, listed with the value) rather than count a record it
//! cannot read; after an upgrade, releasing the quarantine applies it.
//!
//! Signed authorship ([`check_batch_signed`], [`crate::attestation`]): once the rules
//! above pass, every new change must lie below an attestation change of the batch
//! whose signature is a device certificate of unit D's, valid and not revoked when it
//! signed; a change no device of D attested is refused (`unattested`). `meta` also
//! takes a device's attestation (`signed/<device>`) and certificate (`devices/<device>`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::{ActorId, Change, ChangeHash, ObjId, ObjType, Prop, ReadDoc, ScalarValue, ROOT};
use chrono::NaiveDate;

use crate::attestation::DeviceKeys;
use crate::ledger_doc::LedgerDoc;
use crate::org::OrgCode;
use crate::record::RecordId;
use crate::schema::{FieldType, Kind, StoredValueError, Value};

/// Key prefix, in `meta`, of a CA-signed revocation ([`crate::revocation`]).
use crate::id_key_notice::META_PREFIX as ID_KEY_PREFIX;
use crate::revocation::META_PREFIX as REVOCATION_PREFIX;
/// Most hex characters of one signed revocation.
const MAX_REVOCATION_CHARS: usize = 2 * crate::ca_signed::MAX_SIGNED;

/// Which rule a change broke. The names are stable: logs, the refusal table and the
/// dashboard show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A record whose id belongs to another unit (or kind) than the map it is in.
    ForeignRecord,
    /// Writes the root, deletes or replaces a kind map, or changes `meta` beyond its name.
    ProtectedLayout,
    /// Deletes or replaces a record or field, or nests an object in a record.
    RecordShape,
    /// A field value the schema refuses.
    InvalidValue,
    /// A field this release does not know (a newer release may).
    UnknownField,
    /// An enumeration code this release does not know (a newer release may).
    UnknownValue,
    /// An op on an object that is neither in the document nor made by the batch.
    UnknownObject,
    /// A dependency that is neither in the document nor in the batch.
    MissingDependency,
    /// No attestation by a device certificate of the document's unit covers the change.
    Unattested,
}

impl Rule {
    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::ForeignRecord => "foreign-record",
            Rule::ProtectedLayout => "protected-layout",
            Rule::RecordShape => "record-shape",
            Rule::InvalidValue => "invalid-value",
            Rule::UnknownField => "unknown-field",
            Rule::UnknownValue => "unknown-value",
            Rule::UnknownObject => "unknown-object",
            Rule::MissingDependency => "missing-dependency",
            Rule::Unattested => "unattested",
        }
    }

    /// Whether breaking it quarantines the document. A missing dependency does not:
    /// the change is not bad, only early, and the sender offers it again with its
    /// dependency (sync) or from the acknowledged heads (bundles).
    pub fn quarantines(self) -> bool {
        // An unattested change is refused and recorded but holds nothing up: over a
        // link that drops mid-delivery, honest changes can arrive before the
        // attestation that covers them, and they come again with it.
        !matches!(self, Rule::MissingDependency | Rule::Unattested)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One refused change: which, the rule, and what exactly it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The change.
    pub change: ChangeHash,
    /// The rule it broke.
    pub rule: Rule,
    /// What it did, for a person (names the record, field or value).
    pub reason: String,
}

/// The outcome of [`check_batch`] over one document's batch.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// Changes to apply, in dependency order.
    pub admitted: Vec<Change>,
    /// Changes refused, each with its rule.
    pub refused: Vec<Refusal>,
    /// The refused changes and every change of the batch depending on one, in
    /// dependency order: what a quarantine holds.
    pub held: Vec<Change>,
    /// Changes of the batch the document already has (nothing to do).
    pub known: usize,
}

/// What an object of the document is, as far as the rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Obj {
    Root,
    Meta,
    KindMap(Kind),
    Record(RecordId),
}

/// Dates written on a device whose clock runs ahead of this node's (time zones,
/// skew) are not refused: one day of grace.
const CLOCK_GRACE_DAYS: u64 = 1;

/// Checks `changes` for `org`'s document `doc` (as it is now) by the record-level
/// rules only (no signed authorship: a node without a CA). Never panics on hostile
/// changes: they are refused.
pub fn check_batch(
    doc: &impl ReadDoc,
    org: OrgCode,
    changes: Vec<Change>,
    today: NaiveDate,
) -> Verdicts {
    check_batch_inner(doc, org, changes, today, None)
}

/// [`check_batch`], then signed authorship: every admitted change must be attested
/// by a device of `org` that `keys` accepts; the others are refused as `unattested`
/// and their dependents held.
pub fn check_batch_signed(
    doc: &impl ReadDoc,
    org: OrgCode,
    changes: Vec<Change>,
    today: NaiveDate,
    keys: &dyn DeviceKeys,
) -> Verdicts {
    check_batch_inner(doc, org, changes, today, Some(keys))
}

fn check_batch_inner(
    doc: &impl ReadDoc,
    org: OrgCode,
    changes: Vec<Change>,
    today: NaiveDate,
    keys: Option<&dyn DeviceKeys>,
) -> Verdicts {
    let today = today
        .checked_add_days(chrono::Days::new(CLOCK_GRACE_DAYS))
        .unwrap_or(today);
    let genesis = LedgerDoc::genesis(org).get_heads();
    let mut out = Verdicts::default();
    let mut fresh = Vec::new();
    for change in changes {
        if doc.get_change_by_hash(&change.hash()).is_some() {
            out.known += 1;
        } else {
            fresh.push(change);
        }
    }
    let batch: BTreeSet<ChangeHash> = fresh.iter().map(Change::hash).collect();
    let mut made: HashMap<(u64, ActorId), Obj> = HashMap::new();
    let mut resolved: HashMap<(u64, ActorId), Option<Obj>> = HashMap::new();
    let mut bad: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut signed: HashMap<ChangeHash, MetaPuts> = HashMap::new();
    for change in in_dependency_order(fresh) {
        let hash = change.hash();
        if change.deps().iter().any(|d| bad.contains(d)) {
            bad.insert(hash);
            out.held.push(change);
            continue;
        }
        let missing = change
            .deps()
            .iter()
            .find(|d| !batch.contains(d) && doc.get_change_by_hash(d).is_none());
        let verdict = match missing {
            Some(dep) => Err((
                Rule::MissingDependency,
                format!("it depends on change {dep}, which this node does not hold"),
            )),
            None => check_change(doc, org, &change, &genesis, &mut made, &mut resolved, today),
        };
        match verdict {
            Ok(puts) => {
                signed.insert(hash, puts);
                out.admitted.push(change)
            }
            Err((rule, reason)) => {
                bad.insert(hash);
                out.refused.push(Refusal {
                    change: hash,
                    rule,
                    reason,
                });
                out.held.push(change);
            }
        }
    }
    if let Some(keys) = keys {
        attest::require(doc, org, &genesis, &signed, keys, &mut out, &mut bad);
    }
    out
}

/// The batch sorted so that a change comes after those of its dependencies that are
/// in the batch (stable otherwise: among the changes ready at each step, the earliest
/// given goes first); a cycle (impossible for real hashes) keeps the rest in the order
/// given. Kahn's algorithm, O(n log n): a village's document is one long chain, which
/// sorting by repeated passes made quadratic (the county → city catch-up spent most of
/// its time there).
fn in_dependency_order(changes: Vec<Change>) -> Vec<Change> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let position: HashMap<ChangeHash, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.hash(), i))
        .collect();
    let mut waiting_on = vec![0usize; changes.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); changes.len()];
    for (i, change) in changes.iter().enumerate() {
        for dep in change.deps() {
            if let Some(&d) = position.get(dep) {
                if d != i {
                    waiting_on[i] += 1;
                    dependents[d].push(i);
                }
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..changes.len())
        .filter(|&i| waiting_on[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(changes.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &next in &dependents[i] {
            waiting_on[next] -= 1;
            if waiting_on[next] == 0 {
                ready.push(Reverse(next));
            }
        }
    }
    let mut placed = vec![false; changes.len()];
    for &i in &order {
        placed[i] = true;
    }
    order.extend((0..changes.len()).filter(|&i| !placed[i]));
    let mut slots: Vec<Option<Change>> = changes.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

type Verdict = Result<(), (Rule, String)>;

/// Decodes `change`'s ops (Automerge's decoder panics on some malformed actor
/// tables, so a panic is caught and refused) and checks each.
fn check_change(
    doc: &impl ReadDoc,
    org: OrgCode,
    change: &Change,
    genesis: &[ChangeHash],
    made: &mut HashMap<(u64, ActorId), Obj>,
    resolved: &mut HashMap<(u64, ActorId), Option<Obj>>,
    today: NaiveDate,
) -> Result<MetaPuts, (Rule, String)> {
    let expanded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| change.decode()))
        .map_err(|_| {
            (
                Rule::UnknownObject,
                "its operations cannot be decoded".to_string(),
            )
        })?;
    let start = change.start_op().get();
    if genesis.contains(&change.hash()) {
        // The genesis change (byte-identical everywhere) lays out meta and the kind maps.
        for (i, op) in expanded.operations.iter().enumerate() {
            if let (automerge::legacy::ObjectId::Root, automerge::legacy::Key::Map(key)) =
                (&op.obj, &op.key)
            {
                let obj = match key.as_str() {
                    "meta" => Some(Obj::Meta),
                    plural => Kind::ALL
                        .into_iter()
                        .find(|k| k.spec().plural == plural)
                        .map(Obj::KindMap),
                };
                if let Some(obj) = obj {
                    made.insert((start + i as u64, change.actor_id().clone()), obj);
                }
            }
        }
        return Ok(MetaPuts::default());
    }
    let mut puts = MetaPuts::default();
    let mut new_here = Vec::new();
    for (i, op) in expanded.operations.iter().enumerate() {
        let obj = match &op.obj {
            automerge::legacy::ObjectId::Root => Some(Obj::Root),
            automerge::legacy::ObjectId::Id(id) => {
                let key = (id.counter(), id.actor().clone());
                let here = new_here.iter().find(|(k, _)| *k == key).map(|(_, o)| o);
                match here.or_else(|| made.get(&key)) {
                    Some(obj) => Some(obj.clone()),
                    None => resolved
                        .entry(key)
                        .or_insert_with(|| {
                            existing(doc, ObjId::Id(id.counter(), id.actor().clone(), usize::MAX))
                        })
                        .clone(),
                }
            }
        };
        let Some(obj) = obj else {
            return Err((
                Rule::UnknownObject,
                "it writes into an object that is not part of a halfsky ledger".into(),
            ));
        };
        let key = match &op.key {
            automerge::legacy::Key::Map(k) => k.to_string(),
            automerge::legacy::Key::Seq(_) => {
                return Err((
                    Rule::RecordShape,
                    "it writes a list element; a ledger holds only maps".into(),
                ))
            }
        };
        if obj == Obj::Meta && puts.take(&key, &op.action) {
            continue;
        }
        puts.other = true;
        if let Some(record) = check_op(org, &obj, &key, &op.action, !op.pred.is_empty(), today)? {
            new_here.push(((start + i as u64, change.actor_id().clone()), record));
        }
    }
    // Objects this change makes become resolvable for the rest of the batch only once
    // the whole change passed.
    made.extend(new_here);
    Ok(puts)
}

/// Checks one op on `obj` at `key`; returns the record object it makes, if any.
fn check_op(
    org: OrgCode,
    obj: &Obj,
    key: &str,
    action: &automerge::legacy::OpType,
    replaces: bool,
    today: NaiveDate,
) -> Result<Option<Obj>, (Rule, String)> {
    use automerge::legacy::OpType;
    match obj {
        Obj::Root => Err((
            Rule::ProtectedLayout,
            format!("it writes \"{key}\" at the root of the document (only the genesis change lays out meta and the kind maps)"),
        )),
        Obj::Meta => match action {
            OpType::Put(ScalarValue::Str(name)) if key == "name" && name.chars().count() <= 200 => {
                Ok(None)
            }
            // A CA-signed revocation (`revoked/<org>/<device>` = hex) or ID key notice
            // (`id_key/<since>`), which the city's document carries down; its signature
            // is checked wherever it is read, so here only its shape: a bounded hex text
            // under such a key.
            OpType::Put(ScalarValue::Str(signed))
                if (key.starts_with(REVOCATION_PREFIX) || key.starts_with(ID_KEY_PREFIX))
                    && key.len() <= 100
                    && signed.len() <= MAX_REVOCATION_CHARS
                    && signed.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                Ok(None)
            }
            _ => Err((
                Rule::ProtectedLayout,
                format!("it changes meta.{key} (only the unit's name, CA-signed revocations and ID key notices may change)"),
            )),
        },
        Obj::KindMap(kind) => {
            let plural = kind.spec().plural;
            let Ok(id) = RecordId::parse(key) else {
                return Err((
                    Rule::RecordShape,
                    format!("it writes \"{key}\" into {plural}, which is not a record id"),
                ));
            };
            if id.org() != org {
                return Err((
                    Rule::ForeignRecord,
                    format!("it writes record {id}, which belongs to unit {}, into document {org}", id.org()),
                ));
            }
            if id.kind() != *kind {
                return Err((
                    Rule::ForeignRecord,
                    format!("it writes record {id}, a {}, into {plural}", id.kind().spec().name),
                ));
            }
            match action {
                OpType::Make(ObjType::Map) if !replaces => Ok(Some(Obj::Record(id))),
                OpType::Delete => Err((
                    Rule::RecordShape,
                    format!("it deletes record {id} (records are retired, never deleted)"),
                )),
                _ => Err((
                    Rule::RecordShape,
                    format!("it replaces record {id}"),
                )),
            }
        }
        Obj::Record(id) => check_record_op(id, key, action, today).map(|()| None),
    }
}

/// Keys of a record that are not fields, with the scalar type each holds.
const BOOKKEEPING: [(&str, Bookkeeping); 9] = [
    ("_fields", Bookkeeping::Fields),
    ("_created_at", Bookkeeping::Text),
    ("_created_by", Bookkeeping::Text),
    ("_updated_at", Bookkeeping::Text),
    ("_updated_by", Bookkeeping::Text),
    ("_retired", Bookkeeping::Bool),
    ("_retired_reason", Bookkeeping::Text),
    ("_id_hash", Bookkeeping::Text),
    ("_id_sealed", Bookkeeping::Text),
];

#[derive(Debug, Clone, Copy)]
enum Bookkeeping {
    Fields,
    Text,
    Bool,
}

fn check_record_op(
    id: &RecordId,
    key: &str,
    action: &automerge::legacy::OpType,
    today: NaiveDate,
) -> Verdict {
    use automerge::legacy::OpType;
    let OpType::Put(value) = action else {
        return Err((
            Rule::RecordShape,
            format!("it deletes or nests an object at {id}.{key} (records hold scalar values)"),
        ));
    };
    if let Some((_, book)) = BOOKKEEPING.iter().find(|(k, _)| *k == key) {
        return match (book, value) {
            (Bookkeeping::Fields, ScalarValue::Str(json)) => {
                let fields: BTreeMap<String, Value> = serde_json::from_str(json).map_err(|_| {
                    (
                        Rule::InvalidValue,
                        format!("{id}._fields is not a JSON map of field values"),
                    )
                })?;
                fields
                    .iter()
                    .try_for_each(|(name, value)| check_field(id, name, value, today))
            }
            (Bookkeeping::Text, ScalarValue::Str(text)) if text.chars().count() <= 500 => Ok(()),
            (Bookkeeping::Bool, ScalarValue::Boolean(_)) => Ok(()),
            _ => Err((
                Rule::InvalidValue,
                format!("{id}.{key} holds {value:?}, not the value halfsky writes there"),
            )),
        };
    }
    if key.starts_with('_') {
        return Err((
            Rule::UnknownField,
            format!("{id} gets \"{key}\", a key this release does not know; the sender may run a newer release"),
        ));
    }
    let field = id.kind().spec().field(key).filter(|f| f.name == key);
    let value = match (value, field.map(|f| &f.ty)) {
        (ScalarValue::Null, _) => return check_field_name(id, key),
        (ScalarValue::Str(text), Some(FieldType::EnumList(_) | FieldType::RefList(_))) => {
            match serde_json::from_str::<Vec<String>>(text) {
                Ok(items) => Value::List(items),
                Err(_) => {
                    return Err((Rule::InvalidValue, format!("{id}.{key} is not a JSON list")))
                }
            }
        }
        (ScalarValue::Str(text), _) => Value::Text(text.to_string()),
        (ScalarValue::Int(i), _) => Value::Int(*i),
        (ScalarValue::Boolean(b), _) => Value::Bool(*b),
        (other, _) => {
            return Err((
                Rule::InvalidValue,
                format!("{id}.{key} holds {other:?}, a type halfsky never writes"),
            ))
        }
    };
    check_field(id, key, &value, today)
}

fn check_field_name(id: &RecordId, name: &str) -> Verdict {
    match id.kind().spec().field(name).filter(|f| f.name == name) {
        Some(_) => Ok(()),
        None => Err((
            Rule::UnknownField,
            format!("{id} gets field \"{name}\", which this release does not know; the sender may run a newer release"),
        )),
    }
}

fn check_field(id: &RecordId, name: &str, value: &Value, today: NaiveDate) -> Verdict {
    check_field_name(id, name)?;
    let field = id.kind().spec().field(name).expect("checked above");
    field.check_stored(value, today).map_err(|e| match e {
        StoredValueError::Invalid(e) => (Rule::InvalidValue, format!("{id}: {e}")),
        StoredValueError::Unknown(e) => (Rule::UnknownValue, format!("{id}: {e}")),
    })
}

/// What an object of the current document is, from its path; `None` if it is not
/// a visible object of the ledger layout.
fn existing(doc: &impl ReadDoc, obj: ObjId) -> Option<Obj> {
    if doc.object_type(&obj).ok()? != ObjType::Map {
        return None;
    }
    let path = doc.parents(&obj).ok()?.visible_path()?;
    let key = |prop: &Prop| match prop {
        Prop::Map(k) => Some(k.clone()),
        Prop::Seq(_) => None,
    };
    match path.as_slice() {
        [(root, top)] if *root == ROOT => {
            let top = key(top)?;
            if top == "meta" {
                Some(Obj::Meta)
            } else {
                Kind::ALL
                    .into_iter()
                    .find(|k| k.spec().plural == top)
                    .map(Obj::KindMap)
            }
        }
        [(root, top), (_, record)] if *root == ROOT => {
            let top = key(top)?;
            let id = RecordId::parse(&key(record)?).ok()?;
            (id.kind().spec().plural == top).then_some(Obj::Record(id))
        }
        _ => None,
    }
}

mod attest;
use attest::MetaPuts;

#[cfg(test)]
mod tests;
