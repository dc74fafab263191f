//! How a push's changes are packed: zstd with a dictionary both ends already hold, the
//! raw bytes of the changes at the push's base heads and of their direct dependencies.
//! A live push is usually one record and its attestation, and the push before it was
//! the same shape (field names, actor, author note, certificate-free attestation), so
//! that dictionary halves what plain zstd of the push leaves (benchmark figure 17).

use automerge::{Change, ChangeHash};

use super::Replica;
use crate::org::OrgCode;
use crate::wire::MAX_FRAME;

/// Most dictionary bytes (the last ones of base dependencies then base changes): a base
/// head that is a large change (a whole import) adds nothing worth its cost.
const DICTIONARY_BYTES: usize = 16 * 1024;
/// First bytes of every dictionary: raw content that cannot begin with zstd's
/// dictionary magic number, whatever the changes hold.
const DICTIONARY_START: &[u8] = b"halfsky push\0";
/// zstd level of packed pushes, as for frames: level 19 saved a few more bytes but
/// cost milliseconds per push and hop (a large match finder loaded with the dictionary).
const LEVEL: i32 = 9;

/// The dictionary for a push on `base` of `org`: `None` if this side lacks a change of
/// it (then the push cannot be unpacked here, and a sync round is due).
pub(super) fn dictionary<R: Replica>(
    replica: &mut R,
    org: &OrgCode,
    base: &[ChangeHash],
) -> Result<Option<Vec<u8>>, String> {
    let Some(heads) = replica.raw_changes(org, base).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let mut deps: Vec<ChangeHash> = Vec::new();
    for raw in &heads {
        // Held changes parse; one that would not only makes the dictionary smaller.
        if let Ok(change) = Change::from_bytes(raw.clone()) {
            deps.extend(change.deps().iter().copied());
        }
    }
    deps.sort();
    deps.dedup();
    let Some(below) = replica.raw_changes(org, &deps).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let mut content: Vec<u8> = below.into_iter().chain(heads).flatten().collect();
    if content.len() > DICTIONARY_BYTES {
        content.drain(..content.len() - DICTIONARY_BYTES);
    }
    // A fixed start, so zstd never takes the content for a trained dictionary.
    let mut dict = DICTIONARY_START.to_vec();
    dict.extend(content);
    Ok(Some(dict))
}

/// Packs raw changes with `dict`.
pub(super) fn pack(changes: &[Vec<u8>], dict: &[u8]) -> Result<Vec<u8>, String> {
    let plain = postcard::to_allocvec(changes).map_err(|e| e.to_string())?;
    zstd::bulk::Compressor::with_dictionary(LEVEL, dict)
        .and_then(|mut c| c.compress(&plain))
        .map_err(|e| format!("cannot compress a push: {e}"))
}

/// Unpacks what [`pack`] made with the same `dict`; at most [`MAX_FRAME`] bytes.
pub(super) fn unpack(packed: &[u8], dict: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let plain = zstd::bulk::Decompressor::with_dictionary(dict)
        .and_then(|mut d| d.decompress(packed, MAX_FRAME))
        .map_err(|e| format!("bad compressed push: {e}"))?;
    postcard::from_bytes(&plain).map_err(|e| format!("malformed push: {e}"))
}
