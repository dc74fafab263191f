//! How this node finds a woman's ID number among its cards, without any node that might
//! be a lost village laptop being able to recover a number:
//! - an office holding the deployment's ID key (township, county, city) opens each
//!   sealed number and matches on a keyed hash of the full number ([`IdMatcher::Exact`]):
//!   two different numbers are never taken for one;
//! - a village, which cannot open numbers, matches a typed number on what it can see:
//!   the last four digits, the name and the birth year ([`IdMatcher::ByCard`]). That
//!   catches a card typed twice or a spreadsheet re-imported; the exact check is the
//!   office's above.
//!
//! The key is computed here, on this node, and kept in its index only (never sent).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use halfsky_shared::idcard::IdNumber;
use halfsky_shared::record::{Fields, Record};
use halfsky_shared::Value;
use sha2::{Digest, Sha256};

use crate::config::{IdKeys, IdOpener};

/// Key agreements already made with sealers' ephemeral keys (a village's numbers
/// share one per thousand), so an office opens a catch-up at a few µs a number: one
/// map per private half the office holds.
#[derive(Default, Clone)]
pub struct Agreed(Arc<Mutex<Vec<AgreedWithOne>>>);

/// One private half's agreements: an ephemeral public key → the shared secret.
type AgreedWithOne = HashMap<[u8; 32], [u8; 32]>;

impl std::fmt::Debug for Agreed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Agreed(<secret>)")
    }
}

/// Key agreements kept before the memory is cleared (64 B each).
const AGREED_KEPT: usize = 65_536;

/// This node's way of matching ID numbers.
#[derive(Debug, Clone)]
pub enum IdMatcher {
    /// Opens sealed numbers and matches their keyed hash.
    Exact(IdOpener, Agreed),
    /// Matches the last four digits, the name and the birth year.
    ByCard,
}

impl IdMatcher {
    /// The matcher a node with these keys uses.
    pub fn of(keys: &IdKeys) -> Self {
        match &keys.opener {
            Some(opener) => IdMatcher::Exact(opener.clone(), Agreed::default()),
            None => IdMatcher::ByCard,
        }
    }

    /// Whether this node compares full numbers.
    pub fn is_exact(&self) -> bool {
        matches!(self, IdMatcher::Exact(..))
    }

    /// The key of `number`, typed for a card with `fields` (its name and birth year).
    pub fn key_of_number(&self, number: &IdNumber, fields: &Fields) -> String {
        match self {
            IdMatcher::Exact(opener, _) => format!("h{}", number.hash(&opener.hash)),
            IdMatcher::ByCard => by_card(number.last4(), fields),
        }
    }

    /// The key of a stored woman's card, if it has an ID number.
    pub fn key_of_record(&self, record: &Record) -> Option<String> {
        let mask = record.text("id_number").filter(|m| m.len() >= 4)?;
        match self {
            IdMatcher::Exact(opener, agreed) => {
                let opened = record.meta.id_sealed.as_deref().and_then(|sealed| {
                    let mut agreed = agreed.0.lock().unwrap_or_else(|p| p.into_inner());
                    if agreed.iter().map(HashMap::len).sum::<usize>() >= AGREED_KEPT {
                        agreed.clear();
                    }
                    agreed.resize_with(opener.secrets().count(), HashMap::new);
                    // Sealed to whichever pair was current when it was typed.
                    opener
                        .secrets()
                        .zip(agreed.iter_mut())
                        .find_map(|(secret, agreed)| secret.open_remembering(sealed, agreed))
                });
                if let Some(number) = opened {
                    return Some(format!("h{}", number.hash(&opener.hash)));
                }
                // A card written before numbers were sealed keeps the old shared
                // hash, which an upgraded office's hash key still reproduces.
                record.meta.id_hash.as_ref().map(|h| format!("h{h}"))
            }
            IdMatcher::ByCard => Some(by_card(&mask[mask.len() - 4..], &record.fields)),
        }
    }

