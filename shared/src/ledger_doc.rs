//! The one place where ledger records map onto an Automerge document.
//!
//! One document per org unit, id = its code. Layout:
//!
//! ```text
//! ROOT
//!   meta:        { org, level, schema, name }
//!   households:  { <record id>: { _fields: JSON, <field>: scalar, _created_at, … } }
//!   women:       { … }   (one map per kind, keyed by the kind's plural)
//! ```
//!
//! A record's fields as first written are one JSON scalar (`_fields`): a woman's card
//! is ~5 operations instead of ~15, and Automerge's cost is per operation (measured:
//! 1,540 records/s with 13 field keys, 18,300/s with one). Every later update writes
//! the changed fields as keys of their own, which override `_fields`; a cleared field
//! is an explicit null. So concurrent edits of different fields still merge, and
//! concurrent edits of one field still keep both values (a visible conflict).
//!
//! Every document starts with a *genesis* change that is byte-identical on every device
//! (fixed actor derived from the org code, time 0), so two devices that create the same
//! document independently share its kind maps instead of racing to create rival ones
//! (a concurrent `put_object` on one key keeps only one map visible).
//!
//! Each logical edit is one change whose message (JSON) names the operation, the record
//! and the author, so the document's history is the audit trail.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, AutomergeError, ChangeHash, ObjId, ObjType, Patch, Prop, ReadDoc,
    ScalarValue, ROOT,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::org::OrgCode;
use crate::record::{Fields, Record, RecordId, RecordMeta};
use crate::schema::{FieldType, Kind, Value};

/// Version of the document layout written into `meta.schema`.
pub const SCHEMA_VERSION: i64 = 1;

/// Who makes an edit and when (seconds since the Unix epoch).
#[derive(Debug, Clone)]
pub struct Author {
    /// `<org>/<device name>`, shown in history.
    pub device: String,
    /// Time of the edit, seconds since the epoch (UTC).
    pub time: i64,
}

