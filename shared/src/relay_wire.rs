//! Frames between a node and the relay: a mailbox protocol of its own, with its own
//! ALPN ([`RELAY_ALPN`]) so a node can never mistake the relay for a parent.
//!
//! One request per bidirectional QUIC stream: the node sends one request frame and
//! finishes its side; the relay answers with one or more frames and finishes.
//!
//! ```text
//! node                                       relay
//! Deposit{recipient, replace, bundle} ──▶   Deposited{id}  (only after it is durable)
//!                                            | Refused{reason}
//! Fetch{limit}                        ──▶   Item{id, bundle}… End{remaining}
//! Delete{id}                          ──▶   Deleted{id}
//! CertOf{org}                         ──▶   Cert{org, cert}
//! Revocations{signed}                 ──▶   RevocationsHeld{count}
//! FetchExcept{limit, except}          ──▶   Item{id, bundle}… End{remaining}
//! ```
//!
//! A device the CA revoked is refused every request (the relay learns revocations
//! from the nodes that visit it, each checked against the CA).
//!
//! The relay learns the depositor's org from its certificate and the mailbox to read
//! from the fetcher's certificate: a node can only read and delete its own mail.
//! Framing is that of [`crate::wire`] (length prefix, format byte, size cap checked on
//! encode and decode; no compression: bundles are already compressed and encrypted).

use serde::{Deserialize, Serialize};

use crate::bundle::MAX_BUNDLE;
use crate::org::OrgCode;

/// ALPN of the relay protocol.
pub const RELAY_ALPN: &[u8] = b"halfsky-relay/1";
/// Frame format byte: plain postcard.
pub const RELAY_FRAME_FORMAT: u8 = 1;
/// Largest relay frame (bytes after the length prefix): one bundle and a little.
pub const MAX_RELAY_FRAME: usize = MAX_BUNDLE + 4096;
/// Most items the relay sends for one `Fetch`.
pub const MAX_FETCH: u32 = 64;

/// Id of a stored item: SHA-256 of the bundle bytes.
pub type ItemId = [u8; 32];

/// Everything a node and the relay say to each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayFrame {
    /// Node → relay: keep this sealed bundle for `recipient`.
    Deposit {
        /// The unit the bundle is sealed to (must match its clear header).
        recipient: OrgCode,
        /// Drop this sender's earlier deposits for the same recipient: the new bundle
        /// carries everything they did (it is sealed from the same acknowledged heads
        /// or later ones).
        replace: bool,
        /// The sealed bundle.
        bundle: Vec<u8>,
    },
    /// Relay → node: stored durably.
    Deposited {
        /// The item's id.
        id: ItemId,
    },
    /// Node → relay: send what waits for my unit.
    Fetch {
        /// At most this many items (capped at [`MAX_FETCH`]).
        limit: u32,
    },
    /// Relay → node: one waiting item.
    Item {
        /// Its id (to delete it once applied).
        id: ItemId,
        /// Who left it (from the depositor's certificate).
        sender: OrgCode,
        /// The sealed bundle.
        bundle: Vec<u8>,
    },
    /// Relay → node: no more items in this answer.
    End {
        /// Items still waiting after these.
        remaining: u32,
    },
    /// Node → relay: this item was applied (or refused for good); remove it.
    Delete {
        /// The item.
        id: ItemId,
    },
    /// Relay → node: removed (or was not there).
    Deleted {
        /// The item.
        id: ItemId,
    },
    /// Node → relay: the certificate the relay last saw from a device of `org` (to
    /// seal a bundle to a parent this node never reached). The node checks it against
    /// the deployment's CA itself: the relay cannot substitute another unit's key.
    CertOf {
        /// The unit.
        org: OrgCode,
    },
    /// Relay → node: that certificate (DER), if the relay has seen one.
    Cert {
        /// The unit.
        org: OrgCode,
        /// Its certificate.
        cert: Option<Vec<u8>>,
    },
    /// Relay → node: the request was refused; nothing was stored or removed.
    Refused {
        /// Why, for the log and the user.
        reason: String,
    },
    /// Node → relay: revocations signed by the deployment's CA
    /// ([`crate::revocation::SignedRevocation`] bytes) that this node holds. The relay
    /// checks each against the CA itself and from then on refuses those devices.
    Revocations {
        /// Signed revocations (at most [`MAX_REVOCATIONS`]).
        signed: Vec<Vec<u8>>,
    },
    /// Relay → node: how many revocations the relay now holds.
    RevocationsHeld {
        /// Their number.
        count: u32,
    },
    /// Node → relay: like `Fetch`, leaving out items this node has already found it
    /// cannot open (sealed to another device of its unit): they stay for their
    /// recipient.
    FetchExcept {
        /// At most this many items (capped at [`MAX_FETCH`]).
        limit: u32,
        /// Items not to send (at most [`MAX_EXCEPT`]).
        except: Vec<ItemId>,
    },
}

/// Most revocations one `Revocations` frame carries.
pub const MAX_REVOCATIONS: usize = 4096;
/// Most item ids one `FetchExcept` leaves out.
pub const MAX_EXCEPT: usize = 1024;

