//! `halfsky backup` and `halfsky restore`: a whole node home in one file, taken while
//! the node runs. The backup is made on the ledger (on its actor while `halfsky run`
//! holds the store, reached through the local API), so no write lands halfway through
//! it: every document as one saved Automerge document with its heads, every sync
//! state, every table (index, link status, freshness), and the home's files (config,
//! certificate, key, CA, peers' certificates).
//!
//! A restore must never fork an actor's history: two writers under one Automerge actor
//! id would both number their changes from the same counter. So a restore gives the
//! home a **fresh actor id and device tag** (a replacement laptop, or the old one
//! brought back from a backup older than its last write): its later records get new
//! ids, its history keeps the old entries, and the parent merges both.
//! `--same-device` keeps them, for the one case where that is safe: the same machine,
//! stopped since the backup was taken (e.g. a new disk after the old one died).
//!
//! File layout: `MAGIC` (8 bytes) · zstd of the postcard-encoded [`Snapshot`]. It holds
//! the node's private key and ID key: it is written owner-only and must be kept like
//! the node home itself.

use std::path::{Path, PathBuf};

use automerge::ChangeHash;
use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, NodeHome, CONFIG_FILE, ID_KEY_FILE, STORE_DIR};
use crate::ledger::{Ledger, LedgerError};
use crate::store::{Batch, SledStore, Storage, StoreError, Table};

/// First bytes of a backup file (format 1).
const MAGIC: &[u8; 8] = b"HSBACKU1";
/// Files of a node home a backup leaves out: the live socket.
const SKIPPED: &[&str] = &[crate::local_api::SOCKET];

/// Rows of a table or of the sync states: key, value.
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// Everything a node home holds, as written in the file.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    /// When it was taken (Unix seconds).
    taken: i64,
    /// The node's unit.
    org: String,
    /// Home files: path relative to the home, owner-only or not, bytes.
    files: Vec<(String, bool, Vec<u8>)>,
    /// Documents: org code, `save()` bytes, heads.
    docs: Vec<(String, Vec<u8>, Vec<[u8; 32]>)>,
    /// Sync states, keyed as in the store.
    sync_states: Rows,
    /// Tables by name, every row.
    tables: Vec<(String, Rows)>,
}

/// What a backup or restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupReport {
    /// The backup file.
    pub file: PathBuf,
    /// Documents in it.
    pub documents: usize,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Why a backup could not be written or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The ledger or store failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node home's config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reading or writing a file failed.
    #[error("cannot {op} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not a backup, or damaged.
    #[error("{} is not a usable halfsky backup ({reason}); use a file written by `halfsky backup`", .path.display())]
    NotBackup {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Restoring over an existing node.
    #[error("{} already holds a halfsky node; restore into a new, empty directory", .0.display())]
    HomeExists(PathBuf),
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io { op, path, source }
}

