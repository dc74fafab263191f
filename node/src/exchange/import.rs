//! Import: records of one kind from a CSV or XLSX file, all or nothing.
//!
//! Villages already keep their ledgers in Excel; this brings those sheets in without
//! retyping. Headers may be English field names, aliases or the Chinese names (姓名,
//! 出生年份…); cells go through exactly the validation of `halfsky add`. Every row is
//! checked before anything is written, and every problem is reported with its row and
//! column, so a cadre fixes the sheet once. Files written by [`crate::exchange::export`] import
//! back: their extra columns ([`crate::exchange::export::META_COLUMNS`]) are ignored.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use calamine::{open_workbook, Data, Reader, Xlsx, XlsxError};
use chrono::{Duration, NaiveDate};
use halfsky_shared::schema::{FieldSpec, FieldType};
use halfsky_shared::{Kind, RecordId};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::exchange::export::{restore_cell, Format, META_COLUMNS};
use crate::ledger::{Ledger, LedgerError};

/// A sheet read into text cells, its columns matched to the fields of a kind.
#[derive(Debug, Clone)]
pub struct Table {
    /// The kind whose fields the columns name.
    pub kind: Kind,
    /// The columns, left to right.
    pub columns: Vec<Column>,
    /// The data rows, empty rows left out.
    pub rows: Vec<Row>,
}

/// One column of a [`Table`].
#[derive(Debug, Clone)]
pub struct Column {
    /// The header as the file writes it (BOM and surrounding spaces removed).
    pub header: String,
    /// Spreadsheet column letter: `A`, `B`, … `AA`.
    pub letter: String,
    /// The field the column fills; `None` for columns import ignores: those an export
    /// adds (`id`, `created_at`, …) and blank columns without a header.
    pub field: Option<&'static FieldSpec>,
}

/// One data row of a [`Table`].
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Spreadsheet row number: the header is row 1 (in a sheet whose header is on the
    /// first line), the first data row 2.
    pub number: usize,
    /// One text per column, in column order (empty for a blank cell).
    pub cells: Vec<String>,
    /// Cells that could not be read as text, as `(column index, what is wrong)`: Excel
    /// error values (`#N/A`), ID numbers Excel has turned into numbers.
    pub problems: Vec<(usize, String)>,
}

impl Table {
    /// A row's non-empty cells as `(field name, text)` inputs for [`Ledger::prepare`],
    /// leaving out ignored columns and cells listed in [`Row::problems`].
    pub fn inputs(&self, row: &Row) -> Vec<(String, String)> {
        self.columns
            .iter()
            .zip(&row.cells)
            .enumerate()
            .filter(|(i, (_, cell))| {
                !cell.trim().is_empty() && !row.problems.iter().any(|(p, _)| p == i)
            })
            .filter_map(|(_, (column, cell))| Some((column.field?.name.to_string(), cell.clone())))
            .collect()
    }

    /// Whether a row is marked retired (the `retired` column of an export).
    fn is_retired(&self, row: &Row) -> bool {
        self.columns.iter().zip(&row.cells).any(|(column, cell)| {
            column.field.is_none()
                && meta_column(&column.header) == Some("retired")
                && matches!(
                    cell.trim().to_lowercase().as_str(),
                    "true" | "yes" | "1" | "是"
                )
        })
    }

    /// The header the file uses for `field` (its Chinese or English name if the file
    /// has no such column, following the language of the file's headers).
    fn header_of(&self, field: &str) -> String {
        if let Some(column) = self
            .columns
            .iter()
            .find(|c| c.field.is_some_and(|f| f.name == field))
        {
            return column.header.clone();
        }
        let chinese = self.columns.iter().any(|c| !c.header.is_ascii());
        match self.kind.spec().field(field) {
            Some(spec) if chinese => spec.zh.to_string(),
            Some(spec) => spec.name.to_string(),
            None => field.to_string(),
        }
    }
}

