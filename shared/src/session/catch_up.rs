//! Catch-ups: how a child sends the changes its parent lacks when a session starts.
//!
//! With a peer that speaks [`BUNDLE_SINCE_VERSION`], the attested part goes as
//! Automerge bundles ([`crate::change_bundle`], about half the bytes of raw changes),
//! each cut into [`Frame::Piece`]s of [`PIECE_BYTES`]:
//! - the receiver keeps every piece durably as it arrives, and when the link drops it
//!   names what it holds in [`Frame::Resume`] at the next session, so the sender goes on
//!   from the next byte (it kept the bundle for that);
//! - a complete bundle must hash to its id, decodes within the node's caps, passes the
//!   same admission as any batch, and must leave the receiver holding its target heads
//!   (Automerge's own loader reports a damaged bundle as `Ok`: never trusted).
//!
//! Changes after the last attestation, and everything for an older peer, go as raw
//! `Changes` batches ([`batches`]), each small enough to lose on a dropped link.

use automerge::{Automerge, ChangeHash, ReadDoc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{hashes, Delivery, Phase, Replica, Role, Session, SessionEvent, Write, BATCH_BYTES};
use crate::org::OrgCode;
use crate::wire::Frame;

/// Bytes of a bundle per [`Frame::Piece`]: what a dropped link may lose.
pub const PIECE_BYTES: usize = BATCH_BYTES;
/// Most raw change bytes one bundle covers: a larger catch-up goes as several bundles
/// (a village of 5,000 cards is about 3.4 MB raw).
pub const MAX_BUNDLE_RAW: usize = 8 * 1024 * 1024;
/// Largest bundle a receiver takes (encoded bytes).
pub const MAX_BUNDLE_BYTES: u64 = 16 * 1024 * 1024;
/// Most target heads a piece may name.
const MAX_TARGET_HEADS: usize = 1024;

/// One bundle of a catch-up, before it is cut into pieces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    /// The bundle ([`crate::change_bundle::encode`]).
    pub bytes: Vec<u8>,
    /// Heads of its changes: the receiver holds them all once it is applied.
    pub target: Vec<[u8; 32]>,
}

/// What the holder of some heads lacks of a document, ready to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The attested part, as bundles of at most [`MAX_BUNDLE_RAW`] raw bytes each.
    pub bundles: Vec<Planned>,
    /// Changes after the last attested cut, raw, in dependency order.
    pub tail: Vec<Vec<u8>>,
}

/// Plans a catch-up of `doc` for the holder of `their_heads`; `None` if one of them is
/// not held here (histories diverged: the sync protocol sorts that out).
pub fn plan(doc: &Automerge, their_heads: &[ChangeHash]) -> Option<Plan> {
    if their_heads
        .iter()
        .any(|h| doc.get_change_by_hash(h).is_none())
    {
        return None;
    }
    let changes = doc.get_changes(their_heads);
    let cuts = crate::attestation::attested_cuts_of(&changes);
    let mut plan = Plan::default();
    let (mut start, mut size, mut last_cut) = (0, 0, None);
    let mut sizes = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        let len = change.raw_bytes().len();
        sizes.push(len);
        size += len;
        if cuts[i] {
            last_cut = Some(i);
        }
        if size > MAX_BUNDLE_RAW {
            if let Some(cut) = last_cut.filter(|c| *c >= start) {
                plan.bundles.push(bundle(doc, &changes[start..=cut])?);
                size -= sizes[start..=cut].iter().sum::<usize>();
                start = cut + 1;
            }
        }
    }
    if let Some(cut) = last_cut.filter(|c| *c >= start) {
        plan.bundles.push(bundle(doc, &changes[start..=cut])?);
        start = cut + 1;
    }
    plan.tail = changes[start..]
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    Some(plan)
}

/// One bundle of `changes` (a run in dependency order) and its heads.
fn bundle(doc: &Automerge, changes: &[automerge::Change]) -> Option<Planned> {
    let hashes: Vec<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
    let depended: std::collections::HashSet<ChangeHash> = changes
        .iter()
        .flat_map(|c| c.deps().iter().copied())
        .collect();
    let target: Vec<[u8; 32]> = hashes
        .iter()
        .filter(|h| !depended.contains(h))
        .map(|h| h.0)
        .collect();
    let bytes = crate::change_bundle::encode(doc, &hashes).ok()?;
    Some(Planned { bytes, target })
}

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

/// The pieces of one bundle from byte `from` on.
fn pieces(org: OrgCode, id: [u8; 32], kept: &Planned, from: u64) -> Vec<Frame> {
    let total = kept.bytes.len() as u64;
    let from = from.min(total) as usize;
    kept.bytes[from..]
        .chunks(PIECE_BYTES)
        .scan(from as u64, |offset, bytes| {
            let at = *offset;
            *offset += bytes.len() as u64;
            Some(Frame::Piece {
                org,
                id,
                total,
                offset: at,
                target: kept.target.clone(),
                bytes: bytes.to_vec(),
            })
        })
        .collect()
}

