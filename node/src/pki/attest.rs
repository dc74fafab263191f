//! Signed authorship at the node: this device attests its own writes to its unit's
//! document, and every change from elsewhere is checked against the CA and the
//! revocation list ([`halfsky_shared::attestation`] has the format and the why).
//!
//! A node with no CA certificate (a bare home, unit tests) neither signs nor checks:
//! it has no links either. A node with a CA but no certificate of its own checks.

use std::collections::HashMap;
use std::sync::Mutex;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjType, ReadDoc, ROOT};
use halfsky_shared::attestation::{self, Attestation, DeviceKeys, DEVICE_PREFIX, SIGNED_PREFIX};
use halfsky_shared::ledger_doc::ChangeNote;
use halfsky_shared::revocation::Revocation;
use halfsky_shared::OrgCode;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::files::{date, system_time};
use super::identity::{load_node_identity, subject_of, Subject};
use super::revocation::ca_of_home;
use crate::config::NodeHome;

/// What this device signs with.
struct Signer {
    org: OrgCode,
    device: String,
    /// PKCS#8 DER of the device key (P-256).
    key: Vec<u8>,
    /// The device certificate (DER), put once into the document.
    cert_hex: String,
}

/// A device certificate checked once against the CA (cached by its SHA-256).
#[derive(Clone)]
struct Checked {
    subject: Result<(OrgCode, String), String>,
    public: Vec<u8>,
    not_before: i64,
    not_after: i64,
}

/// The node's side of signed authorship: its signing key (if it has a certificate) and
/// the CA every attestation is checked against.
pub struct Authorship {
    ca_public: Vec<u8>,
    signer: Option<Signer>,
    checked: Mutex<HashMap<[u8; 32], Checked>>,
}

impl std::fmt::Debug for Authorship {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorship")
            .field("signs", &self.signer.as_ref().map(|s| (s.org, &s.device)))
            .finish_non_exhaustive()
    }
}

