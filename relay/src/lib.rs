//! # halfsky-relay
//!
//! An always-on store-and-forward mailbox for halfsky nodes that are never online at
//! the same time as their parent (DESIGN.md, "Unreliable links"). Nodes leave sealed
//! bundles (signed by the sender, encrypted to the recipient) addressed to an org;
//! the recipient collects them, applies them and leaves a sealed acknowledgement for
//! the sender the same way. The relay sees only org codes and sizes.
//!
//! # Layout
//! - [`config`]: the relay home (`relay.toml`, store, certificate files).
//! - [`store`]: mailboxes in sled, with per-sender quotas and expiry; durable before
//!   a deposit is acknowledged.
//! - [`server`]: the QUIC server (mutual TLS from the deployment's CA, own ALPN).
//! - [`cli`]: `halfsky-relay init | run | status`.
//!
//! # What it takes from the node
//! The relay reuses the node's PKI ([`halfsky_node::pki`]), TLS setup, frame I/O and
//! QUIC transport ([`halfsky_node::sync`]) so both ends speak exactly the same
//! protocol. It depends on `halfsky-node` with `default-features = false`: the node's
//! `offices` feature (command line, local API, dashboard, CSV/XLSX/Parquet exchange,
//! demo, `halfsky run`) stays out, and with it axum, argon2, arrow/parquet, calamine
//! and rust_xlsxwriter. An always-on mailbox has no people at it; it should not carry
//! (or be patched for) a web server and spreadsheet parsers it never runs.

pub mod cli;
pub mod config;
pub mod server;
pub mod store;

pub use config::{RelayConfig, RelayHome};
pub use server::Relay;
pub use store::RelayStore;
