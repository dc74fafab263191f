//! The ledger's record kinds and their fields, declared once as tables.
//!
//! Everything that handles records is driven by these tables: validation, the
//! Automerge mapping, CLI flags, spreadsheet headers (Chinese or English), export
//! columns and dashboard forms. Adding a field is one line in [`kinds`].

pub mod enums;
pub mod kinds;
pub mod value;

pub use enums::EnumSpec;
pub use kinds::{FieldSpec, FieldType, Kind, KindSpec};
pub use value::{parse_date, FieldError, StoredValueError, Value};
