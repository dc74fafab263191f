//! Revocations of device certificates, signed by the deployment's CA.
//!
//! A lost or stolen laptop keeps a certificate valid for five years; a revocation is
//! how the CA holder takes it back. It names the device (unit and device name, as its
//! certificate does), the reason and the time, and is signed with the CA key, so it
//! can travel through any hands — inside the city's document down the tree, through
//! the relay — and every node and the relay can check it with the CA certificate they
//! already hold. Nobody but the CA holder can make one, and nobody can alter one.
//!
//! ```text
//! signed    = postcard(SignedRevocation { body, signature })   text form: hex
//! body      = postcard(Revocation { org, device, reason, revoked_at })
//! signature = ECDSA P-256 / SHA-256 by the CA key over CONTEXT | body
//! ```
//!
//! A revocation covers every certificate of that device name of that unit, whenever
//! issued: a replacement computer gets a new device name. Pure: keys come from the
//! caller.

use serde::{Deserialize, Serialize};

use crate::ca_signed::{CaSigned, CaSignedError};
use crate::org::OrgCode;

/// Domain separation: a CA signature over a revocation is never valid for anything else.
const CONTEXT: &[u8] = b"halfsky revocation v1";
/// Prefix of the keys under which revocations are kept in the city document's `meta`.
pub const META_PREFIX: &str = "revoked/";
/// Longest reason kept (characters); longer ones are refused when signing.
pub const MAX_REASON: usize = 500;
/// Largest signed revocation accepted (bytes, before hex).
pub const MAX_SIGNED: usize = crate::ca_signed::MAX_SIGNED;

/// Why a revocation cannot be made or is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    /// The CA key or certificate is not a P-256 key.
    #[error("key problem: {0}")]
    Key(String),
    /// Bytes that are not a signed revocation.
    #[error("not a halfsky revocation ({0})")]
    Malformed(String),
    /// The signature is not the CA's.
    #[error("the revocation is not signed by this deployment's CA; it is ignored")]
    BadSignature,
    /// A reason too long or empty, or a device name that no certificate can carry.
    #[error("{0}")]
    Invalid(String),
}

/// One device certificate taken back by the CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The device's unit.
    pub org: OrgCode,
    /// The device's name within its unit (as in its certificate).
    pub device: String,
    /// Why (shown to whoever meets the refusal).
    pub reason: String,
    /// When the CA holder revoked it (Unix seconds).
    pub revoked_at: i64,
}

impl Revocation {
    /// The key it is kept under in the city document's `meta` map: one per device.
    pub fn meta_key(&self) -> String {
        format!("{META_PREFIX}{}/{}", self.org, self.device)
    }

    /// Whether it revokes the device `device` of `org`.
    pub fn covers(&self, org: &OrgCode, device: &str) -> bool {
        self.org == *org && self.device == device
    }

    /// Signs it with the CA's private key (PKCS#8 DER, ECDSA P-256).
    pub fn sign(&self, ca_key_pkcs8: &[u8]) -> Result<SignedRevocation, RevocationError> {
        if self.reason.trim().is_empty() {
            return Err(RevocationError::Invalid(
                "give a reason (--reason), e.g. \"laptop stolen on 3 May\"".into(),
            ));
        }
        if self.reason.chars().count() > MAX_REASON {
            return Err(RevocationError::Invalid(format!(
                "the reason is longer than {MAX_REASON} characters; shorten it"
            )));
        }
        Ok(SignedRevocation(CaSigned::sign(
            CONTEXT,
            self,
            ca_key_pkcs8,
        )?))
    }
}

/// A revocation with the CA's signature, as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SignedRevocation(CaSigned);

impl From<CaSignedError> for RevocationError {
    fn from(e: CaSignedError) -> Self {
        match e {
            CaSignedError::Key(k) => RevocationError::Key(k),
            CaSignedError::Malformed(m) => RevocationError::Malformed(m),
            CaSignedError::BadSignature => RevocationError::BadSignature,
        }
    }
}

impl SignedRevocation {
    /// The bytes (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// Reads bytes from [`SignedRevocation::to_bytes`]; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RevocationError> {
        Ok(SignedRevocation(CaSigned::from_bytes(bytes)?))
    }

    /// The text form kept in a document (hex of the bytes).
    pub fn to_text(&self) -> String {
        self.0.to_text()
    }

    /// Reads the text form; never panics.
    pub fn from_text(text: &str) -> Result<Self, RevocationError> {
        Ok(SignedRevocation(CaSigned::from_text(text)?))
    }

    /// Checks the CA's signature (its public key, SEC1 from the CA certificate) and
    /// returns the revocation.
    pub fn verify(&self, ca_public_sec1: &[u8]) -> Result<Revocation, RevocationError> {
        Ok(self.0.verify(CONTEXT, ca_public_sec1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ca_signed::test_keys as keys;

    fn stolen() -> Revocation {
        Revocation {
            org: OrgCode::parse("230129100201").expect("valid"),
            device: "pc-1".into(),
            reason: "laptop stolen".into(),
            revoked_at: 1_800_000_000,
        }
    }

    #[test]
    fn signed_by_the_ca_verifies_and_round_trips() {
        let (private, public) = keys(7);
        let signed = stolen().sign(&private).expect("signs");
        let back = SignedRevocation::from_text(&signed.to_text()).expect("parses");
        assert_eq!(back.verify(&public).expect("verifies"), stolen());
        assert_eq!(stolen().meta_key(), "revoked/230129100201/pc-1");
        assert!(stolen().covers(&stolen().org, "pc-1"));
        assert!(!stolen().covers(&stolen().org, "pc-2"));
    }

    #[test]
    fn another_key_or_an_altered_body_is_refused() {
        let (private, _) = keys(7);
        let (_, other_public) = keys(9);
        let (_, public) = keys(7);
        let signed = stolen().sign(&private).expect("signs");
        assert_eq!(
            signed.verify(&other_public),
            Err(RevocationError::BadSignature)
        );
        let mut altered = signed.clone();
        let body = altered.0.body_mut();
        let last = body.len() - 1;
        body[last] ^= 1;
        assert_eq!(altered.verify(&public), Err(RevocationError::BadSignature));
    }

    #[test]
    fn garbage_never_panics() {
        for bytes in [&b""[..], b"\x00", b"\xff\xff\xff\xff", &[0x42; 3000]] {
            assert!(SignedRevocation::from_bytes(bytes).is_err());
        }
        assert!(SignedRevocation::from_text("zz").is_err());
    }

    #[test]
    fn a_reason_is_required_and_bounded() {
        let (private, _) = keys(7);
        let mut r = stolen();
        r.reason = " ".into();
        assert!(matches!(r.sign(&private), Err(RevocationError::Invalid(_))));
        r.reason = "x".repeat(MAX_REASON + 1);
        assert!(matches!(r.sign(&private), Err(RevocationError::Invalid(_))));
    }
}