/// One [`Frame::Piece`] as it arrived (its document aside).
pub(super) struct Piece {
    pub id: [u8; 32],
    pub total: u64,
    pub offset: u64,
    pub target: Vec<[u8; 32]>,
    pub bytes: Vec<u8>,
}

/// A bundle being received: what is held of it so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Partial {
    id: [u8; 32],
    total: u64,
    have: u64,
    target: Vec<[u8; 32]>,
}

// Catch-up record keys (the replica keeps them in one table):
// - `o` peer NUL org `/` id → a bundle sent to the peer, kept for resuming (`Planned`);
// - `i` peer NUL org `/m`   → a bundle being received (`Partial`);
// - `i` peer NUL org `/p` offset (u64 BE) → one piece received.
fn key(side: u8, peer: &str, org: Option<&OrgCode>) -> Vec<u8> {
    let mut k = vec![side];
    k.extend(peer.as_bytes());
    k.push(0);
    if let Some(org) = org {
        k.extend(org.as_bytes());
        k.push(b'/');
    }
    k
}

fn kept_key(peer: &str, org: &OrgCode, id: &[u8; 32]) -> Vec<u8> {
    let mut k = key(b'o', peer, Some(org));
    k.extend(id);
    k
}

fn partial_key(peer: &str, org: &OrgCode) -> Vec<u8> {
    let mut k = key(b'i', peer, Some(org));
    k.push(b'm');
    k
}

fn piece_key(peer: &str, org: &OrgCode, offset: u64) -> Vec<u8> {
    let mut k = key(b'i', peer, Some(org));
    k.push(b'p');
    k.extend(offset.to_be_bytes());
    k
}

fn piece_prefix(peer: &str, org: &OrgCode) -> Vec<u8> {
    let mut k = key(b'i', peer, Some(org));
    k.push(b'p');
    k
}

/// The bundles `replica` holds in part from `peer`: `(document, id, bytes held)`.
pub fn partial_bundles<R: Replica>(
    replica: &mut R,
    peer: &str,
) -> Result<Vec<(OrgCode, [u8; 32], u64)>, String> {
    let prefix = key(b'i', peer, None);
    let mut out = Vec::new();
    for (k, v) in replica.catch_up_scan(&prefix).map_err(|e| e.to_string())? {
        let rest = &k[prefix.len()..];
        if rest.len() != 14 || rest[12..] != *b"/m" {
            continue;
        }
        let (Ok(org), Ok(p)) = (
            OrgCode::parse(&String::from_utf8_lossy(&rest[..12])),
            postcard::from_bytes::<Partial>(&v),
        ) else {
            continue;
        };
        out.push((org, p.id, p.have));
    }
    Ok(out)
}

impl Session {
    pub(super) fn on_piece<R: Replica>(
        &mut self,
        org: OrgCode,
        piece: Piece,
        replica: &mut R,
    ) -> Vec<Frame> {
        if !self.may_receive(&org) {
            return self.refuse(org, self.no_write_reason(&org));
        }
        match self.take_piece(org, piece, replica) {
            Ok(true) => {
                self.events.push(SessionEvent::DocChanged(org));
                Vec::new()
            }
            Ok(false) => Vec::new(),
            Err(reason) => self.refuse(org, reason),
        }
    }

    pub(super) fn on_resume(
        &mut self,
        partial: Vec<(OrgCode, [u8; 32], u64)>,
    ) -> Result<Vec<Frame>, String> {
        if self.role != Role::Child || self.phase != Phase::Inventory {
            return Err("unexpected Resume".into());
        }
        let scope = self.scope;
        self.resume = partial
            .into_iter()
            .filter(|(org, ..)| scope.upward(org))
            .map(|(org, id, have)| (org, (id, have)))
            .collect();
        Ok(Vec::new())
    }

    /// Child: the frames that bring the peer (holding `their_heads`) up to date on
    /// `org` as bundles, going on with the bundle the peer holds in part (`resume`);
    /// `None` if histories diverged.
    pub(super) fn bundled_catch_up<R: Replica>(
        &mut self,
        org: OrgCode,
        their_heads: &[ChangeHash],
        resume: Option<([u8; 32], u64)>,
        replica: &mut R,
    ) -> Result<Option<Vec<Frame>>, String> {
        let peer = self.peer_key();
        let err = |e: R::Error| e.to_string();
        let mut frames = Vec::new();
        let mut writes = Vec::new();
        let mut held = their_heads.to_vec();
        let kept = replica
            .catch_up_scan(&key(b'o', &peer, Some(&org)))
            .map_err(err)?;
        for (k, v) in kept {
            match (resume, postcard::from_bytes::<Planned>(&v)) {
                (Some((id, from)), Ok(planned)) if k == kept_key(&peer, &org, &id) => {
                    frames.extend(pieces(org, id, &planned, from));
                    held.extend(hashes(&planned.target));
                }
                _ => writes.push((k, None)),
            }
        }
        let Some(plan) = replica.bundles_since(&org, &held).map_err(err)? else {
            replica.catch_up_write(writes).map_err(err)?;
            return Ok(None);
        };
        for planned in plan.bundles {
            let id: [u8; 32] = Sha256::digest(&planned.bytes).into();
            frames.extend(pieces(org, id, &planned, 0));
            let value = postcard::to_allocvec(&planned).map_err(|e| e.to_string())?;
            writes.push((kept_key(&peer, &org, &id), Some(value)));
        }
        replica.catch_up_write(writes).map_err(err)?;
        frames.extend(batches(org, plan.tail));
        Ok(Some(frames))
    }

