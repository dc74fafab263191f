//! # halfsky-node
//!
//! A halfsky node: keeps its unit's ledger (and its subtree's) durably, answers
//! questions about it, and exposes it through the `halfsky` command line.
//!
//! # Layout
//! - [`config`]: the node home (`halfsky.toml` + store directory).
//! - [`store`]: durable document storage (sled) behind the [`store::Storage`] trait.
//! - [`compact`]: background compaction of stored documents.
//! - [`index`]: flattened records and per-org rollups, updated from patches.
//! - [`ledger`]: the one API for writing and reading records.
//! - [`import`] / [`export`]: CSV and XLSX in, CSV and XLSX out.
//! - [`cli`]: the `halfsky` command line; [`demo`]: `halfsky demo`.

pub mod cli;
pub mod compact;
pub mod config;
pub mod demo;
pub mod export;
pub mod import;
pub mod index;
pub mod ledger;
pub mod store;

pub use config::{NodeConfig, NodeHome};
pub use ledger::{Ledger, LedgerError};
