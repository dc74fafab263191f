//! Automerge bundles as the catch-up encoding: many changes in the document format's
//! column compression (change hashes become indices, actors a table), about half the
//! bytes of zstd-compressed raw changes.
//!
//! The encoding is Automerge's own (`Automerge::bundle`), marked experimental in 0.12:
//! the workspace pins the automerge version exactly, and a session uses bundles only
//! with a peer whose Hello names [`crate::wire::BUNDLE_SINCE_VERSION`] or later.
//!
//! Bundles arrive from other nodes, so decoding is bounded before Automerge reads a
//! byte ([`check`]): the chunk header, the dependency and actor tables and both column
//! tables are walked here; every DEFLATE column is inflated into a counting sink that
//! stops one byte past the cap; and every run-length column is walked to count the
//! rows it expands to, so neither a DEFLATE bomb nor a run of a billion copies costs
//! more than the caps. [`decode`] then hands back the changes raw, for the same
//! admission as any batch. A damaged bundle is an error here, never a silent `Ok(0)`.

use std::io::Read;

use automerge::{Automerge, ChangeHash};
use thiserror::Error;

use crate::admission::Caps;

/// Automerge's chunk magic bytes.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Chunk type of a bundle.
const CHUNK_BUNDLE: u8 = 3;
/// Most rows any one column of a bundle may expand to (a row is an op or a change):
/// a village of 5,000 cards is about 100,000 ops; the sender cuts bundles far below.
pub const MAX_ROWS: u64 = 4_000_000;

