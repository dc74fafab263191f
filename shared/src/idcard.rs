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
/// Ephemeral X25519 public key, per-seal salt, 18 characters, Poly1305 tag.
const SEALED_LEN: usize = 32 + SALT_LEN + 18 + 16;
const SALT_LEN: usize = 12;
/// Seals made with one ephemeral key before a [`Sealer`] draws a new one.
const SEALS_PER_EPHEMERAL: u32 = 1024;

/// The cipher of one seal: its key and nonce come from the key agreement and the
/// seal's own random salt, so seals that share an ephemeral key never share a nonce.
fn seal_cipher(
    shared: &[u8],
    salt: &[u8],
    ephemeral: &[u8],
    recipient: &[u8],
) -> (ChaCha20Poly1305, [u8; 12]) {
    crate::kdf::sealing_cipher(shared, Some(salt), SEAL_INFO, ephemeral, recipient)
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

    /// `number` sealed to this key, as hex, with an ephemeral key of its own (one key
    /// agreement per call; a [`Sealer`] shares one among many seals).
    pub fn seal(&self, number: &IdNumber) -> String {
        Sealer::new(self.clone()).seal(number)
    }
}

/// The ephemeral half of the key agreement, shared by up to [`SEALS_PER_EPHEMERAL`]
/// seals (a random salt per seal keeps their keys and nonces apart): a key agreement
/// costs about 130 µs, the rest of a seal a few. Lives in memory only.
struct Ephemeral {
    public: [u8; 32],
    shared: [u8; 32],
    used: u32,
}

/// Seals ID numbers to the deployment's public key, drawing a fresh ephemeral key
/// every [`SEALS_PER_EPHEMERAL`] seals; only the private half opens them.
pub struct Sealer {
    to: IdPublic,
    current: std::sync::Mutex<Option<Ephemeral>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer to `to`.
    pub fn new(to: IdPublic) -> Self {
        Sealer {
            to,
            current: std::sync::Mutex::new(None),
        }
    }

    /// The key it seals to.
    pub fn to(&self) -> &IdPublic {
        &self.to
    }

    /// `number` sealed, as hex.
    pub fn seal(&self, number: &IdNumber) -> String {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current
            .as_ref()
            .is_none_or(|e| e.used >= SEALS_PER_EPHEMERAL)
        {
            let secret = StaticSecret::from(rand::random::<[u8; 32]>());
            *current = Some(Ephemeral {
                public: PublicKey::from(&secret).to_bytes(),
                shared: secret.diffie_hellman(&self.to.0).to_bytes(),
                used: 0,
            });
        }
        let ephemeral = current.as_mut().expect("just drawn");
        ephemeral.used += 1;
        let salt: [u8; SALT_LEN] = rand::random();
        let (aead, nonce) = seal_cipher(
            &ephemeral.shared,
            &salt,
            &ephemeral.public,
            self.to.0.as_bytes(),
        );
        let sealed = aead
            .encrypt((&nonce).into(), number.0.as_bytes())
            .expect("ChaCha20-Poly1305 seals any short text");
        let mut out = ephemeral.public.to_vec();
        out.extend_from_slice(&salt);
        out.extend_from_slice(&sealed);
        hex::encode(out)
    }
}

/// The private half of the deployment's ID key: it opens sealed numbers. Held only by
/// the offices that find duplicates (township, county, city), in the owner-only file
/// `id.key`; never by a village. `Debug` never shows it.
#[derive(Clone)]
pub struct IdSecret(StaticSecret, PublicKey);

impl std::fmt::Debug for IdSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdSecret(<secret>)")
    }
}

impl IdSecret {
    /// A fresh random key.
    pub fn generate() -> Self {
        IdSecret::of(StaticSecret::from(rand::random::<[u8; 32]>()))
    }

    /// A key derived from `seed` (at least 16 bytes): the same seed gives the same key
    /// (test deployments; an older deployment's shared `id_key`).
    pub fn from_seed(seed: &[u8]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"halfsky id key"), seed);
        let mut bytes = [0u8; 32];
        hk.expand(b"x25519", &mut bytes)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        IdSecret::of(StaticSecret::from(bytes))
    }

    /// From its hex form (64 hex digits).
    pub fn from_hex(text: &str) -> Result<Self, SealError> {
        Ok(IdSecret::of(StaticSecret::from(key_bytes(text)?)))
    }

    /// The hex form (secret).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The key with its public half computed once (a scalar multiplication).
    fn of(secret: StaticSecret) -> Self {
        let public = PublicKey::from(&secret);
        IdSecret(secret, public)
    }

    /// The public half, which every node seals to.
    pub fn public(&self) -> IdPublic {
        IdPublic(self.1)
    }

    /// Opens a number sealed to this key's public half; `None` when it was sealed to
    /// another key, or is damaged.
    pub fn open(&self, sealed_hex: &str) -> Option<IdNumber> {
        self.open_remembering(sealed_hex, &mut std::collections::HashMap::new())
    }

    /// [`IdSecret::open`], remembering each ephemeral key's agreement in `agreed`
    /// (seals from one sealer share it): opening a village's numbers then costs one
    /// key agreement per thousand seals, not one each.
    pub fn open_remembering(
        &self,
        sealed_hex: &str,
        agreed: &mut std::collections::HashMap<[u8; 32], [u8; 32]>,
    ) -> Option<IdNumber> {
        let bytes = hex::decode(sealed_hex.trim()).ok()?;
        if bytes.len() != SEALED_LEN {
            return None;
        }
        let (ephemeral, rest) = bytes.split_at(32);
        let (salt, sealed) = rest.split_at(SALT_LEN);
        let ephemeral: [u8; 32] = ephemeral.try_into().ok()?;
        let shared = *agreed.entry(ephemeral).or_insert_with(|| {
            self.0
                .diffie_hellman(&PublicKey::from(ephemeral))
                .to_bytes()
        });
        let (aead, nonce) = seal_cipher(&shared, salt, &ephemeral, self.1.as_bytes());
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
        // One sealer's seals share an ephemeral key, never a salt; each opens.
        let sealer = Sealer::new(public.clone());
        let (a, b) = (sealer.seal(&id), sealer.seal(&id));
        assert_eq!(a[..64], b[..64], "one ephemeral key");
        assert_ne!(a, b, "a salt of its own");
        let mut agreed = std::collections::HashMap::new();
        for s in [&a, &b] {
            assert_eq!(secret.open_remembering(s, &mut agreed), Some(id.clone()));
        }
        assert_eq!(agreed.len(), 1, "one key agreement for both");
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
