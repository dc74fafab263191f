//! Statements signed by the deployment's CA: a revocation, the deployment's current ID
//! key. Each travels through any hands (down the tree in the CA unit's document,
//! through the relay) and every node checks it with the CA certificate it already
//! holds, so nobody but the CA holder can make one and nobody can alter one.
//!
//! ```text
//! signed    = postcard(CaSigned { body, signature })   text form: hex
//! body      = postcard(the statement)
//! signature = ECDSA P-256 / SHA-256 by the CA key over CONTEXT | body
//! ```
//!
//! Each kind of statement has its own `CONTEXT`, so a signature over one is never
//! valid for another. Pure: keys come from the caller.

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Largest signed statement accepted (bytes, before hex).
pub const MAX_SIGNED: usize = 2048;

/// Why a statement cannot be signed or is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaSignedError {
    /// The CA key or certificate is not a P-256 key.
    #[error("key problem: {0}")]
    Key(String),
    /// Bytes that are not a signed statement of this kind.
    #[error("malformed ({0})")]
    Malformed(String),
    /// The signature is not the CA's.
    #[error("not signed by this deployment's CA")]
    BadSignature,
}

/// A statement with the CA's signature, as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaSigned {
    body: Vec<u8>,
    signature: Vec<u8>,
}

fn signed_bytes(context: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + body.len());
    m.extend_from_slice(context);
    m.extend_from_slice(body);
    m
}

impl CaSigned {
    /// Signs `statement` under `context` with the CA's private key (PKCS#8 DER, ECDSA
    /// P-256).
    pub fn sign<T: Serialize>(
        context: &[u8],
        statement: &T,
        ca_key_pkcs8: &[u8],
    ) -> Result<Self, CaSignedError> {
        let key = SigningKey::from_pkcs8_der(ca_key_pkcs8)
            .map_err(|e| CaSignedError::Key(format!("the CA key is not a P-256 key: {e}")))?;
        let body =
            postcard::to_stdvec(statement).map_err(|e| CaSignedError::Malformed(e.to_string()))?;
        let signature: Signature = key.sign(&signed_bytes(context, &body));
        Ok(CaSigned {
            body,
            signature: signature.to_vec(),
        })
    }

    /// Checks the CA's signature under `context` (its public key, SEC1 from the CA
    /// certificate) and returns the statement.
    pub fn verify<T: DeserializeOwned>(
        &self,
        context: &[u8],
        ca_public_sec1: &[u8],
    ) -> Result<T, CaSignedError> {
        let key = VerifyingKey::from_sec1_bytes(ca_public_sec1)
            .map_err(|e| CaSignedError::Key(format!("the CA's public key is unusable: {e}")))?;
        let signature =
            Signature::from_slice(&self.signature).map_err(|_| CaSignedError::BadSignature)?;
        key.verify(&signed_bytes(context, &self.body), &signature)
            .map_err(|_| CaSignedError::BadSignature)?;
        let (statement, rest) = postcard::take_from_bytes::<T>(&self.body)
            .map_err(|e| CaSignedError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CaSignedError::Malformed("trailing bytes".into()));
        }
        Ok(statement)
    }

    /// The bytes (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("two byte vectors serialize")
    }

    /// Reads bytes from [`CaSigned::to_bytes`]; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CaSignedError> {
        if bytes.len() > MAX_SIGNED {
            return Err(CaSignedError::Malformed(format!(
                "{} bytes, more than {MAX_SIGNED}",
                bytes.len()
            )));
        }
        let (signed, rest) = postcard::take_from_bytes::<CaSigned>(bytes)
            .map_err(|e| CaSignedError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CaSignedError::Malformed("trailing bytes".into()));
        }
        Ok(signed)
    }

    /// The text form kept in a document (hex of the bytes).
    pub fn to_text(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// Reads the text form; never panics.
    pub fn from_text(text: &str) -> Result<Self, CaSignedError> {
        if text.len() > 2 * MAX_SIGNED {
            return Err(CaSignedError::Malformed("too long".into()));
        }
        let bytes =
            hex::decode(text.trim()).map_err(|e| CaSignedError::Malformed(e.to_string()))?;
        Self::from_bytes(&bytes)
    }

    /// The signed body (for tests that alter it).
    #[cfg(test)]
    pub(crate) fn body_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }
}

/// A P-256 key pair from a seed, as a CA's would be (PKCS#8 private, SEC1 public),
/// for the tests of what the CA signs.
#[cfg(test)]
pub(crate) fn test_keys(seed: u8) -> (Vec<u8>, Vec<u8>) {
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::from_slice(&[seed; 32]).expect("a valid scalar");
    let pkcs8 = secret.to_pkcs8_der().expect("encodes").as_bytes().to_vec();
    (pkcs8, secret.public_key().to_sec1_bytes().to_vec())
}