/// A row that was not imported: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// What an import wrote and what it left out.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// Records written.
    pub written: usize,
    /// Their ids, in the order of the rows.
    pub ids: Vec<RecordId>,
    /// Problems of the rows skipped (with `skip_bad`), one entry per bad cell.
    pub bad: Vec<BadRow>,
    /// Rows marked retired in the file (an export's `retired` column): not imported,
    /// so a retired record does not come back to life.
    pub retired_skipped: usize,
    /// ID numbers left out because the file holds them masked (`230129********123X`, as
    /// exports write them): a masked number cannot be checked. Add them with `update`.
    pub masked_ids_dropped: usize,
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

/// Reads the rows of a `.csv` (UTF-8, with or without BOM) or `.xlsx` (first sheet)
/// file and matches its header row to the fields of `kind`.
///
/// The header is the first non-empty row. Unknown headers are refused (all of them,
/// with their column letters), except the columns an export adds. Empty rows are
/// skipped. XLSX cells become the text a cadre would type: whole numbers without
/// `.0`, dates as `YYYY-MM-DD`, booleans as `true`/`false`.
pub fn read_rows(path: &Path, kind: Kind) -> Result<Table, ImportError> {
    let grid = match Format::from_path(path) {
        Some(Format::Csv) => read_csv(path)?,
        Some(Format::Xlsx) => read_xlsx(path)?,
        Some(Format::Parquet) | None => {
            return Err(ImportError::Unsupported {
                path: path.to_path_buf(),
            })
        }
    };
    let mut lines = grid
        .into_iter()
        .filter(|(_, cells)| !cells.iter().all(Cell::is_blank));
    let Some((_, header)) = lines.next() else {
        return Err(ImportError::Empty {
            path: path.to_path_buf(),
        });
    };
    let raw: Vec<(usize, Vec<Cell>)> = lines.collect();
    let width = raw
        .iter()
        .map(|(_, cells)| cells.len())
        .chain([header.len()])
        .max()
        .unwrap_or(0);
    let headers: Vec<String> = (0..width)
        .map(|i| header.get(i).map(Cell::header).unwrap_or_default())
        .collect();
    let columns = resolve_columns(path, kind, &headers)?;
    let mut rows = Vec::with_capacity(raw.len());
    for (number, cells) in raw {
        let mut row = Row {
            number,
            cells: Vec::with_capacity(width),
            problems: Vec::new(),
        };
        for (i, column) in columns.iter().enumerate() {
            let cell = cells.get(i).cloned().unwrap_or(Cell::Empty);
            if column.header.is_empty() && !cell.is_blank() {
                return Err(ImportError::UnnamedColumn {
                    path: path.to_path_buf(),
                    column: column.letter.clone(),
                });
            }
            match cell.text(column.field) {
                Ok(text) => row.cells.push(text),
                Err(problem) => {
                    row.cells.push(String::new());
                    // An ignored column's unreadable cell is no problem.
                    if column.field.is_some() {
                        row.problems.push((i, problem));
                    }
                }
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(ImportError::NoRows {
            path: path.to_path_buf(),
        });
    }
    Ok(Table {
        kind,
        columns,
        rows,
    })
}

/// Imports the records of `kind` in the file at `path` into `ledger`.
///
/// Every row is validated first (an ID number twice in the file counts as a problem).
/// If any row is bad and `skip_bad` is false, nothing is written and the error lists
/// every problem; otherwise the good rows are written as one durable chunk and the
/// report lists the bad ones. `progress` shows a progress bar on stderr when stderr is
/// a terminal.
pub fn import(
    ledger: &mut Ledger,
    path: &Path,
    kind: Kind,
    skip_bad: bool,
    progress: bool,
) -> Result<ImportReport, ImportError> {
    let table = read_rows(path, kind)?;
    let ledger_err = |source| ImportError::Ledger {
        path: path.to_path_buf(),
        source: Box::new(source),
    };
    let bar = progress_bar(progress, table.rows.len(), "checking");
    let mut pending_hashes = HashSet::new();
    let mut prepared = Vec::new();
    let mut bad = Vec::new();
    let (mut total, mut retired_skipped, mut masked_ids_dropped) = (0, 0, 0);
    for row in &table.rows {
        bar.inc(1);
        if table.is_retired(row) {
            retired_skipped += 1;
            continue;
        }
        total += 1;
        let mut inputs = table.inputs(row);
        let masked = |(name, text): &(String, String)| name == "id_number" && text.contains('*');
        if inputs.iter().any(masked) {
            masked_ids_dropped += 1;
            inputs.retain(|pair| !masked(pair));
        }
        let mut problems: Vec<BadRow> = row
            .problems
            .iter()
            .map(|(i, reason)| BadRow {
                row: row.number,
                column: table.columns[*i].header.clone(),
                reason: reason.clone(),
            })
            .collect();
        match ledger.prepare(kind, &inputs, &mut pending_hashes) {
            Ok(p) if problems.is_empty() => prepared.push(p),
            Ok(_) => {}
            Err(LedgerError::Invalid { errors, .. }) => {
                // An unreadable cell is reported once, not again as "is required".
                let unreadable: HashSet<String> =
                    problems.iter().map(|p| p.column.clone()).collect();
                problems.extend(
                    errors
                        .into_iter()
                        .map(|e| BadRow {
                            row: row.number,
                            column: table.header_of(&e.field),
                            reason: e.reason,
                        })
                        .filter(|b| !unreadable.contains(&b.column)),
                );
            }
            Err(e) => return Err(ledger_err(e)),
        }
        bad.extend(problems);
    }
    if !bad.is_empty() && !skip_bad {
        bar.finish_and_clear();
        return Err(ImportError::BadRows {
            path: path.to_path_buf(),
            total,
            rows: bad,
        });
    }
    let ids = if prepared.is_empty() {
        Vec::new()
    } else {
        bar.set_message("writing");
        bar.set_length(prepared.len() as u64);
        bar.set_position(0);
        ledger
            .add_prepared(prepared, |n| bar.set_position(n as u64))
            .map_err(ledger_err)?
    };
    bar.finish_and_clear();
    Ok(ImportReport {
        written: ids.len(),
        ids,
        bad,
        retired_skipped,
        masked_ids_dropped,
    })
}

fn progress_bar(enabled: bool, len: usize, message: &'static str) -> ProgressBar {
    let target = if enabled {
        // Hidden by indicatif itself when stderr is not a terminal.
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len as u64), target);
    bar.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} rows")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

/// One cell as a reader found it.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Empty,
    /// CSV cells and XLSX text.
    Text(String),
    /// Any other XLSX cell, converted once its column's field is known.
    Xlsx(Data),
}

