//! The bundle carrier: for the village with no network at all, bundle files carried
//! to its township and acknowledgements carried back, as a cadre would on a USB stick.

use std::path::Path;

use super::error::{Context, DemoError, Result};
use super::plan::Unit;
use crate::command::{BundleReport, BundleRequest};

/// Runs a bundle request on a running node's ledger.
async fn bundle_command(
    handle: &crate::ledger::actor::LedgerHandle,
    request: BundleRequest,
) -> Result<BundleReport> {
    Ok(handle
        .run(move |ledger| crate::command::bundle::execute(ledger, request))
        .await
        .map_err(|_| DemoError::Missing("the node stopped".into()))??)
}

/// One trip of the bundle carrier for one village.
pub(super) async fn carry(
    dir: &Path,
    unit: &Unit,
    village: &crate::ledger::actor::LedgerHandle,
    township: &crate::ledger::actor::LedgerHandle,
    township_cert: &Path,
) -> Result<String> {
    let bundle = dir.join(format!("{}.bundle", unit.org));
    let ack = dir.join(format!("{}.ack", unit.org));
    let parent = unit.org.parent().context("a village has a township")?;
    bundle_command(
        village,
        BundleRequest::Export {
            to: parent,
            out: bundle.clone(),
            to_cert: Some(township_cert.to_path_buf()),
            expires_days: 30,
        },
    )
    .await
    .context("sealing the bundle")?;
    let imported = bundle_command(
        township,
        BundleRequest::Import {
            file: bundle.clone(),
            ack_out: Some(ack.clone()),
        },
    )
    .await
    .context("importing the bundle at the township")?;
    bundle_command(village, BundleRequest::Ack { file: ack.clone() })
        .await
        .context("carrying the acknowledgement back")?;
    let _ = std::fs::remove_file(&bundle);
    let _ = std::fs::remove_file(&ack);
    Ok(format!(
        "carried a bundle from {} {} to its township: {}",
        unit.org,
        unit.name,
        match imported {
            BundleReport::Imported {
                changes, documents, ..
            } => format!("applied {changes} changes of {documents} documents"),
            _ => "applied".to_string(),
        }
    ))
}
