//! Admission of change bytes that come from another node, checked before Automerge
//! sees them.
//!
//! Automerge inflates a DEFLATE-compressed change chunk with no size limit before it
//! checks anything: an 872-byte bundle once made an import allocate 3.16 GB. Every
//! door that takes changes from elsewhere (sync `Changes` batches, bundles, documents
//! carried down with acknowledgements) runs [`check_changes`] first. It walks the
//! chunk header itself (magic, checksum, type, LEB128 length) and inflates compressed
//! chunks into a counting sink that stops one byte past the cap, so a bomb costs at
//! most the cap in CPU and nothing in memory.

pub mod authority;

use std::io::Read;

use thiserror::Error;

/// The magic bytes that open every Automerge chunk.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Chunk type of an uncompressed change.
const CHUNK_CHANGE: u8 = 1;
/// Chunk type of a DEFLATE-compressed change.
const CHUNK_COMPRESSED: u8 = 2;

/// Size limits on changes from another node, so that no peer can make this node
/// allocate more than it chose to. Set from the `[sync]` section of the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Most bytes one change may hold once inflated (default 1 MiB: a ledger record
    /// change is a few hundred bytes, a large import batch a few hundred KiB).
    pub max_change_bytes: u64,
    /// Most bytes one batch of changes may hold once inflated (default 64 MiB).
    pub max_inflated_batch_bytes: u64,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_change_bytes: 1024 * 1024,
            max_inflated_batch_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why a batch of change bytes was refused before decoding. `index` is the position
/// of the offending change in the batch.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AdmissionError {
    /// The bytes end before the chunk header or the data its length announces.
    #[error("change {index}: truncated chunk")]
    Truncated {
        /// Position in the batch.
        index: usize,
    },
    /// The bytes do not open with Automerge's magic bytes.
    #[error("change {index}: not an Automerge chunk (bad magic bytes)")]
    BadMagic {
        /// Position in the batch.
        index: usize,
    },
    /// The chunk is a document, a bundle or an unknown type, where a change was due.
    #[error("change {index}: chunk type {chunk_type} is not a change")]
    NotAChange {
        /// Position in the batch.
        index: usize,
        /// The chunk type byte found.
        chunk_type: u8,
    },
    /// The LEB128 length is malformed or larger than any chunk could be.
    #[error("change {index}: malformed chunk length")]
    BadLength {
        /// Position in the batch.
        index: usize,
    },
    /// Bytes follow the chunk (one change is exactly one chunk).
    #[error("change {index}: bytes after the end of the chunk")]
    TrailingBytes {
        /// Position in the batch.
        index: usize,
    },
    /// The compressed data is not valid DEFLATE.
    #[error("change {index}: compressed data is not valid DEFLATE")]
    Deflate {
        /// Position in the batch.
        index: usize,
    },
    /// One change is larger (inflated) than `max_change_bytes`.
    #[error("change {index}: inflates past the cap of {cap} bytes")]
    ChangeTooLarge {
        /// Position in the batch.
        index: usize,
        /// The cap it exceeded.
        cap: u64,
    },
    /// The batch is larger (inflated) than `max_inflated_batch_bytes`.
    #[error("change {index}: the batch inflates past the cap of {cap} bytes")]
    BatchTooLarge {
        /// Position in the batch of the change that crossed the cap.
        index: usize,
        /// The cap it exceeded.
        cap: u64,
    },
}

impl AdmissionError {
    /// The short rule name a refusal records (stable, for logs and the status page).
    pub fn rule(&self) -> &'static str {
        match self {
            AdmissionError::Truncated { .. }
            | AdmissionError::BadMagic { .. }
            | AdmissionError::NotAChange { .. }
            | AdmissionError::BadLength { .. }
            | AdmissionError::TrailingBytes { .. }
            | AdmissionError::Deflate { .. } => "malformed-change",
            AdmissionError::ChangeTooLarge { .. } => "change-too-large",
            AdmissionError::BatchTooLarge { .. } => "batch-too-large",
        }
    }
}

/// Checks a batch of raw changes against `caps` without handing any byte to
/// Automerge; returns the total inflated size. Never panics, never allocates more
/// than a small fixed buffer whatever the input.
pub fn check_changes<B: AsRef<[u8]>>(batch: &[B], caps: &Caps) -> Result<u64, AdmissionError> {
    let mut total: u64 = 0;
    for (index, raw) in batch.iter().enumerate() {
        let left = caps.max_inflated_batch_bytes.saturating_sub(total);
        let limit = caps.max_change_bytes.min(left);
        let size = match check_change(raw.as_ref(), index, limit) {
            Err(AdmissionError::ChangeTooLarge { .. }) if left < caps.max_change_bytes => {
                return Err(AdmissionError::BatchTooLarge {
                    index,
                    cap: caps.max_inflated_batch_bytes,
                })
            }
            Err(AdmissionError::ChangeTooLarge { index, .. }) => {
                return Err(AdmissionError::ChangeTooLarge {
                    index,
                    cap: caps.max_change_bytes,
                })
            }
            other => other?,
        };
        total += size;
    }
    Ok(total)
}

