//! Import: records of one kind from a CSV or XLSX file, all or nothing.
//!
//! Villages already keep their ledgers in Excel; this brings those sheets in without
//! retyping. Headers may be English field names, aliases or the Chinese names (姓名,
//! 出生年份…); cells go through exactly the validation of `halfsky add`. Every row is
//! checked before anything is written, and every problem is reported with its row and
//! column, so a cadre fixes the sheet once. Files written by [`crate::exchange::export`] import
//! back: a row's `id` column names the record it updates, the other extra columns
//! ([`crate::exchange::export::META_COLUMNS`]) are ignored, and importing an export
//! again changes nothing.
//!
//! # Layout
//! - [`sheet`]: a CSV or XLSX file read into a [`Table`] of text cells, its columns
//!   matched to the fields of a kind.
//! - `plan`: what each row would do (add, change, nothing, refused) and the rules that
//!   make importing the same file twice change nothing.
//! - [`error`]: what is wrong and where ([`ImportError`], [`BadRow`]).

pub mod error;
mod plan;
pub mod sheet;

use std::path::Path;

use halfsky_shared::{Kind, RecordId};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ledger::Ledger;

pub use error::{BadRow, ImportError};
pub use sheet::{read_rows, Column, Row, Table};

/// How an import runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportOptions {
    /// Write the good rows and report the bad ones (otherwise any bad row stops it).
    pub skip_bad: bool,
    /// Only say what would be added, changed and refused; write nothing.
    pub dry_run: bool,
    /// Draw a progress bar on stderr (hidden when stderr is not a terminal).
    pub progress: bool,
}

/// A row that changes a record already in the ledger.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RowChange {
    /// Spreadsheet row number.
    pub row: usize,
    /// The record it changes.
    pub id: RecordId,
    /// The fields whose values change.
    pub fields: Vec<String>,
}

/// What an import wrote (or, on a dry run, would write) and what it left out.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportReport {
    /// Nothing was written: the report says what the import would do.
    #[serde(default)]
    pub dry_run: bool,
    /// New records written (0 on a dry run).
    pub written: usize,
    /// Their ids, in the order of the rows.
    pub ids: Vec<RecordId>,
    /// Rows that add (or on a dry run would add) a record.
    #[serde(default)]
    pub added_rows: Vec<usize>,
    /// Rows that change (or would change) a record already here.
    #[serde(default)]
    pub changed: Vec<RowChange>,
    /// Rows that say what a record here already says: nothing to do.
    #[serde(default)]
    pub unchanged: usize,
    /// Problems of the rows refused (with `skip_bad` or on a dry run), one entry per
    /// bad cell.
    pub bad: Vec<BadRow>,
    /// Rows marked retired in the file (an export's `retired` column): not imported,
    /// so a retired record does not come back to life.
    pub retired_skipped: usize,
    /// ID numbers left out of new records because the file holds them masked
    /// (`**************123X`, as exports write them): a masked number cannot be
    /// checked. Add them with `update`.
    pub masked_ids_dropped: usize,
}

/// Imports the records of `kind` in the file at `path` into `ledger`, all or nothing
/// (see [`import_with`]).
pub fn import(
    ledger: &mut Ledger,
    path: &Path,
    kind: Kind,
    skip_bad: bool,
    progress: bool,
) -> Result<ImportReport, ImportError> {
    let options = ImportOptions {
        skip_bad,
        dry_run: false,
        progress,
    };
    import_with(ledger, path, kind, options)
}

/// Imports the records of `kind` in the file at `path` into `ledger`.
///
/// Every row is first matched to what it is about ([`plan`]: a record by its id, a
/// woman by her ID number, or a new record) and validated as `add` and `update` would.
/// If any row is bad and neither `skip_bad` nor `dry_run` is set, nothing is written
/// and the error lists every problem; otherwise the new records and the changes are
/// written as one durable chunk (nothing on a dry run) and the report lists the rest.
pub fn import_with(
    ledger: &mut Ledger,
    path: &Path,
    kind: Kind,
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    let mut prepared = prepare(ledger, path, kind, options)?;
    prepared.write_chunk(ledger, usize::MAX)?;
    Ok(prepared.finish())
}

