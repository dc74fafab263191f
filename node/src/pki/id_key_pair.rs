//! Replacing the deployment's ID key pair, for when its private half may have left an
//! office (a server's disk or backup copied with its `id.key`). Run at a node of the
//! CA's unit with the CA directory (`halfsky id-key replace --ca DIR --out FILE`):
//!
//! 1. a fresh pair becomes the deployment's (`deployment.toml`; the old private half
//!    is kept there as retired, so offices enrolled later still open older numbers);
//! 2. `FILE`, sealed with a passphrase, carries every private half to the other
//!    offices, where `halfsky id-key add FILE` adds them to `id.key` and hashes the
//!    numbers anew (duplicates among new cards are found there from then on);
//! 3. a notice of the new public half, signed by the CA, goes into the CA unit's
//!    document ([`super::ca_meta`]), and every node seals the numbers typed there to
//!    the newest notice it holds once that document reaches it.
//!
//! What it cannot do: numbers sealed before stay sealed to the old pair in every
//! document's history (history is never rewritten), so whoever holds the old private
//! half can still open those. It protects the numbers typed from then on.

use halfsky_shared::ca_signed::{CaSigned, CaSignedError};
use halfsky_shared::id_key_notice::{IdKeyNotice, META_PREFIX};
use halfsky_shared::idcard::IdPublic;
use halfsky_shared::ledger_doc::ChangeNote;
use halfsky_shared::OrgCode;

use super::deployment::DeploymentError;
use super::error::PkiError;
use super::names::CA_CERT_FILE;
use super::revocation::{ca_of_home, CaKey};
use crate::config::{ConfigError, NodeHome};
use crate::ledger::{Ledger, LedgerError};

#[cfg(feature = "offices")]
mod key_file;
#[cfg(feature = "offices")]
use super::enroll::MIN_PASSPHRASE;
#[cfg(feature = "offices")]
pub use key_file::{open_key_file, replace, Replaced};
#[cfg(feature = "offices")]
use std::path::PathBuf;

/// Why a pair could not be replaced, published or added.
#[derive(Debug, thiserror::Error)]
pub enum IdKeyPairError {
    /// The CA, its files, or the node's certificate.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The CA's shared settings.
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    /// The node home.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The ledger.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A notice the CA did not sign, or not a notice.
    #[error("ID key notice: {0}")]
    Notice(#[from] CaSignedError),
    /// Run at a node that does not hold the CA unit's document.
    #[error("the new ID key travels down the tree in the document of the CA's unit {ca_org}, but this node is {node}: run `halfsky id-key replace` with -d <the home of a node of {ca_org}>")]
    NotTheCaUnit {
        /// The CA's unit.
        ca_org: OrgCode,
        /// This node's unit.
        node: OrgCode,
    },
    /// The CA unit's document lacks its `meta` map (damaged by another node).
    #[error("the document of {0} has no meta map; the notice cannot be recorded there (see `halfsky quarantine`)")]
    NoMeta(OrgCode),
    /// A passphrase too short to protect a private key.
    #[cfg(feature = "offices")]
    #[error("the passphrase must have at least {MIN_PASSPHRASE} characters (it protects the ID key on the way)")]
    WeakPassphrase,
    /// Not an ID key file.
    #[cfg(feature = "offices")]
    #[error("{} is not a halfsky ID key file (made by `halfsky id-key replace`)", .0.display())]
    NotKeyFile(PathBuf),
    /// Wrong passphrase, or a changed file.
    #[cfg(feature = "offices")]
    #[error("{} cannot be opened: the passphrase is wrong, or the file was changed or damaged after it was made; check the passphrase, or ask the CA holder for the file again", .0.display())]
    Unsealed(PathBuf),
}

/// The CA of `home`, which must be a node of the CA's unit.
pub(super) fn ca_unit(home: &NodeHome) -> Result<CaKey, IdKeyPairError> {
    let dir = home.dir();
    let ca = ca_of_home(dir)?.ok_or_else(|| PkiError::NodeMissing {
        file: dir.join(CA_CERT_FILE),
        home: dir.to_path_buf(),
    })?;
    let node = home.config()?.org;
    if node != ca.org {
        return Err(IdKeyPairError::NotTheCaUnit {
            ca_org: ca.org,
            node,
        });
    }
    Ok(ca)
}

/// The CA of `home` and the notice it signed, if `home` is a node of the CA's unit
/// (where the notice is recorded) and the CA signed it.
pub fn check_notice(
    home: &NodeHome,
    notice: &CaSigned,
) -> Result<(CaKey, IdKeyNotice), IdKeyPairError> {
    let ca = ca_unit(home)?;
    let read = IdKeyNotice::verify(notice, &ca.public)?;
    Ok((ca, read))
}

/// Records the CA's notice in the CA unit's document held by this node (a node of
/// that unit): from there it goes down the tree.
pub fn publish(ledger: &mut Ledger, notice: &CaSigned) -> Result<IdKeyNotice, IdKeyPairError> {
    let (ca, read) = check_notice(ledger.home(), notice)?;
    let public = read.public().expect("verify checks the public half");
    let me = ledger.config();
    let note = ChangeNote {
        op: "id-key".into(),
        id: None,
        by: format!("{}/{}", me.org, me.device),
        fields: vec![read.meta_key()],
        note: Some(format!(
            "the deployment's ID key is now {}",
            fingerprint(&public)
        )),
    };
    let (key, text) = (read.meta_key(), notice.to_text());
    if super::ca_meta::put(ledger, ca.org, (&key, &text), &note, read.since)? {
        Ok(read)
    } else {
        Err(IdKeyPairError::NoMeta(ca.org))
    }
}

/// The newest notice signed by `ca` that this node holds; entries the CA did not sign
/// are skipped (and logged).
pub fn newest_notice(ledger: &mut Ledger, ca: &CaKey) -> Result<Option<IdKeyNotice>, LedgerError> {
    let texts = super::ca_meta::entries(ledger, ca.org, META_PREFIX)?;
    Ok(texts
        .iter()
        .filter_map(|text| {
            match CaSigned::from_text(text).and_then(|s| IdKeyNotice::verify(&s, &ca.public)) {
                Ok(notice) => Some(notice),
                Err(e) => {
                    tracing::warn!(document = %ca.org, error = %e, "ignored an ID key notice");
                    None
                }
            }
        })
        .max_by_key(|n| (n.since, n.public.clone())))
}

/// A short name of a public half to show people (first 8 hex digits of its SHA-256).
pub fn fingerprint(public: &IdPublic) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(public.to_hex().as_bytes())[..4])
}