/// Why a document operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// The document bytes are not a valid Automerge document.
    #[error("the document data is damaged")]
    Corrupt(#[source] Box<AutomergeError>),
    /// The document lacks the genesis layout (not a halfsky ledger).
    #[error("the document is not a halfsky ledger (no {0} map)")]
    NotALedger(&'static str),
    /// The record is not in this document.
    #[error("no record {0} in this ledger")]
    NoSuchRecord(RecordId),
    /// The record already exists.
    #[error("record {0} already exists")]
    DuplicateId(RecordId),
    /// The record belongs to another org's document.
    #[error("record {id} belongs to org {}, not to this ledger ({org})", id.org())]
    WrongOrg {
        /// The record.
        id: RecordId,
        /// This document's org.
        org: OrgCode,
    },
    /// An Automerge operation failed.
    #[error("ledger document operation failed")]
    Automerge(#[source] Box<AutomergeError>),
}

impl From<AutomergeError> for DocError {
    fn from(e: AutomergeError) -> Self {
        DocError::Automerge(Box::new(e))
    }
}

/// What a change message says (stored as JSON in the change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeNote {
    /// `genesis`, `name`, `add`, `update` or `retire`.
    pub op: String,
    /// The record touched, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The author device.
    #[serde(default)]
    pub by: String,
    /// Fields written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Free text (retirement reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One entry of a record's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Change hash (hex).
    pub change: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// The operation.
    pub op: String,
    /// Author device: the device whose attestation covers the change when there is
    /// one (see `verified`), else what the writer claimed.
    pub by: String,
    /// Whether `by` comes from a device attestation (checked against the CA when the
    /// change arrived) rather than the writer's own note.
    #[serde(default)]
    pub verified: bool,
    /// Fields written, each with the value it was given (as displayed).
    pub values: Vec<(String, String)>,
    /// Retirement reason, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An org unit's ledger document.
#[derive(Debug)]
pub struct LedgerDoc {
    doc: AutoCommit,
    org: OrgCode,
}

const META: &str = "meta";

/// The deterministic actor of the genesis change of `org`'s document.
fn genesis_actor(org: &OrgCode) -> ActorId {
    let digest = Sha256::digest(format!("halfsky-genesis/{org}").as_bytes());
    ActorId::from(&digest[..16])
}

fn scalar(value: &Value) -> ScalarValue {
    match value {
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Int(i) => ScalarValue::Int(*i),
        Value::Text(s) => ScalarValue::Str(s.as_str().into()),
        Value::List(items) => ScalarValue::Str(
            serde_json::to_string(items)
                .expect("a list of strings serializes")
                .into(),
        ),
    }
}

/// Key of the JSON scalar holding a record's fields as first written.
const FIELDS_KEY: &str = "_fields";

/// From how many records of one kind [`LedgerDoc::records_flagged`] walks the kind's
/// whole map rather than looking each one up.
const BULK_READ_FROM: usize = 32;

/// A stored field value, or an explicit "cleared".
enum Stored {
    Set(Value),
    Cleared,
}

fn stored_of(field_ty: Option<&FieldType>, v: &automerge::Value<'_>) -> Option<Stored> {
    match v {
        automerge::Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Null) => {
            Some(Stored::Cleared)
        }
        _ => value_of(field_ty, v).map(Stored::Set),
    }
}

fn value_of(field_ty: Option<&FieldType>, v: &automerge::Value<'_>) -> Option<Value> {
    let automerge::Value::Scalar(s) = v else {
        return None;
    };
    Some(match (s.as_ref(), field_ty) {
        (ScalarValue::Str(text), Some(FieldType::EnumList(_) | FieldType::RefList(_))) => {
            Value::List(serde_json::from_str(text).unwrap_or_else(|_| vec![text.to_string()]))
        }
        (ScalarValue::Str(text), _) => Value::Text(text.to_string()),
        (ScalarValue::Int(i), _) => Value::Int(*i),
        (ScalarValue::Uint(u), _) => Value::Int(*u as i64),
        (ScalarValue::F64(f), _) => Value::Int(*f as i64),
        (ScalarValue::Boolean(b), _) => Value::Bool(*b),
        _ => return None,
    })
}

fn display(kind: Kind, key: &str, value: &Value) -> String {
    match kind.spec().field(key) {
        Some(field) if !key.starts_with('_') => value.display(&field.ty),
        _ => value.display(&FieldType::Text),
    }
}

impl LedgerDoc {
    /// The genesis document of `org` (identical bytes on every device).
    pub fn genesis(org: OrgCode) -> AutoCommit {
        let mut doc = AutoCommit::new().with_actor(genesis_actor(&org));
        let meta = doc
            .put_object(ROOT, META, ObjType::Map)
            .expect("fresh document accepts puts");
        doc.put(&meta, "org", org.as_str()).expect("put org");
        doc.put(&meta, "level", org.level().as_str())
            .expect("put level");
        doc.put(&meta, "schema", SCHEMA_VERSION)
            .expect("put schema");
        for kind in Kind::ALL {
            doc.put_object(ROOT, kind.spec().plural, ObjType::Map)
                .expect("put kind map");
        }
        let note = ChangeNote {
            op: "genesis".into(),
            id: None,
            by: String::new(),
            fields: vec![],
            note: None,
        };
        doc.commit_with(
            CommitOptions::default()
                .with_message(serde_json::to_string(&note).expect("note serializes"))
                .with_time(0),
        );
        doc
    }

    /// A new document for `org`, edited from now on as `actor`.
    pub fn create(org: OrgCode, actor: ActorId) -> Self {
        let mut doc = Self::genesis(org);
        doc.set_actor(actor);
        LedgerDoc { doc, org }
    }

    /// Wraps a loaded Automerge document as `org`'s ledger. A malformed document (a
    /// kind map deleted or replaced by another node) still opens: reading never fails
    /// as a whole, so one bad change cannot brick a node; a missing kind map reads as
    /// empty, and only writing to it fails.
    pub fn from_automerge(mut doc: AutoCommit, org: OrgCode, actor: ActorId) -> Self {
        doc.set_actor(actor);
        LedgerDoc { doc, org }
    }

    /// Loads saved bytes (snapshot followed by incremental chunks).
    pub fn load(bytes: &[u8], org: OrgCode, actor: ActorId) -> Result<Self, DocError> {
        let doc = AutoCommit::load(bytes).map_err(|e| DocError::Corrupt(Box::new(e)))?;
        Ok(Self::from_automerge(doc, org, actor))
    }

    /// The org unit this document belongs to.
    pub fn org(&self) -> OrgCode {
        self.org
    }

    /// The underlying Automerge document (for saving and syncing).
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// Current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The map holding `kind`'s records, for writing: its absence is an error.
    fn kind_map(&self, kind: Kind) -> Result<ObjId, DocError> {
        self.kind_map_if_any(kind)?
            .ok_or(DocError::NotALedger(kind.spec().plural))
    }

    /// The map holding `kind`'s records, for reading: absent (deleted or replaced by
    /// a malformed change) reads as no records.
    fn kind_map_if_any(&self, kind: Kind) -> Result<Option<ObjId>, DocError> {
        Ok(match self.doc.get(ROOT, kind.spec().plural)? {
            Some((automerge::Value::Object(ObjType::Map), id)) => Some(id),
            _ => None,
        })
    }

    fn record_obj(&self, id: &RecordId) -> Result<Option<ObjId>, DocError> {
        let Some(map) = self.kind_map_if_any(id.kind())? else {
            return Ok(None);
        };
        Ok(match self.doc.get(&map, id.to_string())? {
            Some((automerge::Value::Object(ObjType::Map), obj)) => Some(obj),
            _ => None,
        })
    }

    fn commit(&mut self, note: &ChangeNote, time: i64) -> Option<ChangeHash> {
        self.doc.commit_with(
            CommitOptions::default()
                .with_message(serde_json::to_string(note).expect("note serializes"))
                .with_time(time),
        )
    }

    /// The unit's display name.
    pub fn name(&self) -> Option<String> {
        let meta = match self.doc.get(ROOT, META).ok()?? {
            (automerge::Value::Object(ObjType::Map), id) => id,
            _ => return None,
        };
        let (v, _) = self.doc.get(&meta, "name").ok()??;
        v.as_str().map(str::to_string)
    }

    /// Sets the unit's display name (one change).
    pub fn set_name(&mut self, name: &str, author: &Author) -> Result<(), DocError> {
        let meta = match self.doc.get(ROOT, META)? {
            Some((automerge::Value::Object(ObjType::Map), id)) => id,
            _ => return Err(DocError::NotALedger(META)),
        };
        self.doc.put(&meta, "name", name)?;
        let note = ChangeNote {
            op: "name".into(),
            id: None,
            by: author.device.clone(),
            fields: vec!["name".into()],
            note: None,
        };
        self.commit(&note, author.time);
        Ok(())
    }

    fn check_org(&self, id: &RecordId) -> Result<(), DocError> {
        if id.org() != self.org {
            return Err(DocError::WrongOrg {
                id: id.clone(),
                org: self.org,
            });
        }
        Ok(())
    }

    /// Adds a new record (one change). Fields must already be validated.
    pub fn insert(
        &mut self,
        id: &RecordId,
        fields: &Fields,
        id_sealed: Option<&str>,
        author: &Author,
    ) -> Result<ChangeHash, DocError> {
        self.check_org(id)?;
        if self.record_obj(id)?.is_some() {
            return Err(DocError::DuplicateId(id.clone()));
        }
        let map = self.kind_map(id.kind())?;
        let obj = self.doc.put_object(&map, id.to_string(), ObjType::Map)?;
        let now = time_text(author.time);
        let blob = serde_json::to_string(fields).expect("field values serialize");
        self.doc.put(&obj, FIELDS_KEY, blob)?;
        // `_updated_*` are written by the first update; until then they read as the
        // creation (two ops fewer per record: inserts dominate bulk imports).
        self.doc.put(&obj, "_created_at", now.as_str())?;
        self.doc.put(&obj, "_created_by", author.device.as_str())?;
        if let Some(sealed) = id_sealed {
            self.doc.put(&obj, "_id_sealed", sealed)?;
        }
        // The fields an add wrote are the keys of `_fields`; not repeated here.
        let note = ChangeNote {
            op: "add".into(),
            id: Some(id.to_string()),
            by: author.device.clone(),
            fields: Vec::new(),
            note: None,
        };
        Ok(self
            .commit(&note, author.time)
            .expect("an insert always has ops"))
    }

    /// Changes some fields of a record (one change); `cleared` fields are removed.
    /// Returns `None` when nothing actually changed.
    pub fn update(
        &mut self,
        id: &RecordId,
        fields: &Fields,
        cleared: &[String],
        id_sealed: Option<&str>,
        author: &Author,
    ) -> Result<Option<ChangeHash>, DocError> {
        self.check_org(id)?;
        let obj = self
            .record_obj(id)?
            .ok_or_else(|| DocError::NoSuchRecord(id.clone()))?;
        let (current, _) = self
            .record_flagged(id)?
            .ok_or_else(|| DocError::NoSuchRecord(id.clone()))?;
        let mut written = Vec::new();
        for (key, value) in fields {
            let conflicted = self.doc.get_all(&obj, key.as_str())?.len() > 1;
            // Writing the value already there makes no change, unless it settles a conflict.
            if current.fields.get(key) != Some(value) || conflicted {
                self.doc.put(&obj, key.as_str(), scalar(value))?;
                written.push(key.clone());
            }
        }
        for key in cleared {
            if current.fields.contains_key(key) {
                self.doc.put(&obj, key.as_str(), ScalarValue::Null)?;
                written.push(key.clone());
            }
        }
        if let Some(sealed) = id_sealed {
            self.doc.put(&obj, "_id_sealed", sealed)?;
            if !written.iter().any(|k| k == "id_number") {
                written.push("id_number".into());
            }
        }
        if written.is_empty() {
            self.doc.rollback();
            return Ok(None);
        }
        self.doc
            .put(&obj, "_updated_at", time_text(author.time).as_str())?;
        self.doc.put(&obj, "_updated_by", author.device.as_str())?;
        let note = ChangeNote {
            op: "update".into(),
            id: Some(id.to_string()),
            by: author.device.clone(),
            fields: written,
            note: None,
        };
        Ok(self.commit(&note, author.time))
    }

    /// Retires a record: it stays, with its history, but leaves the statistics.
    pub fn retire(
        &mut self,
        id: &RecordId,
        reason: &str,
        author: &Author,
    ) -> Result<ChangeHash, DocError> {
        self.check_org(id)?;
        let obj = self
            .record_obj(id)?
            .ok_or_else(|| DocError::NoSuchRecord(id.clone()))?;
        self.doc.put(&obj, "_retired", true)?;
        self.doc.put(&obj, "_retired_reason", reason)?;
        self.doc
            .put(&obj, "_updated_at", time_text(author.time).as_str())?;
        self.doc.put(&obj, "_updated_by", author.device.as_str())?;
        let note = ChangeNote {
            op: "retire".into(),
            id: Some(id.to_string()),
            by: author.device.clone(),
            fields: vec![],
            note: Some(reason.to_string()),
        };
        Ok(self
            .commit(&note, author.time)
            .expect("a retire always has ops"))
    }

    /// Reads one record (winning values where devices wrote concurrently).
    pub fn record(&self, id: &RecordId) -> Result<Option<Record>, DocError> {
        Ok(self.record_flagged(id)?.map(|(record, _)| record))
    }

    /// Reads one record and whether any of its fields holds concurrent values.
    pub fn record_flagged(&self, id: &RecordId) -> Result<Option<(Record, bool)>, DocError> {
        let Some(obj) = self.record_obj(id)? else {
            return Ok(None);
        };
        self.record_at(id, &obj).map(Some)
    }

    /// [`LedgerDoc::record_flagged`] for many records: each kind's map is walked once
    /// instead of looked up per record, which was a fifth of indexing a catch-up of
    /// thousands. Records not in the document are absent from the answer.
    pub fn records_flagged<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a RecordId>,
    ) -> Result<HashMap<RecordId, (Record, bool)>, DocError> {
        let mut by_kind: BTreeMap<Kind, HashMap<String, &RecordId>> = BTreeMap::new();
        for id in ids {
            by_kind
                .entry(id.kind())
                .or_default()
                .insert(id.to_string(), id);
        }
        let mut out = HashMap::new();
        for (kind, wanted) in by_kind {
            if wanted.len() < BULK_READ_FROM {
                for id in wanted.into_values() {
                    if let Some(found) = self.record_flagged(id)? {
                        out.insert(id.clone(), found);
                    }
                }
                continue;
            }
            let Some(map) = self.kind_map_if_any(kind)? else {
                continue;
            };
            for item in self.doc.map_range(&map, ..) {
                let Some(id) = wanted.get(item.key.as_ref()) else {
                    continue;
                };
                if let automerge::ValueRef::Object(ObjType::Map) = item.value {
                    out.insert((*id).clone(), self.record_at(id, &item.id())?);
                }
            }
        }
        Ok(out)
    }

    fn record_at(&self, id: &RecordId, obj: &ObjId) -> Result<(Record, bool), DocError> {
        let mut conflicted = false;
        let spec = id.kind().spec();
        let mut fields = Fields::new();
        let mut meta = RecordMeta::default();
        // One pass over the record's keys. Fields written one by one (`Some`) or
        // cleared (`None`) override the blob of fields an add wrote, wherever
        // `_fields` sorts among them.
        let mut written: Vec<(String, Option<Value>)> = Vec::new();
        for item in self.doc.map_range(obj, ..) {
            let key = item.key.as_ref();
            // Concurrent bookkeeping (`_updated_at`…) is not a conflict a person resolves.
            conflicted |= item.conflict && !key.starts_with('_');
            let value = item.value.into_value();
            if key == FIELDS_KEY {
                if let automerge::Value::Scalar(blob) = &value {
                    if let ScalarValue::Str(text) = blob.as_ref() {
                        fields = serde_json::from_str(text).unwrap_or_default();
                    }
                }
                continue;
            }
            let field = spec.field_named(key);
            let value = match stored_of(field.map(|f| &f.ty), &value) {
                Some(Stored::Set(value)) => value,
                Some(Stored::Cleared) => {
                    written.push((key.to_string(), None));
                    continue;
                }
                None => continue,
            };
            let text = || value.as_text().unwrap_or_default().to_string();
            match key {
                "_created_at" => meta.created_at = text(),
                "_created_by" => meta.created_by = text(),
                "_updated_at" => meta.updated_at = text(),
                "_updated_by" => meta.updated_by = text(),
                "_retired" => meta.retired = value.as_bool().unwrap_or(false),
                "_retired_reason" => meta.retired_reason = Some(text()),
                "_id_hash" => meta.id_hash = Some(text()),
                "_id_sealed" => meta.id_sealed = Some(text()),
                _ if key.starts_with('_') => {}
                _ => written.push((key.to_string(), Some(value))),
            }
        }
        for (key, value) in written {
            match value {
                Some(value) => fields.insert(key, value),
                None => fields.remove(&key),
            };
        }
        if meta.updated_at.is_empty() {
            meta.updated_at = meta.created_at.clone();
            meta.updated_by = meta.created_by.clone();
        }
        Ok((
            Record {
                id: id.clone(),
                fields,
                meta,
            },
            conflicted,
        ))
    }

    /// Fields of a record that hold several concurrent values, each value displayed.
    pub fn conflicts(&self, id: &RecordId) -> Result<BTreeMap<String, Vec<String>>, DocError> {
        let obj = self
            .record_obj(id)?
            .ok_or_else(|| DocError::NoSuchRecord(id.clone()))?;
        let spec = id.kind().spec();
        let mut out = BTreeMap::new();
        for item in self.doc.map_range(&obj, ..) {
            if !item.conflict || item.key.starts_with('_') {
                continue;
            }
            let key = item.key.to_string();
            let field = spec.field_named(&key);
            let values = self
                .doc
                .get_all(&obj, key.as_str())?
                .iter()
                .filter_map(|(v, _)| value_of(field.map(|f| &f.ty), v))
                .map(|v| display(id.kind(), &key, &v))
                .collect();
            out.insert(key, values);
        }
        Ok(out)
    }

    /// Ids of every record of `kind` in this document.
    /// A missing kind map reads as empty; keys that are not ids of `kind` are skipped.
    pub fn ids(&self, kind: Kind) -> Result<Vec<RecordId>, DocError> {
        let Some(map) = self.kind_map_if_any(kind)? else {
            return Ok(Vec::new());
        };
        Ok(self
            .doc
            .keys(&map)
            .filter_map(|k| RecordId::parse(&k).ok())
            .filter(|id| id.kind() == kind)
            .collect())
    }

    /// History of one record, oldest first, from the change messages.
    pub fn history(&mut self, id: &RecordId) -> Result<Vec<HistoryEntry>, DocError> {
        let obj = self
            .record_obj(id)?
            .ok_or_else(|| DocError::NoSuchRecord(id.clone()))?;
        let wanted = id.to_string();
        let mut entries = Vec::new();
        let changes = self.doc.get_changes(&[]);
        let attested = crate::attestation::attesting_devices(&changes);
        for change in changes {
            let Some(note) = change
                .message()
                .and_then(|m| serde_json::from_str::<ChangeNote>(m).ok())
            else {
                continue;
            };
            if note.id.as_deref() != Some(wanted.as_str()) {
                continue;
            }
            let heads = [change.hash()];
            let blob: Fields = match self.doc.get_at(&obj, FIELDS_KEY, &heads)? {
                Some((automerge::Value::Scalar(b), _)) => match b.as_ref() {
                    ScalarValue::Str(text) => serde_json::from_str(text).unwrap_or_default(),
                    _ => Fields::new(),
                },
                _ => Fields::new(),
            };
            let mut values = Vec::new();
            let written: Vec<String> = if note.op == "add" && note.fields.is_empty() {
                blob.keys().cloned().collect()
            } else {
                note.fields.clone()
            };
            for key in &written {
                let field = id.kind().spec().field(key);
                let stored = self
                    .doc
                    .get_at(&obj, key.as_str(), &heads)?
                    .and_then(|(v, _)| stored_of(field.map(|f| &f.ty), &v));
                let shown = match stored {
                    Some(Stored::Set(v)) => display(id.kind(), key, &v),
                    Some(Stored::Cleared) => "(cleared)".into(),
                    None => blob
                        .get(key)
                        .map(|v| display(id.kind(), key, v))
                        .unwrap_or_else(|| "(cleared)".into()),
                };
                values.push((key.clone(), shown));
            }
            let verified = crate::attestation::verified_device(&attested, &change)
                .map(|device| format!("{}/{device}", self.org));
            entries.push(HistoryEntry {
                change: change.hash().to_string(),
                time: change.timestamp(),
                op: note.op,
                verified: verified.is_some(),
                by: verified.unwrap_or(note.by),
                values,
                note: note.note,
            });
        }
        entries.sort_by_key(|e| e.time);
        Ok(entries)
    }
}

