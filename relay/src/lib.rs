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

pub mod cli;
pub mod config;
pub mod server;
pub mod store;

pub use config::{RelayConfig, RelayHome};
pub use server::Relay;
pub use store::RelayStore;