/// Writes a backup of the ledger's node home to `out` (owner-only, atomically).
/// Run it where the ledger lives (the actor, while the node runs): writes wait.
pub fn backup(ledger: &mut Ledger, out: &Path) -> Result<BackupReport, BackupError> {
    let store = ledger.store().clone();
    let mut docs = Vec::new();
    for org in store.docs()? {
        let (bytes, heads) = ledger.with_automerge(org, |doc| (doc.save(), doc.get_heads()))?;
        docs.push((org.to_string(), bytes, heads.iter().map(|h| h.0).collect()));
    }
    let sync_states = store.sync_states().collect::<Result<Vec<_>, _>>()?;
    let mut tables = Vec::new();
    for table in Table::ALL {
        let rows = store
            .scan_prefix(table, b"")
            .collect::<Result<Vec<_>, _>>()?;
        tables.push((table.name().to_string(), rows));
    }
    let snapshot = Snapshot {
        taken: chrono::Utc::now().timestamp(),
        org: ledger.config().org.to_string(),
        files: home_files(ledger.home().dir())?,
        docs,
        sync_states,
        tables,
    };
    let documents = snapshot.docs.len();
    let encoded = postcard::to_allocvec(&snapshot).map_err(|e| BackupError::NotBackup {
        path: out.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut bytes = MAGIC.to_vec();
    bytes.extend(zstd::encode_all(&encoded[..], 3).map_err(io("compress", out))?);
    write_private(out, &bytes)?;
    Ok(BackupReport {
        file: out.to_path_buf(),
        documents,
        bytes: bytes.len() as u64,
    })
}

/// Restores the backup `file` into the new node home `home`. Unless `same_device`,
/// the home gets a fresh actor id and device tag (see the module doc).
pub fn restore(
    file: &Path,
    home: &NodeHome,
    same_device: bool,
) -> Result<BackupReport, BackupError> {
    if home.config_path().exists() {
        return Err(BackupError::HomeExists(home.dir().to_path_buf()));
    }
    let raw = std::fs::read(file).map_err(io("read", file))?;
    let bad = |reason: String| BackupError::NotBackup {
        path: file.to_path_buf(),
        reason,
    };
    let body = raw
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| bad("it does not start like one".into()))?;
    let decoded = zstd::decode_all(body).map_err(|e| bad(e.to_string()))?;
    let snapshot: Snapshot = postcard::from_bytes(&decoded).map_err(|e| bad(e.to_string()))?;

    create_private_dir(home.dir())?;
    for (name, secret, bytes) in &snapshot.files {
        let relative = Path::new(name);
        let safe = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe {
            return Err(bad(format!("it names a file outside the home: {name}")));
        }
        let path = home.dir().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        }
        if *secret {
            write_private(&path, bytes)?;
        } else {
            std::fs::write(&path, bytes).map_err(io("write", &path))?;
        }
    }
    if !same_device {
        home.renew_device_identity()?;
    }
    {
        let store = SledStore::open(&home.store_path())?;
        for (org, bytes, heads) in &snapshot.docs {
            let org = OrgCode::parse(org).map_err(|e| bad(e.to_string()))?;
            let heads: Vec<ChangeHash> = heads.iter().map(|h| ChangeHash(*h)).collect();
            store.append(&org, bytes, &heads)?;
        }
        for (key, state) in &snapshot.sync_states {
            let text = String::from_utf8_lossy(key);
            let (peer, org) = text
                .rsplit_once('/')
                .ok_or_else(|| bad("a sync state has no peer".into()))?;
            let org = OrgCode::parse(org).map_err(|e| bad(e.to_string()))?;
            store.set_sync_state(peer, &org, state)?;
        }
        for (name, rows) in &snapshot.tables {
            let table = Table::ALL
                .into_iter()
                .find(|t| t.name() == name)
                .ok_or_else(|| bad(format!("unknown table {name}")))?;
            let mut batch = Batch::default();
            for (k, v) in rows {
                batch.insert(k.clone(), v.clone());
            }
            store.apply(table, batch)?;
        }
        store.flush()?;
    }
    // Opening brings the index up to date with the documents, as after any crash.
    Ledger::open(home)?;
    Ok(BackupReport {
        file: file.to_path_buf(),
        documents: snapshot.docs.len(),
        bytes: raw.len() as u64,
    })
}

/// The home's files (not the store, not the socket, not temporary dot files), with
/// whether each is owner-only.
fn home_files(dir: &Path) -> Result<Vec<(String, bool, Vec<u8>)>, BackupError> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((at, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&at).map_err(io("read", &at))? {
            let entry = entry.map_err(io("read", &at))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || SKIPPED.contains(&name.as_str()) {
                continue;
            }
            let path = entry.path();
            let meta = entry.metadata().map_err(io("read", &path))?;
            let relative = format!("{prefix}{name}");
            if meta.is_dir() {
                if prefix.is_empty() && name == STORE_DIR {
                    continue;
                }
                pending.push((path, format!("{relative}/")));
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).map_err(io("read", &path))?;
                let secret = name == CONFIG_FILE
                    || name == ID_KEY_FILE
                    || meta.permissions().mode() & 0o077 == 0;
                files.push((relative, secret, bytes));
            }
        }
    }
    files.sort();
    Ok(files)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    file.write_all(bytes).map_err(io("write", &tmp))?;
    file.sync_all().map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("write", path))
}

fn create_private_dir(dir: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("create", dir))
}
