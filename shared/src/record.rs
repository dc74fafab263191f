//! Record ids and validated records.
//!
//! Ids are unique without coordination: `<org>-<kind letter>-<device tag>-<seq>`, e.g.
//! `230129100201-W-K7M2-17`. The org prefix says which document holds the record, the
//! device tag (random per node home) keeps two devices of one village apart, and the
//! sequence is that device's own counter.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::idcard::IdNumber;
use crate::org::OrgCode;
use crate::schema::{FieldError, FieldType, Kind, Value};

/// A record's globally unique id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    org: OrgCode,
    kind: Kind,
    device: String,
    seq: u64,
}

/// Why a string is not a record id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{input}\" is not a record id (they look like 230129100201-W-K7M2-17): {reason}")]
pub struct RecordIdError {
    input: String,
    reason: String,
}

impl RecordId {
    /// Builds an id; `device` is the node's 4-character tag.
    pub fn new(org: OrgCode, kind: Kind, device: &str, seq: u64) -> Self {
        RecordId {
            org,
            kind,
            device: device.to_string(),
            seq,
        }
    }

    /// Parses an id.
    pub fn parse(input: &str) -> Result<Self, RecordIdError> {
        let s = input.trim();
        let err = |reason: &str| RecordIdError {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = s.split('-');
        let (Some(org), Some(letter), Some(device), Some(seq), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(err("it needs four parts separated by '-'"));
        };
        let org = OrgCode::parse(org).map_err(|e| err(&e.to_string()))?;
        let mut letters = letter.chars();
        let kind = match (letters.next(), letters.next()) {
            (Some(c), None) => Kind::from_id_letter(c.to_ascii_uppercase()),
            _ => None,
        }
        .ok_or_else(|| {
            err("the second part must be a kind letter (H, W, P, M, V, T, B, L, C, G)")
        })?;
        if device.is_empty()
            || device.len() > 8
            || !device.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(err(
                "the third part must be a device tag of letters and digits",
            ));
        }
        let seq = seq
            .parse()
            .map_err(|_| err("the last part must be a number"))?;
        Ok(RecordId::new(org, kind, &device.to_ascii_uppercase(), seq))
    }

    /// The org unit whose document holds the record.
    pub fn org(&self) -> OrgCode {
        self.org
    }

    /// The record's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The writing device's tag.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// That device's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{}-{}",
            self.org,
            self.kind.spec().id_letter,
            self.device,
            self.seq
        )
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RecordId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A record's field values, keyed by field name.
pub type Fields = BTreeMap<String, Value>;

/// Who wrote a record and when, and whether it is retired. Kept beside the fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordMeta {
    /// RFC 3339 time of creation.
    pub created_at: String,
    /// Device that created it (`<org>/<device name>`).
    pub created_by: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
    /// Device of the last change.
    pub updated_by: String,
    /// Retired records stay in the ledger and its history but leave the statistics.
    pub retired: bool,
    /// Why it was retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_reason: Option<String>,
    /// The key this node finds a woman's ID number by, never read from another node:
    /// the keyed hash of the opened number where the ID key is held, else her last four
    /// digits, name and birth year (see the node's `IdMatcher`). Records written before
    /// numbers were sealed carry their old hash here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_hash: Option<String>,
    /// The woman's ID number sealed to the deployment's ID public key (hex); only the
    /// offices holding the private half open it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_sealed: Option<String>,
}

impl RecordMeta {
    /// This meta without the sealed number and the matching key: what readers (the
    /// API, pages, exports, `--json`) are given.
    pub fn for_readers(mut self) -> Self {
        self.id_hash = None;
        self.id_sealed = None;
        self
    }
}

/// A record as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Its id (which names its kind and org).
    pub id: RecordId,
    /// Field values (winning values where devices wrote concurrently).
    pub fields: Fields,
    /// Authorship and retirement.
    pub meta: RecordMeta,
}

