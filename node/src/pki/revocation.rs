//! Revocations at the node: signing one with the CA (`halfsky pki revoke`), keeping it
//! in the CA unit's (the city's) document, reading the list a node holds once that
//! document has reached it (`halfsky pki revoked`), and the check every link, relay
//! visit and bundle makes.
//!
//! Where they live: in the `meta` map of the CA unit's document ([`super::ca_meta`]),
//! one key per device, `revoked/<org>/<device>` = the signed revocation (hex), so
//! every node has a revocation after its next sync. Each entry is checked against the
//! CA certificate on reading: an entry that a city device could write but the CA did
//! not sign is ignored.

use std::fs;
use std::path::{Path, PathBuf};

use halfsky_shared::ledger_doc::ChangeNote;
use halfsky_shared::revocation::{Revocation, RevocationError, SignedRevocation, META_PREFIX};
use halfsky_shared::OrgCode;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::ca::load_ca;
use super::error::PkiError;
use super::files::{date, io, read_certs, system_time, validate_device, write_atomic};
use super::identity::PeerIdentity;
use super::names::{CA_CERT_FILE, CA_CN_PREFIX};
use crate::ledger::{Ledger, LedgerError};

/// Directory in the CA directory where `pki revoke` keeps a copy of each revocation.
pub const REVOKED_DIR: &str = "revoked";

/// Why a revocation could not be made, recorded or read.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// The CA, its files, or a name.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Signing or checking.
    #[error("revocation: {0}")]
    Revocation(#[from] RevocationError),
    /// The ledger.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// `pki revoke` on a node that does not hold the CA unit's document.
    #[error("revocations travel down the tree in the document of the CA's unit {ca_org}, but this node is {node}: run `halfsky pki revoke` with -d <the home of a node of {ca_org}>")]
    NotTheCaUnit {
        /// The CA's unit.
        ca_org: OrgCode,
        /// This node's unit.
        node: OrgCode,
    },
    /// The CA unit's document lacks its `meta` map (damaged by another node).
    #[error("the document of {0} has no meta map; the revocation cannot be recorded there (see `halfsky quarantine`)")]
    NoMeta(OrgCode),
}

/// The deployment's CA as a node needs it to check revocations.
#[derive(Debug, Clone)]
pub struct CaKey {
    /// The CA's unit (whose document carries revocations).
    pub org: OrgCode,
    /// Its public key (SEC1).
    pub public: Vec<u8>,
}

/// Reads the CA's unit and public key from a CA certificate (DER).
pub fn ca_key_of(ca_der: &[u8], path: &Path) -> Result<CaKey, PkiError> {
    let damaged = |reason: String| PkiError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let (_, cert) = X509Certificate::from_der(ca_der)
        .map_err(|e| damaged(format!("not an X.509 certificate ({e})")))?;
    let org = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .and_then(|cn| cn.strip_prefix(CA_CN_PREFIX))
        .and_then(|code| OrgCode::parse(code).ok())
        .ok_or_else(|| damaged("its common name is not `halfsky CA <org code>`".into()))?;
    Ok(CaKey {
        org,
        public: cert.public_key().subject_public_key.data.to_vec(),
    })
}

