//! # halfsky-shared
//!
//! The pure, deterministic core every halfsky program shares: no sockets, no tokio,
//! no disk. Everything here is unit-tested without I/O.
//!
//! # Layout
//! - [`admission`]: bounded decoding of change bytes from another node, before
//!   Automerge inflates them.
//! - [`attestation`]: signed authorship: a device of unit D attests what it wrote to
//!   D's document.
//! - [`org`]: 12-digit statistical division codes (统计用区划代码), levels, ancestry.
//! - [`schema`]: every record kind of the ledger, its fields, enumerations and parsing
//!   of user input (CLI flags, spreadsheet cells) into typed values.
//! - [`record`]: record ids and validated records.
//! - [`local_time`]: the deployment's time zone: local days and times from stored UTC.
//! - [`lang`]: the language a person reads (Chinese or English): labels, value names,
//!   dates, times and money, for the web, the command line and exports alike.
//! - [`idcard`]: resident ID numbers, validated, kept only as a keyed hash and a mask.
//! - [`ledger_doc`]: the one place where records map onto an Automerge document.
//! - [`rollup`]: per-org counters a record contributes to, and the statistics report.
//! - [`synthetic`]: realistic synthetic ledgers for the demo, tests and benchmarks.
//! - [`wire`]: frames of the sync protocol (length-prefixed, versioned, size-capped).
//! - [`session`]: the sync session between a child and its parent, as a state machine.
//! - [`bundle`]: sealed bundles (signed, encrypted) for the relay and for sneakernet.
//! - [`relay_wire`]: frames between nodes and the relay mailbox.
//! - [`revocation`]: device certificates taken back, signed by the deployment's CA.

pub mod admission;
pub mod attestation;
pub mod bundle;
pub mod ca_signed;
pub mod change_bundle;
pub mod id_key_notice;
pub mod idcard;
mod kdf;
pub mod lang;
pub mod ledger_doc;
pub mod local_time;
pub mod org;
pub mod record;
pub mod relay_wire;
pub mod revocation;
pub mod rollup;
pub mod schema;
pub mod session;
pub mod synthetic;
pub mod wire;

pub use org::{Level, OrgCode, OrgCodeError};
pub use record::{Record, RecordId};
pub use schema::{Kind, Value};