    /// Changes whenever the keys this matcher computes would change (another kind of
    /// matching, a rotated hash key, a private half added that opens more numbers):
    /// the index is rebuilt when it does.
    pub fn fingerprint(&self) -> String {
        match self {
            IdMatcher::Exact(opener, _) => {
                let mut hasher = Sha256::new();
                hasher.update(opener.hash.to_hex().as_bytes());
                for added in &opener.added {
                    hasher.update(added.public().to_hex().as_bytes());
                }
                let digest = hasher.finalize();
                format!("exact-{}", hex::encode(&digest[..6]))
            }
            IdMatcher::ByCard => "by-card".into(),
        }
    }
}

fn by_card(last4: &str, fields: &Fields) -> String {
    let name = fields.get("name").and_then(Value::as_text).unwrap_or("");
    let year = fields
        .get("birth_year")
        .and_then(Value::as_int)
        .map(|y| y.to_string())
        .unwrap_or_default();
    format!("c{last4}|{}|{year}", name.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use halfsky_shared::idcard::{with_check_digit, IdKey, IdSecret};

    fn fields(name: &str, year: i64) -> Fields {
        let mut f = Fields::new();
        f.insert("name".into(), Value::Text(name.into()));
        f.insert("birth_year".into(), Value::Int(year));
        f
    }

    #[test]
    fn offices_match_full_numbers_and_villages_what_a_card_shows() {
        let a = IdNumber::parse(&with_check_digit("23012919800101123")).unwrap();
        let exact = IdMatcher::Exact(
            IdOpener::new(IdSecret::generate(), IdKey::generate()),
            Agreed::default(),
        );
        let f = fields("王秀英", 1980);
        assert_eq!(
            exact.key_of_number(&a, &f),
            exact.key_of_number(&a, &fields("x", 1))
        );
        assert!(!exact.key_of_number(&a, &f).contains(a.last4()));
        let card = IdMatcher::ByCard;
        assert_eq!(
            card.key_of_number(&a, &f),
            format!("c{}|王秀英|1980", a.last4())
        );
        assert_ne!(
            card.key_of_number(&a, &f),
            card.key_of_number(&a, &fields("王秀英", 1981))
        );
        assert_ne!(exact.fingerprint(), card.fingerprint());
    }

    #[test]
    fn an_office_opens_numbers_sealed_to_every_pair_it_holds() {
        use halfsky_shared::record::RecordMeta;
        use halfsky_shared::{Kind, RecordId};
        let number = IdNumber::parse(&with_check_digit("23012919800101123")).unwrap();
        let (first, second) = (IdSecret::generate(), IdSecret::generate());
        let card = |sealed_to: &IdSecret| Record {
            id: RecordId::new("230129100201".parse().unwrap(), Kind::Woman, "pc", 1),
            fields: [("id_number".to_string(), Value::Text(number.masked()))].into(),
            meta: RecordMeta {
                id_sealed: Some(sealed_to.public().seal(&number)),
                ..RecordMeta::default()
            },
        };
        let hash = IdKey::generate();
        let before = IdMatcher::Exact(
            IdOpener::new(first.clone(), hash.clone()),
            Agreed::default(),
        );
        let expected = before.key_of_record(&card(&first)).unwrap();
        assert_eq!(expected, before.key_of_number(&number, &Fields::new()));
        assert_eq!(
            before.key_of_record(&card(&second)),
            None,
            "sealed to a pair it lacks"
        );

        let mut opener = IdOpener::new(first.clone(), hash);
        opener.added.push(second.clone());
        let after = IdMatcher::Exact(opener, Agreed::default());
        assert_eq!(after.key_of_record(&card(&first)), Some(expected.clone()));
        assert_eq!(after.key_of_record(&card(&second)), Some(expected));
        assert_ne!(
            before.fingerprint(),
            after.fingerprint(),
            "the index is rebuilt"
        );
    }
}
