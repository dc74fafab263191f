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

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey;
use serde::{Deserialize, Serialize};

use crate::org::OrgCode;

/// Domain separation: a CA signature over a revocation is never valid for anything else.
const CONTEXT: &[u8] = b"halfsky revocation v1";
/// Prefix of the keys under which revocations are kept in the city document's `meta`.
pub const META_PREFIX: &str = "revoked/";
/// Longest reason kept (characters); longer ones are refused when signing.
pub const MAX_REASON: usize = 500;
/// Largest signed revocation accepted (bytes, before hex).
pub const MAX_SIGNED: usize = 2048;

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
        let key = SigningKey::from_pkcs8_der(ca_key_pkcs8)
            .map_err(|e| RevocationError::Key(format!("the CA key is not a P-256 key: {e}")))?;
        let body =
            postcard::to_stdvec(self).map_err(|e| RevocationError::Malformed(e.to_string()))?;
        let signature: Signature = key.sign(&signed_bytes(&body));
        Ok(SignedRevocation {
            body,
            signature: signature.to_vec(),
        })
    }
}

/// A revocation with the CA's signature, as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRevocation {
    body: Vec<u8>,
    signature: Vec<u8>,
}

fn signed_bytes(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + body.len());
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(body);
    m
}

impl SignedRevocation {
    /// The bytes (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("two byte vectors serialize")
    }

    /// Reads bytes from [`SignedRevocation::to_bytes`]; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RevocationError> {
        if bytes.len() > MAX_SIGNED {
            return Err(RevocationError::Malformed(format!(
                "{} bytes, more than {MAX_SIGNED}",
                bytes.len()
            )));
        }
        let (signed, rest) = postcard::take_from_bytes::<SignedRevocation>(bytes)
            .map_err(|e| RevocationError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(RevocationError::Malformed("trailing bytes".into()));
        }
        Ok(signed)
    }

    /// The text form kept in a document (hex of the bytes).
    pub fn to_text(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// Reads the text form; never panics.
    pub fn from_text(text: &str) -> Result<Self, RevocationError> {
        if text.len() > 2 * MAX_SIGNED {
            return Err(RevocationError::Malformed("too long".into()));
        }
        let bytes =
            hex::decode(text.trim()).map_err(|e| RevocationError::Malformed(e.to_string()))?;
        Self::from_bytes(&bytes)
    }

    /// Checks the CA's signature (its public key, SEC1 from the CA certificate) and
    /// returns the revocation.
    pub fn verify(&self, ca_public_sec1: &[u8]) -> Result<Revocation, RevocationError> {
        let key = VerifyingKey::from_sec1_bytes(ca_public_sec1)
            .map_err(|e| RevocationError::Key(format!("the CA's public key is unusable: {e}")))?;
        let signature =
            Signature::from_slice(&self.signature).map_err(|_| RevocationError::BadSignature)?;
        key.verify(&signed_bytes(&self.body), &signature)
            .map_err(|_| RevocationError::BadSignature)?;
        let (revocation, rest) = postcard::take_from_bytes::<Revocation>(&self.body)
            .map_err(|e| RevocationError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(RevocationError::Malformed("trailing bytes".into()));
        }
        Ok(revocation)
    }
}

#[cfg(test)]
mod tests {
    use p256::pkcs8::EncodePrivateKey;
    use p256::SecretKey;

    use super::*;

    fn keys(seed: u8) -> (Vec<u8>, Vec<u8>) {
        let secret = SecretKey::from_slice(&[seed; 32]).expect("a valid scalar");
        let pkcs8 = secret.to_pkcs8_der().expect("encodes").as_bytes().to_vec();
        (pkcs8, secret.public_key().to_sec1_bytes().to_vec())
    }

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
        let last = altered.body.len() - 1;
        altered.body[last] ^= 1;
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
