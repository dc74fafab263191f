//! What a node remembers about changes it refused: every refusal (the document, the
//! change, the rule, the sender, when), the documents in quarantine, and the changes
//! held for them until an admin decides (`halfsky quarantine list|release|drop`).
//!
//! # Layout (store table [`Table::Trust`], `trust-1`)
//! - `r/<micros, 20 digits>/<n>` → [`RefusalRecord`] (JSON), oldest first.
//! - `q/<org>` → [`QuarantineRecord`] (JSON): the document is quarantined.
//! - `h/<org>/<change hash hex>` → the raw bytes of a held change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use automerge::ChangeHash;
use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use crate::store::{Batch, Storage, StoreError, Table};

/// How changes reached this node (shown with each refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Door {
    /// An Automerge sync message on a live link.
    Sync,
    /// A catch-up batch (`Changes` frame, or a bundle of pieces) on a live link.
    Catchup,
    /// A live push of new changes.
    Push,
    /// A bundle file (`halfsky bundle import`).
    Bundle,
    /// A bundle collected from the relay.
    Relay,
    /// Ancestors' documents carried down with an acknowledgement.
    Ack,
}

impl Door {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Sync => "sync",
            Door::Catchup => "catch-up",
            Door::Push => "push",
            Door::Bundle => "bundle",
            Door::Relay => "relay",
            Door::Ack => "ack",
        }
    }
}

/// Where a batch of changes came from: who sent it, through which door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `<org>/<device>` of the sender (from its certificate).
    pub sender: String,
    /// The door.
    pub door: Door,
}

/// One refusal, as `status`, the log and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalRecord {
    /// When (RFC 3339).
    pub at: String,
    /// The document.
    pub org: OrgCode,
    /// The change (hex), when the bytes were a change at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// The rule broken (`foreign-record`, `change-too-large`, …).
    pub rule: String,
    /// What exactly, for a person.
    pub reason: String,
    /// `<org>/<device>` of the sender; for a refusal by the peer, the peer that refused.
    pub sender: String,
    /// The door (`sync`, `catch-up`, `push`, `bundle`, `relay`, `ack`).
    pub door: String,
    /// The peer refused what this node sent (rather than this node what it received).
    #[serde(default)]
    pub by_peer: bool,
}

/// A quarantined document: its good history stays and is counted; new changes to it
/// are held until `halfsky quarantine release` or `drop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineRecord {
    /// The document.
    pub org: OrgCode,
    /// Since when (RFC 3339).
    pub since: String,
    /// The refusal that started it.
    pub rule: String,
    /// Its reason.
    pub reason: String,
    /// Its change (hex).
    pub change: String,
    /// Who sent it.
    pub sender: String,
    /// Changes held now (filled in when listed).
    #[serde(default)]
    pub held: u64,
}

/// Why the trust records could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The store failed.
    #[error("cannot read or write the refusal records: {0}")]
    Store(#[from] StoreError),
    /// A record is not what halfsky wrote.
    #[error("the refusal record `{key}` is damaged ({reason}); restore the store from a backup")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The trust table of a store.
#[derive(Debug, Clone)]
pub struct TrustStore {
    store: Arc<dyn Storage>,
}

/// Distinguishes refusals recorded in the same microsecond.
static SEQ: AtomicU64 = AtomicU64::new(0);

fn parse<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, TrustError> {
    serde_json::from_slice(value).map_err(|e| TrustError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

fn held_key(org: &OrgCode, hash: &ChangeHash) -> Vec<u8> {
    format!("h/{org}/{hash}").into_bytes()
}

impl TrustStore {
    /// The trust table of `store`.
    pub fn new(store: Arc<dyn Storage>) -> Self {
        TrustStore { store }
    }

    /// Records a refusal (and logs it).
    pub fn record(&self, refusal: &RefusalRecord) -> Result<(), TrustError> {
        tracing::warn!(
            document = %refusal.org,
            change = refusal.change.as_deref().unwrap_or("-"),
            rule = %refusal.rule,
            sender = %refusal.sender,
            door = %refusal.door,
            by_peer = refusal.by_peer,
            reason = %refusal.reason,
            "changes refused"
        );
        let micros = chrono::Utc::now().timestamp_micros().max(0);
        let key = format!("r/{micros:020}/{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let value = serde_json::to_vec(refusal).expect("a refusal serializes");
        self.store.insert(Table::Trust, key.as_bytes(), &value)?;
        Ok(())
    }

    /// Every refusal, oldest first.
    pub fn refusals(&self) -> Result<Vec<RefusalRecord>, TrustError> {
        self.store
            .scan_prefix(Table::Trust, b"r/")
            .map(|row| {
                let (k, v) = row?;
                parse(&k, &v)
            })
            .collect()
    }

    /// The quarantine of `org`, if any.
    pub fn quarantine(&self, org: &OrgCode) -> Result<Option<QuarantineRecord>, TrustError> {
        let key = format!("q/{org}");
        match self.store.get(Table::Trust, key.as_bytes())? {
            Some(v) => Ok(Some(parse(key.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    /// Quarantines `org` (keeps the first reason if it already is).
    pub fn set_quarantine(&self, record: &QuarantineRecord) -> Result<(), TrustError> {
        if self.quarantine(&record.org)?.is_none() {
            let value = serde_json::to_vec(record).expect("a quarantine serializes");
            self.store
                .insert(Table::Trust, format!("q/{}", record.org).as_bytes(), &value)?;
        }
        Ok(())
    }

    /// Every quarantined document, with how many changes it holds.
    pub fn quarantined(&self) -> Result<Vec<QuarantineRecord>, TrustError> {
        let mut out: Vec<QuarantineRecord> = Vec::new();
        for row in self.store.scan_prefix(Table::Trust, b"q/") {
            let (k, v) = row?;
            out.push(parse(&k, &v)?);
        }
        for q in &mut out {
            q.held = self.held(&q.org)?.len() as u64;
        }
        Ok(out)
    }

    /// Holds a change for `org` (once: keyed by its hash).
    pub fn hold(&self, org: &OrgCode, hash: &ChangeHash, raw: &[u8]) -> Result<(), TrustError> {
        Ok(self.store.insert(Table::Trust, &held_key(org, hash), raw)?)
    }

    /// The changes held for `org` (raw bytes).
    pub fn held(&self, org: &OrgCode) -> Result<Vec<Vec<u8>>, TrustError> {
        self.store
            .scan_prefix(Table::Trust, format!("h/{org}/").as_bytes())
            .map(|row| Ok(row?.1))
            .collect()
    }

    /// Ends `org`'s quarantine and forgets its held changes, in one batch.
    pub fn lift(&self, org: &OrgCode) -> Result<(), TrustError> {
        let mut batch = Batch::default();
        for row in self
            .store
            .scan_prefix(Table::Trust, format!("h/{org}/").as_bytes())
        {
            batch.remove(row?.0);
        }
        batch.remove(format!("q/{org}").into_bytes());
        self.store.apply(Table::Trust, batch)?;
        Ok(())
    }
}
