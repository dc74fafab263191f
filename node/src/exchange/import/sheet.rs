//! A spreadsheet read into text cells: CSV (UTF-8, with or without BOM) or XLSX (first
//! sheet), its header row matched to the fields of a kind, every cell turned into the
//! text a cadre would type.

use std::collections::BTreeMap;
use std::path::Path;

use calamine::{open_workbook, Data, Reader, Xlsx};
use chrono::{Duration, NaiveDate};
use halfsky_shared::schema::{FieldSpec, FieldType};
use halfsky_shared::Kind;

use crate::exchange::export::{restore_cell, Format, META_COLUMNS};

use super::ImportError;

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

    /// A row's cells of every field column, blank ones included (an update clears
    /// what the sheet leaves blank), as `(field name, text)`; cells listed in
    /// [`Row::problems`] left out.
    pub fn inputs_with_blanks(&self, row: &Row) -> Vec<(String, String)> {
        self.columns
            .iter()
            .zip(&row.cells)
            .enumerate()
            .filter(|(i, _)| !row.problems.iter().any(|(p, _)| p == i))
            .filter_map(|(_, (column, cell))| Some((column.field?.name.to_string(), cell.clone())))
            .collect()
    }

    /// The record id a row carries (the `id` / `编号` column of an export), as
    /// `(column header, text)`; `None` when the file has no such column or the cell
    /// is blank.
    pub fn record_id<'a>(&'a self, row: &'a Row) -> Option<(&'a str, &'a str)> {
        self.columns
            .iter()
            .zip(&row.cells)
            .find(|(column, cell)| {
                column.field.is_none()
                    && meta_column(&column.header) == Some("id")
                    && !cell.trim().is_empty()
            })
            .map(|(column, cell)| (column.header.as_str(), cell.trim()))
    }

    /// Whether a row is marked retired (the `retired` column of an export).
    pub(crate) fn is_retired(&self, row: &Row) -> bool {
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
    pub(crate) fn header_of(&self, field: &str) -> String {
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
pub(crate) fn float_text(f: f64, ty: Option<&FieldType>) -> String {
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
pub(crate) fn column_letter(mut index: usize) -> String {
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
