//! What `halfsky status` shows, assembled from the saved link records, the changes the
//! parent has not acknowledged and, while the node runs, its live sessions: one way for
//! a running node and for a stopped one.

use crate::ledger::Ledger;
use crate::sync::status::{
    NodeStatus, ParentStatus, RelayStatus, StatusError, StatusStore, StoredStatus, STATUS_REFUSALS,
};

/// The status of a node that is not running, from what its store remembers.
pub fn offline_status(ledger: &mut Ledger) -> Result<NodeStatus, StatusError> {
    let status = StatusStore::new(ledger.store().clone());
    let stored = status.load()?;
    node_status(ledger, &status, &stored, None)
}

/// The node's status. `live`: the bytes in and out of the running node's links to its
/// parent (`None`: the node is not running, nothing is connected).
pub(super) fn node_status(
    ledger: &mut Ledger,
    status: &StatusStore,
    stored: &StoredStatus,
    live: Option<(u64, u64)>,
) -> Result<NodeStatus, StatusError> {
    let mut parent = stored.parent.clone();
    match (live, ledger.config().sync.parent.clone()) {
        (Some((bytes_in, bytes_out)), _) => {
            if let Some(p) = parent.as_mut() {
                p.bytes_in += bytes_in;
                p.bytes_out += bytes_out;
            }
        }
        (None, Some(addr)) => {
            let p = parent.get_or_insert_with(ParentStatus::default);
            p.addr = addr;
            p.connected = false;
        }
        (None, None) => parent = None,
    }
    if let Some(p) = parent.as_mut() {
        let paths = crate::sync::pending::pending_paths(ledger, status)?;
        p.pending_changes = paths.total();
        p.pending_documents = paths.documents;
        p.oldest_pending = paths.oldest.clone();
        p.pending = paths;
    }
    let documents = ledger.documents()?;
    let children = stored
        .children
        .values()
        .cloned()
        .map(|mut c| {
            c.connected &= live.is_some();
            c.documents = documents
                .iter()
                .filter(|d| d.is_in_subtree_of(&c.org))
                .count() as u64;
            c
        })
        .collect();
    Ok(NodeStatus {
        org: ledger.config().org,
        name: ledger.config().name.clone(),
        running: live.is_some(),
        parent,
        children,
        relay: relay_status(ledger, status)?,
        refusals: {
            let all = ledger.trust().refusals()?;
            let skip = all.len().saturating_sub(STATUS_REFUSALS);
            all.into_iter().skip(skip).collect()
        },
        quarantined: ledger.trust().quarantined()?,
    })
}

/// The relay's last recorded status, if a relay is configured.
fn relay_status(ledger: &Ledger, status: &StatusStore) -> Result<Option<RelayStatus>, StatusError> {
    let Some(addr) = ledger.config().sync.relay.clone() else {
        return Ok(None);
    };
    let mut relay = status.relay_status()?.unwrap_or_default();
    relay.addr = addr;
    Ok(Some(relay))
}
