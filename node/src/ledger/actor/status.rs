//! What `halfsky status` shows, assembled from the saved link records, the changes the
//! parent has not acknowledged and, while the node runs, its live sessions: one way for
//! a running node and for a stopped one.

use crate::ledger::Ledger;
use crate::sync::status::{
    ChildStatus, NodeStatus, ParentStatus, RelayStatus, StatusError, StatusStore, StoredStatus,
    STATUS_REFUSALS,
};

/// Unix seconds as RFC 3339 (UTC, seconds), as the other status times are written.
fn time_text(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

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
    let me = ledger.config().org;
    let freshness = ledger.freshness().clone();
    if let (Some(p), Some(up)) = (parent.as_mut(), me.parent()) {
        p.last_heard = freshness.last_heard(&up)?;
    }
    let documents = ledger.documents()?;
    let mut children: Vec<ChildStatus> = stored.children.values().cloned().collect();
    // A child heard from only through the relay or a bundle file is a child too.
    for (org, heard) in freshness.heard_subtree(me.subtree_prefix())? {
        if org.parent() == Some(me) && !children.iter().any(|c| c.org == org) {
            children.push(ChildStatus {
                org,
                device: "-".into(),
                connected: false,
                last_seen: Some(time_text(heard.at)),
                last_sync: None,
                documents: 0,
                last_error: None,
                heard: Some(heard),
                clock_skew_ms: None,
            });
        }
    }
    for c in &mut children {
        c.connected &= live.is_some();
        c.documents = documents
            .iter()
            .filter(|d| d.is_in_subtree_of(&c.org))
            .count() as u64;
        if c.heard.is_none() {
            c.heard = freshness.last_heard(&c.org)?;
        }
    }
    let now = chrono::Utc::now().timestamp();
    let stale = ledger.config().dashboard.stale_after.as_secs() as i64;
    let report = crate::sync::freshness::report(me, freshness.units(me, me, now)?, now, stale);
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
        freshness: Some(report),
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
