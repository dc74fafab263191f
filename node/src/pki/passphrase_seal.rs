//! A small file sealed with a passphrase, for what the CA holder carries to a device
//! by hand (USB stick): an enrollment file, the private half of a replaced ID key.
//! argon2id stretches the passphrase into a ChaCha20-Poly1305 key, and the header
//! (kind, KDF parameters, salt, nonce) is authenticated with the contents, so a
//! changed byte, a wrong passphrase or a truncated file is refused as one.
//!
//! Layout: `magic` (8 bytes, the file's kind) · argon2 m_cost, t_cost, p_cost (u32 BE
//! each) · salt (16) · nonce (12) · ciphertext with its 16-byte tag.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// argon2id cost: 19 MiB, 2 passes, 1 lane (OWASP's recommendation for argon2id).
const KDF_PARAMS: (u32, u32, u32) = (19 * 1024, 2, 1);
/// Largest memory cost accepted from a file (a hostile file must not exhaust memory).
const MAX_M_COST: u32 = 1024 * 1024;
/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = 8 + 12 + 16 + 12;

/// Why a sealed file gave nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsealed {
    /// Not a file of this kind at all.
    NotThisKind,
    /// Wrong passphrase, or the file was changed or damaged.
    WrongOrChanged,
}

/// `plain` sealed under `passphrase`, as a file of the kind `magic`.
pub fn seal(magic: &[u8; 8], plain: &[u8], passphrase: &str) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN + plain.len() + 16);
    header.extend_from_slice(magic);
    for p in [KDF_PARAMS.0, KDF_PARAMS.1, KDF_PARAMS.2] {
        header.extend_from_slice(&p.to_be_bytes());
    }
    let salt: [u8; 16] = rand::random();
    let nonce: [u8; 12] = rand::random();
    header.extend_from_slice(&salt);
    header.extend_from_slice(&nonce);
    let key = derive(passphrase, &salt, KDF_PARAMS).expect("our own parameters are valid");
    let sealed = ChaCha20Poly1305::new(&key)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: &header,
            },
        )
        .expect("encryption of a small message cannot fail");
    header.extend_from_slice(&sealed);
    header
}

/// The contents of a file of the kind `magic` sealed under `passphrase`.
pub fn open(magic: &[u8; 8], bytes: &[u8], passphrase: &str) -> Result<Vec<u8>, Unsealed> {
    if bytes.len() < HEADER_LEN + 16 || &bytes[..8] != magic {
        return Err(Unsealed::NotThisKind);
    }
    let (header, sealed) = bytes.split_at(HEADER_LEN);
    let u32_at = |i: usize| u32::from_be_bytes(header[i..i + 4].try_into().expect("4 bytes"));
    let params = (u32_at(8), u32_at(12), u32_at(16));
    if params.0 > MAX_M_COST || params.1 > 16 || params.2 > 16 {
        return Err(Unsealed::WrongOrChanged);
    }
    let salt = &header[20..36];
    let nonce = &header[36..48];
    let key = derive(passphrase, salt, params).ok_or(Unsealed::WrongOrChanged)?;
    ChaCha20Poly1305::new(&key)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: header,
            },
        )
        .map_err(|_| Unsealed::WrongOrChanged)
}

fn derive(passphrase: &str, salt: &[u8], (m, t, p): (u32, u32, u32)) -> Option<Key> {
    let params = argon2::Params::new(m, t, p, Some(32)).ok()?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .ok()?;
    Some(*Key::from_slice(&key))
}
