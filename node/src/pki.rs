//! The deployment's private certificate authority and the device certificates it
//! issues. Nodes sync over mutual TLS ([`crate::sync::tls`]); a certificate is how a parent
//! knows which unit a child speaks for (DESIGN.md, "Sync protocol"), so every device
//! certificate carries its org code and device name, in a SAN URI
//! `halfsky://org/<code>/device/<name>` (what [`identity_of`] reads) and in the
//! subject CN `<code>/<name>` (what a person reading the certificate sees).
//!
//! Roles: a certificate is either a *node* certificate (the URI above; server and
//! client authentication) or the *relay*'s (`halfsky://relay/<name>`, CN
//! `relay/<name>`, OU `relay`; server authentication only). The relay's names no
//! unit, so it serves mailboxes and nothing else: a node refuses it as a sync peer
//! (as a child its TLS client authentication fails; as a parent it has no unit), as a
//! bundle recipient, and as the signer of an acknowledgement ([`Subject`]).
//!
//! Files:
//! - a CA directory (`halfsky pki init`): `ca.pem`, the CA certificate, public; and
//!   `ca.key`, its private key (mode 0600): whoever holds it can enrol devices, so it
//!   stays on the city's offline machine and in its backup, never on a node.
//! - a node home (`halfsky pki issue`): `node.pem`, `node.key` (0600) and `ca.pem`.
//!
//! The CA's own unit is read back from its subject CN (`halfsky CA <code>`), so the
//! CA directory needs no other metadata file.
//!
//! # Layout
//! - [`attest`]: signed authorship: this device attests its writes; changes from
//!   elsewhere are checked against the CA and the revocation list.
//! - [`agree`]: the certificate is the identity: config and certificate agree.
//! - [`names`]: file names, SAN and CN forms, validity periods.
//! - [`deployment`]: the settings every node of a deployment shares (ID key).
//! - [`enroll`]: one sealed file that makes a ready node home (`pki enroll`).
//! - [`ca`]: creating the CA and issuing device certificates.
//! - [`identity`]: who a certificate speaks for; a node's own identity.
//! - [`files`]: PEM files, owner-only keys, atomic writes, certificate checks.
//! - [`revocation`]: devices taken back by the CA, carried down in the city's document.
//! - [`error`]: why a certificate could not be made or used ([`PkiError`]).

pub mod agree;
pub mod attest;
pub mod ca;
pub mod ca_meta;
pub mod deployment;
#[cfg(feature = "offices")]
pub mod enroll;
pub mod error;
pub mod files;
pub mod id_key_pair;
pub mod identity;
pub mod names;
#[cfg(feature = "offices")]
pub mod passphrase_seal;
pub mod revocation;

pub use ca::{init_ca, issue, issue_relay, issue_with_names, CaInfo, DeviceCert, RelayCert};
pub use error::PkiError;
pub use files::date;
pub use identity::{
    identity_of, load_node_identity, load_relay_identity, subject_of, NodeIdentity, PeerIdentity,
    RelayIdentity, Subject, TlsCredentials,
};
pub use names::{CA_CERT_FILE, CA_KEY_FILE, NODE_CERT_FILE, NODE_KEY_FILE};
