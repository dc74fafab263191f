//! Export: one record kind to a CSV or XLSX file that opens in Excel and imports back,
//! or to Parquet for a distributed engine ([`parquet`]).
//!
//! Cadres and township staff work in spreadsheets; this is how the ledger reaches them.
//! Columns are `id`, every field of the kind in schema order, then who wrote the record
//! and when ([`META_COLUMNS`]). The file is in one language ([`Lang`]): Chinese headers
//! (姓名, 出生年份…) and value names (贫困, 因病、因残, 是/否), or English field names and
//! value names (`poor`, `illness, disability`, yes/no); numbers, money and dates stay
//! plain so the spreadsheet can compute with them. [`crate::exchange::import`] accepts
//! either language (and the codes), and ignores the [`META_COLUMNS`], so an exported
//! file can be edited and imported back, or into another node.
//! The file is written to a temporary file beside the target and renamed into place, so
//! a failed export never leaves a half-written file.

use std::fmt;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use halfsky_shared::lang::Lang;
use halfsky_shared::schema::{FieldSpec, FieldType};
use halfsky_shared::{Kind, Value};
use rust_xlsxwriter::{ExcelDateTime, Workbook, Worksheet, XlsxError};

use crate::ledger::{Ledger, LedgerError};
use crate::store::index::IndexedRecord;

/// Characters a spreadsheet reads as the start of a formula (`=1+1`, `@SUM(…)`, `+`,
/// `-`). A text cell beginning with one is written with a leading `'`, so text typed
/// into the ledger never runs as a formula in the spreadsheet that opens a download
/// (CSV injection); import takes the `'` off again ([`restore_cell`]).
pub const FORMULA_STARTS: [char; 4] = ['=', '+', '-', '@'];

/// `text` made safe to put in a spreadsheet cell (see [`FORMULA_STARTS`]).
pub fn neutralise_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// The text [`neutralise_cell`] was given: a cell `'=…` read back as `=…`.
pub fn restore_cell(text: String) -> String {
    match text.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest.to_string(),
        _ => text,
    }
}

/// Columns an export writes besides the fields, as `(English header, Chinese header)`:
/// the record id first, then authorship and retirement. Import ignores these columns.
pub const META_COLUMNS: [(&str, &str); 5] = [
    ("id", "编号"),
    ("created_at", "创建时间"),
    ("created_by", "创建人"),
    ("updated_at", "修改时间"),
    ("retired", "已停用"),
];

/// Excel's last row; a sheet cannot hold more records than this minus the header.
const XLSX_MAX_ROWS: usize = 1_048_576;

/// A spreadsheet file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Comma-separated values, UTF-8 with a byte-order mark (so Excel shows Chinese).
    Csv,
    /// An Excel workbook.
    Xlsx,
    /// Apache Parquet, typed and columnar, for Spark, Trino or DuckDB.
    Parquet,
}

/// A format name that is neither `csv` nor `xlsx`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a file format halfsky writes; use csv (opens in Excel and WPS), xlsx (an Excel workbook) or parquet (for Spark, Trino, DuckDB)")]
pub struct FormatError(String);

impl Format {
    /// The format a file name's extension calls for (`.csv`, `.xlsx`, any case).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?;
        ext.parse().ok()
    }

    /// The usual extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Parquet => "parquet",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for Format {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .trim_start_matches('.')
            .to_ascii_lowercase()
            .as_str()
        {
            "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            "parquet" => Ok(Format::Parquet),
            _ => Err(FormatError(s.to_string())),
        }
    }
}