impl Authorship {
    /// Reads the CA and this node's certificate and key from `home`; `None` without a
    /// CA. A certificate that does not load (missing, expired) leaves a checker that
    /// does not sign, and says why in the log.
    pub fn load(home: &NodeHome) -> Option<Self> {
        let ca = match ca_of_home(home.dir()) {
            Ok(Some(ca)) => ca,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the CA: changes are neither signed nor checked");
                return None;
            }
        };
        let signer = match load_node_identity(home.dir()) {
            Ok(id) => Some(Signer {
                org: id.identity.org,
                device: id.identity.device.clone(),
                key: id.key.secret_der().to_vec(),
                cert_hex: hex::encode(id.chain[0].as_ref()),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "this node's certificate does not load: its writes are not attested, so its parent will refuse them");
                None
            }
        };
        Some(Authorship {
            ca_public: ca.public,
            signer,
            checked: Mutex::new(HashMap::new()),
        })
    }

    /// A checker for one admission, with the revocations this node holds now.
    pub fn keys(&self, revoked: Vec<Revocation>) -> NodeKeys<'_> {
        NodeKeys {
            authorship: self,
            revoked,
        }
    }

    /// Attests `doc` (this device's unit's document) unless every head already is an
    /// attestation or the genesis: one more change, signing the heads. Returns whether
    /// it wrote one.
    pub fn attest(
        &self,
        org: OrgCode,
        doc: &mut AutoCommit,
    ) -> Result<bool, automerge::AutomergeError> {
        let Some(signer) = self.signer.as_ref().filter(|s| s.org == org) else {
            return Ok(false);
        };
        let heads = doc.get_heads();
        let settled = heads.iter().all(|h| {
            doc.get_change_by_hash(h)
                .and_then(|c| {
                    c.message()
                        .and_then(|m| serde_json::from_str::<ChangeNote>(m).ok())
                })
                .is_some_and(|n| n.op == attestation::NOTE_OP || n.op == "genesis")
        });
        if settled {
            return Ok(false);
        }
        let Ok(Some((automerge::Value::Object(ObjType::Map), meta))) = doc.get(ROOT, "meta") else {
            return Ok(false);
        };
        let at = chrono::Utc::now().timestamp();
        let actor = doc.get_actor().clone();
        let signed = match Attestation::sign(&signer.key, org, &signer.device, &actor, at, &heads) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign: this write stays unattested");
                return Ok(false);
            }
        };
        let cert_key = format!("{DEVICE_PREFIX}{}", signer.device);
        let has_cert = doc
            .get_all(&meta, cert_key.as_str())?
            .iter()
            .any(|(v, _)| v.as_str() == Some(signer.cert_hex.as_str()));
        if !has_cert {
            doc.put(&meta, cert_key.as_str(), signer.cert_hex.as_str())?;
        }
        doc.put(
            &meta,
            format!("{SIGNED_PREFIX}{}", signer.device).as_str(),
            signed.to_text(),
        )?;
        doc.commit_with(
            CommitOptions::default()
                .with_message(attestation::note(org, &signer.device))
                .with_time(at),
        );
        let mut deps = doc
            .get_last_local_change()
            .map(|c| c.deps().to_vec())
            .unwrap_or_default();
        deps.sort();
        let mut expected = heads;
        expected.sort();
        if deps != expected {
            tracing::error!(%org, "an attestation change does not depend on the heads it signed; receivers will refuse it");
        }
        Ok(true)
    }

    fn check(&self, der: &[u8]) -> Checked {
        let mut digest = [0u8; 32];
        digest.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, der).as_ref());
        let mut cache = self
            .checked
            .lock()
            .expect("the certificate cache is never poisoned");
        cache
            .entry(digest)
            .or_insert_with(|| self.check_uncached(der))
            .clone()
    }

    fn check_uncached(&self, der: &[u8]) -> Checked {
        let refused = |why: String| Checked {
            subject: Err(why),
            public: Vec::new(),
            not_before: 0,
            not_after: 0,
        };
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            return refused("its certificate is not X.509".into());
        };
        if !ca_signed(&cert, &self.ca_public) {
            return refused("its certificate was not issued by this deployment's CA".into());
        }
        let subject = match subject_of(der) {
            Ok(Subject::Node(id)) => Ok((id.org, id.device)),
            Ok(Subject::Relay(name)) => {
                Err(format!("relay {name}'s certificate speaks for no unit"))
            }
            Err(e) => Err(e.to_string()),
        };
        Checked {
            subject,
            public: cert.public_key().subject_public_key.data.to_vec(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        }
    }
}

/// Whether `cert` carries the CA's signature (the CA's SEC1 public key).
fn ca_signed(cert: &X509Certificate<'_>, ca_public: &[u8]) -> bool {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, ca_public)
        .verify(
            cert.tbs_certificate.as_ref(),
            cert.signature_value.data.as_ref(),
        )
        .is_ok()
}

/// [`DeviceKeys`] for one admission: the CA check (cached) and the revocation list.
pub struct NodeKeys<'a> {
    authorship: &'a Authorship,
    revoked: Vec<Revocation>,
}

impl DeviceKeys for NodeKeys<'_> {
    fn device_key(
        &self,
        org: OrgCode,
        device: &str,
        der: &[u8],
        at: i64,
    ) -> Result<Vec<u8>, String> {
        let checked = self.authorship.check(der);
        let (cert_org, cert_device) = checked.subject?;
        if cert_org != org || cert_device != device {
            return Err(format!(
                "the certificate is device {cert_org}/{cert_device}'s, not one of unit {org}'s named {device}"
            ));
        }
        if at < checked.not_before || at > checked.not_after {
            return Err(format!(
                "device {org}/{device} signed on {}, outside its certificate's validity ({} to {})",
                date(system_time(at)),
                date(system_time(checked.not_before)),
                date(system_time(checked.not_after))
            ));
        }
        if let Some(r) = self
            .revoked
            .iter()
            .find(|r| r.covers(&org, device) && at >= r.revoked_at)
        {
            return Err(format!(
                "device {org}/{device} was revoked on {} ({}); what it signed after that is refused",
                date(system_time(r.revoked_at)),
                r.reason
            ));
        }
        Ok(checked.public)
    }
}