impl Record {
    /// The record's kind.
    pub fn kind(&self) -> Kind {
        self.id.kind()
    }

    /// A field's text value.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_text)
    }

    /// A field's integer value.
    pub fn int(&self, field: &str) -> Option<i64> {
        self.fields.get(field).and_then(Value::as_int)
    }

    /// A field's boolean value (false when absent).
    pub fn flag(&self, field: &str) -> bool {
        self.fields
            .get(field)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// A list field's items (empty when absent).
    pub fn list(&self, field: &str) -> &[String] {
        self.fields
            .get(field)
            .and_then(Value::as_list)
            .unwrap_or(&[])
    }

    /// A date field.
    pub fn date(&self, field: &str) -> Option<NaiveDate> {
        self.text(field).and_then(crate::schema::parse_date)
    }

    /// The title shown in lists (a woman's name, a visit's date…).
    pub fn title(&self) -> String {
        let spec = self.kind().spec();
        let field = spec.field(spec.title_field).expect("title field exists");
        self.fields
            .get(field.name)
            .map(|v| v.display(&field.ty))
            .unwrap_or_default()
    }
}

/// Field values parsed from user input, ready to write; ID numbers already replaced by
/// their mask (with the number set aside, in memory only, to be sealed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFields {
    /// Values by field name.
    pub fields: Fields,
    /// An ID number given in the input (its `Debug` is the mask).
    pub id_number: Option<IdNumber>,
    /// Fields given an empty value: an update clears them.
    pub cleared: Vec<String>,
}

