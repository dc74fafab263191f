//! The deployment's current ID key, announced by its CA. When the ID key pair is
//! replaced (`halfsky id-key replace`: its private half may have left an office), the
//! CA signs a notice naming the new public half and the time it takes effect; the
//! notice travels down the tree in the CA unit's document, like revocations, and
//! every node then seals the numbers typed there to the newest notice it holds. The
//! CA's signature is what makes a node follow it: a device of the city could write a
//! notice of its own, but it would be ignored.

use serde::{Deserialize, Serialize};

use crate::ca_signed::{CaSigned, CaSignedError};
use crate::idcard::{IdPublic, SealError};

/// Domain separation: a CA signature over a notice is never valid for anything else.
const CONTEXT: &[u8] = b"halfsky id key notice v1";
/// Prefix of the keys under which notices are kept in the CA unit's document's `meta`.
pub const META_PREFIX: &str = "id_key/";

/// The public half every node seals to from `since` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdKeyNotice {
    /// The new public half, hex.
    pub public: String,
    /// When the CA holder replaced the pair (Unix seconds); the newest notice wins.
    pub since: i64,
}

impl IdKeyNotice {
    /// A notice for `public`, effective now.
    pub fn new(public: &IdPublic, since: i64) -> Self {
        IdKeyNotice {
            public: public.to_hex(),
            since,
        }
    }

    /// The key it is kept under in the CA unit's document: one per replacement.
    pub fn meta_key(&self) -> String {
        format!("{META_PREFIX}{}", self.since)
    }

    /// The public half it names.
    pub fn public(&self) -> Result<IdPublic, SealError> {
        IdPublic::from_hex(&self.public)
    }

    /// Signs it with the CA's private key (PKCS#8 DER, ECDSA P-256).
    pub fn sign(&self, ca_key_pkcs8: &[u8]) -> Result<CaSigned, CaSignedError> {
        self.public()
            .map_err(|e| CaSignedError::Malformed(format!("the public half: {e}")))?;
        CaSigned::sign(CONTEXT, self, ca_key_pkcs8)
    }

    /// Checks the CA's signature on `signed` and that it names a usable key.
    pub fn verify(signed: &CaSigned, ca_public_sec1: &[u8]) -> Result<Self, CaSignedError> {
        let notice: IdKeyNotice = signed.verify(CONTEXT, ca_public_sec1)?;
        notice
            .public()
            .map_err(|e| CaSignedError::Malformed(format!("the public half: {e}")))?;
        Ok(notice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idcard::IdSecret;

    use crate::ca_signed::test_keys as keys;

    #[test]
    fn only_the_cas_notice_is_followed() {
        let (ca, ca_public) = keys(7);
        let (other, _) = keys(9);
        let fresh = IdSecret::generate().public();
        let notice = IdKeyNotice::new(&fresh, 1_800_000_000);
        let signed = CaSigned::from_text(&notice.sign(&ca).unwrap().to_text()).unwrap();
        let read = IdKeyNotice::verify(&signed, &ca_public).unwrap();
        assert_eq!(read.public().unwrap(), fresh);
        assert_eq!(read.meta_key(), "id_key/1800000000");

        let forged = notice.sign(&other).unwrap();
        assert_eq!(
            IdKeyNotice::verify(&forged, &ca_public),
            Err(CaSignedError::BadSignature)
        );
        // A revocation's signature is not a notice's.
        let revocation = crate::revocation::Revocation {
            org: "230129100201".parse().unwrap(),
            device: "pc".into(),
            reason: "stolen".into(),
            revoked_at: 1,
        }
        .sign(&ca)
        .unwrap();
        let as_notice = CaSigned::from_text(&revocation.to_text()).unwrap();
        assert!(IdKeyNotice::verify(&as_notice, &ca_public).is_err());
        let zero = IdKeyNotice {
            public: "00".repeat(32),
            since: 1,
        };
        assert!(zero.sign(&ca).is_err(), "the zero key is no key");
    }
}
