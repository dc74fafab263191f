//! The relay's mailboxes in sled: sealed bundles per recipient org, with per-sender
//! quotas and expiry. A deposit is acknowledged only after it is flushed, so a relay
//! killed at any moment has either the whole bundle or none of it.
//!
//! One tree, `relay-1`, keys by prefix (written together with `apply_batch`):
//! - `m` recipient(12) id(32) → postcard([`StoredItem`]): the mail itself.
//! - `s` sender(12) id(32) → recipient(12) size(u64 BE): per-sender index (quotas,
//!   replacing a sender's earlier deposit).
//! - `c` org(12) → DER: the certificate last seen from a device of that unit.
//! - `r` org(12) device → signed revocation of that device (checked against the CA
//!   before it is kept; nodes bring them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use halfsky_shared::bundle;
use halfsky_shared::relay_wire::ItemId;
use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Per-sender limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Bytes of bundles one sender may have waiting.
    pub bytes: u64,
    /// Bundles one sender may have waiting.
    pub count: u64,
}

/// Why the store failed or refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("relay store {op} failed in {path}: {source}; if the files are damaged, move the directory aside (senders deposit again)")]
    Sled {
        /// What was being done.
        op: &'static str,
        /// The store directory.
        path: PathBuf,
        /// sled's reason.
        source: sled::Error,
    },
    /// The deposit is refused (bad bundle, wrong sender, quota, expired).
    #[error("{0}")]
    Refused(String),
    /// A stored value does not parse.
    #[error("the relay store is damaged ({0})")]
    Corrupt(String),
}

/// Most bytes of bundles handed out in one answer to a fetch (the node asks again).
pub const FETCH_BYTES: usize = 32 * 1024 * 1024;

/// One bundle waiting in a mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredItem {
    /// Who deposited it (from its certificate).
    pub sender: OrgCode,
    /// When it arrived (Unix seconds, relay clock).
    pub arrived: i64,
    /// When it expires (from its header).
    pub expires: i64,
    /// The sealed bundle.
    pub bundle: Vec<u8>,
}

/// One mailbox, for `halfsky-relay status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// The recipient unit.
    pub recipient: OrgCode,
    /// Bundles waiting.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Arrival of the oldest (RFC 3339).
    pub oldest: String,
}

/// The relay's store.
#[derive(Debug, Clone)]
pub struct RelayStore {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
}

fn key(prefix: u8, org: &OrgCode, id: &ItemId) -> Vec<u8> {
    let mut k = Vec::with_capacity(45);
    k.push(prefix);
    k.extend_from_slice(org.as_bytes());
    k.extend_from_slice(id);
    k
}

fn prefix(prefix: u8, org: &OrgCode) -> Vec<u8> {
    let mut k = vec![prefix];
    k.extend_from_slice(org.as_bytes());
    k
}

fn org_at(bytes: &[u8]) -> Option<OrgCode> {
    OrgCode::parse(std::str::from_utf8(bytes.get(..12)?).ok()?).ok()
}

fn id_at(bytes: &[u8]) -> Option<ItemId> {
    bytes.get(13..45)?.try_into().ok()
}

