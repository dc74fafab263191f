//! Typed field values and the parsing of what people type or spreadsheets hold.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::enums::EnumSpec;
use super::kinds::{FieldSpec, FieldType};
use crate::idcard::IdNumber;

/// One field's value, already validated against its [`FieldType`].
///
/// Serialized untagged (a JSON bool, number, string or array). Deserialized by
/// [`ValueVisitor`] from the JSON type itself: serde's untagged derive tries each
/// variant in turn and formats an error for every miss, which made reading index
/// rows several times slower.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// Yes/no.
    Bool(bool),
    /// Whole number (counts, years) or money in fen (分) for `Money` fields.
    Int(i64),
    /// Free text, enum codes, ids, dates (`YYYY-MM-DD`) and masked ID numbers.
    Text(String),
    /// Several enum codes or ids.
    List(Vec<String>),
}

/// Reads a [`Value`] from whatever self-describing type the data holds.
struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a bool, a whole number, a string or a list of strings")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom(format!("number {v} is too large")))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Text(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Text(v))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// Why one field's input was refused; the message says what is wrong and what to type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The field (snake_case name).
    pub field: String,
    /// What is wrong and what would be accepted.
    pub reason: String,
}

impl FieldError {
    /// Builds an error for `field`.
    pub fn new(field: &str, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

impl Value {
    /// The text, if this is a text value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer value.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The list items, if this is a list.
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// How a person reads it (money as yuan with two decimals, lists joined by `;`).
    pub fn display(&self, ty: &FieldType) -> String {
        match (self, ty) {
            (Value::Int(fen), FieldType::Money) => format_yuan(*fen),
            (Value::Int(i), _) => i.to_string(),
            (Value::Bool(b), _) => if *b { "true" } else { "false" }.to_string(),
            (Value::Text(s), _) => s.clone(),
            (Value::List(items), _) => items.join(";"),
        }
    }
}

/// Formats fen as yuan: `150050` → `1500.50`, `200000` → `2000`.
pub fn format_yuan(fen: i64) -> String {
    if fen % 100 == 0 {
        (fen / 100).to_string()
    } else {
        format!("{}.{:02}", fen / 100, (fen % 100).abs())
    }
}

/// Parses a date as cadres write it: `2024-03-05`, `2024/3/5`, `2024.3.5`,
/// `2024年3月5日`, or `20240305`.
pub fn parse_date(input: &str) -> Option<NaiveDate> {
    let s = input.trim();
    let normalized: String = s
        .chars()
        .filter(|c| *c != '日')
        .map(|c| match c {
            '年' | '月' | '/' | '.' => '-',
            other => other,
        })
        .collect();
    if let Ok(d) = NaiveDate::parse_from_str(&normalized, "%Y-%m-%d") {
        return Some(d);
    }
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(s, "%Y%m%d").ok();
    }
    None
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "是" | "有" | "√" | "✓" => Some(true),
        "false" | "no" | "n" | "0" | "否" | "无" | "没有" | "×" | "" => Some(false),
        _ => None,
    }
}

