//! `halfsky bundle export | import | ack`: sneakernet. The same code runs when the
//! node is stopped (the CLI opens the store) and when `halfsky run` holds it (the
//! command is forwarded over the local API), since both go through [`execute`].

use std::io::Write;

use halfsky_shared::OrgCode;

use crate::cli::BundleCommand;
use crate::ledger::Ledger;
use crate::sync::bundle::{self, BundleError, Keys, Received};

/// Runs one `halfsky bundle` command against an open ledger.
pub fn execute(
    ledger: &mut Ledger,
    cmd: BundleCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let home = ledger.home().dir().to_path_buf();
    let keys = Keys::load(&home)?;
    match cmd {
        BundleCommand::Export {
            to,
            out: path,
            to_cert,
            expires_days,
        } => {
            let recipient = OrgCode::parse(&to).map_err(|e| anyhow::anyhow!("--to {to}: {e}"))?;
            let cert = match to_cert {
                Some(file) => bundle::read_cert_file(&file)?,
                None => {
                    let file = bundle::peer_cert_path(&home, &recipient);
                    if !file.exists() {
                        return Err(BundleError::NoRecipientCert {
                            org: recipient,
                            path: file,
                        }
                        .into());
                    }
                    bundle::read_cert_file(&file)?
                }
            };
            let ttl = i64::from(expires_days.max(1)) * 24 * 60 * 60;
            let sealed = bundle::seal_changes(ledger, &keys, recipient, &cert, ttl)?
                .ok_or(BundleError::NothingToSend(recipient))?;
            bundle::write_atomic(&path, &sealed.bytes).map_err(|source| BundleError::Io {
                op: "write",
                path: path.clone(),
                source,
            })?;
            if ledger.config().org.parent() == Some(recipient) {
                bundle::mark_sent(ledger, &sealed.heads, false)?;
            }
            writeln!(
                err,
                "wrote {}: {} changes of {} documents for {recipient} ({} bytes, expires in {} days); \
                 at {recipient}: `halfsky bundle import {} --ack-out ACKFILE`, then bring ACKFILE back \
                 here for `halfsky bundle ack ACKFILE`",
                path.display(),
                sealed.changes,
                sealed.documents,
                sealed.bytes.len(),
                expires_days.max(1),
                path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            )?;
            writeln!(out, "{}", path.display())?;
        }
        BundleCommand::Import { file, ack_out } => {
            let bytes = read(&file)?;
            let label = file.display().to_string();
            match bundle::receive(
                ledger,
                &keys,
                &bytes,
                None,
                &label,
                crate::sync::freshness::ArrivalPath::Bundle,
            )? {
                Received::Changes {
                    sender,
                    documents,
                    changes,
                    changed,
                    ack,
                } => {
                    writeln!(
                        err,
                        "applied {label} from {sender}: {changes} changes of {documents} documents ({changed} documents changed here{})",
                        if changed == 0 { "; it had been applied before" } else { "" }
                    )?;
                    match ack_out {
                        Some(path) => {
                            bundle::write_atomic(&path, &ack).map_err(|source| {
                                BundleError::Io {
                                    op: "write",
                                    path: path.clone(),
                                    source,
                                }
                            })?;
                            writeln!(
                                err,
                                "wrote the acknowledgement {}: take it back to {} for `halfsky bundle ack`",
                                path.display(),
                                sender.org
                            )?;
                        }
                        None => writeln!(
                            err,
                            "no acknowledgement written (--ack-out ACKFILE); {} learns it at the next sync",
                            sender.org
                        )?,
                    }
                }
                Received::Ack {
                    sender,
                    documents,
                    received,
                } => writeln!(
                    err,
                    "applied the acknowledgement {label} from {sender} ({documents} documents; {received} changes from above)"
                )?,
            }
        }
        BundleCommand::Ack { file } => {
            let bytes = read(&file)?;
            let label = file.display().to_string();
            if let Received::Ack {
                sender,
                documents,
                received,
            } = bundle::receive(
                ledger,
                &keys,
                &bytes,
                Some("acknowledgement"),
                &label,
                crate::sync::freshness::ArrivalPath::Bundle,
            )? {
                writeln!(
                    err,
                    "applied the acknowledgement from {sender}: {documents} documents acknowledged, {received} changes of the units above received"
                )?;
            }
        }
    }
    Ok(())
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, BundleError> {
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
