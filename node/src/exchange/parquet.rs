//! Parquet export: the merged records of one kind as a typed, columnar file for a
//! distributed engine (Spark, Trino, DuckDB) — how a province or the nation reads
//! the ledgers of many cities at once.
//!
//! Columns: `id`; `org` (the unit that wrote the record) and its `county` and
//! `township` codes, so engines can partition and group without string slicing; every
//! field of the kind, typed (whole numbers and years as INT64, money as
//! DECIMAL(18,2) yuan, dates as DATE, yes/no as BOOLEAN, lists as LIST<STRING>, enum
//! codes and text as STRING); then authorship and `retired`. Written in row groups
//! of [`ROWS_PER_GROUP`], ZSTD-compressed.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;
use halfsky_shared::schema::{FieldSpec, FieldType};
use halfsky_shared::{Kind, Level, Value};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use crate::store::index::IndexedRecord;

/// Records per row group: large enough for good compression, small enough that the
/// writer's memory stays bounded on a city's million records.
pub const ROWS_PER_GROUP: usize = 65_536;

/// Leading columns before the fields.
const LEAD: [&str; 4] = ["id", "org", "county", "township"];
/// Trailing columns after the fields.
const TRAIL: [&str; 5] = [
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "retired",
];

fn arrow_type(ty: &FieldType) -> DataType {
    match ty {
        FieldType::Int { .. } | FieldType::Year { .. } => DataType::Int64,
        FieldType::Money => DataType::Decimal128(18, 2),
        FieldType::Date => DataType::Date32,
        FieldType::Bool => DataType::Boolean,
        FieldType::EnumList(_) | FieldType::RefList(_) => {
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
        }
        _ => DataType::Utf8,
    }
}

/// The file's schema for `kind`.
pub fn schema(kind: Kind) -> Schema {
    let mut fields: Vec<Field> = LEAD
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, *n != "id" && *n != "org"))
        .collect();
    fields.extend(
        kind.spec()
            .fields
            .iter()
            .map(|f| Field::new(f.name, arrow_type(&f.ty), true)),
    );
    fields.extend(TRAIL.iter().map(|n| {
        let ty = if *n == "retired" {
            DataType::Boolean
        } else {
            DataType::Utf8
        };
        Field::new(*n, ty, false)
    }));
    Schema::new(fields)
}

/// Days since 1970-01-01, as Parquet's DATE counts them.
fn days(text: &str) -> Option<i32> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    i32::try_from((date - epoch).num_days()).ok()
}

/// One field's column of a batch.
fn field_column(field: &FieldSpec, rows: &[IndexedRecord]) -> Result<ArrayRef, ParquetError> {
    let values = rows.iter().map(|r| r.record.fields.get(field.name));
    let array: ArrayRef = match arrow_type(&field.ty) {
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(rows.len());
            for v in values {
                b.append_option(match v {
                    Some(Value::Int(n)) => Some(*n),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        DataType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::with_capacity(rows.len());
            for v in values {
                // Money is kept in fen: exactly the unscaled DECIMAL(18,2) value.
                b.append_option(match v {
                    Some(Value::Int(fen)) => Some(i128::from(*fen)),
                    _ => None,
                });
            }
            Arc::new(b.finish().with_precision_and_scale(p, s)?)
        }
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(rows.len());
            for v in values {
                b.append_option(match v {
                    Some(Value::Text(t)) => days(t),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(rows.len());
            for v in values {
                b.append_option(match v {
                    Some(Value::Bool(x)) => Some(*x),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        DataType::List(_) => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for v in values {
                match v {
                    Some(Value::List(items)) => {
                        for item in items {
                            b.values().append_value(item);
                        }
                        b.append(true);
                    }
                    Some(Value::Text(one)) => {
                        b.values().append_value(one);
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        _ => {
            let mut b = StringBuilder::new();
            for v in values {
                b.append_option(v.map(|v| v.display(&field.ty)));
            }
            Arc::new(b.finish())
        }
    };
    Ok(array)
}

fn strings<'a>(
    rows: &'a [IndexedRecord],
    f: impl Fn(&'a IndexedRecord) -> Option<String>,
) -> ArrayRef {
    let mut b = StringBuilder::new();
    for r in rows {
        b.append_option(f(r));
    }
    Arc::new(b.finish())
}

/// One batch of rows as Arrow columns, in [`schema`] order.
fn batch(
    kind: Kind,
    schema: &Arc<Schema>,
    rows: &[IndexedRecord],
) -> Result<RecordBatch, ParquetError> {
    let mut columns = vec![
        strings(rows, |r| Some(r.record.id.to_string())),
        strings(rows, |r| Some(r.record.id.org().to_string())),
        strings(rows, |r| {
            r.record
                .id
                .org()
                .ancestor_at(Level::County)
                .map(|o| o.to_string())
        }),
        strings(rows, |r| {
            r.record
                .id
                .org()
                .ancestor_at(Level::Township)
                .map(|o| o.to_string())
        }),
    ];
    for field in kind.spec().fields {
        columns.push(field_column(field, rows)?);
    }
    columns.push(strings(rows, |r| Some(r.record.meta.created_at.clone())));
    columns.push(strings(rows, |r| Some(r.record.meta.created_by.clone())));
    columns.push(strings(rows, |r| Some(r.record.meta.updated_at.clone())));
    columns.push(strings(rows, |r| Some(r.record.meta.updated_by.clone())));
    let mut retired = BooleanBuilder::with_capacity(rows.len());
    for r in rows {
        retired.append_value(r.record.meta.retired);
    }
    columns.push(Arc::new(retired.finish()));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Writes `records` of `kind` to `file` as Parquet.
pub fn write(
    file: &mut std::fs::File,
    kind: Kind,
    records: &[IndexedRecord],
) -> Result<(), ParquetError> {
    let schema = Arc::new(schema(kind));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
        .set_created_by(format!("halfsky {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    for chunk in records.chunks(ROWS_PER_GROUP) {
        writer.write(&batch(kind, &schema, chunk)?)?;
    }
    writer.close()?;
    Ok(())
}
