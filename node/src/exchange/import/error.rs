//! Why an import failed, and which rows and columns were bad: messages a cadre can
//! act on (row number as the spreadsheet shows it, column, what would be accepted).

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

use calamine::XlsxError;
use halfsky_shared::Kind;

use crate::ledger::LedgerError;

/// A row that was not imported: where and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BadRow {
    /// Spreadsheet row number (header = 1).
    pub row: usize,
    /// The column's header as the file writes it.
    pub column: String,
    /// What is wrong and what would be accepted.
    pub reason: String,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "row {}, column {}: {}",
            self.row, self.column, self.reason
        )
    }
}

/// Why an import failed. Nothing is written when it does.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The extension is neither `.csv` nor `.xlsx`.
    #[error("{path} is not a .csv or .xlsx file; in Excel use 文件 → 另存为 and choose \"CSV UTF-8\" or \"Excel 工作簿 (.xlsx)\"")]
    Unsupported {
        /// The file.
        path: PathBuf,
    },
    /// A CSV file that is not UTF-8 (usually GBK, as older Excel saves "CSV").
    #[error("{path} is not UTF-8 text (problem on line {line}); open it in Excel and save it as \"CSV UTF-8 (逗号分隔)\", or as .xlsx")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// First line with a byte that is not UTF-8.
        line: usize,
    },
    /// The CSV is malformed.
    #[error("{path} is not a readable CSV file: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The parser's error, with its position.
        source: csv::Error,
    },
    /// The workbook cannot be opened.
    #[error("{path} is not a readable Excel workbook: {source}; open it in Excel and save it again as .xlsx")]
    Xlsx {
        /// The file.
        path: PathBuf,
        /// The reader's error.
        source: XlsxError,
    },
    /// No header row: the file or its first sheet is empty.
    #[error("{path} is empty: put the column headers (e.g. 姓名, 出生年份) in row 1 and one record per row below")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A header row but no data rows.
    #[error("{path} has column headers but no records below them; nothing to import")]
    NoRows {
        /// The file.
        path: PathBuf,
    },
    /// Headers that are not fields of the kind.
    #[error("{path}: {} not {} field{}:\n{}\nknown columns: {known}\nrename or delete {}, then import again", if .columns.len() == 1 { "this column is" } else { "these columns are" }, kind_article(*.kind), if .columns.len() == 1 { "" } else { "s" }, list_columns(.columns), if .columns.len() == 1 { "it" } else { "them" })]
    UnknownColumns {
        /// The file.
        path: PathBuf,
        /// The kind being imported.
        kind: Kind,
        /// `(column letter, header)` of each unknown column.
        columns: Vec<(String, String)>,
        /// The kind's fields, `name (中文)`.
        known: String,
    },
    /// Two columns fill the same single-valued field.
    #[error("{path}: columns {first} and {second} both give {field}; keep one of them")]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The field's name.
        field: String,
        /// First column (`C "出生年份"`).
        first: String,
        /// Second column.
        second: String,
    },
    /// A column with values but no header.
    #[error("{path}: column {column} has values but no header; give it a header (a field name such as 姓名) or delete it")]
    UnnamedColumn {
        /// The file.
        path: PathBuf,
        /// The column letter.
        column: String,
    },
    /// Some rows are bad; every problem is listed and nothing was written.
    #[error("{path}: {} of {total} rows have problems, so nothing was imported:\n{}\nfix these rows and import again, or use --skip-bad to import the {} good rows and leave these out", count_rows(.rows), list_rows(.rows), .total - count_rows(.rows))]
    BadRows {
        /// The file.
        path: PathBuf,
        /// Data rows in the file (retired ones not counted).
        total: usize,
        /// One entry per bad cell.
        rows: Vec<BadRow>,
    },
    /// Checking references or writing the records failed.
    #[error("importing {path} failed: {source}")]
    Ledger {
        /// The file.
        path: PathBuf,
        /// The ledger's error.
        source: Box<LedgerError>,
    },
}

fn kind_article(kind: Kind) -> String {
    format!("a {} ({})", kind.spec().name, kind.spec().zh)
}

fn list_columns(columns: &[(String, String)]) -> String {
    columns
        .iter()
        .map(|(letter, header)| format!("  column {letter}: \"{header}\""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn count_rows(rows: &[BadRow]) -> usize {
    rows.iter().map(|r| r.row).collect::<HashSet<_>>().len()
}

fn list_rows(rows: &[BadRow]) -> String {
    rows.iter()
        .map(|r| format!("  {r}"))
        .collect::<Vec<_>>()
        .join("\n")
}