impl Cell {
    fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            Cell::Xlsx(d) => matches!(d, Data::Empty),
        }
    }

    fn header(&self) -> String {
        let text = match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Xlsx(d) => d.to_string(),
        };
        text.trim()
            .trim_start_matches('\u{feff}')
            .trim()
            .to_string()
    }

    /// The text a cadre would have typed for this cell of a column filling `field`.
    fn text(self, field: Option<&FieldSpec>) -> Result<String, String> {
        let data = match self {
            Cell::Empty => return Ok(String::new()),
            Cell::Text(s) => return Ok(restore_cell(s)),
            Cell::Xlsx(data) => data,
        };
        let ty = field.map(|f| &f.ty);
        match data {
            Data::Empty => Ok(String::new()),
            Data::String(s) => Ok(restore_cell(s)),
            Data::DurationIso(s) => Ok(s),
            Data::Float(_) | Data::Int(_) if matches!(ty, Some(FieldType::IdNumber)) => {
                Err("the ID number is stored as a number, so Excel has changed its last digits; format the column as text (文本) and type the number again".into())
            }
            Data::Int(i) => Ok(i.to_string()),
            Data::Bool(b) => Ok(b.to_string()),
            Data::Float(f) => Ok(float_text(f, ty)),
            Data::DateTime(dt) if dt.is_duration() => Ok(dt.as_f64().to_string()),
            Data::DateTime(dt) => {
                let (y, m, d, ..) = dt.to_ymd_hms_milli();
                NaiveDate::from_ymd_opt(y.into(), m.into(), d.into())
                    .map(|date| date.format("%Y-%m-%d").to_string())
                    .ok_or_else(|| format!("{y}-{m}-{d} is not a real date"))
            }
            Data::DateTimeIso(s) => Ok(match s.get(..10) {
                Some(day) if NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok() => day.to_string(),
                _ => s,
            }),
            Data::Error(e) => Err(format!("the cell holds the Excel error {e}; correct the formula or type the value")),
        }
    }
}

