//! The sync protocol's wire format: length-prefixed, versioned frames with a hard size
//! cap checked on encode *and* decode.
//!
//! ```text
//! frame = length: u32 BE (of what follows) | format: u8 | body
//! body  = postcard(Frame)                 (format 1, FRAME_FORMAT)
//!       | zstd(postcard(Frame))           (format 2, FRAME_FORMAT_ZSTD)
//! ```
//!
//! Bodies over [`COMPRESS_ABOVE`] bytes are sent compressed when that is smaller: a
//! batch of Automerge changes shrinks about five-fold (their headers and audit messages
//! repeat), which is what brings the bytes per record near the zstd-of-JSON floor.
//! Decompression is capped at [`MAX_FRAME`], so a "zstd bomb" is refused, not allocated.
//!
//! Decoding arbitrary bytes never panics: a bad length, an unknown format byte or a body
//! that does not parse is an error the caller turns into `Abort`.

use serde::{Deserialize, Serialize};

use crate::org::OrgCode;

/// ALPN protocol id negotiated by QUIC; bumps with incompatible protocol versions.
pub const ALPN: &[u8] = b"halfsky/1";
/// Version of the session protocol carried in `Hello`. 2 added `Heard` (contact
/// reports from a child), sent only to a parent that speaks it. 3 added signed
/// authorship: documents carry device attestations in `meta`, which a release before
/// it refuses, and a change without one is refused by this release. 4 added live
/// [`Frame::Push`]es, sent only to a peer that speaks it. 5 added catch-ups as
/// Automerge bundles in resumable [`Frame::Piece`]s, and [`Frame::Resume`].
pub const PROTOCOL_VERSION: u16 = 5;
/// First protocol version whose parents understand [`Frame::Heard`].
pub const HEARD_SINCE_VERSION: u16 = 2;
/// First protocol version whose peers send and understand [`Frame::Clock`].
pub const CLOCK_SINCE_VERSION: u16 = 3;
/// First protocol version whose peers understand [`Frame::Push`] and acknowledge it.
pub const PUSH_SINCE_VERSION: u16 = 4;
/// First protocol version whose peers take catch-ups as bundle [`Frame::Piece`]s and
/// say which they hold in part ([`Frame::Resume`]).
pub const BUNDLE_SINCE_VERSION: u16 = 5;
/// Oldest session protocol this release still syncs with (releases within
/// `MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION` sync; outside, the session ends saying
/// which office must upgrade). Raise it only when a release cannot talk to the older one.
/// 3: the two sides of signed authorship cannot take each other's documents.
pub const MIN_PROTOCOL_VERSION: u16 = 3;
/// Version of the frame encoding (the byte after the length): plain postcard.
pub const FRAME_FORMAT: u8 = 1;
/// The same, zstd-compressed.
pub const FRAME_FORMAT_ZSTD: u8 = 2;
/// Bodies larger than this are compressed when that makes them smaller.
pub const COMPRESS_ABOVE: usize = 512;
/// zstd level: rural links are short of bytes, not of CPU (a 48 KB batch at level 9
/// takes about a millisecond).
const COMPRESSION_LEVEL: i32 = 9;
/// Largest frame accepted or sent (bytes after the length prefix). Catch-up batches are
/// kept far below this; a peer announcing more is refused before anything is read.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// Everything the two ends of a link say to each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// First frame of each side: who I am and what I speak.
    Hello {
        /// [`PROTOCOL_VERSION`] of the sender.
        version: u16,
        /// The sender's org unit (must match its certificate).
        org: OrgCode,
        /// The sender's device name (must match its certificate).
        device: String,
    },
    /// Summary of the sender's documents in the link's scope: one digest over
    /// every (document, heads). Equal digests mean nothing to do.
    Inventory {
        /// SHA-256 over the sorted (org, heads) list.
        digest: [u8; 32],
        /// Number of documents summarised.
        docs: u32,
    },
    /// Digests matched: nothing to sync; go live.
    InventoryMatch,
    /// Digests differed: the sender's documents in the link's scope with their heads,
    /// so the other side knows exactly what is missing (and can send it in batches).
    InventoryDetail {
        /// `(org, heads)`, heads as 32-byte change hashes.
        docs: Vec<(OrgCode, Vec<[u8; 32]>)>,
    },
    /// One Automerge sync message for one document.
    Sync {
        /// The document.
        org: OrgCode,
        /// `automerge::sync::Message::encode()`.
        message: Vec<u8>,
    },
    /// A bounded batch of changes the receiver lacks (long catch-ups), each
    /// `Change::raw_bytes()`; applied and made durable on arrival.
    Changes {
        /// The document.
        org: OrgCode,
        /// Raw changes, in dependency order.
        changes: Vec<Vec<u8>>,
    },
    /// The sender has nothing more to send for this document and holds these heads;
    /// also the answer to a [`Frame::Push`] (heads once its changes are durable).
    Synced {
        /// The document.
        org: OrgCode,
        /// The sender's heads (32-byte hashes), after everything it received is durable.
        heads: Vec<[u8; 32]>,
    },
    /// One document's message was refused (outside what this link may carry);
    /// nothing of it was applied. The session goes on for other documents.
    Refused {
        /// The document.
        org: OrgCode,
        /// Why, for the log.
        reason: String,
    },
    /// The session cannot go on.
    Abort {
        /// Why, for the log and the user.
        reason: String,
    },
    /// Child → parent: when units below the child were last heard from (contact, not
    /// change), so freshness travels up the tree with the path each contact took.
    /// Sent at the start of a session and then as the times move on.
    Heard {
        /// One row per unit below the child whose contact time moved.
        units: Vec<Contact>,
    },
    /// The sender's wall clock when it took the peer's Hello, so each end knows how
    /// far apart their clocks are: records dated in a receiver's future are refused,
    /// and certificates, bundles and contact times all carry times. Sent only to a
    /// peer whose Hello named [`CLOCK_SINCE_VERSION`] or later.
    Clock {
        /// Unix time in milliseconds.
        unix_ms: i64,
    },
    /// Live: new changes of one document, sent straight (no sync round) because the
    /// sender knows the receiver's heads and holds them. Answered with `Synced` (the
    /// receiver's heads once the changes are durable), or, when the receiver lacks
    /// what they depend on, with a `Sync` that starts the Automerge protocol. Sent only
    /// to a peer whose Hello named [`PUSH_SINCE_VERSION`] or later (new variants go
    /// last: postcard numbers them in order).
    Push {
        /// The document.
        org: OrgCode,
        /// Heads the sender knows the receiver holds (32-byte hashes): the changes
        /// they name, after their direct dependencies, are the dictionary of `packed`.
        base: Vec<[u8; 32]>,
        /// The raw changes, in dependency order, as postcard `Vec<Vec<u8>>`,
        /// zstd-compressed with that dictionary: a record's change repeats most of the
        /// bytes of the one before it (see `session::push`).
        packed: Vec<u8>,
    },
    /// Child → parent, catching up: one piece of an Automerge bundle of changes the
    /// parent lacks (`crate::change_bundle`). Each piece is durable on arrival; the
    /// bundle is admitted and applied once all `total` bytes are in and hash to `id`,
    /// then checked against `target`. Sent only to a peer whose Hello named
    /// [`BUNDLE_SINCE_VERSION`] or later.
    Piece {
        /// The document.
        org: OrgCode,
        /// SHA-256 of the whole bundle: names it for resuming and checks it whole.
        id: [u8; 32],
        /// The whole bundle's length in bytes.
        total: u64,
        /// Where this piece starts in the bundle.
        offset: u64,
        /// The heads of the bundle's changes (32-byte hashes): after applying it the
        /// receiver must hold them all.
        target: Vec<[u8; 32]>,
        /// The piece's bytes.
        bytes: Vec<u8>,
    },
    /// Parent → child, before `InventoryDetail`: bundles the sender holds in part from
    /// this peer, so the child goes on from where the link dropped instead of from
    /// zero. Sent only to a peer whose Hello named [`BUNDLE_SINCE_VERSION`] or later.
    Resume {
        /// `(document, bundle id, bytes held)`.
        partial: Vec<(OrgCode, [u8; 32], u64)>,
    },
}