/// Why bytes are not an admissible bundle.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BundleCodecError {
    /// The bytes end before what a header or table announces.
    #[error("the bundle is truncated ({0})")]
    Truncated(&'static str),
    /// Not an Automerge bundle chunk.
    #[error("not an Automerge bundle (magic bytes or chunk type {0})")]
    NotABundle(u8),
    /// Bytes after the chunk's announced end.
    #[error("bytes after the end of the bundle")]
    TrailingBytes,
    /// A number in the tables is malformed or absurd.
    #[error("the bundle's {0} is malformed")]
    Malformed(&'static str),
    /// A DEFLATE column is not valid DEFLATE.
    #[error("a compressed column of the bundle is not valid DEFLATE")]
    Deflate,
    /// Inflated, the bundle is larger than the batch cap.
    #[error("the bundle inflates past the cap of {0} bytes")]
    TooLarge(u64),
    /// A column expands to more rows than [`MAX_ROWS`].
    #[error("a column of the bundle expands past {MAX_ROWS} rows")]
    TooManyRows,
    /// Automerge refused the bundle after the checks passed.
    #[error("Automerge cannot read the bundle: {0}")]
    Automerge(String),
}

/// Encodes the named changes of `doc` as one bundle (dependency order is Automerge's).
pub fn encode(doc: &Automerge, changes: &[ChangeHash]) -> Result<Vec<u8>, BundleCodecError> {
    doc.bundle(changes.iter().copied())
        .map(|b| b.bytes().to_vec())
        .map_err(|e| BundleCodecError::Automerge(e.to_string()))
}

/// Checks `bytes` against `caps` and [`MAX_ROWS`], then returns the bundle's changes
/// as raw bytes (`Change::raw_bytes`), in the bundle's order.
pub fn decode(bytes: &[u8], caps: &Caps) -> Result<Vec<Vec<u8>>, BundleCodecError> {
    check(bytes, caps)?;
    // Automerge 0.12's bundle parser (hexane) panics on some damaged columns that
    // pass the walk above: a panic is a refusal like any other.
    let parsed = std::panic::catch_unwind(|| -> Result<Vec<Vec<u8>>, String> {
        let bundle = automerge::Bundle::try_from(bytes).map_err(|e| e.to_string())?;
        let changes = bundle.to_changes().map_err(|e| e.to_string())?;
        Ok(changes.iter().map(|c| c.raw_bytes().to_vec()).collect())
    });
    match parsed {
        Ok(Ok(changes)) => Ok(changes),
        Ok(Err(e)) => Err(BundleCodecError::Automerge(e)),
        Err(_) => Err(BundleCodecError::Automerge(
            "the bundle's columns do not decode".into(),
        )),
    }
}

/// Walks a bundle chunk without Automerge: header, tables, and every column bounded
/// (inflated size against `caps.max_inflated_batch_bytes`, rows against [`MAX_ROWS`]).
/// Returns the inflated size of the columns.
pub fn check(bytes: &[u8], caps: &Caps) -> Result<u64, BundleCodecError> {
    let header = bytes
        .get(..9)
        .ok_or(BundleCodecError::Truncated("header"))?;
    if header[..4] != MAGIC || header[8] != CHUNK_BUNDLE {
        return Err(BundleCodecError::NotABundle(header[8]));
    }
    let mut r = Reader {
        bytes: &bytes[9..],
        at: 0,
    };
    let len = r.uleb("chunk length")?;
    let body = r.take(len, "chunk body")?;
    if r.at != r.bytes.len() {
        return Err(BundleCodecError::TrailingBytes);
    }
    let mut r = Reader { bytes: body, at: 0 };
    let deps = r.uleb("dependency table")?;
    r.take(deps.saturating_mul(32), "dependency table")?;
    let actors = r.uleb("actor table")?;
    for _ in 0..actors {
        let n = r.uleb("actor table")?;
        r.take(n, "actor table")?;
    }
    let mut budget = Budget {
        left: caps.max_inflated_batch_bytes,
        cap: caps.max_inflated_batch_bytes,
    };
    for _ in 0..2 {
        let count = r.uleb("column table")?;
        let mut columns = Vec::new();
        for _ in 0..count {
            let spec = r.uleb("column table")?;
            let len = r.uleb("column table")?;
            columns.push((spec, len));
        }
        for (spec, len) in columns {
            let data = r.take(len, "column data")?;
            check_column(spec, data, &mut budget)?;
        }
    }
    if r.at != r.bytes.len() {
        return Err(BundleCodecError::TrailingBytes);
    }
    Ok(budget.cap - budget.left)
}

/// Bytes still allowed once inflated.
struct Budget {
    left: u64,
    cap: u64,
}

impl Budget {
    fn spend(&mut self, n: u64) -> Result<(), BundleCodecError> {
        self.left = self
            .left
            .checked_sub(n)
            .ok_or(BundleCodecError::TooLarge(self.cap))?;
        Ok(())
    }
}

/// One column: inflated (bounded) if its spec says DEFLATE, then its rows counted.
fn check_column(spec: u64, data: &[u8], budget: &mut Budget) -> Result<(), BundleCodecError> {
    const DEFLATE: u64 = 0b1000;
    let col_type = (spec & 0b0111) as u8;
    if spec & DEFLATE == 0 {
        budget.spend(data.len() as u64)?;
        return rows_within(col_type, data);
    }
    let mut inflated = Vec::new();
    let limit = budget.left;
    flate2::bufread::DeflateDecoder::new(data)
        .take(limit.saturating_add(1))
        .read_to_end(&mut inflated)
        .map_err(|_| BundleCodecError::Deflate)?;
    budget.spend(inflated.len() as u64)?;
    rows_within(col_type, &inflated)
}

/// Counts the rows a column expands to, by its type's encoding; refuses past
/// [`MAX_ROWS`]. Raw value bytes (type 7) expand to nothing.
fn rows_within(col_type: u8, data: &[u8]) -> Result<(), BundleCodecError> {
    let mut r = Reader { bytes: data, at: 0 };
    let mut rows: u64 = 0;
    let mut add = |n: u64| -> Result<(), BundleCodecError> {
        rows = rows.saturating_add(n);
        if rows > MAX_ROWS {
            Err(BundleCodecError::TooManyRows)
        } else {
            Ok(())
        }
    };
    match col_type {
        // Raw values: their lengths live in the value-metadata column.
        7 => Ok(()),
        // Boolean: alternating run lengths.
        4 => {
            while r.at < r.bytes.len() {
                add(r.uleb("boolean column")?)?;
            }
            Ok(())
        }
        // Run-length encoded: group, actor, integer, delta, string, value metadata.
        _ => {
            let value = |r: &mut Reader| -> Result<(), BundleCodecError> {
                if col_type == 5 {
                    let n = r.uleb("string column")?;
                    r.take(n, "string column")?;
                } else {
                    r.uleb("integer column")?;
                }
                Ok(())
            };
            while r.at < r.bytes.len() {
                let n = r.sleb("run length")?;
                if n > 0 {
                    add(n as u64)?;
                    value(&mut r)?;
                } else if n < 0 {
                    let literals = n.unsigned_abs();
                    add(literals)?;
                    for _ in 0..literals {
                        value(&mut r)?;
                    }
                } else {
                    add(r.uleb("null run")?)?;
                }
            }
            Ok(())
        }
    }
}

/// A cursor over bytes that never reads past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], BundleCodecError> {
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(BundleCodecError::Truncated(what));
        }
        let start = self.at;
        self.at += n as usize;
        Ok(&self.bytes[start..self.at])
    }

    /// Unsigned LEB128, at most 10 bytes, no overflow.
    fn uleb(&mut self, what: &'static str) -> Result<u64, BundleCodecError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or(BundleCodecError::Truncated(what))?;
            self.at += 1;
            let low = u64::from(byte & 0x7f);
            let shift = 7 * i;
            if shift == 63 && low > 1 {
                return Err(BundleCodecError::Malformed(what));
            }
            value |= low << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(BundleCodecError::Malformed(what))
    }

    /// Signed LEB128, at most 10 bytes.
    fn sleb(&mut self, what: &'static str) -> Result<i64, BundleCodecError> {
        let mut value: i64 = 0;
        let mut shift = 0;
        for _ in 0..10 {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or(BundleCodecError::Truncated(what))?;
            self.at += 1;
            value |= i64::from(byte & 0x7f).wrapping_shl(shift);
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return Ok(value);
            }
        }
        Err(BundleCodecError::Malformed(what))
    }
}

#[cfg(test)]
mod tests;