/// Why an export failed. Nothing is left at the output path when it does.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the ledger failed.
    #[error(transparent)]
    Ledger(Box<LedgerError>),
    /// The output name's extension says another format than the one asked for.
    #[error("{path} ends in .{}, but the format is {format}; name the file .{} or use --format {}", path.extension().and_then(|e| e.to_str()).unwrap_or(""), format.extension(), other.extension())]
    ExtensionMismatch {
        /// The output file.
        path: PathBuf,
        /// The format asked for.
        format: Format,
        /// The format the extension names.
        other: Format,
    },
    /// Creating, writing or renaming the file failed.
    #[error("cannot {op} {path}: {source} (check that the folder exists, that you may write in it and that the file is not open in Excel)")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing CSV failed.
    #[error("cannot write CSV to {path}: {source}")]
    Csv {
        /// The output file.
        path: PathBuf,
        /// The CSV writer's error.
        source: csv::Error,
    },
    /// Building the workbook failed.
    #[error("cannot write the workbook {path}: {source}")]
    Xlsx {
        /// The output file.
        path: PathBuf,
        /// The workbook writer's error.
        source: XlsxError,
    },
    /// Writing Parquet failed.
    #[error("cannot write the Parquet file {path}: {source}")]
    Parquet {
        /// The output file.
        path: PathBuf,
        /// The Parquet writer's error.
        source: ::parquet::errors::ParquetError,
    },
    /// More records than an Excel sheet holds.
    #[error("{rows} records do not fit in one Excel sheet (at most {}); export as csv, or narrow the export with --org", XLSX_MAX_ROWS - 1)]
    TooManyRows {
        /// Records to export.
        rows: usize,
    },
}

impl From<LedgerError> for ExportError {
    fn from(e: LedgerError) -> Self {
        ExportError::Ledger(Box::new(e))
    }
}

/// Writes every record of `kind` under `org_prefix` (retired ones included, marked in
/// the `retired` column) to `out` as `format`; returns how many records were written.
/// Headers and value names are in `lang` (Parquet, for programs, keeps names and codes).
pub fn export(
    ledger: &Ledger,
    kind: Kind,
    format: Format,
    out: &Path,
    org_prefix: &str,
    lang: Lang,
) -> Result<usize, ExportError> {
    if let Some(other) = Format::from_path(out).filter(|f| *f != format) {
        return Err(ExportError::ExtensionMismatch {
            path: out.to_path_buf(),
            format,
            other,
        });
    }
    let records = ledger.list(kind, org_prefix, true)?;
    if format == Format::Xlsx && records.len() >= XLSX_MAX_ROWS {
        return Err(ExportError::TooManyRows {
            rows: records.len(),
        });
    }
    let headers = headers(kind, lang);
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { op, path, source }
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".halfsky-export-");
    // Owner-only (0600), as issue 11 asks: an export holds women's names and masked ID
    // numbers; the cadre shares it on purpose (a copy, an e-mail), never by leaving it
    // readable to every account of an office PC.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(io("create a temporary file in", dir))?;
    match format {
        Format::Csv => {
            write_csv(tmp.as_file_mut(), kind, lang, &headers, &records).map_err(|source| {
                ExportError::Csv {
                    path: out.to_path_buf(),
                    source,
                }
            })?
        }
        Format::Xlsx => {
            write_xlsx(tmp.as_file_mut(), kind, lang, &headers, &records).map_err(|source| {
                ExportError::Xlsx {
                    path: out.to_path_buf(),
                    source,
                }
            })?
        }
        Format::Parquet => {
            super::parquet::write(tmp.as_file_mut(), kind, &records).map_err(|source| {
                ExportError::Parquet {
                    path: out.to_path_buf(),
                    source,
                }
            })?
        }
    }
    tmp.as_file().sync_all().map_err(io("write", out))?;
    tmp.persist(out).map_err(|e| io("replace", out)(e.error))?;
    Ok(records.len())
}

/// The header row: `id`, the fields, then the other [`META_COLUMNS`].
fn headers(kind: Kind, lang: Lang) -> Vec<&'static str> {
    let chinese = lang == Lang::Zh;
    let pick = |(en, zh): (&'static str, &'static str)| if chinese { zh } else { en };
    let mut out = vec![pick(META_COLUMNS[0])];
    out.extend(
        kind.spec()
            .fields
            .iter()
            .map(|f| if chinese { f.zh } else { f.name }),
    );
    out.extend(META_COLUMNS[1..].iter().copied().map(pick));
    out
}

