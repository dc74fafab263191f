//! Resident ID numbers (居民身份证号). They are sensitive: halfsky never stores one in
//! clear. A record keeps a mask for display (`**************123X`: the last four, all a
//! cadre needs to tell two cards apart) and the number **sealed** to the deployment's ID
//! public key ([`IdPublic::seal`]: X25519 with a fresh ephemeral key, HKDF-SHA256,
//! ChaCha20-Poly1305, as sealed bundles do with P-256). Only the offices that find
//! duplicates hold the private half ([`IdSecret`]); they open each number as it arrives
//! and index a keyed hash of it ([`IdNumber::hash`], their own [`IdKey`]), so the same
//! woman registered twice is found without any village being able to recover a number.

use chacha20poly1305::aead::Aead;
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::KeyInit as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

/// A syntactically valid 18-character ID number (check digit verified). Its `Debug`
/// shows only the mask, so a log line never carries the number.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

/// Why an ID number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    /// Not 18 characters.
    #[error("an ID number has 18 characters, this has {0}")]
    Length(usize),
    /// A character other than a digit (or a final X).
    #[error("character {0} is not a digit (only the last may be X)")]
    NotADigit(usize),
    /// Checksum mismatch: usually a typing mistake.
    #[error("the check digit is wrong (expected {expected}): please re-check the number")]
    Checksum {
        /// The check character the first 17 digits call for.
        expected: char,
    },
}

/// The deployment's secret for hashing ID numbers; all nodes of a deployment share it so
/// duplicates can be found across villages.
#[derive(Clone)]
pub struct IdKey(Vec<u8>);

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKey(<secret>)")
    }
}

impl IdKey {
    /// A key from its bytes (at least 16).
    pub fn new(bytes: Vec<u8>) -> Self {
        IdKey(bytes)
    }

    /// A key from its hex form, as kept in the node config.
    pub fn from_hex(s: &str) -> Option<Self> {
        hex::decode(s.trim())
            .ok()
            .filter(|b| b.len() >= 16)
            .map(IdKey)
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        IdKey(rand::random::<[u8; 32]>().to_vec())
    }

    /// The hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

impl IdNumber {
    /// Validates length, digits and the GB 11643 check digit; a lowercase x is accepted.
    pub fn parse(input: &str) -> Result<Self, IdNumberError> {
        let s: String = input.trim().to_uppercase();
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 18 {
            return Err(IdNumberError::Length(chars.len()));
        }
        let mut sum = 0;
        for (i, c) in chars[..17].iter().enumerate() {
            let d = c.to_digit(10).ok_or(IdNumberError::NotADigit(i + 1))?;
            sum += d * WEIGHTS[i];
        }
        let expected = CHECK[(sum % 11) as usize];
        if !(chars[17].is_ascii_digit() || chars[17] == 'X') {
            return Err(IdNumberError::NotADigit(18));
        }
        if chars[17] != expected {
            return Err(IdNumberError::Checksum { expected });
        }
        Ok(IdNumber(s))
    }

    /// The number itself (only ever held in memory).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Only the last 4 characters visible: `**************123X`. Not the region, not
    /// the birth date: with those and a birth year, a few hundred guesses recover a
    /// number.
    pub fn masked(&self) -> String {
        format!("**************{}", self.last4())
    }

    /// The last 4 characters (the sequence number and check digit).
    pub fn last4(&self) -> &str {
        &self.0[14..]
    }

    /// Keyed hash for matching, hex: HMAC-SHA256 truncated to 128 bits (ample to tell
    /// apart every woman of a nation; half the bytes on every sync of her card).
    pub fn hash(&self, key: &IdKey) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("HMAC accepts any key length");
        mac.update(self.0.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

/// Why a sealed number could not be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key text is not a key of this kind.
    #[error("not an ID key: {0}")]
    BadKey(&'static str),
}

const SEAL_INFO: &[u8] = b"halfsky id-number seal v1";
/// Ephemeral X25519 public key, 18 characters, Poly1305 tag.
const SEALED_LEN: usize = 32 + 18 + 16;

fn seal_cipher(shared: &[u8], ephemeral: &[u8], recipient: &[u8]) -> (ChaCha20Poly1305, [u8; 12]) {
    let hk = Hkdf::<Sha256>::new(None, shared);
    let mut info = SEAL_INFO.to_vec();
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(recipient);
    let mut okm = [0u8; 44];
    hk.expand(&info, &mut okm)
        .expect("44 bytes is a valid HKDF-SHA256 output length");
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm[32..]);
    (
        ChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&okm[..32])),
        nonce,
    )
}

fn key_bytes(text: &str) -> Result<[u8; 32], SealError> {
    let bytes = hex::decode(text.trim()).map_err(|_| SealError::BadKey("not hex"))?;
    bytes
        .try_into()
        .map_err(|_| SealError::BadKey("an ID key is 64 hex digits"))
}

/// The deployment's ID public key (X25519): every node seals the numbers it is given
/// to it. Not secret (it is in `halfsky.toml`).
#[derive(Clone, PartialEq, Eq)]
pub struct IdPublic(PublicKey);

impl std::fmt::Debug for IdPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdPublic({})", self.to_hex())
    }
}

impl IdPublic {
    /// From its hex form (64 hex digits).
    pub fn from_hex(text: &str) -> Result<Self, SealError> {
        let bytes = key_bytes(text)?;
        if bytes == [0; 32] {
            return Err(SealError::BadKey("the zero key"));
        }
        Ok(IdPublic(PublicKey::from(bytes)))
    }

