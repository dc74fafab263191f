//! The index's ID-number rows (`i` + this node's key of the number + `\0` + woman id):
//! kept as records change, and read to find a woman registered twice.

use halfsky_shared::{Record, RecordId};

use super::{Index, IndexError, IndexedRecord, Overlay};
use crate::store::Table;

/// `i` + ID-number hash + `\0` + woman id: one row per woman of that number.
fn id_hash_key(hash: &str, id: &RecordId) -> Vec<u8> {
    let mut k = vec![b'i'];
    k.extend_from_slice(hash.as_bytes());
    k.push(0);
    k.extend_from_slice(id.to_string().as_bytes());
    k
}

impl Index {
    pub(super) fn update_id_hash(
        &self,
        overlay: &mut Overlay<'_>,
        old: Option<&IndexedRecord>,
        new: Option<&Record>,
    ) {
        if let Some(o) = old {
            if let Some(h) = o.record.meta.id_hash.as_deref() {
                overlay.remove(id_hash_key(h, &o.record.id));
            }
        }
        if let Some(record) = new.filter(|r| !r.meta.retired) {
            if let Some(h) = record.meta.id_hash.as_deref() {
                overlay.put(id_hash_key(h, &record.id), Vec::new());
            }
        }
    }

    /// Every woman (not retired) registered with this ID-number hash.
    pub fn women_with_id_hash(&self, hash: &str) -> Result<Vec<RecordId>, IndexError> {
        let mut prefix = vec![b'i'];
        prefix.extend_from_slice(hash.as_bytes());
        prefix.push(0);
        let mut out = Vec::new();
        for item in self.store.scan_prefix(Table::Index, &prefix) {
            let (key, _) = item?;
            if let Ok(id) = RecordId::parse(&String::from_utf8_lossy(&key[prefix.len()..])) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// The woman already registered with this ID-number hash, if any.
    pub fn woman_with_id_hash(&self, hash: &str) -> Result<Option<RecordId>, IndexError> {
        Ok(self.women_with_id_hash(hash)?.into_iter().next())
    }

    /// Women under `org_prefix` registered under the same ID-number hash: one group
    /// (of two or more) per number, in hash order. The hashes stay here.
    pub fn duplicate_women(&self, org_prefix: &str) -> Result<Vec<Vec<RecordId>>, IndexError> {
        let mut groups: Vec<Vec<RecordId>> = Vec::new();
        let mut current: Option<(Vec<u8>, Vec<RecordId>)> = None;
        for item in self.store.scan_prefix(Table::Index, b"i") {
            let (key, _) = item?;
            let Some(split) = key.iter().position(|b| *b == 0) else {
                continue;
            };
            let (hash, id) = (&key[1..split], &key[split + 1..]);
            let Ok(id) = RecordId::parse(&String::from_utf8_lossy(id)) else {
                continue;
            };
            if !id.to_string().starts_with(org_prefix) {
                continue;
            }
            match &mut current {
                Some((h, ids)) if h.as_slice() == hash => ids.push(id),
                _ => {
                    if let Some((_, ids)) = current.take().filter(|(_, ids)| ids.len() > 1) {
                        groups.push(ids);
                    }
                    current = Some((hash.to_vec(), vec![id]));
                }
            }
        }
        if let Some((_, ids)) = current.filter(|(_, ids)| ids.len() > 1) {
            groups.push(ids);
        }
        Ok(groups)
    }
}
