//! Org units are named by China's 12-digit statistical division code
//! (`PP CC DD TTT VVV`: province, city, county, township, village). The code's
//! significant prefix is its ancestry, so a subtree is a key prefix in every index.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A validated 12-digit org code such as `230129100201`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgCode([u8; 12]);

/// The four levels of the women's federation that halfsky knows, top down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 市: significant digits 1–4.
    City,
    /// 县/区: significant digits 1–6.
    County,
    /// 乡镇: significant digits 1–9.
    Township,
    /// 村: all 12 digits significant.
    Village,
}

/// Why a string is not a usable org code; each message names the offending digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgCodeError {
    /// Codes have exactly 12 digits.
    #[error("{input}: an org code has 12 digits, this has {len} (example: 230129100201)")]
    Length {
        /// What was given.
        input: String,
        /// How many characters it had.
        len: usize,
    },
    /// A character is not 0–9.
    #[error("{input}: digit {position} is not a number")]
    NotADigit {
        /// What was given.
        input: String,
        /// 1-based position of the bad character.
        position: usize,
    },
    /// Province or city part is zero, or a lower part is set under a zero part.
    #[error("{input}: {reason}")]
    Shape {
        /// What was given.
        input: String,
        /// What is wrong with its parts.
        reason: &'static str,
    },
}

impl Level {
    /// How many leading digits are significant at this level.
    pub fn significant_digits(self) -> usize {
        match self {
            Level::City => 4,
            Level::County => 6,
            Level::Township => 9,
            Level::Village => 12,
        }
    }

    /// The level one step down, if any.
    pub fn child(self) -> Option<Level> {
        match self {
            Level::City => Some(Level::County),
            Level::County => Some(Level::Township),
            Level::Township => Some(Level::Village),
            Level::Village => None,
        }
    }

    /// The level one step up, if any.
    pub fn parent(self) -> Option<Level> {
        match self {
            Level::City => None,
            Level::County => Some(Level::City),
            Level::Township => Some(Level::County),
            Level::Village => Some(Level::Township),
        }
    }

    /// Short English name, as used in JSON and configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::City => "city",
            Level::County => "county",
            Level::Township => "township",
            Level::Village => "village",
        }
    }

    /// Chinese name a cadre recognises.
    pub fn zh(self) -> &'static str {
        match self {
            Level::City => "市",
            Level::County => "县/区",
            Level::Township => "乡镇",
            Level::Village => "村",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl OrgCode {
    /// Parses and validates a code; surrounding whitespace is ignored.
    pub fn parse(input: &str) -> Result<Self, OrgCodeError> {
        let trimmed = input.trim();
        let chars: Vec<char> = trimmed.chars().collect();
        if chars.len() != 12 {
            return Err(OrgCodeError::Length {
                input: trimmed.to_string(),
                len: chars.len(),
            });
        }
        let mut digits = [0u8; 12];
        for (i, c) in chars.iter().enumerate() {
            if !c.is_ascii_digit() {
                return Err(OrgCodeError::NotADigit {
                    input: trimmed.to_string(),
                    position: i + 1,
                });
            }
            digits[i] = *c as u8;
        }
        let code = OrgCode(digits);
        let shape = |reason| OrgCodeError::Shape {
            input: trimmed.to_string(),
            reason,
        };
        if code.part(0, 2) == "00" {
            return Err(shape("the province part (digits 1-2) cannot be 00"));
        }
        if code.part(2, 4) == "00" {
            return Err(shape(
                "the city part (digits 3-4) cannot be 00: halfsky starts at the city level",
            ));
        }
        // A zero part may only be followed by zero parts (230100100000 is not a unit).
        let parts = [(4, 6), (6, 9), (9, 12)];
        let mut seen_zero = false;
        for (start, end) in parts {
            let zero = code.part(start, end).bytes().all(|b| b == b'0');
            if seen_zero && !zero {
                return Err(shape(
                    "a lower part is set under a part that is all zeros (e.g. a township without a county)",
                ));
            }
            seen_zero |= zero;
        }
        Ok(code)
    }

    fn part(&self, start: usize, end: usize) -> &str {
        std::str::from_utf8(&self.0[start..end]).expect("org code bytes are ASCII digits")
    }

    /// The 12 digits as a string slice.
    pub fn as_str(&self) -> &str {
        self.part(0, 12)
    }

    /// The 12 digits as bytes (index keys).
    pub fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }

    /// Level, read from which parts are non-zero.
    pub fn level(&self) -> Level {
        if self.part(9, 12) != "000" {
            Level::Village
        } else if self.part(6, 9) != "000" {
            Level::Township
        } else if self.part(4, 6) != "00" {
            Level::County
        } else {
            Level::City
        }
    }

    /// The significant prefix: every unit of the subtree, and only those, start with it.
    pub fn subtree_prefix(&self) -> &str {
        &self.as_str()[..self.level().significant_digits()]
    }

    /// The parent unit, or `None` for a city.
    pub fn parent(&self) -> Option<OrgCode> {
        let parent_level = self.level().parent()?;
        Some(self.truncated(parent_level))
    }

    /// This unit's ancestor at `level` (itself if at that level); `None` if `level` is below.
    pub fn ancestor_at(&self, level: Level) -> Option<OrgCode> {
        (level <= self.level()).then(|| self.truncated(level))
    }

    fn truncated(&self, level: Level) -> OrgCode {
        let mut digits = self.0;
        for d in digits.iter_mut().skip(level.significant_digits()) {
            *d = b'0';
        }
        OrgCode(digits)
    }

    /// All ancestors, nearest first (a village yields township, county, city).
    pub fn ancestors(&self) -> Vec<OrgCode> {
        let mut out = Vec::new();
        let mut current = *self;
        while let Some(parent) = current.parent() {
            out.push(parent);
            current = parent;
        }
        out
    }

    /// True when `self` is `root` or lies below it.
    pub fn is_in_subtree_of(&self, root: &OrgCode) -> bool {
        self.as_str().starts_with(root.subtree_prefix())
    }

    /// The lowest unit whose subtree holds both `self` and `other` (the first unit
    /// that sees records of both).
    pub fn lowest_common_ancestor(&self, other: &OrgCode) -> OrgCode {
        let mut unit = *self;
        while !other.is_in_subtree_of(&unit) {
            match unit.parent() {
                Some(parent) => unit = parent,
                None => break,
            }
        }
        unit
    }

    /// The child of `self` on the path to `descendant`, if `descendant` is strictly below.
    pub fn child_towards(&self, descendant: &OrgCode) -> Option<OrgCode> {
        if descendant == self || !descendant.is_in_subtree_of(self) {
            return None;
        }
        descendant.ancestor_at(self.level().child()?)
    }
}

