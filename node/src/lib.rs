//! # halfsky-node
//!
//! A halfsky node: keeps its unit's ledger (and its subtree's) durably, syncs it with
//! its parent and children, and lets people in through the command line, the local
//! API and the web dashboard.
//!
//! # Layout
//! The folders go from the disk up to the people who use the node; a module only
//! imports from its own floor or the floors below it.
//!
//! - [`config`]: the node home (`halfsky.toml` + store directory).
//! - [`store`]: durable storage behind the [`store::Storage`] trait (documents and
//!   named tables): [`store::sled`] on disk, [`store::memory`] for tests;
//!   [`store::index`] (flattened records and per-org rollups, updated from patches)
//!   and [`store::compact`] (background compaction).
//! - [`ledger`]: the one API for writing and reading records; [`ledger::actor`] owns
//!   it on its own thread while the node runs, [`ledger::replica`] lets the sync
//!   session read and apply documents through it.
//! - [`pki`]: the deployment's CA and device certificates (`halfsky pki`).
//! - [`sync`]: links to parent and children over QUIC (TLS, session driving), the
//!   relay client, sealed bundles, and the bookkeeping `status` reports (pending
//!   changes, freshness).
//! - [`exchange`]: records in and out of files: CSV/XLSX import and export, Parquet.
//! - Ways in: [`cli`] (the `halfsky` command line), [`local_api`] (the same commands
//!   sent to a running node over a Unix socket), [`dashboard`] (the web dashboard).
//! - [`run`]: `halfsky run`, the running node that wires the ledger actor, the links,
//!   the local API and the dashboard together.
//! - [`backup`]: `halfsky backup` and `restore`: a whole node home in one file.
//! - [`doctor`]: `halfsky doctor`: a node home looked over, with what to fix.
//! - [`service`]: `halfsky service`: the node as a systemd service.
//! - [`demo`]: `halfsky demo`, a whole city on one machine; [`lossy`]: the lossy-link
//!   simulator behind the demo's rural links (and the tests and benchmarks).

#[cfg(feature = "offices")]
pub mod backup;
#[cfg(feature = "offices")]
pub mod cli;
#[cfg(feature = "offices")]
pub mod command;
pub mod config;
#[cfg(feature = "offices")]
pub mod dashboard;
#[cfg(feature = "offices")]
pub mod demo;
#[cfg(feature = "offices")]
pub mod doctor;
#[cfg(feature = "offices")]
pub mod exchange;
pub mod ledger;
#[cfg(feature = "offices")]
pub mod local_api;
pub mod lossy;
pub mod pki;
#[cfg(feature = "offices")]
pub mod run;
#[cfg(feature = "offices")]
pub mod service;
pub mod store;
pub mod sync;

pub use config::{NodeConfig, NodeHome};
pub use ledger::{Ledger, LedgerError};
