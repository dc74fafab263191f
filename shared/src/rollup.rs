//! Per-org counters ("rollups") and the statistics report built from them.
//!
//! Each record *contributes* a small [`Rollup`] to its org unit; the index keeps one
//! rollup per org and applies a change as "subtract the record's old contribution,
//! add its new one". Statistics for any subtree are the sum of its units' rollups, so a
//! page never reads documents, and a rebuild from scratch (`reindex`) gives exactly the
//! same numbers. Everything that depends on today's date (overdue visits, age bands,
//! exits this year) is kept as a histogram and resolved when the report is made.
//!
//! # Layout
//! - [`sums`]: [`Rollup`], one unit's counters, and what a record contributes.
//! - [`report`]: [`StatsReport`], the typed report made from summed rollups.

pub mod report;
pub mod sums;

pub use report::*;
pub use sums::*;
