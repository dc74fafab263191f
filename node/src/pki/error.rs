//! Why a CA or device certificate could not be created, read or used.

use std::path::PathBuf;

use halfsky_shared::{OrgCode, OrgCodeError};

use super::names::{CA_CERT_FILE, CA_KEY_FILE};

/// Why a CA or device certificate could not be created, read or used. Each message
/// says what failed, which file, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// `init` into a directory that already holds a CA.
    #[error("{} already holds a CA ({} exists); a deployment has exactly one CA: use it as it is, or choose another directory", .dir.display(), .file.display())]
    CaExists {
        /// The CA directory.
        dir: PathBuf,
        /// The file that is already there.
        file: PathBuf,
    },
    /// `issue` with a CA directory that has no (complete) CA.
    #[error("no deployment CA at {} ({} is missing); point --ca at the directory made by `halfsky pki init` (it holds {CA_CERT_FILE} and {CA_KEY_FILE})", .dir.display(), .file.display())]
    CaMissing {
        /// The CA directory given.
        dir: PathBuf,
        /// The file that is missing.
        file: PathBuf,
    },
    /// A node home without its certificate files.
    #[error("{} has no certificate ({} is missing); issue one on the CA machine with `halfsky pki issue --ca <CA dir> --org <code> --device <name> -d {}`", .home.display(), .file.display(), .home.display())]
    NodeMissing {
        /// The node home.
        home: PathBuf,
        /// The file that is missing.
        file: PathBuf,
    },
    /// A file that exists but is not what halfsky wrote there.
    #[error("{} is damaged or not a halfsky file: {reason}; restore it from the backup, or issue it again with `halfsky pki`", .path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A private key that other users of the computer can read.
    #[error("{} can be read by other users of this computer (mode {mode:o}); run `chmod 600 {}` and try again", .path.display(), .path.display())]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Reading or writing a file failed.
    #[error("cannot {op} {}", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Key or certificate generation failed (should not happen with valid input).
    #[error("cannot create {what}: {source}")]
    Generate {
        /// What was being made.
        what: &'static str,
        /// rcgen's reason.
        source: rcgen::Error,
    },
    /// `issue` for a unit that the CA's deployment does not cover.
    #[error("{org} is not in the subtree of {ca_org}: the CA in {} issues certificates only for units of {ca_org}; check the code, or use the CA of {org}'s own deployment", .ca_dir.display())]
    OutsideCa {
        /// The unit asked for.
        org: OrgCode,
        /// The CA's unit.
        ca_org: OrgCode,
        /// The CA directory.
        ca_dir: PathBuf,
    },
    /// An org code given on the command line is malformed.
    #[error("--org {0}")]
    BadOrg(#[source] OrgCodeError),
    /// A device name that cannot go into a certificate.
    #[error("device name {name:?} {reason}: use 1-64 of the characters A-Z a-z 0-9 . _ - (e.g. office-pc-1), starting with a letter or digit")]
    BadDevice {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An extra `--name` that is neither an IP address nor a host name.
    #[error("--name {0:?} is neither an IP address (e.g. 10.2.3.4) nor a host name (e.g. county.example.cn)")]
    BadHostName(String),
    /// A certificate without a halfsky identity (or with a malformed one).
    #[error("the certificate names no halfsky unit: {reason}; only certificates made by `halfsky pki issue` can be used")]
    NoIdentity {
        /// What is missing or wrong.
        reason: String,
    },
    /// `node.key` and `node.pem` are not a pair.
    #[error("{} does not belong to {} (an issue was interrupted, or files were mixed up); issue the certificate again with `halfsky pki issue`", .key.display(), .cert.display())]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// `node.pem` was not signed by the CA in `ca.pem` beside it.
    #[error("{} was not issued by the CA in {}; issue it again with `halfsky pki issue --ca <the deployment's CA>`", .cert.display(), .ca.display())]
    NotFromCa {
        /// The node certificate.
        cert: PathBuf,
        /// The CA certificate.
        ca: PathBuf,
    },
    /// A certificate outside its validity period.
    #[error("{} is valid from {not_before} to {not_after}, and this computer's clock says {now}; if the clock is wrong, correct it, otherwise issue a new certificate with `halfsky pki issue`", .path.display())]
    NotValidNow {
        /// The certificate file.
        path: PathBuf,
        /// Start of validity.
        not_before: String,
        /// End of validity.
        not_after: String,
        /// The local clock.
        now: String,
    },
    /// The node's config and its certificate name different units.
    #[error("this node's config says {config} but its certificate is for {cert}; issue a certificate for the right unit with `halfsky pki issue --ca <CA dir> --org {config} --device <name> -d <this node home>`")]
    WrongUnit {
        /// The org in `halfsky.toml`.
        config: OrgCode,
        /// The org in `node.pem`.
        cert: OrgCode,
    },
    /// A relay certificate where a node certificate is needed (or the other way round).
    #[error("the certificate is the relay certificate relay/{name}: a relay serves mailboxes only and may not sync with a node, receive bundles or sign acknowledgements; {what}")]
    RelayOnly {
        /// The relay's name in its certificate.
        name: String,
        /// What to do instead.
        what: &'static str,
    },
    /// A node certificate where the relay's certificate is needed.
    #[error("{} is a node certificate ({identity}), but a relay must hold a relay certificate (mailboxes only): issue one with `halfsky pki issue --ca <CA dir> --role relay --device <name> --name <host> -d {}`", .path.display(), .home.display())]
    NotARelay {
        /// The certificate file.
        path: PathBuf,
        /// The relay home.
        home: PathBuf,
        /// Whom the certificate names.
        identity: String,
    },
    /// `--role` that is neither `node` nor `relay`.
    #[error("--role {0:?}: give `node` (a halfsky office, the default) or `relay` (the relay's mailbox server)")]
    BadRole(String),
}
