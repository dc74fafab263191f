//! `halfsky bundle export | import | ack` as requests: sneakernet. The same code runs
//! when the node is stopped (the command line opens the store) and when `halfsky run`
//! holds it (the request comes over the local API), and the demo carries its
//! bundle-only village's files through it too.

use std::path::{Path, PathBuf};

use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use crate::ledger::Ledger;
use crate::sync::bundle::{self, BundleError, Keys, Received};
use crate::sync::freshness::ArrivalPath;

/// A bundle request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BundleRequest {
    /// Seal the changes `to` lacks (as far as this node knows) into `out`.
    Export {
        /// The recipient unit (normally the parent).
        to: OrgCode,
        /// The bundle file to write.
        out: PathBuf,
        /// The recipient's certificate, if this node never connected to it.
        to_cert: Option<PathBuf>,
        /// Days until the bundle expires and is refused (at least 1).
        expires_days: u32,
    },
    /// Apply a bundle from a unit below; write the acknowledgement to `ack_out`.
    Import {
        /// The bundle file.
        file: PathBuf,
        /// Where to write the signed acknowledgement for the sender.
        ack_out: Option<PathBuf>,
    },
    /// Apply an acknowledgement from the parent.
    Ack {
        /// The acknowledgement file.
        file: PathBuf,
    },
}

/// What a bundle request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BundleReport {
    /// A bundle file was written.
    Exported {
        /// The file.
        out: PathBuf,
        /// Its recipient.
        to: OrgCode,
        /// Changes sealed into it.
        changes: usize,
        /// Documents they belong to.
        documents: usize,
        /// Size of the file.
        bytes: usize,
        /// Days until it expires.
        expires_days: u32,
    },
    /// A bundle of changes from below was applied.
    Imported {
        /// The file read.
        file: PathBuf,
        /// Who sealed it (`org/device`).
        sender: String,
        /// The sender's unit.
        sender_org: OrgCode,
        /// Changes in the bundle.
        changes: usize,
        /// Documents in the bundle.
        documents: usize,
        /// Documents that changed here (0: it had been applied before).
        changed: usize,
        /// Where the acknowledgement was written, if asked for.
        ack_written: Option<PathBuf>,
    },
    /// An acknowledgement from above was applied.
    Acknowledged {
        /// The file read.
        file: PathBuf,
        /// Who sealed it (`org/device`).
        sender: String,
        /// Documents acknowledged.
        documents: usize,
        /// Changes of the ancestors' documents it carried down.
        received: usize,
        /// Refusals of this node's changes it named (recorded; `halfsky status`).
        refused_by_peer: usize,
    },
}

/// Executes one bundle request on an open ledger.
pub fn execute(ledger: &mut Ledger, request: BundleRequest) -> Result<BundleReport, BundleError> {
    let home = ledger.home().dir().to_path_buf();
    let keys = Keys::load(&home)?;
    match request {
        BundleRequest::Export {
            to,
            out,
            to_cert,
            expires_days,
        } => {
            let cert_file = match to_cert {
                Some(file) => file,
                None => {
                    let file = bundle::peer_cert_path(&home, &to);
                    if !file.exists() {
                        return Err(BundleError::NoRecipientCert {
                            org: to,
                            path: file,
                        });
                    }
                    file
                }
            };
            let cert = bundle::read_cert_file(&cert_file)?;
            let expires_days = expires_days.max(1);
            let ttl = i64::from(expires_days) * 24 * 60 * 60;
            let sealed = bundle::seal_changes(ledger, &keys, to, &cert, ttl)?
                .ok_or(BundleError::NothingToSend(to))?;
            bundle::write_atomic(&out, &sealed.bytes).map_err(|source| BundleError::Io {
                op: "write",
                path: out.clone(),
                source,
            })?;
            if ledger.config().org.parent() == Some(to) {
                bundle::mark_sent(ledger, &sealed.heads, false)?;
            }
            Ok(BundleReport::Exported {
                out,
                to,
                changes: sealed.changes,
                documents: sealed.documents,
                bytes: sealed.bytes.len(),
                expires_days,
            })
        }
        BundleRequest::Import { file, ack_out } => receive_file(ledger, &keys, file, None, ack_out),
        BundleRequest::Ack { file } => {
            receive_file(ledger, &keys, file, Some("acknowledgement"), None)
        }
    }
}

/// Applies the bundle or acknowledgement in `file` (of the `expect`ed kind, if given)
/// and, for a bundle of changes, writes its acknowledgement to `ack_out`.
fn receive_file(
    ledger: &mut Ledger,
    keys: &Keys,
    file: PathBuf,
    expect: Option<&'static str>,
    ack_out: Option<PathBuf>,
) -> Result<BundleReport, BundleError> {
    let bytes = read(&file)?;
    let label = file.display().to_string();
    match bundle::receive(ledger, keys, &bytes, expect, &label, ArrivalPath::Bundle)? {
        Received::Changes {
            sender,
            documents,
            changes,
            changed,
            ack,
            refused,
        } => {
            if let Some(path) = &ack_out {
                bundle::write_atomic(path, &ack).map_err(|source| BundleError::Io {
                    op: "write",
                    path: path.clone(),
                    source,
                })?;
            }
            if !refused.is_empty() {
                return Err(BundleError::PartlyRefused(refused));
            }
            Ok(BundleReport::Imported {
                file,
                sender: sender.to_string(),
                sender_org: sender.org,
                changes,
                documents,
                changed,
                ack_written: ack_out,
            })
        }
        Received::Ack { refused, .. } if !refused.is_empty() => {
            Err(BundleError::PartlyRefused(refused))
        }
        Received::Ack {
            sender,
            documents,
            received,
            refused_by_peer,
            ..
        } => Ok(BundleReport::Acknowledged {
            file,
            sender: sender.to_string(),
            documents,
            received,
            refused_by_peer,
        }),
    }
}

/// Reads a bundle file, refusing one larger than any bundle can be before reading it.
fn read(path: &Path) -> Result<Vec<u8>, BundleError> {
    let meta = std::fs::metadata(path).map_err(|source| BundleError::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() > halfsky_shared::bundle::MAX_BUNDLE as u64 {
        return Err(halfsky_shared::bundle::BundleError::TooLarge(meta.len() as usize).into());
    }
    std::fs::read(path).map_err(|source| BundleError::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    })
}
