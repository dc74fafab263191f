//! Resident ID numbers (居民身份证号). They are sensitive: halfsky never stores one in
//! clear. A valid number is kept as a keyed hash (HMAC-SHA256 with the deployment's
//! secret, so the same woman registered twice is found without revealing her number)
//! and a mask for display (`230129********123X`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A syntactically valid 18-character ID number (check digit verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumber(String);

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

    /// First 6 and last 4 characters visible: `230129********123X`.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }

    /// Keyed hash for matching, hex: HMAC-SHA256 truncated to 128 bits (ample to tell
    /// apart every woman of a nation; half the bytes on every sync of her card).
    pub fn hash(&self, key: &IdKey) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC accepts any key length");
        mac.update(self.0.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
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
        assert_eq!(id.masked(), format!("230129********{}", &n[14..]));
        let key = IdKey::new(vec![7; 32]);
        assert_eq!(id.hash(&key), IdNumber::parse(&n).unwrap().hash(&key));
        assert_ne!(id.hash(&key), id.hash(&IdKey::new(vec![8; 32])));
        assert!(!id.hash(&key).contains(&n[6..14]));
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