/// Why bytes are not a relay frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayFrameError {
    /// Over [`MAX_RELAY_FRAME`].
    #[error("relay frame of {0} bytes is larger than the {MAX_RELAY_FRAME}-byte limit")]
    TooLarge(usize),
    /// Zero-length.
    #[error("empty relay frame")]
    Empty,
    /// Unknown format byte.
    #[error("relay frame format {0} is not supported (this program speaks {RELAY_FRAME_FORMAT}); upgrade halfsky")]
    Format(u8),
    /// Does not parse.
    #[error("malformed relay frame: {0}")]
    Malformed(String),
}

impl RelayFrame {
    /// Encodes with length prefix; refuses frames above the cap.
    pub fn encode(&self) -> Result<Vec<u8>, RelayFrameError> {
        let body = postcard::to_extend(self, vec![RELAY_FRAME_FORMAT])
            .map_err(|e| RelayFrameError::Malformed(e.to_string()))?;
        if body.len() > MAX_RELAY_FRAME {
            return Err(RelayFrameError::TooLarge(body.len()));
        }
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reads the length prefix, checked against the cap before the body is read.
    pub fn body_len(prefix: [u8; 4]) -> Result<usize, RelayFrameError> {
        let len = u32::from_be_bytes(prefix) as usize;
        if len == 0 {
            return Err(RelayFrameError::Empty);
        }
        if len > MAX_RELAY_FRAME {
            return Err(RelayFrameError::TooLarge(len));
        }
        Ok(len)
    }

    /// Decodes a body (the bytes after the length prefix).
    pub fn decode_body(body: &[u8]) -> Result<RelayFrame, RelayFrameError> {
        if body.len() > MAX_RELAY_FRAME {
            return Err(RelayFrameError::TooLarge(body.len()));
        }
        let (&format, rest) = body.split_first().ok_or(RelayFrameError::Empty)?;
        if format != RELAY_FRAME_FORMAT {
            return Err(RelayFrameError::Format(format));
        }
        let (frame, tail) = postcard::take_from_bytes::<RelayFrame>(rest)
            .map_err(|e| RelayFrameError::Malformed(e.to_string()))?;
        if !tail.is_empty() {
            return Err(RelayFrameError::Malformed(format!(
                "{} trailing bytes",
                tail.len()
            )));
        }
        Ok(frame)
    }

    /// Decodes one frame from the start of `buf`: `Ok(None)` if more bytes are needed.
    pub fn decode(buf: &[u8]) -> Result<Option<(RelayFrame, usize)>, RelayFrameError> {
        let Some(prefix) = buf.get(..4) else {
            return Ok(None);
        };
        let len = RelayFrame::body_len(prefix.try_into().expect("4 bytes"))?;
        let Some(body) = buf.get(4..4 + len) else {
            return Ok(None);
        };
        Ok(Some((RelayFrame::decode_body(body)?, 4 + len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn org() -> OrgCode {
        OrgCode::parse("230129100000").unwrap()
    }

    fn arb_frame() -> impl Strategy<Value = RelayFrame> {
        let bytes = proptest::collection::vec(any::<u8>(), 0..3000);
        prop_oneof![
            (any::<bool>(), bytes.clone()).prop_map(|(replace, bundle)| RelayFrame::Deposit {
                recipient: org(),
                replace,
                bundle
            }),
            any::<[u8; 32]>().prop_map(|id| RelayFrame::Deposited { id }),
            any::<u32>().prop_map(|limit| RelayFrame::Fetch { limit }),
            (any::<[u8; 32]>(), bytes).prop_map(|(id, bundle)| RelayFrame::Item {
                id,
                sender: org(),
                bundle
            }),
            any::<u32>().prop_map(|remaining| RelayFrame::End { remaining }),
            any::<[u8; 32]>().prop_map(|id| RelayFrame::Delete { id }),
            any::<[u8; 32]>().prop_map(|id| RelayFrame::Deleted { id }),
            "\\PC{0,60}".prop_map(|reason| RelayFrame::Refused { reason }),
            Just(RelayFrame::CertOf { org: org() }),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..500))
                .prop_map(|cert| RelayFrame::Cert { org: org(), cert }),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..5)
                .prop_map(|signed| RelayFrame::Revocations { signed }),
            any::<u32>().prop_map(|count| RelayFrame::RevocationsHeld { count }),
            (
                any::<u32>(),
                proptest::collection::vec(any::<[u8; 32]>(), 0..5)
            )
                .prop_map(|(limit, except)| RelayFrame::FetchExcept { limit, except }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(frame in arb_frame()) {
            let bytes = frame.encode().unwrap();
            let (decoded, used) = RelayFrame::decode(&bytes).unwrap().unwrap();
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(decoded, frame);
            for cut in [0, 1, 3, 4, bytes.len() - 1] {
                prop_assert!(RelayFrame::decode(&bytes[..cut]).unwrap().is_none());
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = RelayFrame::decode(&bytes);
            let _ = RelayFrame::decode_body(&bytes);
        }
    }

    #[test]
    fn size_cap_on_both_ends() {
        let big = RelayFrame::Deposit {
            recipient: org(),
            replace: false,
            bundle: vec![0; MAX_RELAY_FRAME],
        };
        assert!(matches!(big.encode(), Err(RelayFrameError::TooLarge(_))));
        let announced = ((MAX_RELAY_FRAME + 1) as u32).to_be_bytes();
        assert!(matches!(
            RelayFrame::decode(&announced),
            Err(RelayFrameError::TooLarge(_))
        ));
        assert!(matches!(
            RelayFrame::decode(&[0, 0, 0, 2, 9, 0]),
            Err(RelayFrameError::Format(9))
        ));
    }
}
