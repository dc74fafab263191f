//! Sync: everything that moves changes between nodes and keeps account of it.
//!
//! The session logic itself is a pure state machine in `halfsky_shared::session`; this
//! module drives it over QUIC and records what happened.
//!
//! # Layout
//! - [`tls`]: mutual-TLS configs for QUIC links between nodes (and the relay).
//! - [`frames`]: length-prefixed frames over QUIC streams, read within their cap.
//! - [`link`]: one QUIC link: transport settings for rural links, frame I/O, the
//!   session driver.
//! - [`relay_client`]: leaving sealed bundles at the relay and collecting them.
//! - [`bundle`]: sealing, opening and acknowledging bundles (relay and USB stick).
//! - [`status`]: what the node tells about its links (`halfsky status`).
//! - [`pending`]: which path (direct, relay, bundle) unacknowledged changes are on.
//! - [`freshness`]: when and how each unit's data last arrived.

pub mod bundle;
pub mod clock;
pub mod frames;
pub mod freshness;
pub mod link;
pub mod pending;
pub mod relay_client;
pub mod status;
pub mod tls;
