//! Record kinds and their fields (DOMAIN.md's ledger): the types, lookups by name, and
//! the table itself in [`table`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::enums::EnumSpec;

/// Every kind of record the ledger keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 户 (户有册).
    Household,
    /// 人 (人有卡): a woman's card; exits (脱贫) live on it.
    Woman,
    /// 结对.
    Pairing,
    /// 施策.
    Measure,
    /// 回访.
    Visit,
    /// 培训.
    Training,
    /// 基地.
    Base,
    /// 小额担保贷款.
    Loan,
    /// 核查, written by the verifying level in its own ledger.
    Verification,
    /// 目标任务.
    Target,
}

/// What a field holds; decides parsing, storage and display.
#[derive(Debug)]
pub enum FieldType {
    /// Free text up to 500 characters.
    Text,
    /// Whole number in `min..=max`.
    Int {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// A calendar year in `min..=max`, never after this year.
    Year {
        /// Earliest allowed year.
        min: i64,
        /// Latest allowed year (further capped at the current year).
        max: i64,
    },
    /// Yuan with up to two decimals, ≥ 0; stored as fen.
    Money,
    /// A date, stored as `YYYY-MM-DD`, never in the future.
    Date,
    /// Yes/no.
    Bool,
    /// One option of an enumeration.
    Enum(&'static EnumSpec),
    /// Several options of an enumeration.
    EnumList(&'static EnumSpec),
    /// The id of a record of the given kind that must exist in this node's ledger.
    Ref(Kind),
    /// Several ids of records of the given kind.
    RefList(Kind),
    /// The id of a record of any kind that must exist in this node's ledger.
    RecordRef,
    /// An org code in this node's subtree.
    Org,
    /// A resident ID number: validated, then stored only as a keyed hash and a mask.
    IdNumber,
}

/// One field of a record kind.
#[derive(Debug)]
pub struct FieldSpec {
    /// snake_case name: stored key, JSON key, CSV header; `--kebab-case` flag.
    pub name: &'static str,
    /// Chinese column header and label.
    pub zh: &'static str,
    /// Other accepted flag / header names (`labor` for `labor_capacity`).
    pub aliases: &'static [&'static str],
    /// What the field holds.
    pub ty: FieldType,
    /// Must be given when a record is added (unless it has a default).
    pub required: bool,
    /// Value used when an add leaves the field out.
    pub default: Option<&'static str>,
    /// One line of help for the CLI and forms.
    pub help: &'static str,
}

/// One record kind: its names and fields.
#[derive(Debug)]
pub struct KindSpec {
    /// The kind.
    pub kind: Kind,
    /// Singular English name (`woman`), used on the CLI and in JSON.
    pub name: &'static str,
    /// Plural English name (`women`), also the key of its map in the document.
    pub plural: &'static str,
    /// Chinese name.
    pub zh: &'static str,
    /// Letter in record ids (`W` for women).
    pub id_letter: char,
    /// Field used as a record's title in lists.
    pub title_field: &'static str,
    /// The fields, in display order.
    pub fields: &'static [FieldSpec],
}

mod table;
use table::*;

impl Kind {
    /// All kinds, in the order screens list them.
    pub const ALL: [Kind; 10] = [
        Kind::Household,
        Kind::Woman,
        Kind::Pairing,
        Kind::Measure,
        Kind::Visit,
        Kind::Training,
        Kind::Base,
        Kind::Loan,
        Kind::Verification,
        Kind::Target,
    ];

    /// This kind's table.
    pub fn spec(self) -> &'static KindSpec {
        match self {
            Kind::Household => &HOUSEHOLD,
            Kind::Woman => &WOMAN,
            Kind::Pairing => &PAIRING,
            Kind::Measure => &MEASURE,
            Kind::Visit => &VISIT,
            Kind::Training => &TRAINING,
            Kind::Base => &BASE,
            Kind::Loan => &LOAN,
            Kind::Verification => &VERIFICATION,
            Kind::Target => &TARGET,
        }
    }

    /// The kind whose ids carry `letter`.
    pub fn from_id_letter(letter: char) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.spec().id_letter == letter)
    }

    /// The kind named `name`: singular, plural or Chinese, any case.
    pub fn from_name(name: &str) -> Option<Kind> {
        let n = name.trim().to_lowercase();
        Kind::ALL.into_iter().find(|k| {
            let s = k.spec();
            s.name == n || s.plural == n || s.zh == name.trim()
        })
    }

    /// An id of this kind, for messages.
    pub fn example_id(self) -> String {
        format!("230129100201-{}-K7M2-17", self.spec().id_letter)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec().name)
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::from_name(s).ok_or_else(|| {
            let names: Vec<_> = Kind::ALL.iter().map(|k| k.spec().name).collect();
            format!(
                "\"{s}\" is not a record kind; use one of: {}",
                names.join(", ")
            )
        })
    }
}

impl KindSpec {
    /// The field whose stored name is exactly `name` (documents and index rows).
    pub fn field_named(&self, name: &str) -> Option<&'static FieldSpec> {
        let fields: &'static [FieldSpec] = self.fields;
        fields.iter().find(|f| f.name == name)
    }

    /// The field called `name` (snake_case, kebab-case, alias or Chinese header).
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        let fields: &'static [FieldSpec] = self.fields;
        if let Some(f) = self.field_named(name) {
            return Some(f);
        }
        let raw = name.trim().trim_start_matches('\u{feff}').trim();
        let n = raw.to_lowercase().replace(['-', ' '], "_");
        fields.iter().find(|f| {
            f.name == n
                || f.zh == raw
                || f.aliases.iter().any(|a| a.to_lowercase() == n || *a == raw)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_resolvable() {
        let mut letters = std::collections::HashSet::new();
        for kind in Kind::ALL {
            let spec = kind.spec();
            assert!(letters.insert(spec.id_letter));
            assert_eq!(Kind::from_name(spec.name), Some(kind));
            assert_eq!(Kind::from_name(spec.plural), Some(kind));
            assert_eq!(Kind::from_name(spec.zh), Some(kind));
            assert!(spec.field(spec.title_field).is_some(), "{kind}");
            let mut names = std::collections::HashSet::new();
            for f in spec.fields {
                assert!(names.insert(f.name), "{kind}.{} twice", f.name);
                assert!(!f.name.starts_with('_'), "reserved prefix");
            }
        }
    }

    #[test]
    fn fields_by_any_name() {
        let w = Kind::Woman.spec();
        assert_eq!(w.field("birth-year").unwrap().name, "birth_year");
        assert_eq!(w.field("出生年份").unwrap().name, "birth_year");
        assert_eq!(w.field("labor").unwrap().name, "labor_capacity");
        assert_eq!(w.field("\u{feff}姓名").unwrap().name, "name");
        assert!(w.field("shoe_size").is_none());
    }
}
