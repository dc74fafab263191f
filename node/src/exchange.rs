//! Records in and out of files: the spreadsheets cadres already keep, and columnar
//! files for engines beyond one city.
//!
//! # Layout
//! - [`import`]: CSV and XLSX in, all or nothing, every bad row reported.
//! - [`export`]: CSV (UTF-8 with BOM) and XLSX out, importable back.
//! - [`parquet`]: typed Parquet for Spark, Trino, DuckDB.

pub mod export;
pub mod import;
pub mod parquet;