/// One record as cell texts in `lang`, in header order.
fn texts(kind: Kind, lang: Lang, row: &IndexedRecord) -> Vec<String> {
    let record = &row.record;
    let mut out = vec![record.id.to_string()];
    out.extend(kind.spec().fields.iter().map(|f| {
        record
            .fields
            .get(f.name)
            .map(|v| neutralise_cell(&lang.cell(v, &f.ty)).into_owned())
            .unwrap_or_default()
    }));
    let meta = &record.meta;
    out.extend([
        meta.created_at.clone(),
        meta.created_by.clone(),
        meta.updated_at.clone(),
        lang.text(&meta.retired.to_string(), &FieldType::Bool),
    ]);
    out
}

fn write_csv(
    file: &mut std::fs::File,
    kind: Kind,
    lang: Lang,
    headers: &[&str],
    records: &[IndexedRecord],
) -> Result<(), csv::Error> {
    let mut buf = BufWriter::new(file);
    // The byte-order mark is what makes Excel read the file as UTF-8 (Chinese intact).
    buf.write_all("\u{feff}".as_bytes())?;
    let mut writer = csv::Writer::from_writer(buf);
    writer.write_record(headers)?;
    for row in records {
        writer.write_record(texts(kind, lang, row))?;
    }
    writer.flush()?;
    Ok(())
}