/// A number as text: whole numbers without `.0` (1975), money with two decimals, and a
/// date column's bare Excel serial number (a date that lost its format) as a date.
fn float_text(f: f64, ty: Option<&FieldType>) -> String {
    let whole = f.fract() == 0.0 && f.abs() < 1e15;
    // 32874 is 1990-01-01 and 73415 is 2100-12-31 in Excel's calendar; 20240305-style
    // numbers are far above.
    if whole && matches!(ty, Some(FieldType::Date)) && (32874.0..=73415.0).contains(&f) {
        let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid date");
        return (epoch + Duration::days(f as i64))
            .format("%Y-%m-%d")
            .to_string();
    }
    if whole {
        return format!("{}", f as i64);
    }
    let fen = f * 100.0;
    if matches!(ty, Some(FieldType::Money)) && (fen - fen.round()).abs() < 1e-6 {
        return format!("{f:.2}");
    }
    f.to_string()
}

/// `(row number, cells)` of every row, blank ones included.
type Grid = Vec<(usize, Vec<Cell>)>;

fn read_csv(path: &Path) -> Result<Grid, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let not_utf8 = |line| ImportError::NotUtf8 {
        path: path.to_path_buf(),
        line,
    };
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        // UTF-16: Excel's "Unicode text".
        return Err(not_utf8(1));
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(&bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        not_utf8(
            1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
        )
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut grid = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|source| ImportError::Csv {
            path: path.to_path_buf(),
            source,
        })?;
        // The line where the record starts: the row Excel shows, unless a cell above
        // spans several lines.
        let line = record
            .position()
            .map_or(grid.len() + 1, |p| p.line() as usize);
        grid.push((
            line,
            record.iter().map(|s| Cell::Text(s.to_string())).collect(),
        ));
    }
    Ok(grid)
}

fn read_xlsx(path: &Path) -> Result<Grid, ImportError> {
    let xlsx_err = |source| ImportError::Xlsx {
        path: path.to_path_buf(),
        source,
    };
    let mut book: Xlsx<_> = open_workbook(path).map_err(xlsx_err)?;
    let Some(range) = book.worksheet_range_at(0) else {
        return Err(ImportError::Empty {
            path: path.to_path_buf(),
        });
    };
    let range = range.map_err(xlsx_err)?;
    let Some((top, left)) = range.start() else {
        return Ok(Vec::new());
    };
    let offset = vec![Cell::Empty; left as usize];
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, cells)| {
            let mut row = offset.clone();
            row.extend(cells.iter().map(|d| match d {
                Data::Empty => Cell::Empty,
                Data::String(s) => Cell::Text(s.clone()),
                other => Cell::Xlsx(other.clone()),
            }));
            (top as usize + i + 1, row)
        })
        .collect())
}

/// The export-only column a header names, by its English name.
fn meta_column(header: &str) -> Option<&'static str> {
    let normalized = header.trim().to_lowercase().replace(['-', ' '], "_");
    META_COLUMNS
        .iter()
        .find(|(en, zh)| *en == normalized || *zh == header.trim())
        .map(|(en, _)| *en)
}

