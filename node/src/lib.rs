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
//! - [`pki`]: the deployment's CA and device certificates (`halfsky pki`).
//! - [`tls`]: mutual-TLS configs for QUIC links between nodes.
//! - [`lossy`]: the lossy-link simulator (tests, benchmarks and the demo city).
//! - [`freshness`]: when and how each unit's data last arrived.
//! - [`dashboard`]: the web dashboard (HTTP, server-rendered pages, JSON API).
//! - [`cli`]: the `halfsky` command line; [`demo`]: `halfsky demo`.
//! - [`bundle`]: sealing, opening and acknowledging bundles (relay and sneakernet);
//!   [`bundle_cli`]: `halfsky bundle`.
//! - [`pending`]: which path (direct, relay, bundle) unacknowledged changes are on.
//! - [`relay_client`]: leaving bundles at the relay and collecting them.

pub mod actor;
pub mod bundle;
pub mod bundle_cli;
pub mod cli;
pub mod compact;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod export;
pub mod freshness;
pub mod import;
pub mod index;
pub mod ledger;
pub mod link;
pub mod local_api;
pub mod lossy;
pub mod pending;
pub mod pki;
pub mod relay_client;
pub mod replica;
pub mod run;
pub mod status;
pub mod store;
pub mod tls;

pub use config::{NodeConfig, NodeHome};
pub use ledger::{Ledger, LedgerError};