/// How a node last had contact with a unit below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactPath {
    /// A live QUIC link.
    Direct,
    /// A bundle collected at the relay.
    Relay,
    /// A bundle file carried by hand.
    Bundle,
}

/// One unit's last contact, as reported by the node that had it (or heard of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The unit heard from.
    pub org: OrgCode,
    /// Unix seconds of the contact (the receiver caps it at its own clock).
    pub at: i64,
    /// The path the contact took at the hop that had it.
    pub via: ContactPath,
    /// The unit whose node had the contact (the reporter itself, or a unit below it
    /// that reported it in turn).
    pub heard_by: OrgCode,
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The announced or actual size is above [`MAX_FRAME`].
    #[error("frame of {0} bytes is larger than the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    /// Zero-length frame.
    #[error("empty frame")]
    Empty,
    /// Unknown frame format byte.
    #[error(
        "frame format {0} is not supported (this node speaks {FRAME_FORMAT}); upgrade halfsky"
    )]
    Format(u8),
    /// The body does not parse.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl Frame {
    /// Encodes with length prefix (compressing large bodies); refuses frames above the cap.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let mut body = vec![FRAME_FORMAT];
        body = postcard::to_extend(self, body).map_err(|e| FrameError::Malformed(e.to_string()))?;
        if body.len() > COMPRESS_ABOVE {
            if let Ok(packed) = zstd::bulk::compress(&body[1..], COMPRESSION_LEVEL) {
                if packed.len() + 1 < body.len() {
                    body = std::iter::once(FRAME_FORMAT_ZSTD).chain(packed).collect();
                }
            }
        }
        if body.len() > MAX_FRAME {
            return Err(FrameError::TooLarge(body.len()));
        }
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reads the length prefix: how many body bytes follow. Checked against the cap
    /// before any of the body is read.
    pub fn body_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
        let len = u32::from_be_bytes(prefix) as usize;
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        Ok(len)
    }

    /// Decodes a body (the bytes after the length prefix).
    pub fn decode_body(body: &[u8]) -> Result<Frame, FrameError> {
        if body.len() > MAX_FRAME {
            return Err(FrameError::TooLarge(body.len()));
        }
        let (&format, rest) = body.split_first().ok_or(FrameError::Empty)?;
        let unpacked;
        let rest = match format {
            FRAME_FORMAT => rest,
            FRAME_FORMAT_ZSTD => {
                unpacked = zstd::bulk::decompress(rest, MAX_FRAME)
                    .map_err(|e| FrameError::Malformed(format!("bad compressed body: {e}")))?;
                unpacked.as_slice()
            }
            other => return Err(FrameError::Format(other)),
        };
        let (frame, tail) = postcard::take_from_bytes::<Frame>(rest)
            .map_err(|e| FrameError::Malformed(e.to_string()))?;
        if !tail.is_empty() {
            return Err(FrameError::Malformed(format!(
                "{} trailing bytes",
                tail.len()
            )));
        }
        Ok(frame)
    }

    /// Decodes one frame from the start of `buf`: `Ok(None)` if more bytes are needed,
    /// else the frame and how many bytes it used.
    pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        let Some(prefix) = buf.get(..4) else {
            return Ok(None);
        };
        let len = Frame::body_len(prefix.try_into().expect("4 bytes"))?;
        let Some(body) = buf.get(4..4 + len) else {
            return Ok(None);
        };
        Ok(Some((Frame::decode_body(body)?, 4 + len)))
    }

    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "Hello",
            Frame::Inventory { .. } => "Inventory",
            Frame::InventoryMatch => "InventoryMatch",
            Frame::InventoryDetail { .. } => "InventoryDetail",
            Frame::Sync { .. } => "Sync",
            Frame::Changes { .. } => "Changes",
            Frame::Synced { .. } => "Synced",
            Frame::Refused { .. } => "Refused",
            Frame::Abort { .. } => "Abort",
            Frame::Heard { .. } => "Heard",
            Frame::Clock { .. } => "Clock",
            Frame::Push { .. } => "Push",
            Frame::Piece { .. } => "Piece",
            Frame::Resume { .. } => "Resume",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn org() -> OrgCode {
        OrgCode::parse("230129100201").unwrap()
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (any::<u16>(), "[a-z0-9-]{0,20}").prop_map(|(version, device)| Frame::Hello {
                version,
                org: org(),
                device
            }),
            (any::<[u8; 32]>(), any::<u32>())
                .prop_map(|(digest, docs)| Frame::Inventory { digest, docs }),
            Just(Frame::InventoryMatch),
            proptest::collection::vec(any::<[u8; 32]>(), 0..20).prop_map(|h| {
                Frame::InventoryDetail {
                    docs: h.into_iter().map(|h| (org(), vec![h])).collect(),
                }
            }),
            proptest::collection::vec(any::<u8>(), 0..2000).prop_map(|message| Frame::Sync {
                org: org(),
                message
            }),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..10)
                .prop_map(|changes| Frame::Changes {
                    org: org(),
                    changes
                }),
            proptest::collection::vec(any::<[u8; 32]>(), 0..4)
                .prop_map(|heads| Frame::Synced { org: org(), heads }),
            (
                proptest::collection::vec(any::<[u8; 32]>(), 0..3),
                proptest::collection::vec(any::<u8>(), 0..500)
            )
                .prop_map(|(base, packed)| Frame::Push {
                    org: org(),
                    base,
                    packed
                }),
            "\\PC{0,50}".prop_map(|reason| Frame::Refused { org: org(), reason }),
            "\\PC{0,50}".prop_map(|reason| Frame::Abort { reason }),
            proptest::collection::vec(any::<i64>(), 0..10).prop_map(|times| Frame::Heard {
                units: times
                    .into_iter()
                    .map(|at| Contact {
                        org: org(),
                        at,
                        via: ContactPath::Relay,
                        heard_by: org(),
                    })
                    .collect()
            }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(frame in arb_frame()) {
            let bytes = frame.encode().unwrap();
            let (decoded, used) = Frame::decode(&bytes).unwrap().unwrap();
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(decoded, frame);
            // Any strict prefix asks for more bytes, never errors or panics.
            for cut in [0, 1, 3, 4, bytes.len() - 1] {
                prop_assert!(Frame::decode(&bytes[..cut]).unwrap().is_none());
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = Frame::decode(&bytes);
            let _ = Frame::decode_body(&bytes);
        }
    }

    #[test]
    fn size_cap_on_both_ends() {
        // Incompressible bytes, so compression cannot bring it under the cap.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise = (0..MAX_FRAME)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let big = Frame::Sync {
            org: org(),
            message: noise,
        };
        assert!(matches!(big.encode(), Err(FrameError::TooLarge(_))));
        let announced = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert!(matches!(
            Frame::decode(&announced),
            Err(FrameError::TooLarge(_))
        ));
        assert!(matches!(
            Frame::decode(&[0, 0, 0, 0]),
            Err(FrameError::Empty)
        ));
        assert!(matches!(
            Frame::decode(&[0, 0, 0, 2, 9, 0]),
            Err(FrameError::Format(9))
        ));
    }
}