/// Matches headers to fields; refuses unknown headers (all at once) and two columns for
/// one single-valued field.
fn resolve_columns(
    path: &Path,
    kind: Kind,
    headers: &[String],
) -> Result<Vec<Column>, ImportError> {
    let spec = kind.spec();
    let mut columns = Vec::with_capacity(headers.len());
    let mut unknown = Vec::new();
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    for (i, header) in headers.iter().enumerate() {
        let letter = column_letter(i);
        let field = spec.field(header);
        match field {
            Some(f) => {
                let here = format!("{letter} \"{header}\"");
                let is_list = matches!(f.ty, FieldType::EnumList(_) | FieldType::RefList(_));
                if let Some(first) = seen.get(f.name).filter(|_| !is_list) {
                    return Err(ImportError::DuplicateColumn {
                        path: path.to_path_buf(),
                        field: format!("{} ({})", f.name, f.zh),
                        first: first.clone(),
                        second: here,
                    });
                }
                seen.insert(f.name, here);
            }
            None if header.is_empty() || meta_column(header).is_some() => {}
            None => unknown.push((letter.clone(), header.clone())),
        }
        columns.push(Column {
            header: header.clone(),
            letter,
            field,
        });
    }
    if !unknown.is_empty() {
        let known = spec
            .fields
            .iter()
            .map(|f| format!("{} ({})", f.name, f.zh))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ImportError::UnknownColumns {
            path: path.to_path_buf(),
            kind,
            columns: unknown,
            known,
        });
    }
    Ok(columns)
}