fn write_xlsx(
    file: &mut std::fs::File,
    kind: Kind,
    lang: Lang,
    headers: &[&str],
    records: &[IndexedRecord],
) -> Result<(), XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let spec = kind.spec();
    sheet.set_name(lang.t(spec.zh, spec.plural))?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let money = rust_xlsxwriter::Format::new().set_num_format("0.00");
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    let mut widths: Vec<usize> = headers.iter().map(|h| display_width(h)).collect();
    for (col, header) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, col_num(col), *header, &bold)?;
    }
    for (n, row) in records.iter().enumerate() {
        let r = u32::try_from(n + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        let texts = texts(kind, lang, row);
        for (col, text) in texts.iter().enumerate() {
            widths[col] = widths[col].max(display_width(text));
        }
        sheet.write_string(r, 0, &texts[0])?;
        for (i, field) in spec.fields.iter().enumerate() {
            let col = col_num(i + 1);
            let Some(value) = row.record.fields.get(field.name) else {
                continue;
            };
            write_value(sheet, r, col, (field, lang), value, &money, &date)?;
        }
        let meta_at = spec.fields.len() + 1;
        for (i, text) in texts[meta_at..texts.len() - 1].iter().enumerate() {
            sheet.write_string(r, col_num(meta_at + i), text)?;
        }
        sheet.write_boolean(r, col_num(texts.len() - 1), row.record.meta.retired)?;
    }
    for (col, width) in widths.into_iter().enumerate() {
        // Room for the widest cell (Chinese characters count double), within reason.
        sheet.set_column_width(col_num(col), (width + 2).clamp(8, 60) as f64)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    workbook.save_to_writer(file)
}

/// Writes one field value typed: numbers as numbers, money as yuan with two decimals,
/// dates as Excel dates, yes/no as booleans, the rest as text in `lang` (option names).
fn write_value(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    (field, lang): (&FieldSpec, Lang),
    value: &Value,
    money: &rust_xlsxwriter::Format,
    date: &rust_xlsxwriter::Format,
) -> Result<(), XlsxError> {
    match (&field.ty, value) {
        (FieldType::Money, Value::Int(fen)) => {
            sheet.write_number_with_format(row, col, *fen as f64 / 100.0, money)?;
        }
        (_, Value::Int(n)) => {
            sheet.write_number(row, col, *n as f64)?;
        }
        (_, Value::Bool(b)) => {
            sheet.write_boolean(row, col, *b)?;
        }
        (FieldType::Date, Value::Text(text)) => {
            match ExcelDateTime::parse_from_str(text) {
                Ok(d) => sheet.write_datetime_with_format(row, col, d, date)?,
                Err(_) => sheet.write_string(row, col, neutralise_cell(text))?,
            };
        }
        _ => {
            sheet.write_string(row, col, neutralise_cell(&lang.cell(value, &field.ty)))?;
        }
    }
    Ok(())
}

/// A column index as the workbook writer takes it. Columns are fields plus a few, far
/// below Excel's 16,384.
fn col_num(col: usize) -> u16 {
    u16::try_from(col).expect("a kind has far fewer than 65,536 columns")
}

/// Width of a text in Excel's character units: wide (CJK) characters count double.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use halfsky_shared::synthetic::Generator;
    use halfsky_shared::OrgCode;

    use super::*;
    use crate::config::NodeHome;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 30).expect("valid date")
    }

    fn ledger(dir: &Path, name: &str) -> Ledger {
        let home = NodeHome::new(dir.join(name));
        home.init(
            OrgCode::parse("230129100201").expect("valid code"),
            "红星村",
            "test",
            None,
        )
        .expect("init");
        let mut ledger = Ledger::open(&home).expect("open");
        ledger.set_today(today());
        ledger
    }

    /// Field values of every record of `kind`, in a stable order, without `skip`.
    fn values(ledger: &Ledger, kind: Kind, skip: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = ledger
            .list(kind, "", true)
            .expect("list")
            .into_iter()
            .map(|row| {
                let mut fields = row.record.fields;
                fields.retain(|k, _| !skip.contains(&k.as_str()));
                serde_json::to_string(&fields).expect("serializable")
            })
            .collect();
        out.sort();
        out
    }

    /// A ledger holding households and women (women without households, so they import
    /// into a ledger that has none).
    fn filled(dir: &Path) -> Ledger {
        let mut ledger = ledger(dir, "source");
        let org = ledger.config().org;
        let mut generator = Generator::new(7, today());
        for _ in 0..25 {
            ledger
                .add(Kind::Household, &generator.household())
                .expect("household");
            ledger
                .add(Kind::Woman, &generator.woman(&org, None))
                .expect("woman");
        }
        ledger
    }

    fn round_trip(format: Format, lang: Lang) {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = filled(dir.path());
        for kind in [Kind::Household, Kind::Woman] {
            let out = dir
                .path()
                .join(format!("{kind}-{lang:?}.{}", format.extension()));
            let n = export(&source, kind, format, &out, "", lang).expect("export");
            assert_eq!(n, 25);
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
                assert_eq!(
                    mode, 0o600,
                    "exports hold names and masked ID numbers: owner only"
                );
            }
            let mut target = ledger(dir.path(), &format!("target-{kind}"));
            let report = crate::exchange::import::import(&mut target, &out, kind, false, false)
                .expect("import");
            assert_eq!(report.written, 25);
            if kind == Kind::Woman {
                assert!(
                    report.masked_ids_dropped > 0,
                    "the generator gives some ID numbers"
                );
            }
            // ID numbers are exported masked and cannot be imported back.
            let skip = ["id_number"];
            assert_eq!(values(&source, kind, &skip), values(&target, kind, &skip));
        }
    }

    /// Parquet is read back with the Arrow reader: every record, typed columns,
    /// values equal to the ledger's (money as exact yuan, dates as dates).
    #[test]
    fn parquet_reads_back_typed_and_complete() {
        use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Date32Type, Decimal128Type, Int64Type};
        use arrow_schema::DataType;

        let dir = tempfile::tempdir().expect("tempdir");
        let mut source = filled(dir.path());
        let women: Vec<_> = source
            .list(Kind::Woman, "", true)
            .expect("list")
            .into_iter()
            .map(|r| r.record.id)
            .collect();
        let mut generator = Generator::new(9, today());
        for w in &women[..5] {
            source.add(Kind::Loan, &generator.loan(w)).expect("loan");
        }
        for (kind, expected) in [(Kind::Woman, 25), (Kind::Loan, 5)] {
            let out = dir.path().join(format!("{kind}.parquet"));
            let n = export(&source, kind, Format::Parquet, &out, "", Lang::En).expect("export");
            assert_eq!(n, expected);
            let file = std::fs::File::open(&out).expect("open");
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .expect("a Parquet file")
                .build()
                .expect("reader");
            let batches: Vec<_> = reader.map(|b| b.expect("batch")).collect();
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            assert_eq!(rows, expected);
            let batch = &batches[0];
            let ids = batch.column_by_name("id").expect("id").as_string::<i32>();
            let orgs = batch.column_by_name("org").expect("org").as_string::<i32>();
            let county = batch
                .column_by_name("county")
                .expect("county")
                .as_string::<i32>();
            assert_eq!(orgs.value(0), "230129100201");
            assert_eq!(county.value(0), "230129000000");
            let records = source.list(kind, "", true).expect("list");
            let by_id = |id: &str| {
                records
                    .iter()
                    .find(|r| r.record.id.to_string() == id)
                    .expect("exported id is in the ledger")
            };
            for field in kind.spec().fields {
                let column = batch
                    .column_by_name(field.name)
                    .expect("a column per field");
                for row in 0..batch.num_rows() {
                    let record = by_id(ids.value(row));
                    let value = record.record.fields.get(field.name);
                    match (column.data_type(), value) {
                        (_, None) => assert!(column.is_null(row), "{} row {row}", field.name),
                        (DataType::Int64, Some(Value::Int(n))) => {
                            assert_eq!(column.as_primitive::<Int64Type>().value(row), *n)
                        }
                        (DataType::Decimal128(18, 2), Some(Value::Int(fen))) => assert_eq!(
                            column.as_primitive::<Decimal128Type>().value(row),
                            i128::from(*fen)
                        ),
                        (DataType::Date32, Some(Value::Text(d))) => {
                            let got = column.as_primitive::<Date32Type>().value_as_date(row);
                            assert_eq!(got.map(|d| d.to_string()).as_deref(), Some(d.as_str()));
                        }
                        (DataType::Boolean, Some(Value::Bool(b))) => {
                            assert_eq!(column.as_boolean().value(row), *b)
                        }
                        (DataType::Utf8, Some(v)) => {
                            assert_eq!(column.as_string::<i32>().value(row), v.display(&field.ty))
                        }
                        (DataType::List(_), Some(_)) => assert!(column.is_valid(row)),
                        (ty, v) => panic!("{}: {ty:?} column for {v:?}", field.name),
                    }
                }
            }
        }
        // Money is exact: a loan amount's column is DECIMAL(18,2).
        let out = dir.path().join("loan.parquet");
        let file = std::fs::File::open(&out).expect("open");
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
        let schema = builder.schema().clone();
        assert!(schema
            .fields()
            .iter()
            .any(|f| f.data_type() == &DataType::Decimal128(18, 2)));
    }

    #[test]
    fn formula_like_text_is_neutralised_and_imports_back_unchanged() {
        assert_eq!(neutralise_cell("=1+1"), "'=1+1");
        assert_eq!(neutralise_cell("王秀英"), "王秀英");
        assert_eq!(restore_cell("'@x".into()), "@x");
        assert_eq!(restore_cell("'plain".into()), "'plain");
        for format in [Format::Csv, Format::Xlsx] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut source = ledger(dir.path(), "source");
            let mut generator = Generator::new(7, today());
            let org = source.config().org;
            for name in ["=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(A1)", "王秀英"] {
                let mut inputs = generator.woman(&org, None);
                inputs.retain(|(k, _)| k != "name");
                inputs.push(("name".into(), name.into()));
                source.add(Kind::Woman, &inputs).expect("woman");
            }
            let out = dir.path().join(format!("w.{}", format.extension()));
            export(&source, Kind::Woman, format, &out, "", Lang::En).expect("export");
            if format == Format::Csv {
                let text = std::fs::read_to_string(&out).expect("read");
                assert!(text.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{text}");
                assert!(text.contains(",'+1,") && text.contains(",'-1,"), "{text}");
                assert!(
                    text.contains(",'@SUM(A1),") && text.contains(",王秀英,"),
                    "{text}"
                );
            }
            let mut target = ledger(dir.path(), "target");
            crate::exchange::import::import(&mut target, &out, Kind::Woman, false, false)
                .expect("import");
            let skip = ["id_number"];
            assert_eq!(
                values(&source, Kind::Woman, &skip),
                values(&target, Kind::Woman, &skip)
            );
        }
    }

    #[test]
    fn csv_starts_with_bom_and_round_trips() {
        round_trip(Format::Csv, Lang::En);
        round_trip(Format::Csv, Lang::Zh);
        let dir = tempfile::tempdir().expect("tempdir");
        let source = filled(dir.path());
        let out = dir.path().join("women.csv");
        export(&source, Kind::Woman, Format::Csv, &out, "", Lang::Zh).expect("export");
        let bytes = std::fs::read(&out).expect("read");
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        let text = String::from_utf8(bytes).expect("utf-8");
        let header = text.lines().next().expect("header");
        assert!(header.starts_with("\u{feff}编号,姓名,户编号,身份证号,出生年份"));
        assert!(header.ends_with("创建时间,创建人,修改时间,已停用"));
        assert_eq!(text.lines().count(), 26);
        // Values by their Chinese names, never codes, in a Chinese file.
        let first = text.lines().nth(1).expect("a row");
        assert!(first.contains("劳动能力"), "{first}");
        assert!(
            !text.contains(",full,") && !text.contains(",poor,"),
            "{text}"
        );
        assert!(first.ends_with(",否"), "{first}");
    }

    #[test]
    fn xlsx_round_trips_with_typed_cells() {
        round_trip(Format::Xlsx, Lang::En);
        round_trip(Format::Xlsx, Lang::Zh);
        use calamine::{open_workbook, Data, Reader, Xlsx};
        let dir = tempfile::tempdir().expect("tempdir");
        let source = filled(dir.path());
        let out = dir.path().join("households.xlsx");
        export(&source, Kind::Household, Format::Xlsx, &out, "", Lang::En).expect("export");
        let mut book: Xlsx<_> = open_workbook(&out).expect("a workbook");
        let range = book
            .worksheet_range_at(0)
            .expect("one sheet")
            .expect("readable");
        assert_eq!(range.get((0, 2)), Some(&Data::String("members".into())));
        assert!(matches!(range.get((1, 2)), Some(Data::Float(_))));
        assert!(matches!(range.get((1, 3)), Some(Data::Bool(_))));
    }

    #[test]
    fn org_filter_and_empty_export() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = filled(dir.path());
        let out = dir.path().join("other.csv");
        let n =
            export(&source, Kind::Woman, Format::Csv, &out, "2302291", Lang::En).expect("export");
        assert_eq!(n, 0);
        let text = std::fs::read_to_string(&out).expect("read");
        assert_eq!(text.lines().count(), 1, "header only");
    }

    #[test]
    fn refusals_leave_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = filled(dir.path());
        let out = dir.path().join("women.csv");
        let err = export(&source, Kind::Woman, Format::Xlsx, &out, "", Lang::En).unwrap_err();
        assert!(err.to_string().contains("--format csv"), "{err}");
        assert!(!out.exists());
        let missing = dir.path().join("no-such-folder").join("women.csv");
        let err = export(&source, Kind::Woman, Format::Csv, &missing, "", Lang::En).unwrap_err();
        assert!(matches!(err, ExportError::Io { .. }), "{err}");
        assert!(!missing.exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn formats_by_name() {
        assert_eq!("CSV".parse::<Format>(), Ok(Format::Csv));
        assert_eq!(" .xlsx".parse::<Format>(), Ok(Format::Xlsx));
        let err = "xls".parse::<Format>().unwrap_err().to_string();
        assert!(err.contains("csv") && err.contains("xlsx"), "{err}");
        assert_eq!(Format::from_path(Path::new("a/b.XLSX")), Some(Format::Xlsx));
        assert_eq!(Format::from_path(Path::new("a/b.txt")), None);
    }
}
