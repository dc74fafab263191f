//! Link status, told honestly: when each link last completed a sync, what is still
//! unacknowledged, and why the last attempt failed. Kept in the store so `halfsky
//! status` can report the last known state even when the node is not running. A
//! record that cannot be read is an error ([`StatusError`]), never an empty status.
//!
//! # Layout (store table [`Table::Status`], `status-1`)
//! - `status` → [`StoredStatus`] (JSON).
//! - `relay` → [`RelayStatus`] (JSON).
//! - `acked/<org>`, `relayed/<org>`, `bundled/<org>` → heads (concatenated hashes) of
//!   `org` the parent acknowledged, last sealed for the relay, last exported to a file.

use std::collections::BTreeMap;
use std::sync::Arc;

use automerge::ChangeHash;
use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use crate::ledger::trust::{QuarantineRecord, RefusalRecord};
use crate::ledger::LedgerError;
use crate::store::{decode_heads, encode_heads, Storage, StoreError, Table};
use crate::sync::freshness::{FreshnessError, FreshnessReport, Heard};

/// Why the link status could not be read, written or computed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The store failed.
    #[error("cannot read or write the link status: {0}")]
    Store(#[from] StoreError),
    /// A status record is not what halfsky wrote.
    #[error("the saved link status `{key}` is damaged ({reason}); the store may be damaged: restore it from a backup or re-sync it")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The refusal records failed.
    #[error(transparent)]
    Trust(#[from] crate::ledger::trust::TrustError),
    /// The contact records could not be read.
    #[error(transparent)]
    Freshness(#[from] FreshnessError),
    /// Counting the changes the parent lacks failed.
    #[error("cannot count the changes the parent has not acknowledged: {0}")]
    Ledger(#[from] LedgerError),
}

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
    pub pending: PendingPaths,
    /// The last contact with the parent by any path: a direct sync, or an
    /// acknowledgement collected at the relay or imported from a file.
    #[serde(default)]
    pub last_heard: Option<Heard>,
    /// Bytes received from the parent (all sessions since the node started).
    pub bytes_in: u64,
    /// Bytes sent to the parent.
    pub bytes_out: u64,
    /// The parent's clock minus this node's (ms), told in the last session.
    #[serde(default)]
    pub clock_skew_ms: Option<i64>,
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
    /// The last contact with it by any path (a child that only sends bundles through
    /// the relay is listed with this alone).
    #[serde(default)]
    pub heard: Option<Heard>,
    /// The child's clock minus this node's (ms), told in the last session.
    #[serde(default)]
    pub clock_skew_ms: Option<i64>,
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
    /// The latest refusals, by this node or of what it sent, newest last.
    #[serde(default)]
    pub refusals: Vec<RefusalRecord>,
    /// Documents in quarantine here.
    #[serde(default)]
    pub quarantined: Vec<QuarantineRecord>,
    /// When each unit below was last heard from, and the subtree's summary (the same
    /// as `halfsky freshness`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness: Option<FreshnessReport>,
}

/// Refusals `halfsky status` shows (the dashboard's admin page lists them all).
pub const STATUS_REFUSALS: usize = 10;

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

/// Unacknowledged changes of this node's subtree, by path (counted by
/// [`crate::sync::pending::pending_paths`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPaths {
    /// Waiting for the direct link to the parent.
    pub direct: u64,
    /// Sealed into a bundle at the relay, not yet acknowledged.
    pub relay: u64,
    /// Exported into a bundle file, not yet acknowledged.
    pub bundle: u64,
    /// Documents with unacknowledged changes.
    pub documents: u64,
    /// Time of the oldest unacknowledged change (RFC 3339), if any.
    pub oldest: Option<String>,
}

impl PendingPaths {
    /// All unacknowledged changes.
    pub fn total(&self) -> u64 {
        self.direct + self.relay + self.bundle
    }
}

/// Reads and writes the status records (a cheap clone: it shares the store).
#[derive(Debug, Clone)]
pub struct StatusStore {
    store: Arc<dyn Storage>,
}

impl StatusStore {
    /// The status records kept in `store`.
    pub fn new(store: Arc<dyn Storage>) -> Self {
        StatusStore { store }
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>, StatusError> {
        self.store
            .get(Table::Status, key.as_bytes())?
            .map(|v| {
                serde_json::from_slice(&v).map_err(|e| StatusError::Corrupt {
                    key: key.to_string(),
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    fn set_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StatusError> {
        let bytes = serde_json::to_vec(value).expect("status records serialize");
        Ok(self.store.insert(Table::Status, key.as_bytes(), &bytes)?)
    }

    fn heads_at(&self, key: &str) -> Result<Vec<ChangeHash>, StatusError> {
        match self.store.get(Table::Status, key.as_bytes())? {
            None => Ok(Vec::new()),
            Some(v) => decode_heads(&v).map_err(|e| StatusError::Corrupt {
                key: key.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    fn set_heads_at(&self, key: &str, heads: &[ChangeHash]) -> Result<(), StatusError> {
        Ok(self
            .store
            .insert(Table::Status, key.as_bytes(), &encode_heads(heads))?)
    }

    /// The last saved status (empty if none was ever saved).
    pub fn load(&self) -> Result<StoredStatus, StatusError> {
        Ok(self.json("status")?.unwrap_or_default())
    }

    /// Saves the status (durable at the next flush).
    pub fn save(&self, status: &StoredStatus) -> Result<(), StatusError> {
        self.set_json("status", status)
    }

    /// Heads of `org` the parent acknowledged holding (none if it never did).
    pub fn acked(&self, org: &OrgCode) -> Result<Vec<ChangeHash>, StatusError> {
        self.heads_at(&format!("acked/{org}"))
    }

    /// Records heads of `org` the parent holds.
    pub fn set_acked(&self, org: &OrgCode, heads: &[ChangeHash]) -> Result<(), StatusError> {
        self.set_heads_at(&format!("acked/{org}"), heads)
    }

    /// Heads of `org` last sealed into a bundle left at the relay for the parent.
    pub fn relayed(&self, org: &OrgCode) -> Result<Vec<ChangeHash>, StatusError> {
        self.heads_at(&format!("relayed/{org}"))
    }

    /// Records heads of `org` sealed into a bundle left at the relay.
    pub fn set_relayed(&self, org: &OrgCode, heads: &[ChangeHash]) -> Result<(), StatusError> {
        self.set_heads_at(&format!("relayed/{org}"), heads)
    }

    /// Heads of `org` last exported into a bundle file for the parent.
    pub fn bundled(&self, org: &OrgCode) -> Result<Vec<ChangeHash>, StatusError> {
        self.heads_at(&format!("bundled/{org}"))
    }

    /// Records heads of `org` exported into a bundle file.
    pub fn set_bundled(&self, org: &OrgCode, heads: &[ChangeHash]) -> Result<(), StatusError> {
        self.set_heads_at(&format!("bundled/{org}"), heads)
    }

    /// The relay's status as last recorded, if a visit was ever recorded.
    pub fn relay_status(&self) -> Result<Option<RelayStatus>, StatusError> {
        self.json("relay")
    }

    /// Records the relay's status.
    pub fn set_relay_status(&self, relay: &RelayStatus) -> Result<(), StatusError> {
        self.set_json("relay", relay)
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StatusError> {
        Ok(self.store.flush()?)
    }
}

/// Now as RFC 3339 (UTC, seconds).
pub fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn org() -> OrgCode {
        OrgCode::parse("230129100201").unwrap()
    }

    #[test]
    fn records_round_trip() {
        let status = StatusStore::new(Arc::new(MemoryStore::new()));
        assert!(status.load().unwrap().parent.is_none());
        assert!(status.acked(&org()).unwrap().is_empty());
        assert!(status.relay_status().unwrap().is_none());
        let stored = StoredStatus {
            parent: Some(ParentStatus {
                addr: "county:4433".into(),
                pending_changes: 3,
                ..ParentStatus::default()
            }),
            children: BTreeMap::new(),
        };
        status.save(&stored).unwrap();
        let h = [ChangeHash([1; 32]), ChangeHash([2; 32])];
        status.set_acked(&org(), &h).unwrap();
        status.set_relayed(&org(), &h[..1]).unwrap();
        status.set_bundled(&org(), &h[1..]).unwrap();
        status
            .set_relay_status(&RelayStatus {
                collected: 4,
                ..RelayStatus::default()
            })
            .unwrap();
        status.flush().unwrap();
        assert_eq!(status.load().unwrap().parent, stored.parent);
        assert_eq!(status.acked(&org()).unwrap(), h);
        assert_eq!(status.relayed(&org()).unwrap(), h[..1]);
        assert_eq!(status.bundled(&org()).unwrap(), h[1..]);
        assert_eq!(status.relay_status().unwrap().unwrap().collected, 4);
    }

    #[test]
    fn a_damaged_record_is_reported_not_read_as_empty() {
        let store = Arc::new(MemoryStore::new());
        let status = StatusStore::new(store.clone());
        store.insert(Table::Status, b"status", b"{broken").unwrap();
        store
            .insert(
                Table::Status,
                format!("acked/{}", org()).as_bytes(),
                b"short",
            )
            .unwrap();
        let err = status.load().unwrap_err();
        assert!(
            matches!(&err, StatusError::Corrupt { key, .. } if key == "status"),
            "{err}"
        );
        assert!(matches!(
            status.acked(&org()),
            Err(StatusError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_failed_write_is_reported() {
        let store = Arc::new(MemoryStore::new());
        let status = StatusStore::new(store.clone());
        store.fail_writes(false, true);
        assert!(matches!(
            status.save(&StoredStatus::default()),
            Err(StatusError::Store(_))
        ));
        assert!(status.set_acked(&org(), &[]).is_err());
    }
}