/// Records written per chunk when a running node imports ([`PreparedImport::write_chunk`]
/// between which the node answers its links and pages).
pub const IMPORT_CHUNK: usize = 500;

/// An import checked and planned, its writes not yet (all) made: a running node
/// writes it chunk by chunk, so a long import never holds up sync and pages.
pub struct PreparedImport {
    path: std::path::PathBuf,
    adds: std::vec::IntoIter<crate::ledger::Prepared>,
    updates: std::vec::IntoIter<crate::ledger::PreparedUpdate>,
    bar: ProgressBar,
    done: usize,
    report: ImportReport,
}

impl std::fmt::Debug for PreparedImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedImport")
            .field("path", &self.path)
            .field("written", &self.report.ids.len())
            .finish_non_exhaustive()
    }
}

/// Reads and plans the import of `path` (see [`import_with`]); writes nothing.
pub fn prepare(
    ledger: &mut Ledger,
    path: &Path,
    kind: Kind,
    options: ImportOptions,
) -> Result<PreparedImport, ImportError> {
    let table = read_rows(path, kind)?;
    let bar = progress_bar(options.progress, table.rows.len(), "checking");
    let plan = plan::plan(ledger, &table, || bar.inc(1)).map_err(|source| ImportError::Ledger {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    if !plan.bad.is_empty() && !options.skip_bad && !options.dry_run {
        bar.finish_and_clear();
        return Err(ImportError::BadRows {
            path: path.to_path_buf(),
            total: plan.total,
            rows: plan.bad,
        });
    }
    let added_rows: Vec<usize> = plan.adds.iter().map(|(row, _)| *row).collect();
    let changed: Vec<RowChange> = plan
        .updates
        .iter()
        .map(|(row, u)| RowChange {
            row: *row,
            id: u.id().clone(),
            fields: u.changes().to_vec(),
        })
        .collect();
    let (adds, updates) = if options.dry_run {
        (Vec::new(), Vec::new())
    } else {
        (
            plan.adds.into_iter().map(|(_, p)| p).collect(),
            plan.updates.into_iter().map(|(_, u)| u).collect(),
        )
    };
    let writes = adds.len() + updates.len();
    if writes > 0 {
        bar.set_message("writing");
        bar.set_length(writes as u64);
        bar.set_position(0);
    }
    Ok(PreparedImport {
        path: path.to_path_buf(),
        adds: adds.into_iter(),
        updates: updates.into_iter(),
        bar,
        done: 0,
        report: ImportReport {
            dry_run: options.dry_run,
            written: 0,
            ids: Vec::new(),
            added_rows,
            changed,
            unchanged: plan.unchanged,
            bad: plan.bad,
            retired_skipped: plan.retired_skipped,
            masked_ids_dropped: plan.masked_ids_dropped,
        },
    })
}

impl PreparedImport {
    /// Writes up to `most` of the remaining records (new ones first, then changes) as
    /// one durable chunk; returns whether anything is left.
    pub fn write_chunk(&mut self, ledger: &mut Ledger, most: usize) -> Result<bool, ImportError> {
        let adds: Vec<_> = self.adds.by_ref().take(most).collect();
        let room = most - adds.len();
        let updates: Vec<_> = self.updates.by_ref().take(room).collect();
        let count = adds.len() + updates.len();
        if count > 0 {
            let (bar, done) = (&self.bar, self.done);
            let ids = ledger
                .write_prepared(adds, updates, |n| bar.set_position((done + n) as u64))
                .map_err(|source| ImportError::Ledger {
                    path: self.path.clone(),
                    source: Box::new(source),
                })?;
            self.done += count;
            self.report.ids.extend(ids);
        }
        Ok(self.adds.len() + self.updates.len() > 0)
    }

    /// The report of what was written, changed, left unchanged and refused.
    pub fn finish(mut self) -> ImportReport {
        self.bar.finish_and_clear();
        self.report.written = self.report.ids.len();
        self.report
    }
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

#[cfg(test)]
mod tests;