fn parse_money(field: &str, s: &str) -> Result<i64, FieldError> {
    // As written back by a page or the command line: `1,545,000.00 元`, `999.50 yuan`.
    let cleaned = s
        .trim()
        .trim_end_matches('元')
        .trim_end_matches("yuan")
        .trim()
        .replace([',', '，'], "");
    let bad = || {
        FieldError::new(
            field,
            format!("\"{s}\" is not an amount in yuan (example: 5000 or 1500.50)"),
        )
    };
    let (whole, frac) = match cleaned.split_once('.') {
        Some((w, f)) => (w, f),
        None => (cleaned.as_str(), ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        if whole.starts_with('-') {
            return Err(FieldError::new(
                field,
                format!("\"{s}\": amounts cannot be negative"),
            ));
        }
        return Err(bad());
    }
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac_fen: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(100)
        .and_then(|f| f.checked_add(frac_fen))
        .filter(|fen| *fen <= 100_000_000_000)
        .ok_or_else(|| FieldError::new(field, format!("\"{s}\" is larger than any real amount")))
}

impl FieldSpec {
    /// Parses one raw input (a CLI flag value or a spreadsheet cell) for this field.
    ///
    /// `today` bounds dates and years (no records from the future). List fields take
    /// one item per call; the caller collects them (or splits a cell on `;`, `、`, `,`).
    pub fn parse(&self, raw: &str, today: NaiveDate) -> Result<Value, FieldError> {
        let s = raw.trim();
        let name = self.name;
        match &self.ty {
            FieldType::Text | FieldType::RecordRef => {
                if s.chars().count() > 500 {
                    return Err(FieldError::new(name, "text is longer than 500 characters"));
                }
                Ok(Value::Text(s.to_string()))
            }
            FieldType::Int { min, max } | FieldType::Year { min, max } => {
                let n: i64 = s
                    .parse()
                    .map_err(|_| FieldError::new(name, format!("\"{s}\" is not a whole number")))?;
                let max = if matches!(self.ty, FieldType::Year { .. }) {
                    (*max).min(today.year() as i64)
                } else {
                    *max
                };
                if n < *min || n > max {
                    return Err(FieldError::new(
                        name,
                        format!("{n} is outside the allowed range {min}–{max}"),
                    ));
                }
                Ok(Value::Int(n))
            }
            FieldType::Money => parse_money(name, s).map(Value::Int),
            FieldType::Date => {
                let date = parse_date(s).ok_or_else(|| {
                    FieldError::new(
                        name,
                        format!("\"{s}\" is not a date (write 2024-03-05 or 2024年3月5日)"),
                    )
                })?;
                if date > today {
                    return Err(FieldError::new(
                        name,
                        format!("{date} is in the future (today is {today})"),
                    ));
                }
                if date.year() < 1990 {
                    return Err(FieldError::new(name, format!("{date} is before 1990")));
                }
                Ok(Value::Text(date.format("%Y-%m-%d").to_string()))
            }
            FieldType::Bool => parse_bool(s).map(Value::Bool).ok_or_else(|| {
                FieldError::new(
                    name,
                    format!("\"{s}\" is not yes/no (write true/false or 是/否)"),
                )
            }),
            FieldType::Enum(spec) | FieldType::EnumList(spec) => spec
                .resolve(s)
                .map(|code| Value::Text(code.to_string()))
                .ok_or_else(|| {
                    FieldError::new(
                        name,
                        format!("\"{s}\" is not one of: {}", spec.describe_options()),
                    )
                }),
            FieldType::Ref(kind) | FieldType::RefList(kind) => crate::record::RecordId::parse(s)
                .ok()
                .filter(|id| id.kind() == *kind)
                .map(|id| Value::Text(id.to_string()))
                .ok_or_else(|| {
                    FieldError::new(
                        name,
                        format!(
                            "\"{s}\" is not a {} id (they look like {})",
                            kind.spec().name,
                            kind.example_id()
                        ),
                    )
                }),
            FieldType::Org => crate::org::OrgCode::parse(s)
                .map(|code| Value::Text(code.to_string()))
                .map_err(|e| FieldError::new(name, e.to_string())),
            FieldType::IdNumber => IdNumber::parse(s)
                .map(|id| Value::Text(id.as_str().to_string()))
                .map_err(|e| FieldError::new(name, e.to_string())),
        }
    }

    /// Checks a value as stored in a document by another node, with the rules of a
    /// local write ([`FieldSpec::parse`]): the right type, in range, canonical form,
    /// never a clear ID number. `today` bounds dates and years; the caller allows for
    /// clock skew. An enumeration code this release does not know is
    /// [`StoredValueError::Unknown`] (probably from a newer release), not invalid.
    pub fn check_stored(&self, value: &Value, today: NaiveDate) -> Result<(), StoredValueError> {
        let invalid = |reason: String| {
            Err(StoredValueError::Invalid(FieldError::new(
                self.name, reason,
            )))
        };
        let text = |v: &Value| v.as_text().map(str::to_string);
        match (&self.ty, value) {
            (FieldType::Int { .. } | FieldType::Year { .. } | FieldType::Money, Value::Int(i)) => {
                let raw = match self.ty {
                    FieldType::Money => format_yuan(*i),
                    _ => i.to_string(),
                };
                match self.parse(&raw, today) {
                    Ok(v) if &v == value => Ok(()),
                    Ok(_) => invalid(format!("{i} is not a stored amount")),
                    Err(e) => Err(StoredValueError::Invalid(e)),
                }
            }
            (FieldType::Bool, Value::Bool(_)) => Ok(()),
            (FieldType::Enum(spec), Value::Text(code)) => check_code(self.name, spec, code),
            (FieldType::EnumList(spec), Value::List(codes)) => codes
                .iter()
                .try_for_each(|code| check_code(self.name, spec, code)),
            (FieldType::RefList(kind), Value::List(items)) => {
                items
                    .iter()
                    .try_for_each(|item| match crate::record::RecordId::parse(item) {
                        Ok(id) if id.kind() == *kind && id.to_string() == *item => Ok(()),
                        _ => invalid(format!("\"{item}\" is not a {} id", kind.spec().name)),
                    })
            }
            (FieldType::IdNumber, Value::Text(masked)) => {
                let shape = masked.chars().count() == 18
                    && masked.contains("********")
                    && masked
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '*' || c == 'X');
                if shape {
                    Ok(())
                } else {
                    invalid("an ID number is stored only masked (like **************1234)".into())
                }
            }
            (
                FieldType::Text
                | FieldType::RecordRef
                | FieldType::Date
                | FieldType::Ref(_)
                | FieldType::Org,
                Value::Text(raw),
            ) => match self.parse(raw, today) {
                Ok(v) if text(&v).as_deref() == Some(raw.as_str()) => Ok(()),
                Ok(v) => invalid(format!(
                    "\"{raw}\" is not in stored form (\"{}\")",
                    v.display(&self.ty)
                )),
                Err(e) => Err(StoredValueError::Invalid(e)),
            },
            (ty, other) => invalid(format!("{other:?} is not a value of type {ty:?}")),
        }
    }

    /// Splits a spreadsheet cell holding several list items (`a;b`, `a、b`, `a,b`).
    pub fn split_list(cell: &str) -> Vec<&str> {
        cell.split([';', '；', '、', ',', '，', '|'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// Why a stored value fails [`FieldSpec::check_stored`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredValueError {
    /// The value breaks the field's rules.
    #[error("{0}")]
    Invalid(FieldError),
    /// An enumeration code this release does not know (a newer release may).
    #[error("{0}")]
    Unknown(FieldError),
}

fn check_code(field: &str, spec: &EnumSpec, code: &str) -> Result<(), StoredValueError> {
    if spec.codes().any(|c| c == code) {
        Ok(())
    } else {
        Err(StoredValueError::Unknown(FieldError::new(
            field,
            format!(
                "\"{code}\" is not an option this release knows ({}); the sender may run a newer release",
                spec.describe_options()
            ),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_they_were_written() {
        let values = vec![
            Value::Bool(true),
            Value::Int(-3),
            Value::Int(154_500_000),
            Value::Text("2024-03-05".into()),
            Value::Text(String::new()),
            Value::List(vec!["illness".into(), "disability".into()]),
            Value::List(Vec::new()),
        ];
        let json = serde_json::to_string(&values).unwrap();
        assert_eq!(
            json,
            r#"[true,-3,154500000,"2024-03-05","",["illness","disability"],[]]"#
        );
        let back: Vec<Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, values);
        for bad in ["1.5", "null", "{}", "[1]", "18446744073709551615"] {
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_as_cadres_write_them() {
        let d = NaiveDate::from_ymd_opt(2024, 3, 5).unwrap();
        for s in [
            "2024-03-05",
            "2024/3/5",
            "2024.3.5",
            "2024年3月5日",
            "20240305",
        ] {
            assert_eq!(parse_date(s), Some(d), "{s}");
        }
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn money_in_fen() {
        assert_eq!(parse_money("a", "1500.5").unwrap(), 150050);
        assert_eq!(parse_money("a", "2,000元").unwrap(), 200000);
        assert_eq!(parse_money("a", "1,545,000.00 元").unwrap(), 154_500_000);
        assert_eq!(parse_money("a", "999.50 yuan").unwrap(), 99_950);
        assert!(parse_money("a", "-5")
            .unwrap_err()
            .reason
            .contains("negative"));
        assert!(parse_money("a", "1.234").is_err());
        assert_eq!(format_yuan(150050), "1500.50");
        assert_eq!(format_yuan(200000), "2000");
    }

    #[test]
    fn booleans_in_two_languages() {
        assert_eq!(parse_bool("是"), Some(true));
        assert_eq!(parse_bool("否"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