impl fmt::Display for OrgCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrgCode {
    type Err = OrgCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgCode::parse(s)
    }
}

impl Serialize for OrgCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OrgCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OrgCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> OrgCode {
        OrgCode::parse(s).unwrap()
    }

    #[test]
    fn levels_and_prefixes() {
        assert_eq!(code("230100000000").level(), Level::City);
        assert_eq!(code("230129000000").level(), Level::County);
        assert_eq!(code("230129100000").level(), Level::Township);
        assert_eq!(code("230129100201").level(), Level::Village);
        assert_eq!(code("230129100201").subtree_prefix(), "230129100201");
        assert_eq!(code("230129100000").subtree_prefix(), "230129100");
        assert_eq!(code("230100000000").subtree_prefix(), "2301");
    }

    #[test]
    fn the_lowest_common_ancestor_sees_both() {
        let (a, b) = (code("230129100201"), code("230129100202"));
        assert_eq!(a.lowest_common_ancestor(&b), code("230129100000"));
        assert_eq!(a.lowest_common_ancestor(&a), a);
        let other_county = code("230183100201");
        assert_eq!(
            a.lowest_common_ancestor(&other_county),
            code("230100000000")
        );
        let township = code("230129100000");
        assert_eq!(township.lowest_common_ancestor(&a), township);
        assert_eq!(a.lowest_common_ancestor(&township), township);
    }

    #[test]
    fn ancestry() {
        let village = code("230129100201");
        assert_eq!(village.parent(), Some(code("230129100000")));
        assert_eq!(
            village.ancestors(),
            vec![
                code("230129100000"),
                code("230129000000"),
                code("230100000000")
            ]
        );
        assert!(village.is_in_subtree_of(&code("230100000000")));
        assert!(village.is_in_subtree_of(&village));
        assert!(!village.is_in_subtree_of(&code("230126000000")));
        assert_eq!(code("230100000000").parent(), None);
        assert_eq!(
            code("230100000000").child_towards(&village),
            Some(code("230129000000"))
        );
        assert_eq!(village.child_towards(&village), None);
    }

    #[test]
    fn precise_errors() {
        assert_eq!(
            OrgCode::parse("230129X00201").unwrap_err().to_string(),
            "230129X00201: digit 7 is not a number"
        );
        assert!(matches!(
            OrgCode::parse("2301291002").unwrap_err(),
            OrgCodeError::Length { len: 10, .. }
        ));
        assert!(OrgCode::parse("230100100000").is_err());
        assert!(OrgCode::parse("000000000000").is_err());
        assert!(OrgCode::parse("230000000000").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = OrgCode::parse(&s);
        }
    }
}
