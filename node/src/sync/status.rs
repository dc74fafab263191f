//! Link status, told honestly: when each link last completed a sync, what is still
//! unacknowledged, and why the last attempt failed. Kept in the store so `halfsky
//! status` can report the last known state even when the node is not running.

use std::collections::BTreeMap;

use automerge::ChangeHash;
use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use crate::store::{decode_heads, encode_heads};

/// The parent link.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParentStatus {
    /// The parent's address from the config.
    pub addr: String,
    /// A session with the parent is up right now.
    pub connected: bool,
    /// When the last sync with the parent completed (RFC 3339), if ever.
    pub last_sync: Option<String>,
    /// When the link last came up.
    pub connected_since: Option<String>,
    /// Why the last attempt or session failed, in words a cadre can act on.
    pub last_error: Option<String>,
    /// Changes of this subtree the parent has not acknowledged yet.
    pub pending_changes: u64,
    /// Documents with unacknowledged changes.
    pub pending_documents: u64,
    /// The oldest unacknowledged change (RFC 3339), if any.
    pub oldest_pending: Option<String>,
    /// Unacknowledged changes by the path they are on (direct link, relay, bundle file).
    #[serde(default)]
    pub pending: crate::sync::pending::PendingPaths,
    /// Bytes received from the parent (all sessions since the node started).
    pub bytes_in: u64,
    /// Bytes sent to the parent.
    pub bytes_out: u64,
}

/// One child device that has connected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildStatus {
    /// The child's unit.
    pub org: OrgCode,
    /// Its device name.
    pub device: String,
    /// Connected right now.
    pub connected: bool,
    /// Last time it connected or sent anything (RFC 3339).
    pub last_seen: Option<String>,
    /// Last completed sync with it.
    pub last_sync: Option<String>,
    /// Documents of its subtree held here.
    pub documents: u64,
    /// Last refusal or error on its link.
    pub last_error: Option<String>,
}

/// What `halfsky status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// This node's unit.
    pub org: OrgCode,
    /// Its name.
    pub name: String,
    /// The node is running (`halfsky run`) right now.
    pub running: bool,
    /// The parent link, if the node has a parent.
    pub parent: Option<ParentStatus>,
    /// Children seen, by `<org>/<device>`.
    pub children: Vec<ChildStatus>,
    /// The relay, if one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<RelayStatus>,
}

/// The relay as this node last saw it (`[sync] relay`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RelayStatus {
    /// The relay's address from the config.
    pub addr: String,
    /// Last visit that completed (RFC 3339).
    pub last_visit: Option<String>,
    /// Why the last visit failed, if it did.
    pub last_error: Option<String>,
    /// When this node last left a bundle for its parent there.
    pub last_deposit: Option<String>,
    /// Bundles and acknowledgements collected there since the node home was made.
    pub collected: u64,
}

/// Persistent part of the status, in the store's `status-1` tree.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredStatus {
    /// Parent link.
    pub parent: Option<ParentStatus>,
    /// Children by `<org>/<device>`.
    pub children: BTreeMap<String, ChildStatus>,
}

/// Reads and writes the status tree.
#[derive(Debug, Clone)]
pub struct StatusStore {
    tree: sled::Tree,
}

impl StatusStore {
    /// Opens the tree.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(StatusStore {
            tree: db.open_tree("status-1")?,
        })
    }

    /// The last saved status (empty if none).
    pub fn load(&self) -> StoredStatus {
        self.tree
            .get("status")
            .ok()
            .flatten()
            .and_then(|v| serde_json::from_slice(&v).ok())
            .unwrap_or_default()
    }

    /// Saves the status (durable at the next flush).
    pub fn save(&self, status: &StoredStatus) {
        let bytes = serde_json::to_vec(status).expect("status serializes");
        if let Err(e) = self.tree.insert("status", bytes) {
            tracing::warn!(error = %e, "could not save link status");
        }
    }

    /// Heads of `org` the parent acknowledged holding.
    pub fn acked(&self, org: &OrgCode) -> Vec<ChangeHash> {
        self.tree
            .get(format!("acked/{org}"))
            .ok()
            .flatten()
            .and_then(|v| decode_heads(&v).ok())
            .unwrap_or_default()
    }

    /// Records heads of `org` the parent holds.
    pub fn set_acked(&self, org: &OrgCode, heads: &[ChangeHash]) {
        if let Err(e) = self
            .tree
            .insert(format!("acked/{org}"), encode_heads(heads))
        {
            tracing::warn!(error = %e, "could not save an acknowledgement");
        }
    }
}

impl StatusStore {
    /// Heads of `org` last sealed into a bundle left at the relay for the parent.
    pub fn relayed(&self, org: &OrgCode) -> Vec<ChangeHash> {
        self.heads_at(&format!("relayed/{org}"))
    }

    /// Records heads of `org` sealed into a bundle left at the relay.
    pub fn set_relayed(&self, org: &OrgCode, heads: &[ChangeHash]) {
        self.set_heads_at(&format!("relayed/{org}"), heads);
    }

    /// Heads of `org` last exported into a bundle file for the parent.
    pub fn bundled(&self, org: &OrgCode) -> Vec<ChangeHash> {
        self.heads_at(&format!("bundled/{org}"))
    }

    /// Records heads of `org` exported into a bundle file.
    pub fn set_bundled(&self, org: &OrgCode, heads: &[ChangeHash]) {
        self.set_heads_at(&format!("bundled/{org}"), heads);
    }

    fn heads_at(&self, key: &str) -> Vec<ChangeHash> {
        self.tree
            .get(key)
            .ok()
            .flatten()
            .and_then(|v| decode_heads(&v).ok())
            .unwrap_or_default()
    }

    fn set_heads_at(&self, key: &str, heads: &[ChangeHash]) {
        if let Err(e) = self.tree.insert(key, encode_heads(heads)) {
            tracing::warn!(error = %e, key, "could not save heads");
        }
    }

    /// The relay's status as last recorded.
    pub fn relay_status(&self) -> Option<RelayStatus> {
        self.tree
            .get("relay")
            .ok()
            .flatten()
            .and_then(|v| serde_json::from_slice(&v).ok())
    }

    /// Records the relay's status.
    pub fn set_relay_status(&self, relay: &RelayStatus) {
        let bytes = serde_json::to_vec(relay).expect("relay status serializes");
        if let Err(e) = self.tree.insert("relay", bytes) {
            tracing::warn!(error = %e, "could not save the relay status");
        }
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), sled::Error> {
        self.tree.flush().map(|_| ())
    }
}

/// Now as RFC 3339 (UTC, seconds).
pub fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
