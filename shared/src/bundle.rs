//! Sealed bundles: what one node leaves for another when they cannot talk directly —
//! at the relay, or on a USB stick. Pure: keys, clock and randomness come from the
//! caller.
//!
//! ```text
//! bundle = MAGIC "HSKYBNDL" | format: u8 (1) | header_len: u32 BE | header | ciphertext
//! header = postcard(Header)         in clear: sender org, recipient org, created,
//!                                   expires, sizes, ephemeral public key
//! ciphertext = ChaCha20-Poly1305(key, nonce, aad = everything before it,
//!                                zstd(postcard(Sealed)))
//! key, nonce = HKDF-SHA256(ECDH(ephemeral, recipient), info = INFO | eph | recipient)
//! Sealed = { sender certificate (DER), body = postcard(Contents), signature }
//! signature = ECDSA P-256 / SHA-256 by the sender's node key over
//!             SIGN_CONTEXT | header bytes (sizes zeroed) | body
//! ```
//!
//! The relay (or whoever carries the file) sees only the header. Any change to the
//! header or ciphertext fails the AEAD tag; a bundle re-encrypted by someone else fails
//! the signature, which also binds the header (recipient, expiry) to the sender.
//! The sender's certificate travels inside, so the recipient can check that it chains
//! to the deployment's CA (that check needs X.509 and lives in the node) and can seal
//! the acknowledgement back to the sender without any other file.
//!
//! Decoding arbitrary bytes never panics; every refusal is a [`BundleError`] that says
//! what is wrong.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey;
use p256::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};

use crate::org::OrgCode;

/// First bytes of every bundle file.
pub const MAGIC: &[u8; 8] = b"HSKYBNDL";
/// Version of the bundle format (the byte after [`MAGIC`]) of a bundle whose contents a
/// release before [`Contents::Packed`] reads too (acknowledgements, raw changes).
pub const BUNDLE_FORMAT: u8 = 1;
/// Format of a bundle that carries [`Contents::Packed`]: a release before it says
/// "format 2 is not supported; upgrade halfsky" instead of misreading it.
pub const PACKED_FORMAT: u8 = 2;
/// Largest bundle accepted or written (bytes, all included). A relay frame carries one.
pub const MAX_BUNDLE: usize = 16 * 1024 * 1024;
/// Largest decompressed payload: a "zstd bomb" is refused, not allocated.
pub const MAX_PLAIN: usize = 64 * 1024 * 1024;
/// Largest clear header.
const MAX_HEADER: usize = 1024;
/// zstd level of the payload (rural links are short of bytes, not of CPU).
const COMPRESSION_LEVEL: i32 = 9;
/// HKDF info prefix: domain separation from every other use of the node key.
const INFO: &[u8] = b"halfsky bundle v1 chacha20poly1305";
/// Signature context prefix.
const SIGN_CONTEXT: &[u8] = b"halfsky bundle v1 signature";

/// The part of a bundle anyone can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Unit that sealed it.
    pub sender: OrgCode,
    /// Unit it is sealed to; nobody else can open it.
    pub recipient: OrgCode,
    /// When it was sealed (Unix seconds).
    pub created: i64,
    /// After this (Unix seconds) it is refused.
    pub expires: i64,
    /// Bytes of the compressed, encrypted payload that follows the header.
    pub sealed_len: u32,
    /// Bytes of the decompressed payload.
    pub plain_len: u32,
    /// The sender's ephemeral P-256 public key (SEC1, uncompressed) for this bundle.
    pub ephemeral: Vec<u8>,
}

/// Raw changes per document (`Change::raw_bytes()`, in dependency order).
pub type DocChanges = Vec<(OrgCode, Vec<Vec<u8>>)>;
/// Heads per document (32-byte change hashes).
pub type DocHeads = Vec<(OrgCode, Vec<[u8; 32]>)>;

