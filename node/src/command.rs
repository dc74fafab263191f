//! Commands as data: what a person can ask of a node's ledger, as one typed
//! [`Request`], executed by one function ([`execute`]) that returns a typed
//! [`Response`].
//!
//! Two ways in build the same requests: the command line ([`crate::cli`]) builds one
//! from argv and either executes it on a ledger it opens itself or, while `halfsky run`
//! holds the store, sends it as JSON over the local API ([`crate::local_api`]), whose
//! server executes it on the running node's ledger. Rendering a response as text or
//! JSON belongs to the command line; nothing here prints, so the runtime never
//! depends on the command-line layer.
//!
//! # Layout
//! - [`bundle`]: the `halfsky bundle export | import | ack` requests (sneakernet).
//! - [`revocations`]: the `halfsky pki revoke | revoked` requests.

pub mod bundle;
pub mod id_keys;
pub mod revocations;

use std::path::PathBuf;

use halfsky_shared::lang::Lang;
use halfsky_shared::ledger_doc::HistoryEntry;
use halfsky_shared::rollup::StatsReport;
use halfsky_shared::{Kind, OrgCode, RecordId};
use serde::{Deserialize, Serialize};

use crate::exchange::export::{ExportError, Format};
use crate::exchange::import::{ImportError, ImportReport};
use crate::ledger::admit::Decision;
use crate::ledger::trust::QuarantineRecord;
use crate::ledger::{Ledger, LedgerError, RecordView};
use crate::store::index::IndexedRecord;
use crate::sync::status::NodeStatus;

pub use bundle::{BundleReport, BundleRequest};
pub use id_keys::{IdKeyReport, IdKeyRequest, Secrets};
pub use revocations::{RevocationReport, RevocationRequest};

/// One thing asked of a node's ledger. Paths are absolute: the node that executes a
/// request may run in another working directory than the person who typed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Add a record from `(field, text)` pairs, validated by the schema.
    Add {
        /// Kind of record.
        kind: Kind,
        /// Field values as typed.
        fields: Vec<(String, String)>,
    },
    /// Change fields of a record; an empty text clears a field.
    Update {
        /// Kind the record must be.
        kind: Kind,
        /// The record.
        id: RecordId,
        /// Field values as typed.
        fields: Vec<(String, String)>,
    },
    /// Retire a record: it leaves the statistics, its history stays.
    Retire {
        /// Kind the record must be.
        kind: Kind,
        /// The record.
        id: RecordId,
        /// Why.
        reason: String,
    },
    /// Records of a kind in a subtree.
    List {
        /// Kind of record.
        kind: Kind,
        /// Org code prefix ("" for everything this node holds).
        org_prefix: String,
        /// Include retired records.
        include_retired: bool,
    },
    /// One record with its conflicting values.
    Show {
        /// The record.
        id: RecordId,
    },
    /// Who changed a record, what and when.
    History {
        /// The record.
        id: RecordId,
    },
    /// Statistics of a unit's subtree (this node's unit if `None`).
    Stats {
        /// The unit.
        org: Option<OrgCode>,
    },
    /// Links to parent and children, and what is not yet acknowledged.
    Status,
    /// Records a level still has to check.
    VerifyQueue(crate::ledger::verification::QueueFilter),
    /// This level's check of records.
    VerifyMark {
        /// The records.
        ids: Vec<RecordId>,
        /// The result.
        outcome: crate::ledger::verification::Outcome,
        /// The note.
        note: String,
        /// Who checked (`None`: this device).
        verifier: Option<String>,
    },
    /// Verification progress per level of a subtree (this node's if `None`).
    VerifyProgress {
        /// The unit.
        org: Option<OrgCode>,
    },
    /// When every unit of a subtree (this node's if `None`) was last heard from.
    Freshness {
        /// The unit.
        org: Option<OrgCode>,
    },
    /// The monthly report of a unit (this node's if `None`) written to `out`.
    Report {
        /// The unit.
        org: Option<OrgCode>,
        /// The month (`YYYY-MM`; this month if `None`).
        month: Option<String>,
        /// The HTML file to write.
        out: PathBuf,
        /// The page's language.
        lang: Lang,
    },
    /// The pairing rhythm of a subtree (this node's if `None`).
    Rhythm {
        /// The unit.
        org: Option<OrgCode>,
    },
    /// Women registered twice in a subtree (this node's if `None`).
    Duplicates {
        /// The unit.
        org: Option<OrgCode>,
    },
    /// Records from a CSV or XLSX file, all or nothing unless `skip_bad`.
    Import {
        /// The file.
        file: PathBuf,
        /// Kind of the records in it.
        kind: Kind,
        /// Write the good rows, report the bad ones.
        skip_bad: bool,
        /// Say what would be added, changed and refused; write nothing.
        #[serde(default)]
        dry_run: bool,
    },
    /// Records of a kind to a file.
    Export {
        /// Kind of record.
        kind: Kind,
        /// File format.
        format: Format,
        /// The file to write.
        out: PathBuf,
        /// Org code prefix ("" for everything this node holds).
        org_prefix: String,
        /// The language of the headers and value names.
        lang: Lang,
    },
    /// Rebuild the index from the documents.
    Reindex,
    /// Replace this office's ID hash key and rebuild the index with it.
    RotateIdKey,
    /// Add or publish the private halves of a replaced ID key pair, or show the keys.
    IdKeys(IdKeyRequest),
    /// A sealed bundle file: export, import or acknowledge.
    Bundle(BundleRequest),
    /// A backup of the whole node home, taken where the ledger lives.
    Backup {
        /// The file to write.
        out: PathBuf,
    },
    /// Record or list certificate revocations.
    Revocations(RevocationRequest),
    /// Quarantined documents: list them, or decide for one.
    Quarantine(QuarantineRequest),
}