/// The CA of a node home (`ca.pem`); `None` if the home has no certificate yet (then
/// it has no links either, and nothing to check).
pub fn ca_of_home(home: &Path) -> Result<Option<CaKey>, PkiError> {
    let path = home.join(CA_CERT_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let der = read_certs(&path)?.swap_remove(0);
    ca_key_of(&der, &path).map(Some)
}

/// Signs a revocation of device `device` of `org` with the CA in `ca_dir`, and keeps
/// a copy in `ca_dir/revoked/<org>-<device>.rev` (the CA holder's record).
pub fn sign(
    ca_dir: &Path,
    org: OrgCode,
    device: &str,
    reason: &str,
) -> Result<(Revocation, SignedRevocation, PathBuf), RevokeError> {
    validate_device(device)?;
    let ca = load_ca(ca_dir)?;
    if !org.is_in_subtree_of(&ca.org) {
        return Err(PkiError::OutsideCa {
            org,
            ca_org: ca.org,
            ca_dir: ca_dir.to_path_buf(),
        }
        .into());
    }
    let revocation = Revocation {
        org,
        device: device.to_string(),
        reason: reason.trim().to_string(),
        revoked_at: chrono::Utc::now().timestamp(),
    };
    let signed = revocation.sign(&ca.key_pkcs8)?;
    let dir = ca_dir.join(REVOKED_DIR);
    fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
    let path = dir.join(format!("{org}-{device}.rev"));
    write_atomic(&path, signed.to_text().as_bytes(), false, true)?;
    Ok((revocation, signed, path))
}

/// Records a signed revocation in the CA unit's document held by this node (which
/// must be a node of that unit): from there it goes down the tree with the document.
pub fn record(ledger: &mut Ledger, signed: &SignedRevocation) -> Result<Revocation, RevokeError> {
    let home = ledger.home().dir().to_path_buf();
    let ca = ca_of_home(&home)?.ok_or_else(|| PkiError::NodeMissing {
        file: home.join(CA_CERT_FILE),
        home: home.clone(),
    })?;
    let revocation = signed.verify(&ca.public)?;
    let me = ledger.config().org;
    if me != ca.org {
        return Err(RevokeError::NotTheCaUnit {
            ca_org: ca.org,
            node: me,
        });
    }
    let note = ChangeNote {
        op: "revoke".into(),
        id: None,
        by: format!("{me}/{}", ledger.config().device),
        fields: vec![revocation.meta_key()],
        note: Some(revocation.reason.clone()),
    };
    let (key, text) = (revocation.meta_key(), signed.to_text());
    if super::ca_meta::put(ledger, ca.org, (&key, &text), &note, revocation.revoked_at)? {
        Ok(revocation)
    } else {
        Err(RevokeError::NoMeta(ca.org))
    }
}

/// Every revocation signed by this node's CA that this node holds (in the CA unit's
/// document), with its signed form; entries the CA did not sign are skipped (and
/// logged). Empty while the node has no certificate or not yet that document.
pub fn held(ledger: &mut Ledger) -> Result<Vec<(Revocation, SignedRevocation)>, RevokeError> {
    let Some(ca) = ca_of_home(ledger.home().dir())? else {
        return Ok(Vec::new());
    };
    let texts = super::ca_meta::entries(ledger, ca.org, META_PREFIX)?;
    let mut out: Vec<(Revocation, SignedRevocation)> = Vec::new();
    for text in texts {
        match SignedRevocation::from_text(&text).and_then(|s| Ok((s.verify(&ca.public)?, s))) {
            Ok((r, s)) => {
                if !out.iter().any(|(o, _)| o.covers(&r.org, &r.device)) {
                    out.push((r, s));
                }
            }
            Err(e) => {
                tracing::warn!(document = %ca.org, error = %e, "ignored an entry of the revocation list")
            }
        }
    }
    out.sort_by(|(a, _), (b, _)| (a.org, &a.device).cmp(&(b.org, &b.device)));
    Ok(out)
}

/// The revocation of `peer`'s device, if this node holds one.
pub fn find(ledger: &mut Ledger, peer: &PeerIdentity) -> Result<Option<Revocation>, RevokeError> {
    Ok(held(ledger)?
        .into_iter()
        .map(|(r, _)| r)
        .find(|r| r.covers(&peer.org, &peer.device)))
}

/// Why a revoked device is refused, for the log, the status page and the device
/// itself.
pub fn refusal(r: &Revocation) -> String {
    format!(
        "device {}/{} was revoked by the deployment's CA on {}: {}",
        r.org,
        r.device,
        date(system_time(r.revoked_at)),
        r.reason
    )
}