/// What a bundle carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Contents {
    /// From a unit to one above it.
    Changes {
        /// Changes the recipient lacks, per document of the sender's subtree.
        docs: DocChanges,
        /// The sender's heads of the documents it receives from above (its
        /// ancestors'), so the acknowledgement can carry what it lacks of them.
        held: DocHeads,
    },
    /// The answer, from the unit above.
    Ack {
        /// The heads the acknowledging unit now holds, per document it received.
        heads: DocHeads,
        /// Changes of the ancestors' documents the sender of the bundle lacked.
        changes: DocChanges,
    },
    /// An acknowledgement that also names what the acknowledging unit refused, so
    /// the sender of the bundle learns it (as a live link's `Refused` frame tells it).
    /// Sent instead of [`Contents::Ack`] only when something was refused: a plain
    /// acknowledgement stays exactly what nodes before it read.
    AckRefusing {
        /// As in [`Contents::Ack`].
        heads: DocHeads,
        /// As in [`Contents::Ack`].
        changes: DocChanges,
        /// At most [`MAX_ACK_REFUSALS`] refusals, one per refused delivery of a document.
        refused: Vec<Refusal>,
    },
    /// From a unit to one above it, as [`Contents::Changes`] with each document's
    /// changes packed as one Automerge bundle ([`crate::change_bundle`]: about a
    /// quarter of the bytes); sealed as format [`PACKED_FORMAT`].
    Packed {
        /// One Automerge bundle per document of the sender's subtree.
        docs: Vec<(OrgCode, Vec<u8>)>,
        /// As in [`Contents::Changes`].
        held: DocHeads,
    },
}

/// Most refusals one acknowledgement names (the rest are in the recipient's log).
pub const MAX_ACK_REFUSALS: usize = 64;
/// Most characters of a refusal's rule or reason kept by either end.
pub const MAX_REFUSAL_TEXT: usize = 1024;

/// A refusal named back to the sender of a bundle: which document, which change,
/// which rule, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The document.
    pub org: OrgCode,
    /// The refused change's hash, when the bytes were a change at all.
    pub change: Option<[u8; 32]>,
    /// The rule broken (`foreign-record`, `change-too-large`, `quarantined`, …).
    pub rule: String,
    /// What exactly, for a person.
    pub reason: String,
}

impl Contents {
    /// Short name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Contents::Changes { .. } | Contents::Packed { .. } => "changes",
            Contents::Ack { .. } | Contents::AckRefusing { .. } => "acknowledgement",
        }
    }
}

/// The encrypted part, before the signature is checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sealed {
    sender_cert: Vec<u8>,
    body: Vec<u8>,
    signature: Vec<u8>,
}

/// Why a bundle cannot be sealed or is refused. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not a bundle at all.
    #[error("not a halfsky bundle (it does not start with {MAGIC:?}); check that you picked the right file")]
    NotABundle,
    /// Made by a newer halfsky.
    #[error("bundle format {0} is not supported (this halfsky reads formats {BUNDLE_FORMAT} and {PACKED_FORMAT}); upgrade halfsky")]
    Format(u8),
    /// Cut short or with extra bytes.
    #[error("the bundle is truncated or damaged ({0}); copy the file again from the sender")]
    Truncated(String),
    /// Larger than the limit.
    #[error("the bundle is {0} bytes, more than the {MAX_BUNDLE}-byte limit")]
    TooLarge(usize),
    /// Sealed to another unit.
    #[error("the bundle is addressed to unit {recipient}, not to this unit ({me}); give it to {recipient}")]
    WrongRecipient {
        /// The addressee.
        recipient: OrgCode,
        /// This unit.
        me: OrgCode,
    },
    /// Too old.
    #[error(
        "the bundle expired at {expires} (Unix time {expires_unix}); ask {sender} for a new one"
    )]
    Expired {
        /// The sender.
        sender: OrgCode,
        /// Expiry, RFC 3339.
        expires: String,
        /// Expiry, Unix seconds.
        expires_unix: i64,
    },
    /// The AEAD tag does not match: changed in transit, or sealed for another key.
    #[error("the bundle was altered or damaged after it was sealed, or sealed for another device's key; it is refused")]
    Tampered,
    /// The signature does not match the sender's certificate.
    #[error("the bundle's signature does not match its sender's certificate; it is refused")]
    BadSignature,
    /// A key or certificate could not be used.
    #[error("key problem: {0}")]
    Key(String),
    /// The payload does not parse.
    #[error("the bundle's contents are malformed ({0}); it is refused")]
    Malformed(String),
}

/// A bundle whose header was read and whose ciphertext was decrypted, but whose
/// signature is not checked yet: the caller first checks `sender_cert` against the
/// deployment's CA and then calls [`Opened::verify`].
#[derive(Debug, Clone)]
pub struct Opened {
    /// The clear header (authenticated by the AEAD tag).
    pub header: Header,
    /// The sender's certificate (DER), as it says.
    pub sender_cert: Vec<u8>,
    header_bytes: Vec<u8>,
    body: Vec<u8>,
    signature: Vec<u8>,
}