    /// Parent: one piece of a bundle from the child, kept durably; once the bundle is
    /// whole, checked, admitted and applied. `Err` is the refusal's reason.
    pub(super) fn take_piece<R: Replica>(
        &mut self,
        org: OrgCode,
        piece: Piece,
        replica: &mut R,
    ) -> Result<bool, String> {
        let Piece {
            id,
            total,
            offset,
            target,
            bytes,
        } = piece;
        let end = offset.checked_add(bytes.len() as u64);
        if total > MAX_BUNDLE_BYTES
            || bytes.is_empty()
            || end.is_none_or(|e| e > total)
            || target.len() > MAX_TARGET_HEADS
        {
            return Err(format!(
                "a bundle piece out of bounds ({} bytes at {offset} of {total}, {} heads; \
                 bundles are at most {MAX_BUNDLE_BYTES} bytes)",
                bytes.len(),
                target.len()
            ));
        }
        let peer = self.peer_key();
        let err = |e: R::Error| e.to_string();
        let meta_key = partial_key(&peer, &org);
        let held = replica
            .catch_up_get(&meta_key)
            .map_err(err)?
            .and_then(|v| postcard::from_bytes::<Partial>(&v).ok());
        let mut writes = Vec::new();
        let mut partial = match held {
            Some(p) if p.id == id => p,
            other => {
                if offset != 0 {
                    return Err(format!(
                        "a piece at byte {offset} of a bundle this node holds none of; \
                         it goes on from where this node said it stopped"
                    ));
                }
                if other.is_some() {
                    writes.extend(self.discard_partial(&org, replica)?);
                }
                Partial {
                    id,
                    total,
                    have: 0,
                    target: target.clone(),
                }
            }
        };
        if offset < partial.have {
            return Ok(false); // Already held: sent again after a drop.
        }
        if offset > partial.have || total != partial.total || target != partial.target {
            return Err(format!(
                "a piece at byte {offset} of a bundle held up to byte {}",
                partial.have
            ));
        }
        partial.have += bytes.len() as u64;
        writes.push((piece_key(&peer, &org, offset), Some(bytes)));
        if partial.have < partial.total {
            let value = postcard::to_allocvec(&partial).map_err(|e| e.to_string())?;
            writes.push((meta_key, Some(value)));
            replica.catch_up_write(writes).map_err(err)?;
            return Ok(false);
        }
        // Whole: assemble, check, apply; the pieces go whatever the outcome.
        replica.catch_up_write(writes).map_err(err)?;
        let mut whole = Vec::with_capacity(partial.total as usize);
        for (_, piece) in replica
            .catch_up_scan(&piece_prefix(&peer, &org))
            .map_err(err)?
        {
            whole.extend(piece);
        }
        let discard = self.discard_partial(&org, replica)?;
        replica.catch_up_write(discard).map_err(err)?;
        if <[u8; 32]>::from(Sha256::digest(&whole)) != id {
            return Err("a bundle whose bytes do not hash to its id (damaged on the way)".into());
        }
        let changes = crate::change_bundle::decode(&whole, &replica.caps())
            .map_err(|e| format!("a bundle that cannot be admitted: {e}"))?;
        let changed = replica
            .apply_changes(&peer, &org, changes, Delivery::CatchUp)
            .map_err(|e| format!("changes could not be applied: {e}"))?;
        let target = hashes(&partial.target);
        if !replica.holds(&org, &target).map_err(err)? {
            return Err(format!(
                "a bundle applied without its {} heads: changes it depends on are missing",
                target.len()
            ));
        }
        Ok(changed)
    }

    /// Removal of what is held of a bundle being received from the peer.
    fn discard_partial<R: Replica>(
        &self,
        org: &OrgCode,
        replica: &mut R,
    ) -> Result<Vec<Write>, String> {
        let peer = self.peer_key();
        let mut writes: Vec<Write> = replica
            .catch_up_scan(&piece_prefix(&peer, org))
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(k, _)| (k, None))
            .collect();
        writes.push((partial_key(&peer, org), None));
        Ok(writes)
    }
}