/// What a batch of patches touched: records (by id) and whether `meta` changed.
#[derive(Debug, Default, PartialEq)]
pub struct Touched {
    /// Records whose fields, existence or retirement changed.
    pub records: BTreeSet<RecordId>,
    /// The unit's meta (name) changed.
    pub meta: bool,
}

/// Reads which records a list of patches (from `diff`/`diff_incremental`) touched.
pub fn touched(patches: &[Patch]) -> Touched {
    let mut out = Touched::default();
    let key_of = |prop: &Prop| match prop {
        Prop::Map(k) => Some(k.clone()),
        Prop::Seq(_) => None,
    };
    for patch in patches {
        let mut path: Vec<String> = patch.path.iter().filter_map(|(_, p)| key_of(p)).collect();
        match &patch.action {
            automerge::PatchAction::PutMap { key, .. }
            | automerge::PatchAction::DeleteMap { key } => path.push(key.clone()),
            _ => {}
        }
        match path.as_slice() {
            [top, ..] if top == META => out.meta = true,
            [_, id, ..] => {
                if let Ok(id) = RecordId::parse(id) {
                    out.records.insert(id);
                }
            }
            _ => {}
        }
    }
    out
}

/// RFC 3339 text of a Unix time in seconds.
pub fn time_text(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests;