impl Opened {
    /// Checks the signature with the sender's public key (SEC1, from its certificate,
    /// after the certificate was checked) and returns the contents.
    pub fn verify(&self, sender_public_sec1: &[u8]) -> Result<Contents, BundleError> {
        let key = VerifyingKey::from_sec1_bytes(sender_public_sec1)
            .map_err(|e| BundleError::Key(format!("the sender's public key is unusable: {e}")))?;
        let signature =
            Signature::from_slice(&self.signature).map_err(|_| BundleError::BadSignature)?;
        key.verify(&signed_bytes(&self.header_bytes, &self.body), &signature)
            .map_err(|_| BundleError::BadSignature)?;
        let (contents, rest) = postcard::take_from_bytes::<Contents>(&self.body)
            .map_err(|e| BundleError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(BundleError::Malformed(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        Ok(contents)
    }
}

/// What the sender needs to seal.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    /// The sender's unit (must match its certificate).
    pub org: OrgCode,
    /// The sender's certificate, DER.
    pub cert_der: &'a [u8],
    /// The sender's private key, PKCS#8 DER (ECDSA P-256).
    pub key_pkcs8: &'a [u8],
}

fn signed_bytes(header_bytes: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGN_CONTEXT.len() + header_bytes.len() + body.len());
    m.extend_from_slice(SIGN_CONTEXT);
    m.extend_from_slice(header_bytes);
    m.extend_from_slice(body);
    m
}

fn cipher(shared: &[u8], ephemeral: &[u8], recipient: &[u8]) -> (ChaCha20Poly1305, [u8; 12]) {
    crate::kdf::sealing_cipher(shared, None, INFO, ephemeral, recipient)
}

/// The clear prefix: magic, format, header length and header.
fn prefix(header: &Header, format: u8) -> Result<Vec<u8>, BundleError> {
    let header_bytes =
        postcard::to_stdvec(header).map_err(|e| BundleError::Malformed(e.to_string()))?;
    let mut out = MAGIC.to_vec();
    out.push(format);
    out.extend_from_slice(&(header_bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&header_bytes);
    Ok(out)
}

/// Seals `contents` from `sender` to the holder of `recipient_public_sec1` (the
/// recipient's certificate key). `ephemeral_seed` must be 32 fresh random bytes.
#[allow(clippy::too_many_arguments)]
pub fn seal(
    sender: Sender<'_>,
    recipient: OrgCode,
    recipient_public_sec1: &[u8],
    contents: &Contents,
    created: i64,
    expires: i64,
    ephemeral_seed: [u8; 32],
) -> Result<Vec<u8>, BundleError> {
    let signing = SigningKey::from_pkcs8_der(sender.key_pkcs8).map_err(|e| {
        BundleError::Key(format!(
            "this node's key (node.key) is not a P-256 key: {e}"
        ))
    })?;
    let recipient_key = PublicKey::from_sec1_bytes(recipient_public_sec1).map_err(|e| {
        BundleError::Key(format!(
            "the recipient's certificate has no usable P-256 key: {e}"
        ))
    })?;
    let ephemeral = SecretKey::from_slice(&ephemeral_seed)
        .map_err(|_| BundleError::Key("bad ephemeral seed; try again".into()))?;
    let ephemeral_public = ephemeral.public_key().to_sec1_bytes().to_vec();
    let body = postcard::to_stdvec(contents).map_err(|e| BundleError::Malformed(e.to_string()))?;

    let shared =
        p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), recipient_key.as_affine());
    let recipient_bytes = recipient_key.to_sec1_bytes();
    let (aead, nonce) = cipher(
        shared.raw_secret_bytes(),
        &ephemeral_public,
        &recipient_bytes,
    );
    // The sizes depend on the signed payload, so the signature covers the header with
    // sizes zeroed; the AEAD tag covers the full header as sent.
    let mut header = Header {
        sender: sender.org,
        recipient,
        created,
        expires,
        sealed_len: 0,
        plain_len: 0,
        ephemeral: ephemeral_public,
    };
    let unsized_header =
        postcard::to_stdvec(&header).map_err(|e| BundleError::Malformed(e.to_string()))?;
    let signature: Signature = signing.sign(&signed_bytes(&unsized_header, &body));
    let sealed = Sealed {
        sender_cert: sender.cert_der.to_vec(),
        body,
        signature: signature.to_vec(),
    };
    let plain = postcard::to_stdvec(&sealed).map_err(|e| BundleError::Malformed(e.to_string()))?;
    if plain.len() > MAX_PLAIN {
        return Err(BundleError::TooLarge(plain.len()));
    }
    let packed = zstd::bulk::compress(&plain, COMPRESSION_LEVEL)
        .map_err(|e| BundleError::Malformed(format!("cannot compress: {e}")))?;
    header.plain_len = plain.len() as u32;
    header.sealed_len = (packed.len() + 16) as u32;
    let format = match contents {
        Contents::Packed { .. } => PACKED_FORMAT,
        _ => BUNDLE_FORMAT,
    };
    let mut out = prefix(&header, format)?;
    let ciphertext = aead
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: &packed,
                aad: &out,
            },
        )
        .map_err(|_| BundleError::Key("encryption failed".into()))?;
    out.extend_from_slice(&ciphertext);
    if out.len() > MAX_BUNDLE {
        return Err(BundleError::TooLarge(out.len()));
    }
    Ok(out)
}