/// Parses raw `(field name, text)` pairs for `kind`. Names may be snake_case,
/// kebab-case, aliases or Chinese headers; list fields may repeat. Every problem is
/// reported, not just the first.
pub fn parse_fields(
    kind: Kind,
    inputs: &[(String, String)],
    today: NaiveDate,
) -> Result<ParsedFields, Vec<FieldError>> {
    let spec = kind.spec();
    let mut out = ParsedFields::default();
    let mut errors = Vec::new();
    for (name, raw) in inputs {
        let Some(field) = spec.field(name) else {
            let known: Vec<_> = spec.fields.iter().map(|f| f.name).collect();
            errors.push(FieldError::new(
                name,
                format!(
                    "{} has no such field; known fields: {}",
                    spec.name,
                    known.join(", ")
                ),
            ));
            continue;
        };
        let is_list = matches!(field.ty, FieldType::EnumList(_) | FieldType::RefList(_));
        let items: Vec<&str> = if is_list {
            crate::schema::FieldSpec::split_list(raw)
        } else {
            vec![raw.as_str()]
        };
        if !is_list && raw.trim().is_empty() {
            out.cleared.push(field.name.to_string());
            continue;
        }
        for item in items {
            match field.parse(item, today) {
                Ok(Value::Text(number)) if matches!(field.ty, FieldType::IdNumber) => {
                    if number.is_empty() {
                        continue;
                    }
                    let id = IdNumber::parse(&number).expect("field.parse validated it");
                    out.fields
                        .insert(field.name.to_string(), Value::Text(id.masked()));
                    out.id_number = Some(id);
                }
                Ok(Value::Text(text)) if is_list => {
                    let entry = out
                        .fields
                        .entry(field.name.to_string())
                        .or_insert_with(|| Value::List(Vec::new()));
                    if let Value::List(list) = entry {
                        if !list.contains(&text) {
                            list.push(text);
                        }
                    }
                }
                Ok(value) => {
                    if matches!(&value, Value::Text(t) if t.is_empty()) {
                        out.cleared.push(field.name.to_string());
                        continue;
                    }
                    out.fields.insert(field.name.to_string(), value);
                }
                Err(e) => errors.push(e),
            }
        }
        if is_list && raw.trim().is_empty() {
            out.fields
                .insert(field.name.to_string(), Value::List(Vec::new()));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Fills defaults and checks what a complete record needs: required fields and the
/// rules between fields. `fields` is the whole record (for an update: old merged with new).
pub fn complete(kind: Kind, fields: &mut Fields, today: NaiveDate) -> Vec<FieldError> {
    let spec = kind.spec();
    let mut errors = Vec::new();
    for field in spec.fields {
        if fields.contains_key(field.name) {
            continue;
        }
        if let Some(default) = field.default {
            let value = field
                .parse(default, today)
                .expect("schema defaults are valid values");
            fields.insert(field.name.to_string(), value);
        } else if field.required {
            errors.push(FieldError::new(
                field.name,
                format!(
                    "is required ({}; flag --{})",
                    field.zh,
                    field.name.replace('_', "-")
                ),
            ));
        }
    }
    if kind == Kind::Woman {
        // An exit keeps the date it was given, and none if none was given: a default of
        // today would count an old exit (an imported 已脱贫) among this year's exits.
        let poor = fields.get("status").and_then(Value::as_text) == Some("poor");
        if poor && fields.contains_key("exit_date") {
            errors.push(FieldError::new(
                "exit_date",
                "is set but status is poor (贫困): clear it (--exit-date \"\") or set --status exited / at_risk",
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn inputs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn ids_round_trip() {
        let id = RecordId::parse("230129100201-W-K7M2-17").unwrap();
        assert_eq!(id.kind(), Kind::Woman);
        assert_eq!(id.org().as_str(), "230129100201");
        assert_eq!(id.to_string(), "230129100201-W-K7M2-17");
        assert!(RecordId::parse("230129100201-Q-K7M2-17").is_err());
        assert!(RecordId::parse("230129100201-W-K7M2").is_err());
        assert!(RecordId::parse("").is_err());
    }

    #[test]
    fn woman_from_chinese_input() {
        let number = crate::idcard::with_check_digit("23012919750304123");
        let parsed = parse_fields(
            Kind::Woman,
            &inputs(&[
                ("姓名", "王秀英"),
                ("birth-year", "1975"),
                ("labor", "有劳动能力"),
                ("wants-work", "是"),
                ("cause", "因病"),
                ("cause", "lack_of_skills"),
                ("id_number", &number),
            ]),
            today(),
        )
        .unwrap();
        let mut fields = parsed.fields;
        assert_eq!(
            fields["poverty_causes"],
            Value::List(vec!["illness".into(), "lack_of_skills".into()])
        );
        assert_eq!(
            fields["id_number"].as_text().unwrap(),
            format!("**************{}", &number[14..])
        );
        assert_eq!(parsed.id_number.unwrap().as_str(), number);
        assert!(complete(Kind::Woman, &mut fields, today()).is_empty());
        assert_eq!(fields["status"], Value::Text("poor".into()));
    }

    #[test]
    fn all_errors_are_reported() {
        let errors = parse_fields(
            Kind::Woman,
            &inputs(&[("birth_year", "1850"), ("status", "rich"), ("shoe", "40")]),
            today(),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        let mut fields = Fields::new();
        let missing = complete(Kind::Woman, &mut fields, today());
        let names: Vec<_> = missing.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["name", "birth_year", "labor_capacity"]);
    }

    #[test]
    fn an_exit_without_a_date_stays_without_one() {
        let mut fields = Fields::new();
        fields.insert("status".into(), Value::Text("exited".into()));
        let errors = complete(Kind::Woman, &mut fields, today());
        assert!(errors.iter().all(|e| e.field != "exit_date"), "{errors:?}");
        assert!(!fields.contains_key("exit_date"), "never today silently");
        fields.insert("exit_date".into(), Value::Text("2026-03-01".into()));
        fields.insert("status".into(), Value::Text("poor".into()));
        let errors = complete(Kind::Woman, &mut fields, today());
        assert!(errors.iter().any(|e| e.field == "exit_date"));
    }
}