/// `halfsky quarantine list | release ORG | drop ORG` (what each does:
/// [`crate::ledger::admit`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QuarantineRequest {
    /// Every quarantined document, why and how many changes it holds.
    List,
    /// Apply a document's held changes as they are, and lift its quarantine.
    Release(OrgCode),
    /// Forget a document's held changes, and lift its quarantine.
    Drop(OrgCode),
}

/// What a [`Request`] produced; one variant per request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    /// The new record's id.
    Added(RecordId),
    /// Whether anything changed (false: the values were already recorded).
    Updated {
        /// The record.
        id: RecordId,
        /// False if every value given was already recorded.
        changed: bool,
    },
    /// The record retired.
    Retired(RecordId),
    /// Records of one kind.
    Records {
        /// Their kind.
        kind: Kind,
        /// The records, in id order.
        records: Vec<IndexedRecord>,
    },
    /// One record.
    Record(Box<RecordView>),
    /// A record's history, oldest first.
    History {
        /// The record's kind (its fields' labels and value names).
        kind: Kind,
        /// Oldest first.
        entries: Vec<HistoryEntry>,
    },
    /// A subtree's statistics.
    Stats(Box<StatsReport>),
    /// The node's links.
    Status(Box<NodeStatus>),
    /// Records waiting for this level's check.
    Queue(Vec<crate::ledger::verification::QueueRow>),
    /// Verification records written.
    Marked(Vec<RecordId>),
    /// Progress per verifying level.
    Progress(std::collections::BTreeMap<String, halfsky_shared::rollup::LevelProgress>),
    /// When the units of a subtree were last heard from.
    Freshness(Box<crate::sync::freshness::FreshnessReport>),
    /// A monthly report written.
    ReportWritten {
        /// The file.
        out: PathBuf,
        /// The unit.
        org: OrgCode,
        /// The month's first day.
        month: chrono::NaiveDate,
    },
    /// Pairings overdue for a contact or a visit.
    Rhythm(Box<crate::ledger::rhythm::RhythmReport>),
    /// Women registered twice, one group per ID number.
    Duplicates(Vec<crate::ledger::duplicates::Duplicate>),
    /// What an import wrote and refused.
    Imported {
        /// Kind of the records.
        kind: Kind,
        /// The file read.
        file: PathBuf,
        /// The import's report.
        report: ImportReport,
    },
    /// Records written to a file.
    Exported {
        /// Kind of the records.
        kind: Kind,
        /// The file written.
        out: PathBuf,
        /// How many records.
        count: usize,
    },
    /// Records indexed by a rebuild.
    Reindexed(crate::ledger::ReindexReport),
    /// The ID hash key was replaced and every number hashed anew.
    IdKeyRotated(crate::ledger::ReindexReport),
    /// What an ID key request did, and the keys in use.
    IdKeys(IdKeyReport),
    /// What a bundle command did.
    Bundle(BundleReport),
    /// A backup written.
    BackedUp(crate::backup::BackupReport),
    /// What a revocation request did.
    Revocations(RevocationReport),
    /// Quarantined documents.
    Quarantined(Vec<QuarantineRecord>),
    /// A quarantine decided.
    QuarantineLifted {
        /// The document.
        org: OrgCode,
        /// Released (applied) rather than dropped.
        released: bool,
        /// Held changes applied or forgotten.
        changes: usize,
    },
}

