//! Catch-up batches: how a long run of changes is cut into `Changes` frames that are
//! each small enough to lose on a dropped link and each admissible on their own.

use super::BATCH_BYTES;
use crate::org::OrgCode;
use crate::wire::Frame;

/// Splits raw changes into `Changes` frames of about [`BATCH_BYTES`], each cut where
/// everything before it is attested ([`crate::attestation::attested_cuts`]), so every
/// batch passes signed-authorship admission on its own. A stretch with no such cut
/// grows past [`BATCH_BYTES`] up to a quarter of [`crate::wire::MAX_FRAME`], then is cut anyway.
pub fn batches(org: OrgCode, changes: Vec<Vec<u8>>) -> Vec<Frame> {
    let cuts = crate::attestation::attested_cuts(&changes);
    let hard = crate::wire::MAX_FRAME / 4;
    let mut out = Vec::new();
    let mut batch: Vec<Vec<u8>> = Vec::new();
    // Bytes in `batch`, and the length of its longest attested prefix with its bytes.
    let (mut size, mut cut, mut cut_size) = (0, 0, 0);
    for (change, can_cut) in changes.into_iter().zip(cuts) {
        if size + change.len() > BATCH_BYTES && !batch.is_empty() && (cut > 0 || size > hard) {
            let at = if cut > 0 { cut } else { batch.len() };
            let rest = batch.split_off(at);
            out.push(Frame::Changes {
                org,
                changes: std::mem::replace(&mut batch, rest),
            });
            size -= if cut > 0 { cut_size } else { size };
            (cut, cut_size) = (0, 0);
        }
        size += change.len();
        batch.push(change);
        if can_cut {
            (cut, cut_size) = (batch.len(), size);
        }
    }
    if !batch.is_empty() {
        out.push(Frame::Changes {
            org,
            changes: batch,
        });
    }
    out
}