/// Checks one change chunk; returns its inflated data size, or `ChangeTooLarge`
/// (with `cap: limit`) once it would exceed `limit`.
fn check_change(bytes: &[u8], index: usize, limit: u64) -> Result<u64, AdmissionError> {
    let header = bytes.get(..9).ok_or(AdmissionError::Truncated { index })?;
    if header[..4] != MAGIC {
        return Err(AdmissionError::BadMagic { index });
    }
    let chunk_type = header[8];
    let (len, used) = read_uleb128(&bytes[9..]).ok_or(AdmissionError::BadLength { index })?;
    let data_start = 9 + used;
    let available = (bytes.len() - data_start) as u64;
    if len > available {
        return Err(AdmissionError::Truncated { index });
    }
    if len < available {
        return Err(AdmissionError::TrailingBytes { index });
    }
    let data = &bytes[data_start..];
    let too_large = AdmissionError::ChangeTooLarge { index, cap: limit };
    match chunk_type {
        CHUNK_CHANGE if len > limit => Err(too_large),
        CHUNK_CHANGE => Ok(len),
        CHUNK_COMPRESSED => {
            let mut inflater =
                flate2::bufread::DeflateDecoder::new(data).take(limit.saturating_add(1));
            let inflated = std::io::copy(&mut inflater, &mut std::io::sink())
                .map_err(|_| AdmissionError::Deflate { index })?;
            if inflated > limit {
                Err(too_large)
            } else {
                Ok(inflated)
            }
        }
        other => Err(AdmissionError::NotAChange {
            index,
            chunk_type: other,
        }),
    }
}

/// Reads an unsigned LEB128 number (at most 10 bytes, no overflow); returns it and
/// the bytes it used.
fn read_uleb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().take(10).enumerate() {
        let low = u64::from(byte & 0x7f);
        let shift = 7 * i as u32;
        if shift == 63 && low > 1 {
            return None;
        }
        value |= low << shift;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use automerge::{transaction::Transactable, AutoCommit, ROOT};
    use proptest::prelude::*;

    use super::*;

    /// A real change from Automerge holding one string of `len` bytes.
    fn real_change(len: usize) -> automerge::Change {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "note", "x".repeat(len)).unwrap();
        doc.commit();
        doc.get_changes(&[]).into_iter().next().unwrap().clone()
    }

    /// A compressed-change chunk whose DEFLATE data inflates to `size` zero bytes.
    fn bomb(size: usize) -> Vec<u8> {
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 64 * 1024];
        let mut written = 0;
        while written < size {
            let n = zeros.len().min(size - written);
            deflate.write_all(&zeros[..n]).unwrap();
            written += n;
        }
        let data = deflate.finish().unwrap();
        let mut chunk = MAGIC.to_vec();
        chunk.extend([0, 0, 0, 0, CHUNK_COMPRESSED]);
        let mut len = data.len() as u64;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                chunk.push(byte);
                break;
            }
            chunk.push(byte | 0x80);
        }
        chunk.extend(data);
        chunk
    }

    #[test]
    fn real_changes_pass_compressed_or_not() {
        let mut big = real_change(20_000);
        let compressed = big.bytes().to_vec();
        assert_eq!(
            compressed[8], CHUNK_COMPRESSED,
            "automerge compresses a big change"
        );
        let raw = big.raw_bytes().to_vec();
        let small = real_change(10).raw_bytes().to_vec();
        let total = check_changes(&[compressed, raw.clone(), small], &Caps::default()).unwrap();
        assert!(total > 2 * 20_000);
        automerge::Change::try_from(raw.as_slice()).unwrap();
    }

    #[test]
    fn a_bomb_is_refused_by_the_change_cap() {
        let bytes = bomb(64 * 1024 * 1024);
        assert!(bytes.len() < 100 * 1024, "the bomb is small on the wire");
        let caps = Caps::default();
        assert_eq!(
            check_changes(&[bytes], &caps),
            Err(AdmissionError::ChangeTooLarge {
                index: 0,
                cap: caps.max_change_bytes
            })
        );
    }

    #[test]
    fn many_changes_under_the_change_cap_hit_the_batch_cap() {
        let caps = Caps {
            max_change_bytes: 1000,
            max_inflated_batch_bytes: 2500,
        };
        let one = bomb(900);
        let batch = vec![one.clone(), one.clone(), one];
        assert_eq!(
            check_changes(&batch, &caps),
            Err(AdmissionError::BatchTooLarge {
                index: 2,
                cap: 2500
            })
        );
        assert_eq!(check_changes(&batch[..2], &caps), Ok(1800));
    }

    #[test]
    fn documents_and_garbage_are_not_changes() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "a", 1).unwrap();
        let saved = doc.save();
        assert!(matches!(
            check_changes(&[saved], &Caps::default()),
            Err(AdmissionError::NotAChange { index: 0, .. })
        ));
        assert_eq!(
            check_changes(&[b"garbage!!!".to_vec()], &Caps::default()),
            Err(AdmissionError::BadMagic { index: 0 })
        );
        let mut extra = real_change(3).raw_bytes().to_vec();
        extra.push(0);
        assert_eq!(
            check_changes(&[extra], &Caps::default()),
            Err(AdmissionError::TrailingBytes { index: 0 })
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = check_changes(&[bytes], &Caps::default());
        }

        #[test]
        fn a_valid_header_over_random_data_never_panics(
            chunk_type in 0u8..5,
            len in proptest::collection::vec(any::<u8>(), 1..11),
            data in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend([1, 2, 3, 4, chunk_type]);
            bytes.extend(len);
            bytes.extend(data);
            let _ = check_changes(&[bytes], &Caps::default());
        }

        #[test]
        fn every_truncation_of_a_real_change_is_refused(cut in 0usize..300, len in 1usize..2000) {
            let mut change = real_change(len);
            let bytes = change.bytes().to_vec();
            let cut = cut.min(bytes.len() - 1);
            prop_assert!(check_changes(&[&bytes[..cut]], &Caps::default()).is_err());
            prop_assert!(check_changes(&[&bytes[..]], &Caps::default()).is_ok());
        }
    }
}