impl RelayStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let sled_err = |source| StoreError::Sled {
            op: "open",
            path: dir.to_path_buf(),
            source,
        };
        let db = sled::open(dir).map_err(sled_err)?;
        // Mail is sealed, but who writes to whom and when is nobody else's business.
        halfsky_node::store::private::restrict_tree(dir)
            .map_err(|e| sled_err(sled::Error::Io(e)))?;
        let tree = db.open_tree("relay-1").map_err(sled_err)?;
        Ok(RelayStore {
            db,
            tree,
            path: dir.to_path_buf(),
        })
    }

    fn err(&self, op: &'static str) -> impl Fn(sled::Error) -> StoreError + '_ {
        move |source| StoreError::Sled {
            op,
            path: self.path.clone(),
            source,
        }
    }

    /// Stores a bundle from `sender` for `recipient`, durably, and returns its id.
    /// Idempotent: the same bundle again returns the same id. With `replace`, the
    /// sender's earlier bundles for `recipient` are dropped in the same write.
    pub async fn deposit(
        &self,
        sender: OrgCode,
        recipient: OrgCode,
        replace: bool,
        bytes: Vec<u8>,
        now: i64,
        quota: Quota,
    ) -> Result<ItemId, StoreError> {
        let (header, _) = bundle::read_header(&bytes)
            .map_err(|e| StoreError::Refused(format!("not a valid bundle: {e}")))?;
        if header.sender != sender {
            return Err(StoreError::Refused(format!(
                "the bundle says it is from {} but was deposited by {sender}",
                header.sender
            )));
        }
        if header.recipient != recipient {
            return Err(StoreError::Refused(format!(
                "the bundle is sealed to {} but was deposited for {recipient}",
                header.recipient
            )));
        }
        if header.expires < now {
            return Err(StoreError::Refused("the bundle has already expired".into()));
        }
        let id: ItemId = Sha256::digest(&bytes).into();
        let mail_key = key(b'm', &recipient, &id);
        if self
            .tree
            .contains_key(&mail_key)
            .map_err(self.err("read"))?
        {
            return Ok(id);
        }
        let mut batch = sled::Batch::default();
        let (mut count, mut total) = (0u64, 0u64);
        for entry in self.tree.scan_prefix(prefix(b's', &sender)) {
            let (k, v) = entry.map_err(self.err("read"))?;
            let (Some(to), Some(old_id)) = (org_at(&v), id_at(&k)) else {
                return Err(StoreError::Corrupt("a sender index entry".into()));
            };
            let size = v
                .get(12..20)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if replace && to == recipient {
                batch.remove(k);
                batch.remove(key(b'm', &to, &old_id));
            } else {
                count += 1;
                total += size;
            }
        }
        let size = bytes.len() as u64;
        if count + 1 > quota.count || total + size > quota.bytes {
            return Err(StoreError::Refused(format!(
                "quota: {sender} already has {count} bundles ({total} bytes) waiting, the limit is {} bundles / {} bytes; they leave the relay when their recipients collect them",
                quota.count, quota.bytes
            )));
        }
        let item = StoredItem {
            sender,
            arrived: now,
            expires: header.expires,
            bundle: bytes,
        };
        let value = postcard::to_stdvec(&item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut index = recipient.as_bytes().to_vec();
        index.extend_from_slice(&size.to_be_bytes());
        batch.insert(mail_key, value);
        batch.insert(key(b's', &sender, &id), index);
        self.tree.apply_batch(batch).map_err(self.err("write"))?;
        self.db.flush_async().await.map_err(self.err("flush"))?;
        Ok(id)
    }

    /// Up to `limit` bundles waiting for `recipient` and at most [`FETCH_BYTES`]
    /// (but always one), skipping expired ones, and how many more wait after them.
    /// Items in `except` are left out (and not counted): the fetcher cannot open them.
    pub fn fetch(
        &self,
        recipient: OrgCode,
        limit: usize,
        now: i64,
        except: &[ItemId],
    ) -> Result<(Vec<(ItemId, StoredItem)>, u32), StoreError> {
        let mut items = Vec::new();
        let mut remaining = 0u32;
        let mut bytes = 0usize;
        for entry in self.tree.scan_prefix(prefix(b'm', &recipient)) {
            let (k, v) = entry.map_err(self.err("read"))?;
            let item: StoredItem =
                postcard::from_bytes(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let id = id_at(&k).ok_or_else(|| StoreError::Corrupt("a mail key".into()))?;
            if item.expires < now || except.contains(&id) {
                continue;
            }
            let fits = items.is_empty() || bytes + item.bundle.len() <= FETCH_BYTES;
            if items.len() < limit && fits && remaining == 0 {
                bytes += item.bundle.len();
                items.push((id, item));
            } else {
                remaining += 1;
            }
        }
        Ok((items, remaining))
    }

    /// Removes a bundle from `recipient`'s mailbox (nothing if it is not there).
    pub async fn delete(&self, recipient: OrgCode, id: &ItemId) -> Result<(), StoreError> {
        let mail_key = key(b'm', &recipient, id);
        let Some(v) = self.tree.get(&mail_key).map_err(self.err("read"))? else {
            return Ok(());
        };
        let item: StoredItem =
            postcard::from_bytes(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut batch = sled::Batch::default();
        batch.remove(mail_key);
        batch.remove(key(b's', &item.sender, id));
        self.tree.apply_batch(batch).map_err(self.err("write"))?;
        self.db.flush_async().await.map_err(self.err("flush"))?;
        Ok(())
    }

    /// Drops every expired bundle; returns how many.
    pub async fn prune(&self, now: i64) -> Result<usize, StoreError> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for entry in self.tree.scan_prefix([b'm']) {
            let (k, v) = entry.map_err(self.err("read"))?;
            let Ok(item) = postcard::from_bytes::<StoredItem>(&v) else {
                continue;
            };
            if item.expires < now {
                if let Some(id) = id_at(&k) {
                    batch.remove(key(b's', &item.sender, &id));
                }
                batch.remove(k);
                n += 1;
            }
        }
        if n > 0 {
            self.tree.apply_batch(batch).map_err(self.err("write"))?;
            self.db.flush_async().await.map_err(self.err("flush"))?;
        }
        Ok(n)
    }

    /// Keeps the certificate last seen from a device of `org`.
    pub fn put_cert(&self, org: &OrgCode, der: &[u8]) -> Result<(), StoreError> {
        let k = prefix(b'c', org);
        if self.tree.get(&k).map_err(self.err("read"))?.as_deref() != Some(der) {
            self.tree.insert(k, der).map_err(self.err("write"))?;
        }
        Ok(())
    }

    /// The certificate last seen from a device of `org`.
    pub fn cert(&self, org: &OrgCode) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree
            .get(prefix(b'c', org))
            .map_err(self.err("read"))?
            .map(|v| v.to_vec()))
    }

    /// Keeps a revocation (already checked against the CA) of device `device` of `org`,
    /// durably.
    pub async fn put_revocation(
        &self,
        org: &OrgCode,
        device: &str,
        signed: &[u8],
    ) -> Result<(), StoreError> {
        let mut k = prefix(b'r', org);
        k.extend_from_slice(device.as_bytes());
        if self.tree.get(&k).map_err(self.err("read"))?.as_deref() != Some(signed) {
            self.tree.insert(k, signed).map_err(self.err("write"))?;
            self.db.flush_async().await.map_err(self.err("flush"))?;
        }
        Ok(())
    }

    /// The signed revocation of device `device` of `org`, if the relay holds one.
    pub fn revocation(&self, org: &OrgCode, device: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut k = prefix(b'r', org);
        k.extend_from_slice(device.as_bytes());
        Ok(self
            .tree
            .get(k)
            .map_err(self.err("read"))?
            .map(|v| v.to_vec()))
    }

    /// How many revocations the relay holds.
    pub fn revocation_count(&self) -> usize {
        self.tree.scan_prefix([b'r']).count()
    }

    /// Every non-empty mailbox.
    pub fn mailboxes(&self) -> Result<Vec<Mailbox>, StoreError> {
        let mut boxes: BTreeMap<OrgCode, (u64, u64, i64)> = BTreeMap::new();
        for entry in self.tree.scan_prefix([b'm']) {
            let (k, v) = entry.map_err(self.err("read"))?;
            let recipient = k
                .get(1..)
                .and_then(org_at)
                .ok_or_else(|| StoreError::Corrupt("a mail key".into()))?;
            let item: StoredItem =
                postcard::from_bytes(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let b = boxes.entry(recipient).or_insert((0, 0, i64::MAX));
            b.0 += 1;
            b.1 += item.bundle.len() as u64;
            b.2 = b.2.min(item.arrived);
        }
        Ok(boxes
            .into_iter()
            .map(|(recipient, (count, bytes, oldest))| Mailbox {
                recipient,
                count,
                bytes,
                oldest: halfsky_shared::ledger_doc::time_text(oldest),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use halfsky_shared::bundle::{Header, BUNDLE_FORMAT, MAGIC};

    use super::*;

    const VILLAGE: &str = "230129100201";
    const TOWNSHIP: &str = "230129100000";

    fn org(code: &str) -> OrgCode {
        OrgCode::parse(code).unwrap()
    }

    /// A structurally valid bundle (the relay never opens one).
    fn bundle(sender: &str, recipient: &str, expires: i64, fill: u8, len: usize) -> Vec<u8> {
        let header = Header {
            sender: org(sender),
            recipient: org(recipient),
            created: 0,
            expires,
            sealed_len: len as u32,
            plain_len: len as u32,
            ephemeral: vec![4; 65],
        };
        let h = postcard::to_stdvec(&header).unwrap();
        let mut out = MAGIC.to_vec();
        out.push(BUNDLE_FORMAT);
        out.extend_from_slice(&(h.len() as u32).to_be_bytes());
        out.extend_from_slice(&h);
        out.extend(std::iter::repeat_n(fill, len));
        out
    }

    const QUOTA: Quota = Quota {
        bytes: 10_000,
        count: 3,
    };

    /// A fresh store and the usual pair: a village leaving mail for its township.
    struct Mail {
        _dir: tempfile::TempDir,
        store: RelayStore,
        v: OrgCode,
        t: OrgCode,
    }

    impl Mail {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = RelayStore::open(dir.path()).unwrap();
            Mail {
                _dir: dir,
                store,
                v: org(VILLAGE),
                t: org(TOWNSHIP),
            }
        }

        /// The village deposits a `len`-byte bundle (expiring at 100) at time `now`.
        async fn send(
            &self,
            replace: bool,
            fill: u8,
            len: usize,
            now: i64,
        ) -> Result<ItemId, StoreError> {
            let b = bundle(VILLAGE, TOWNSHIP, 100, fill, len);
            self.store
                .deposit(self.v, self.t, replace, b, now, QUOTA)
                .await
        }
    }

    #[tokio::test]
    async fn deposits_are_idempotent_replaceable_and_limited() {
        let mail = Mail::new();
        let (store, v, t) = (&mail.store, mail.v, mail.t);
        let id = mail.send(false, 1, 100, 10).await.unwrap();
        assert_eq!(mail.send(false, 1, 100, 10).await.unwrap(), id);
        assert_eq!(store.fetch(t, 10, 10, &[]).unwrap().0.len(), 1);

        // Lying about the sender or the recipient is refused.
        let lie = |from: &str, to: &str| {
            let (from, to) = (org(from), org(to));
            let b = bundle(VILLAGE, TOWNSHIP, 100, 2, 10);
            async move { store.deposit(from, to, false, b, 10, QUOTA).await }
        };
        let err = lie("230129100202", TOWNSHIP).await.unwrap_err();
        assert!(err.to_string().contains("deposited by"), "{err}");
        let err = lie(VILLAGE, "230129101000").await.unwrap_err();
        assert!(err.to_string().contains("sealed to"), "{err}");
        let err = store
            .deposit(v, t, false, b"not a bundle".to_vec(), 10, QUOTA)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a valid bundle"), "{err}");

        // Quota by count, then by bytes.
        for fill in 2..=3 {
            mail.send(false, fill, 100, 10).await.unwrap();
        }
        let err = mail.send(false, 4, 100, 10).await.unwrap_err();
        assert!(err.to_string().contains("quota"), "{err}");
        // Replacing drops the earlier three in the same write.
        mail.send(true, 5, 100, 10).await.unwrap();
        assert_eq!(store.fetch(t, 10, 10, &[]).unwrap().0.len(), 1);
        let err = mail.send(false, 6, 20_000, 10).await.unwrap_err();
        assert!(err.to_string().contains("quota"), "{err}");

        let boxes = store.mailboxes().unwrap();
        assert_eq!(boxes.len(), 1);
        assert_eq!(boxes[0].recipient, t);
        assert_eq!(boxes[0].count, 1);

        // Delete, then expiry.
        let (items, _) = store.fetch(t, 10, 10, &[]).unwrap();
        store.delete(t, &items[0].0).await.unwrap();
        store.delete(t, &items[0].0).await.unwrap();
        assert!(store.mailboxes().unwrap().is_empty());
        mail.send(false, 7, 10, 10).await.unwrap();
        assert!(
            store.fetch(t, 10, 101, &[]).unwrap().0.is_empty(),
            "expired: not handed out"
        );
        assert_eq!(store.prune(101).await.unwrap(), 1);
        assert!(store.mailboxes().unwrap().is_empty());
        let err = mail.send(false, 8, 10, 200).await.unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
    }

    #[tokio::test]
    async fn only_the_recipient_reads_a_mailbox_and_certificates_are_kept() {
        let mail = Mail::new();
        let (store, v, t) = (&mail.store, mail.v, mail.t);
        mail.send(false, 1, 10, 10).await.unwrap();
        assert!(store.fetch(v, 10, 10, &[]).unwrap().0.is_empty());
        let (items, _) = store.fetch(t, 10, 10, &[]).unwrap();
        // A delete from another mailbox removes nothing.
        store.delete(v, &items[0].0).await.unwrap();
        assert_eq!(store.fetch(t, 10, 10, &[]).unwrap().0.len(), 1);
        assert_eq!(store.cert(&t).unwrap(), None);
        store.put_cert(&t, b"der").unwrap();
        assert_eq!(store.cert(&t).unwrap().as_deref(), Some(&b"der"[..]));
    }
}
