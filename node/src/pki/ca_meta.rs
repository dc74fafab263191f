//! The `meta` map of the CA unit's (the city's) document, where the CA's signed
//! statements live: revocations (`revoked/…`) and ID key notices (`id_key/…`). That
//! document goes down the whole tree — a parent sends each child its ancestors'
//! documents, and every bundle acknowledgement carries it — so every node holds each
//! statement after its next sync, durably in its store. `meta` exists from the genesis
//! change, so two city devices never race to create it. Entries are only text here:
//! each reader checks the CA's signature before believing one.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ObjType, ReadDoc, ROOT};
use halfsky_shared::ledger_doc::{ChangeNote, DocError};
use halfsky_shared::OrgCode;

use crate::ledger::{Ledger, LedgerError};

/// Writes `text` under `key` in the `meta` map of `ca_org`'s document (this node must
/// be a node of that unit), with `note` as the change's note and `time` as its time.
/// `false` if the document has no `meta` map (damaged by another node).
pub fn put(
    ledger: &mut Ledger,
    ca_org: OrgCode,
    (key, text): (&str, &str),
    note: &ChangeNote,
    time: i64,
) -> Result<bool, LedgerError> {
    let written = ledger.with_automerge(ca_org, |doc| {
        let meta = match doc.get(ROOT, "meta") {
            Ok(Some((automerge::Value::Object(ObjType::Map), id))) => id,
            _ => return Ok(false),
        };
        doc.put(&meta, key, text)?;
        doc.commit_with(
            CommitOptions::default()
                .with_message(serde_json::to_string(note).expect("a note serializes"))
                .with_time(time),
        );
        Ok::<_, automerge::AutomergeError>(true)
    })?;
    written.map_err(|e| LedgerError::from(DocError::from(e)))
}

/// Every text under a key starting with `prefix` in the `meta` map of `ca_org`'s
/// document as this node holds it (concurrent writes of one key give each value); empty
/// while it does not hold that document. Reads without writing, so it may run while
/// the document is being stored.
pub fn entries(
    ledger: &mut Ledger,
    ca_org: OrgCode,
    prefix: &str,
) -> Result<Vec<String>, LedgerError> {
    if ledger.stored_heads(&ca_org)?.is_empty() {
        return Ok(Vec::new());
    }
    ledger.read_automerge(ca_org, |doc| {
        let Ok(Some((automerge::Value::Object(ObjType::Map), meta))) = doc.get(ROOT, "meta") else {
            return Vec::new();
        };
        let keys: Vec<String> = doc.keys(&meta).filter(|k| k.starts_with(prefix)).collect();
        let mut out = Vec::new();
        for key in keys {
            for (value, _) in doc.get_all(&meta, key.as_str()).unwrap_or_default() {
                if let Some(text) = value.as_str() {
                    out.push(text.to_string());
                }
            }
        }
        out
    })
}