/// Spreadsheet column letter of a 0-based index: 0 → `A`, 25 → `Z`, 26 → `AA`.
fn column_letter(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

#[cfg(test)]
mod tests {
    use halfsky_shared::idcard::with_check_digit;
    use halfsky_shared::{OrgCode, Value};
    use rust_xlsxwriter::{ExcelDateTime, Workbook};

    use super::*;
    use crate::config::NodeHome;

    fn ledger(dir: &Path) -> Ledger {
        let home = NodeHome::new(dir.join("v"));
        home.init(
            OrgCode::parse("230129100201").expect("valid code"),
            "红星村",
            "test",
            None,
        )
        .expect("init");
        let mut ledger = Ledger::open(&home).expect("open");
        ledger.set_today(NaiveDate::from_ymd_opt(2026, 6, 30).expect("valid date"));
        ledger
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    fn women(ledger: &Ledger) -> Vec<halfsky_shared::Record> {
        ledger
            .list(Kind::Woman, "", true)
            .expect("list")
            .into_iter()
            .map(|r| r.record)
            .collect()
    }

    #[test]
    fn csv_with_chinese_headers_and_bom() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ledger = ledger(dir.path());
        let csv = "\u{feff}姓名,出生年份,劳动能力,致贫原因,状态,就业愿望\n\
                   王秀英,1975,有劳动能力,因病、缺技术,贫困,是\n\
                   ,,,,,\n\
                   \"李,桂兰\",1980,无,,脱贫,否\n";
        let path = write(dir.path(), "women.csv", csv.as_bytes());
        let table = read_rows(&path, Kind::Woman).expect("read");
        let numbers: Vec<_> = table.rows.iter().map(|r| r.number).collect();
        assert_eq!(numbers, [2, 4], "the empty row 3 is skipped");
        assert_eq!(table.columns[0].header, "姓名");
        let report = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
        assert_eq!(report.written, 2);
        assert!(report.bad.is_empty());
        let mut women = women(&ledger);
        women.sort_by_key(|w| w.int("birth_year"));
        assert_eq!(women[0].text("name"), Some("王秀英"));
        assert_eq!(women[0].int("birth_year"), Some(1975));
        assert_eq!(
            women[0].list("poverty_causes"),
            ["illness", "lack_of_skills"]
        );
        assert!(women[0].flag("wants_work"));
        assert_eq!(women[1].text("name"), Some("李,桂兰"));
        assert_eq!(women[1].text("labor_capacity"), Some("none"));
        assert_eq!(women[1].text("status"), Some("exited"));
        assert_eq!(women[1].text("exit_date"), Some("2026-06-30"));
    }

    #[test]
    fn xlsx_numbers_and_dates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ledger = ledger(dir.path());
        let path = dir.path().join("women.xlsx");
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        let date = rust_xlsxwriter::Format::new().set_num_format("yyyy/m/d");
        for (col, h) in [
            "name",
            "birth-year",
            "labor",
            "status",
            "exit_date",
            "wants_work",
        ]
        .iter()
        .enumerate()
        {
            sheet.write_string(0, col as u16, *h).expect("write");
        }
        sheet.write_string(1, 0, "张凤英").expect("write");
        sheet.write_number(1, 1, 1975).expect("write");
        sheet.write_string(1, 2, "full").expect("write");
        sheet.write_string(1, 3, "exited").expect("write");
        let exit = ExcelDateTime::from_ymd(2024, 3, 5).expect("date");
        sheet
            .write_datetime_with_format(1, 4, &exit, &date)
            .expect("write");
        sheet.write_boolean(1, 5, true).expect("write");
        book.save(&path).expect("save");

        let table = read_rows(&path, Kind::Woman).expect("read");
        assert_eq!(table.rows.len(), 1);
        assert_eq!(table.rows[0].number, 2);
        assert_eq!(
            table.rows[0].cells,
            ["张凤英", "1975", "full", "exited", "2024-03-05", "true"]
        );
        let report = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
        assert_eq!(report.written, 1);
        let woman = &women(&ledger)[0];
        assert_eq!(woman.int("birth_year"), Some(1975));
        assert_eq!(woman.text("exit_date"), Some("2024-03-05"));
        assert!(woman.flag("wants_work"));
    }

    #[test]
    fn xlsx_money_and_offset_sheet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ledger = ledger(dir.path());
        let path = dir.path().join("households.xlsx");
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        // Header in row 3, column B: row numbers follow the sheet.
        for (col, h) in ["户主姓名", "家庭人口", "人均纯收入"].iter().enumerate() {
            sheet.write_string(2, col as u16 + 1, *h).expect("write");
        }
        sheet.write_string(3, 1, "刘建华").expect("write");
        sheet.write_number(3, 2, 4).expect("write");
        sheet.write_number(3, 3, 1500.5).expect("write");
        sheet.write_string(4, 1, "陈金凤").expect("write");
        sheet.write_number(4, 2, 0).expect("write");
        book.save(&path).expect("save");

        let err = import(&mut ledger, &path, Kind::Household, false, false).unwrap_err();
        let ImportError::BadRows { rows, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(rows.len(), 1, "{err}");
        assert_eq!((rows[0].row, rows[0].column.as_str()), (5, "家庭人口"));
        let report = import(&mut ledger, &path, Kind::Household, true, false).expect("import");
        assert_eq!(report.written, 1);
        let rows = ledger.list(Kind::Household, "", false).expect("list");
        assert_eq!(
            rows[0].record.fields["income_per_capita"],
            Value::Int(150050)
        );
        assert_eq!(rows[0].record.int("members"), Some(4));
    }

    /// Rows 3, 5 and 6 are bad: a birth year too early, an unknown labour capacity and
    /// a household that does not exist.
    fn file_with_bad_rows(dir: &Path) -> PathBuf {
        let csv = "姓名,出生年份,劳动能力,户编号\n\
                   王秀英,1975,有劳动能力,\n\
                   李桂兰,1850,有劳动能力,\n\
                   张玉兰,1980,部分劳动能力,\n\
                   刘淑珍,1968,strong,\n\
                   陈凤英,1972,无,230129100201-H-ZZZZ-99\n";
        write(dir, "bad.csv", csv.as_bytes())
    }

    #[test]
    fn every_bad_row_is_listed_and_nothing_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ledger = ledger(dir.path());
        let path = file_with_bad_rows(dir.path());
        let err = import(&mut ledger, &path, Kind::Woman, false, false).unwrap_err();
        let ImportError::BadRows { rows, total, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(*total, 5);
        let places: Vec<_> = rows.iter().map(|r| (r.row, r.column.as_str())).collect();
        assert_eq!(places, [(3, "出生年份"), (5, "劳动能力"), (6, "户编号")]);
        let message = err.to_string();
        assert!(
            message.contains("row 3, column 出生年份: 1850 is outside"),
            "{message}"
        );
        assert!(
            message.contains("row 5, column 劳动能力: \"strong\""),
            "{message}"
        );
        assert!(
            message.contains("row 6, column 户编号: 230129100201-H-ZZZZ-99 does not exist"),
            "{message}"
        );
        assert!(
            message.contains("3 of 5 rows") && message.contains("--skip-bad"),
            "{message}"
        );
        assert_eq!(
            message.lines().filter(|l| l.starts_with("  row ")).count(),
            3
        );
        assert!(women(&ledger).is_empty());
    }

    #[test]
    fn skip_bad_writes_the_good_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ledger = ledger(dir.path());
        let path = file_with_bad_rows(dir.path());
        // With progress asked for: the bar hides itself when stderr is not a terminal.
        let report = import(&mut ledger, &path, Kind::Woman, true, true).expect("import");
        assert_eq!(report.written, 2);
        assert_eq!(report.ids.len(), 2);
        let bad_rows: Vec<_> = report.bad.iter().map(|b| b.row).collect();
        assert_eq!(bad_rows, [3, 5, 6]);
        let mut names: Vec<_> = women(&ledger)
            .iter()
            .filter_map(|w| w.text("name").map(str::to_string))
            .collect();
        names.sort();
        assert_eq!(names, ["张玉兰", "王秀英"]);
    }

    #[test]
    fn missing_required_column_and_duplicate_id_numbers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ledger = ledger(dir.path());
        let number = with_check_digit("23012919750304123");
        let csv = format!(
            "name,birth_year,labor_capacity,id_number\n\
             A,1975,full,{number}\n\
             B,1976,full,{number}\n\
             C,1977,full,230129********1234\n"
        );
        let path = write(dir.path(), "dup.csv", csv.as_bytes());
        let err = import(&mut ledger, &path, Kind::Woman, false, false).unwrap_err();
        let ImportError::BadRows { rows, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(rows.len(), 1, "{err}");
        assert_eq!((rows[0].row, rows[0].column.as_str()), (3, "id_number"));
        assert!(rows[0].reason.contains("twice"), "{err}");

        let path = write(
            dir.path(),
            "missing.csv",
            "姓名,出生年份\n王秀英,1975\n".as_bytes(),
        );
        let err = import(&mut ledger, &path, Kind::Woman, false, false).unwrap_err();
        assert!(
            err.to_string()
                .contains("row 2, column 劳动能力: is required"),
            "{err}"
        );
    }

    #[test]
    fn unknown_columns_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            "w.csv",
            "姓名,鞋码,出生年份,hat\n王秀英,38,1975,x\n".as_bytes(),
        );
        let err = read_rows(&path, Kind::Woman).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, ImportError::UnknownColumns { .. }),
            "{message}"
        );
        assert!(message.contains("column B: \"鞋码\""), "{message}");
        assert!(message.contains("column D: \"hat\""), "{message}");
        assert!(message.contains("birth_year (出生年份)"), "{message}");
    }

    #[test]
    fn export_columns_are_ignored_but_unnamed_values_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ledger = ledger(dir.path());
        let csv = "编号,姓名,出生年份,劳动能力,创建时间,已停用\n\
                   230129100201-W-AB12-1,王秀英,1975,有,2026-01-01T00:00:00Z,false\n\
                   230129100201-W-AB12-2,李桂兰,1976,有,2026-01-01T00:00:00Z,true\n";
        let path = write(dir.path(), "w.csv", csv.as_bytes());
        let report = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
        assert_eq!((report.written, report.retired_skipped), (1, 1));

        let path = write(
            dir.path(),
            "u.csv",
            "姓名,,出生年份\n王秀英,x,1975\n".as_bytes(),
        );
        let err = read_rows(&path, Kind::Woman).unwrap_err();
        assert!(
            err.to_string()
                .contains("column B has values but no header"),
            "{err}"
        );
        let path = write(dir.path(), "d.csv", "姓名,name\nA,B\n".as_bytes());
        let err = read_rows(&path, Kind::Woman).unwrap_err();
        assert!(matches!(err, ImportError::DuplicateColumn { .. }), "{err}");
    }

    #[test]
    fn empty_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ledger = ledger(dir.path());
        for (name, text) in [("a.csv", ""), ("b.csv", "\u{feff}\n\n,,\n")] {
            let path = write(dir.path(), name, text.as_bytes());
            let err = import(&mut ledger, &path, Kind::Woman, false, false).unwrap_err();
            assert!(matches!(err, ImportError::Empty { .. }), "{err}");
        }
        let path = write(dir.path(), "c.csv", "\u{feff}姓名,出生年份\n,\n".as_bytes());
        let err = import(&mut ledger, &path, Kind::Woman, true, false).unwrap_err();
        assert!(matches!(err, ImportError::NoRows { .. }), "{err}");
        let path = dir.path().join("empty.xlsx");
        Workbook::new().save(&path).expect("save");
        let err = import(&mut ledger, &path, Kind::Woman, false, false).unwrap_err();
        assert!(matches!(err, ImportError::Empty { .. }), "{err}");
        assert!(women(&ledger).is_empty());
    }

    #[test]
    fn unsupported_and_unreadable_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "w.txt", "姓名\n王秀英\n".as_bytes());
        let err = read_rows(&path, Kind::Woman).unwrap_err();
        assert!(matches!(err, ImportError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("CSV UTF-8"), "{err}");
        // 姓名 in GBK, as older Excel saves "CSV".
        let path = write(dir.path(), "gbk.csv", b"name\n\xd0\xd5\xc3\xfb\n");
        let err = read_rows(&path, Kind::Woman).unwrap_err();
        assert!(matches!(err, ImportError::NotUtf8 { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("CSV UTF-8"), "{err}");
        let path = write(dir.path(), "fake.xlsx", b"not a zip");
        let err = read_rows(&path, Kind::Woman).unwrap_err();
        assert!(matches!(err, ImportError::Xlsx { .. }), "{err}");
        let err = read_rows(&dir.path().join("none.csv"), Kind::Woman).unwrap_err();
        assert!(matches!(err, ImportError::Io { .. }), "{err}");
    }

    #[test]
    fn cells_as_typed() {
        let money = FieldType::Money;
        let date = FieldType::Date;
        assert_eq!(float_text(1975.0, None), "1975");
        assert_eq!(float_text(1500.5, Some(&money)), "1500.50");
        assert_eq!(float_text(0.1 + 0.2, Some(&money)), "0.30");
        assert_eq!(float_text(45356.0, Some(&date)), "2024-03-05");
        assert_eq!(float_text(20240305.0, Some(&date)), "20240305");
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27 * 26), "AAA");
    }

    #[test]
    fn export_columns_never_shadow_fields() {
        for kind in Kind::ALL {
            for (en, zh) in META_COLUMNS {
                assert!(kind.spec().field(en).is_none(), "{kind}.{en}");
                assert!(kind.spec().field(zh).is_none(), "{kind}.{zh}");
            }
        }
    }
}
