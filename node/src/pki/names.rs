//! The names and numbers of the deployment's PKI: file names in a CA directory and a
//! node home, how a certificate names its unit and device, how long each lives.

use std::time::Duration;

/// The CA certificate, in a CA directory and in every node home.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA private key, only in the CA directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// This node's certificate, in the node home.
pub const NODE_CERT_FILE: &str = "node.pem";
/// This node's private key, in the node home.
pub const NODE_KEY_FILE: &str = "node.key";

/// Start of the SAN URI that names a device: `halfsky://org/<code>/device/<name>`.
pub(crate) const URI_PREFIX: &str = "halfsky://org/";
/// Start of the SAN URI that names a relay: `halfsky://relay/<name>`. A certificate
/// carries exactly one of the two forms: that is its role.
pub(crate) const RELAY_URI_PREFIX: &str = "halfsky://relay/";
/// Organisational unit of a relay certificate's subject (for people reading it).
pub(crate) const RELAY_OU: &str = "relay";
/// Start of the CA's subject CN; the CA's org code follows.
pub(crate) const CA_CN_PREFIX: &str = "halfsky CA ";
pub(crate) const DAY: u64 = 24 * 60 * 60;
/// The CA outlives many device certificates: ten years.
pub(crate) const CA_VALIDITY: Duration = Duration::from_secs(3653 * DAY);
/// Devices are rarely re-enrolled in the field: five years, never past the CA's end.
pub(crate) const DEVICE_VALIDITY: Duration = Duration::from_secs(1827 * DAY);
/// Certificates start two days in the past: office PCs' clocks are often a bit off.
pub(crate) const CLOCK_SLACK: Duration = Duration::from_secs(2 * DAY);
/// Longest device name (it is part of every record's history).
pub(crate) const MAX_DEVICE_LEN: usize = 64;