/// Reads only the clear header (what the relay and `bundle import` show before
/// opening). Checks structure and sizes, not authenticity.
pub fn read_header(bytes: &[u8]) -> Result<(Header, usize), BundleError> {
    if bytes.len() > MAX_BUNDLE {
        return Err(BundleError::TooLarge(bytes.len()));
    }
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or(BundleError::NotABundle)?;
    let (&format, rest) = rest
        .split_first()
        .ok_or_else(|| BundleError::Truncated("no format byte".into()))?;
    if format != BUNDLE_FORMAT && format != PACKED_FORMAT {
        return Err(BundleError::Format(format));
    }
    let len_bytes: [u8; 4] = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| BundleError::Truncated("no header length".into()))?;
    let header_len = u32::from_be_bytes(len_bytes) as usize;
    if header_len > MAX_HEADER {
        return Err(BundleError::Malformed(format!(
            "header of {header_len} bytes"
        )));
    }
    let header_bytes = rest
        .get(4..4 + header_len)
        .ok_or_else(|| BundleError::Truncated("header cut short".into()))?;
    let (header, tail) = postcard::take_from_bytes::<Header>(header_bytes)
        .map_err(|e| BundleError::Malformed(format!("header: {e}")))?;
    if !tail.is_empty() {
        return Err(BundleError::Malformed(
            "trailing bytes in the header".into(),
        ));
    }
    let prefix_len = MAGIC.len() + 1 + 4 + header_len;
    let body_len = bytes.len() - prefix_len;
    if body_len != header.sealed_len as usize {
        return Err(BundleError::Truncated(format!(
            "{body_len} bytes of sealed data where the header announces {}",
            header.sealed_len
        )));
    }
    Ok((header, prefix_len))
}

/// Opens a bundle addressed to `me` with `me`'s private key (PKCS#8 DER), refusing
/// it if expired at `now` (Unix seconds). The signature is checked by
/// [`Opened::verify`].
pub fn open(bytes: &[u8], me: OrgCode, key_pkcs8: &[u8], now: i64) -> Result<Opened, BundleError> {
    let (header, prefix_len) = read_header(bytes)?;
    if header.recipient != me {
        return Err(BundleError::WrongRecipient {
            recipient: header.recipient,
            me,
        });
    }
    if now > header.expires {
        return Err(BundleError::Expired {
            sender: header.sender,
            expires: crate::ledger_doc::time_text(header.expires),
            expires_unix: header.expires,
        });
    }
    let secret = SecretKey::from_pkcs8_der(key_pkcs8).map_err(|e| {
        BundleError::Key(format!(
            "this node's key (node.key) is not a P-256 key: {e}"
        ))
    })?;
    let ephemeral =
        PublicKey::from_sec1_bytes(&header.ephemeral).map_err(|_| BundleError::Tampered)?;
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), ephemeral.as_affine());
    let (aead, nonce) = cipher(
        shared.raw_secret_bytes(),
        &header.ephemeral,
        &secret.public_key().to_sec1_bytes(),
    );
    let (aad, ciphertext) = bytes.split_at(prefix_len);
    let packed = aead
        .decrypt(
            (&nonce).into(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| BundleError::Tampered)?;
    let plain = zstd::bulk::decompress(&packed, MAX_PLAIN.min(header.plain_len as usize))
        .map_err(|e| BundleError::Malformed(format!("payload: {e}")))?;
    let (sealed, tail) = postcard::take_from_bytes::<Sealed>(&plain)
        .map_err(|e| BundleError::Malformed(e.to_string()))?;
    if !tail.is_empty() {
        return Err(BundleError::Malformed(
            "trailing bytes in the payload".into(),
        ));
    }
    let unsized_header = Header {
        sealed_len: 0,
        plain_len: 0,
        ..header.clone()
    };
    let header_bytes =
        postcard::to_stdvec(&unsized_header).map_err(|e| BundleError::Malformed(e.to_string()))?;
    Ok(Opened {
        header,
        sender_cert: sealed.sender_cert,
        header_bytes,
        body: sealed.body,
        signature: sealed.signature,
    })
}

#[cfg(test)]
mod tests;