    /// The hex form (64 hex digits).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// `number` sealed to this key, as hex: only the private half opens it. Each seal
    /// uses a fresh ephemeral key, so two seals of one number differ.
    pub fn seal(&self, number: &IdNumber) -> String {
        let ephemeral = StaticSecret::from(rand::random::<[u8; 32]>());
        let ephemeral_public = PublicKey::from(&ephemeral);
        let shared = ephemeral.diffie_hellman(&self.0);
        let (aead, nonce) = seal_cipher(
            shared.as_bytes(),
            ephemeral_public.as_bytes(),
            self.0.as_bytes(),
        );
        let sealed = aead
            .encrypt((&nonce).into(), number.0.as_bytes())
            .expect("ChaCha20-Poly1305 seals any short text");
        let mut out = ephemeral_public.as_bytes().to_vec();
        out.extend_from_slice(&sealed);
        hex::encode(out)
    }
}

/// The private half of the deployment's ID key: it opens sealed numbers. Held only by
/// the offices that find duplicates (township, county, city), in the owner-only file
/// `id.key`; never by a village. `Debug` never shows it.
#[derive(Clone)]
pub struct IdSecret(StaticSecret);

impl std::fmt::Debug for IdSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdSecret(<secret>)")
    }
}

impl IdSecret {
    /// A fresh random key.
    pub fn generate() -> Self {
        IdSecret(StaticSecret::from(rand::random::<[u8; 32]>()))
    }

    /// A key derived from `seed` (at least 16 bytes): the same seed gives the same key
    /// (test deployments; an older deployment's shared `id_key`).
    pub fn from_seed(seed: &[u8]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"halfsky id key"), seed);
        let mut bytes = [0u8; 32];
        hk.expand(b"x25519", &mut bytes)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        IdSecret(StaticSecret::from(bytes))
    }

    /// From its hex form (64 hex digits).
    pub fn from_hex(text: &str) -> Result<Self, SealError> {
        Ok(IdSecret(StaticSecret::from(key_bytes(text)?)))
    }

    /// The hex form (secret).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The public half, which every node seals to.
    pub fn public(&self) -> IdPublic {
        IdPublic(PublicKey::from(&self.0))
    }

    /// Opens a number sealed to this key's public half; `None` when it was sealed to
    /// another key, or is damaged.
    pub fn open(&self, sealed_hex: &str) -> Option<IdNumber> {
        let bytes = hex::decode(sealed_hex.trim()).ok()?;
        if bytes.len() != SEALED_LEN {
            return None;
        }
        let (ephemeral, sealed) = bytes.split_at(32);
        let ephemeral: [u8; 32] = ephemeral.try_into().ok()?;
        let shared = self.0.diffie_hellman(&PublicKey::from(ephemeral));
        let recipient = PublicKey::from(&self.0);
        let (aead, nonce) = seal_cipher(shared.as_bytes(), &ephemeral, recipient.as_bytes());
        let plain = aead.decrypt((&nonce).into(), sealed).ok()?;
        IdNumber::parse(std::str::from_utf8(&plain).ok()?).ok()
    }
}

/// Builds a valid ID number from 17 digits (for synthetic data and tests).
pub fn with_check_digit(first17: &str) -> String {
    let sum: u32 = first17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    format!("{first17}{}", CHECK[(sum % 11) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_mask_and_hash() {
        let n = with_check_digit("23012919750304123");
        let id = IdNumber::parse(&n).unwrap();
        assert_eq!(id.masked(), format!("**************{}", &n[14..]));
        assert!(
            !format!("{id:?}").contains(&n[..14]),
            "Debug shows the mask only"
        );
        let key = IdKey::new(vec![7; 32]);
        assert_eq!(id.hash(&key), IdNumber::parse(&n).unwrap().hash(&key));
        assert_ne!(id.hash(&key), id.hash(&IdKey::new(vec![8; 32])));
        assert!(!id.hash(&key).contains(&n[6..14]));
    }

    #[test]
    fn a_sealed_number_opens_only_with_the_private_half() {
        let n = with_check_digit("23012919750304123");
        let id = IdNumber::parse(&n).unwrap();
        let secret = IdSecret::generate();
        let public = IdPublic::from_hex(&secret.public().to_hex()).unwrap();
        let sealed = public.seal(&id);
        assert_eq!(sealed.len(), 2 * SEALED_LEN);
        assert!(!sealed.contains(&n[6..14]));
        assert_ne!(sealed, public.seal(&id), "a fresh ephemeral key per seal");
        assert_eq!(secret.open(&sealed), Some(id.clone()));
        assert_eq!(IdSecret::generate().open(&sealed), None, "another key");
        let mut damaged = sealed.clone().into_bytes();
        damaged[80] = if damaged[80] == b'0' { b'1' } else { b'0' };
        assert_eq!(secret.open(&String::from_utf8(damaged).unwrap()), None);
        assert_eq!(secret.open("zz"), None);
        let again = IdSecret::from_hex(&secret.to_hex()).unwrap();
        assert_eq!(again.open(&sealed), Some(id));
        assert_eq!(
            IdSecret::from_seed(&[42; 32]).to_hex(),
            IdSecret::from_seed(&[42; 32]).to_hex()
        );
        assert!(!format!("{secret:?}").contains(&secret.to_hex()));
    }

    #[test]
    fn refusals() {
        assert_eq!(IdNumber::parse("123"), Err(IdNumberError::Length(3)));
        let mut n = with_check_digit("23012919750304123");
        let last = n.pop().unwrap();
        n.push(if last == '1' { '2' } else { '1' });
        assert!(matches!(
            IdNumber::parse(&n),
            Err(IdNumberError::Checksum { .. })
        ));
        assert_eq!(
            IdNumber::parse("2301291975030412A4"),
            Err(IdNumberError::NotADigit(17))
        );
    }
}