/// Why a request failed; each variant says what, where and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The ledger refused or failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// An import failed (nothing was written).
    #[error(transparent)]
    Import(#[from] ImportError),
    /// An export failed (no file was left half-written).
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A bundle command failed.
    #[error(transparent)]
    Bundle(#[from] crate::sync::bundle::BundleError),
    /// A revocation could not be recorded or read.
    #[error(transparent)]
    Revocation(#[from] crate::pki::revocation::RevokeError),
    /// An ID key could not be added or its notice recorded.
    #[error(transparent)]
    IdKeyPair(#[from] crate::pki::id_key_pair::IdKeyPairError),
    /// `update` without any field.
    #[error(
        "nothing to change: give at least one field flag (see `halfsky update {0} ID --help`)"
    )]
    NothingToUpdate(Kind),
    /// Statistics of a unit this node has never heard from: zeros would look like a
    /// unit with nothing to report.
    #[error("no data yet for {0}: this node has not received anything from that unit (check the code, or its link with `halfsky status`)")]
    NoDataYet(OrgCode),
    /// The link status could not be read.
    #[error(transparent)]
    Status(#[from] crate::sync::status::StatusError),
    /// A backup could not be written.
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    /// Checks could not be recorded.
    #[error(transparent)]
    Verify(#[from] crate::ledger::verification::MarkError),
    /// A month not written YYYY-MM.
    #[error(transparent)]
    Month(#[from] crate::dashboard::report::BadMonth),
    /// The report file could not be written.
    #[error("cannot write the report to {}: {source}; check that the folder exists and is writable", path.display())]
    WriteReport {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A unit outside this node's subtree: it keeps no contact records of it.
    #[error("{org} is not below this node's unit {me}; give a unit of this node's subtree (or run the command on that unit's node)")]
    NotBelow {
        /// The unit asked about.
        org: OrgCode,
        /// This node's unit.
        me: OrgCode,
    },
}

/// How a request is executed beyond its data: whether a long import may draw a
/// progress bar (only when the person who asked is at this terminal).
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Draw a progress bar on stderr for long imports.
    pub progress: bool,
}

/// Executes one request on an open ledger. [`Request::Status`] here reports what the
/// store remembers of the links (the node is not running); a running node answers it
/// from its live links instead (see [`crate::local_api`]).
pub fn execute(
    ledger: &mut Ledger,
    request: Request,
    options: Options,
) -> Result<Response, CommandError> {
    Ok(match request {
        Request::Add { kind, fields } => Response::Added(ledger.add(kind, &fields)?),
        Request::Update { kind, id, fields } => {
            if fields.is_empty() {
                return Err(CommandError::NothingToUpdate(kind));
            }
            let changed = ledger.update(&id, Some(kind), &fields)?;
            Response::Updated { id, changed }
        }
        Request::Retire { kind, id, reason } => {
            ledger.retire(&id, Some(kind), &reason)?;
            Response::Retired(id)
        }
        Request::List {
            kind,
            org_prefix,
            include_retired,
        } => Response::Records {
            kind,
            records: ledger.list(kind, &org_prefix, include_retired)?,
        },
        Request::Show { id } => Response::Record(Box::new(ledger.show(&id)?)),
        Request::History { id } => Response::History {
            kind: id.kind(),
            entries: ledger.history(&id)?,
        },
        Request::Stats { org } => {
            if let Some(org) = org {
                let index = ledger.index();
                let known = index.name(&org).map_err(LedgerError::from)?.is_some()
                    || !index
                        .rollups(org.subtree_prefix())
                        .map_err(LedgerError::from)?
                        .is_empty();
                if !known {
                    return Err(CommandError::NoDataYet(org));
                }
            }
            Response::Stats(Box::new(ledger.stats(org)?))
        }
        Request::Status => {
            Response::Status(Box::new(crate::ledger::actor::offline_status(ledger)?))
        }
        Request::VerifyQueue(filter) => {
            let me = ledger.config().org;
            Response::Queue(crate::ledger::verification::queue(
                &ledger.reader(),
                me,
                &filter,
            )?)
        }
        Request::VerifyMark {
            ids,
            outcome,
            note,
            verifier,
        } => {
            let verifier = verifier.unwrap_or_else(|| ledger.config().device.clone());
            Response::Marked(crate::ledger::verification::mark(
                ledger, &ids, outcome, &note, &verifier,
            )?)
        }
        Request::VerifyProgress { org } => {
            let org = org.unwrap_or(ledger.config().org);
            Response::Progress(ledger.stats(Some(org))?.verification.by_level)
        }
        Request::Freshness { org } => {
            let me = ledger.config().org;
            let root = org.unwrap_or(me);
            if !root.is_in_subtree_of(&me) {
                return Err(CommandError::NotBelow { org: root, me });
            }
            let now = chrono::Utc::now().timestamp();
            let stale = ledger.config().dashboard.stale_after.as_secs() as i64;
            let units = ledger
                .freshness()
                .units(me, root, now)
                .map_err(LedgerError::from)?;
            Response::Freshness(Box::new(crate::sync::freshness::report(
                root, units, now, stale,
            )))
        }
        Request::Report {
            org,
            month,
            out,
            lang,
        } => {
            use chrono::Datelike;
            let me = ledger.config().org;
            let root = org.unwrap_or(me);
            if !root.is_in_subtree_of(&me) {
                return Err(CommandError::NotBelow { org: root, me });
            }
            let reader = ledger.reader();
            let month = match month.as_deref() {
                Some(text) => crate::dashboard::report::parse_month(text)?,
                None => {
                    let today = reader.today();
                    today.with_day(1).unwrap_or(today)
                }
            };
            let stale = ledger.config().dashboard.stale_after.as_secs() as i64;
            let now = chrono::Utc::now().timestamp();
            let report =
                crate::dashboard::report::monthly_report(&reader, root, month, now, stale)?;
            let html = crate::dashboard::report::render(&report, lang).into_string();
            // Written beside, then renamed: never a half-written report.
            let partial = out.with_extension("html.partial");
            std::fs::write(&partial, html)
                .and_then(|()| std::fs::rename(&partial, &out))
                .map_err(|source| CommandError::WriteReport {
                    path: out.clone(),
                    source,
                })?;
            Response::ReportWritten {
                out,
                org: root,
                month,
            }
        }
        Request::Rhythm { org } => {
            let me = ledger.config().org;
            let root = org.unwrap_or(me);
            if !root.is_in_subtree_of(&me) {
                return Err(CommandError::NotBelow { org: root, me });
            }
            let rhythm = ledger.config().dashboard.rhythm;
            Response::Rhythm(Box::new(ledger.reader().rhythm(root, rhythm)?))
        }
        Request::Duplicates { org } => {
            let me = ledger.config().org;
            let root = org.unwrap_or(me);
            if !root.is_in_subtree_of(&me) {
                return Err(CommandError::NotBelow { org: root, me });
            }
            Response::Duplicates(ledger.reader().duplicates(root)?)
        }
        Request::Import {
            file,
            kind,
            skip_bad,
            dry_run,
        } => {
            let import_options = crate::exchange::import::ImportOptions {
                skip_bad,
                dry_run,
                progress: options.progress,
            };
            let report = crate::exchange::import::import_with(ledger, &file, kind, import_options)?;
            Response::Imported { kind, file, report }
        }
        Request::Export {
            kind,
            format,
            out,
            org_prefix,
            lang,
        } => {
            let count =
                crate::exchange::export::export(ledger, kind, format, &out, &org_prefix, lang)?;
            Response::Exported { kind, out, count }
        }
        Request::Reindex => Response::Reindexed(ledger.rebuild_index()?),
        Request::RotateIdKey => Response::IdKeyRotated(ledger.rotate_id_hash_key()?),
        Request::IdKeys(request) => Response::IdKeys(id_keys::execute(ledger, request)?),
        Request::Bundle(request) => Response::Bundle(bundle::execute(ledger, request)?),
        Request::Backup { out } => Response::BackedUp(crate::backup::backup(ledger, &out)?),
        Request::Revocations(request) => {
            Response::Revocations(revocations::execute(ledger, request)?)
        }
        Request::Quarantine(QuarantineRequest::List) => {
            Response::Quarantined(ledger.trust().quarantined().map_err(LedgerError::from)?)
        }
        Request::Quarantine(QuarantineRequest::Release(org)) => Response::QuarantineLifted {
            org,
            released: true,
            changes: ledger.decide_quarantine(org, Decision::Release)?,
        },
        Request::Quarantine(QuarantineRequest::Drop(org)) => Response::QuarantineLifted {
            org,
            released: false,
            changes: ledger.decide_quarantine(org, Decision::Drop)?,
        },
    })
}

/// The answer the local API carries back: the response, or the failure's message
/// (typed on each side, text in between).
pub type Reply = Result<Response, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_travel_as_json_unchanged() {
        let requests = [
            Request::Add {
                kind: Kind::Woman,
                fields: vec![("name".into(), "王秀英".into())],
            },
            Request::Export {
                kind: Kind::Visit,
                format: Format::Xlsx,
                out: PathBuf::from("/tmp/v.xlsx"),
                org_prefix: "230129".into(),
                lang: Lang::Zh,
            },
            Request::Bundle(BundleRequest::Ack {
                file: PathBuf::from("/media/usb/hx.ack"),
            }),
            Request::Status,
        ];
        for request in requests {
            let json = serde_json::to_string(&request).unwrap();
            let back: Request = serde_json::from_str(&json).unwrap();
            assert_eq!(back, request);
        }
    }
}
