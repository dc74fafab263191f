//! A node home: a directory holding `halfsky.toml` and the store. The TOML is read
//! into a private serde struct that documents each setting, then validated into a
//! [`NodeConfig`], so a bad file is refused with the line that is wrong.
//!
//! # Layout
//! - [`files`]: the names of what a node home holds.
//! - [`settings`]: the `[sync]` and `[dashboard]` settings and their validation.
//! - [`secrets`]: the ID key in its own 0600 file, moved out of older configs.
//! - [`error`]: why a node home could not be created or read ([`ConfigError`]).

pub mod error;
pub mod files;
mod secrets;
pub use secrets::{holds_id_secret, IdKeyGiven, IdKeys, IdOpener};
pub mod settings;

use std::path::{Path, PathBuf};

use automerge::ActorId;
use halfsky_shared::idcard::IdSecret;
use halfsky_shared::OrgCode;
use rand::Rng;

pub use error::ConfigError;
pub use files::{CONFIG_FILE, ID_KEY_FILE, STORE_DIR};
pub use settings::duration;
use settings::{
    validate_dashboard, validate_relay, validate_sync, RawConfig, RawDashboard, RawNode, RawRelay,
    RawSync,
};
pub use settings::{Congestion, DashboardConfig, DashboardUser, RelayOptions, Role, SyncConfig};

/// A validated node config.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The unit this node writes for.
    pub org: OrgCode,
    /// The unit's name.
    pub name: String,
    /// This device's name.
    pub device: String,
    /// Tag in record ids.
    pub device_tag: String,
    /// Automerge actor.
    pub actor: ActorId,
    /// The deployment's ID key as this node holds it (public half everywhere; the
    /// private half and a hash key at offices that find duplicates).
    pub ids: IdKeys,
    /// Links to parent and children.
    pub sync: SyncConfig,
    /// The web dashboard.
    pub dashboard: DashboardConfig,
    /// `[relay]`: re-deposits at the relay.
    pub relay: RelayOptions,
    /// The deployment's time zone (`[node] time_zone`, default Asia/Shanghai).
    pub zone: halfsky_shared::local_time::Zone,
}

/// A node home directory.
#[derive(Debug, Clone)]
pub struct NodeHome {
    dir: PathBuf,
}

fn random_tag() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";
    let mut rng = rand::rng();
    (0..4)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl NodeHome {
    /// The home at `dir` (not checked yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        NodeHome { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of `halfsky.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// Path of the store.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join(STORE_DIR)
    }

    /// Writes a fresh config for `org` (the store is created when first opened).
    pub fn init(
        &self,
        org: OrgCode,
        name: &str,
        device: &str,
        id_key: Option<IdKeyGiven>,
    ) -> Result<NodeConfig, ConfigError> {
        self.init_with(org, name, device, id_key, None, None)
    }

    /// Like [`NodeHome::init`], with the parent's address and a listen address.
    pub fn init_with(
        &self,
        org: OrgCode,
        name: &str,
        device: &str,
        id_key: Option<IdKeyGiven>,
        parent: Option<String>,
        listen: Option<String>,
    ) -> Result<NodeConfig, ConfigError> {
        let path = self.config_path();
        if path.exists() {
            return Err(ConfigError::AlreadyAHome(self.dir.clone()));
        }
        create_private_dir(&self.dir).map_err(|source| ConfigError::Io {
            op: "create",
            path: self.dir.clone(),
            source,
        })?;
        // Without the deployment's key, this home starts a deployment of its own (a
        // village of one keeps only the public half: its numbers stay sealed).
        let given = id_key.unwrap_or_else(|| IdKeyGiven::Secret(IdSecret::generate()));
        let raw = RawConfig {
            node: RawNode {
                org: org.to_string(),
                name: name.trim().to_string(),
                device: device.to_string(),
                device_tag: random_tag(),
                actor: ActorId::random().to_hex_string(),
                id_key: None,
                id_public: Some(given.public().to_hex()),
                time_zone: Some(halfsky_shared::local_time::DEFAULT_ZONE.to_string()),
            },
            sync: RawSync {
                parent,
                listen,
                ..RawSync::default()
            },
            dashboard: RawDashboard::default(),
            relay: RawRelay::default(),
        };
        validate_sync(&raw.sync).map_err(|reason| ConfigError::Invalid {
            path: path.clone(),
            reason,
        })?;
        let body = toml::to_string(&raw).expect("config serializes");
        let text = format!(
            "# halfsky node configuration (see config/ in the source for every setting).\n\
             # device_tag and actor identify this device: never copy them to another one.\n\
             # id_public is the deployment's ID key (public half); the private half is only at\n\
             # offices that find duplicates, in id.key beside this file (owner-only).\n\n{body}"
        );
        self.install_id_key(org, &given)?;
        write_private(&path, &text).map_err(|source| ConfigError::Io {
            op: "write",
            path: path.clone(),
            source,
        })?;
        self.config()
    }

    /// Sets (or with `None` removes) one key of the `[sync]` table in `halfsky.toml`,
    /// e.g. the parent's address when it moved. See [`NodeHome::set_option`].
    pub fn set_sync_option(&self, key: &str, value: Option<&str>) -> Result<(), ConfigError> {
        self.set_option("sync", key, value)
    }

    /// Sets (or with `None` removes) `key` in the `[table]` of `halfsky.toml`, keeping
    /// the file's comments and layout. The file is replaced atomically, and restored
    /// if the result does not validate.
    pub fn set_option(
        &self,
        table: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), ConfigError> {
        let path = self.config_path();
        let io = |op: &'static str, source| ConfigError::Io {
            op,
            path: path.clone(),
            source,
        };
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.clone(),
            reason,
        };
        let old = std::fs::read_to_string(&path).map_err(|e| io("read", e))?;
        let mut doc: toml_edit::DocumentMut = old.parse().map_err(|e| invalid(format!("{e}")))?;
        let section = doc
            .entry(table)
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
            .as_table_mut()
            .ok_or_else(|| invalid(format!("[{table}] is not a table")))?;
        match value {
            Some(v) => {
                section.insert(key, toml_edit::value(v));
            }
            None => {
                section.remove(key);
            }
        }
        let write = |text: &str| write_private(&path, text);
        write(&doc.to_string()).map_err(|e| io("write", e))?;
        if let Err(e) = self.config() {
            write(&old).map_err(|e| io("restore", e))?;
            return Err(e);
        }
        Ok(())
    }

    /// Gives this home a fresh Automerge actor id and device tag, keeping everything
    /// else: for a home restored from a backup, so that it never writes changes under
    /// the actor (or record ids under the tag) of the machine the backup came from.
    pub fn renew_device_identity(&self) -> Result<(), ConfigError> {
        self.set_option("node", "actor", Some(&ActorId::random().to_hex_string()))?;
        self.set_option("node", "device_tag", Some(&random_tag()))
    }

    /// Makes the node home its owner's only (0700) if it is looser, as a home made by
    /// an older release may be: it holds the store, the keys and the local socket.
    pub fn make_private(&self) -> Result<(), ConfigError> {
        use std::os::unix::fs::PermissionsExt;
        let io = |source| ConfigError::Io {
            op: "protect",
            path: self.dir.clone(),
            source,
        };
        let mode = std::fs::metadata(&self.dir)
            .map_err(io)?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io)?;
            tracing::info!(home = %self.dir.display(), "node home made owner-only (0700)");
        }
        Ok(())
    }

    /// Reads and validates `halfsky.toml`.
    pub fn config(&self) -> Result<NodeConfig, ConfigError> {
        let path = self.config_path();
        if !path.exists() {
            return Err(ConfigError::NotAHome(self.dir.clone()));
        }
        let text = read_text(&path)?;
        let invalid = invalid_in(&path);
        let raw: RawConfig = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let org = OrgCode::parse(&raw.node.org).map_err(|e| invalid(format!("node.org: {e}")))?;
        let actor_bytes = hex::decode(&raw.node.actor)
            .ok()
            .filter(|b| b.len() == 16)
            .ok_or_else(|| invalid("node.actor must be 32 hex digits".into()))?;
        let ids = self.read_id_keys(
            org,
            raw.node.id_key.as_deref(),
            raw.node.id_public.as_deref(),
        )?;
        let tag = raw.node.device_tag.trim().to_ascii_uppercase();
        if tag.is_empty() || tag.len() > 8 || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid(
                "node.device_tag must be 1-8 letters or digits".into(),
            ));
        }
        let sync = validate_sync(&raw.sync).map_err(invalid)?;
        let dashboard = validate_dashboard(&raw.dashboard).map_err(invalid)?;
        let relay = validate_relay(&raw.relay).map_err(invalid)?;
        let zone = match raw.node.time_zone.as_deref() {
            Some(name) => name
                .parse()
                .map_err(|e| invalid(format!("node.time_zone: {e}")))?,
            None => Default::default(),
        };
        Ok(NodeConfig {
            zone,
            sync,
            dashboard,
            relay,
            org,
            name: raw.node.name,
            device: raw.node.device,
            device_tag: tag,
            actor: ActorId::from(actor_bytes),
            ids,
        })
    }
}

/// Adds (or replaces) a dashboard user in `halfsky.toml`, keeping the file's comments
/// and layout. `password_hash` is an argon2 PHC string.
pub fn set_dashboard_user(
    home: &NodeHome,
    name: &str,
    role: Role,
    password_hash: &str,
) -> Result<(), ConfigError> {
    let path = home.config_path();
    home.config()?;
    let text = read_text(&path)?;
    let invalid = invalid_in(&path);
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| invalid(format!("{e}")))?;
    let dashboard = doc
        .entry("dashboard")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_mut()
        .ok_or_else(|| invalid("dashboard must be a table".into()))?;
    let users = dashboard
        .entry("users")
        .or_insert_with(|| toml_edit::Item::ArrayOfTables(toml_edit::ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| invalid("dashboard.users must be [[dashboard.users]] tables".into()))?;
    let mut entry = toml_edit::Table::new();
    entry["name"] = toml_edit::value(name);
    entry["role"] = toml_edit::value(role.as_str());
    entry["password_hash"] = toml_edit::value(password_hash);
    let existing = users
        .iter()
        .position(|t| t.get("name").and_then(|v| v.as_str()) == Some(name));
    match existing {
        Some(i) => *users.get_mut(i).expect("found above") = entry,
        None => users.push(entry),
    }
    write_private(&path, &doc.to_string()).map_err(|source| ConfigError::Io {
        op: "write",
        path: path.clone(),
        source,
    })?;
    home.config().map(|_| ())
}

/// Writes `halfsky.toml` (it holds password hashes) or `id.key` readable by its
/// owner only: into a temporary file created 0600 beside it, flushed, then renamed
/// over the old one, so the file is never half-written and never briefly readable by
/// others.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Creates a node home that only its owner can enter (0700): it holds the store and
/// the keys.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The text of `halfsky.toml` at `path`.
fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Makes "`path` is invalid: reason" errors.
fn invalid_in(path: &Path) -> impl Fn(String) -> ConfigError + Copy + '_ {
    move |reason| ConfigError::Invalid {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let home = NodeHome::new(dir.path().join("v"));
        let org = OrgCode::parse("230129100201").unwrap();
        let config = home.init(org, "红星村", "laptop", None).unwrap();
        assert_eq!(config.org, org);
        assert_eq!(config.device_tag.len(), 4);
        assert!(matches!(
            home.init(org, "x", "y", None),
            Err(ConfigError::AlreadyAHome(_))
        ));
        std::fs::write(home.config_path(), "[node]\norg = \"23012910020X\"\n").unwrap();
        let err = home.config().unwrap_err().to_string();
        assert!(err.contains("halfsky.toml"), "{err}");
    }

    #[test]
    fn the_home_and_its_config_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = NodeHome::new(dir.path().join("v"));
        let org = OrgCode::parse("230129100201").unwrap();
        home.init(org, "红星村", "laptop", None).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(home.dir()), 0o700);
        assert_eq!(mode(&home.config_path()), 0o600);
        home.set_sync_option("parent", Some("town:7410")).unwrap();
        assert_eq!(mode(&home.config_path()), 0o600, "rewritten still private");
        std::fs::set_permissions(home.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
        home.make_private().unwrap();
        assert_eq!(
            mode(home.dir()),
            0o700,
            "an older, looser home is tightened"
        );
    }

    /// MTU probes are off unless a `[sync]` asks for them; a wrong type is refused
    /// naming the file.
    #[test]
    fn mtu_discovery_is_off_unless_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let home = NodeHome::new(dir.path().join("v"));
        let org = OrgCode::parse("230129100201").unwrap();
        home.init(org, "红星村", "laptop", None).unwrap();
        assert!(!home.config().unwrap().sync.mtu_discovery);
        let text = std::fs::read_to_string(home.config_path()).unwrap();
        let with = |line: &str| {
            let mut table: toml::Table = toml::from_str(&text).unwrap();
            let sync = table
                .entry("sync")
                .or_insert_with(|| toml::Value::Table(Default::default()));
            let extra: toml::Table = toml::from_str(line).unwrap();
            sync.as_table_mut().unwrap().extend(extra);
            std::fs::write(home.config_path(), toml::to_string(&table).unwrap()).unwrap();
        };
        with("mtu_discovery = true");
        assert!(home.config().unwrap().sync.mtu_discovery);
        with("mtu_discovery = \"yes\"");
        let err = home.config().unwrap_err().to_string();
        assert!(err.contains("halfsky.toml"), "{err}");
    }

    /// The pairing rhythm is read from `[dashboard]`; zero days is refused by name.
    #[test]
    fn the_pairing_rhythm_is_configurable() {
        let dir = tempfile::tempdir().unwrap();
        let home = NodeHome::new(dir.path().join("v"));
        let org = OrgCode::parse("230129100201").unwrap();
        home.init(org, "红星村", "laptop", None).unwrap();
        let defaults = home.config().unwrap().dashboard.rhythm;
        assert_eq!(
            (defaults.phone_every_days, defaults.visit_every_days),
            (30, 60)
        );
        let text = std::fs::read_to_string(home.config_path()).unwrap();
        std::fs::write(
            home.config_path(),
            format!("{text}\n[dashboard]\nphone_every_days = 14\nvisit_every_days = 45\n"),
        )
        .unwrap();
        let rhythm = home.config().unwrap().dashboard.rhythm;
        assert_eq!((rhythm.phone_every_days, rhythm.visit_every_days), (14, 45));
        std::fs::write(
            home.config_path(),
            format!("{text}\n[dashboard]\nphone_every_days = 0\n"),
        )
        .unwrap();
        let err = home.config().unwrap_err().to_string();
        assert!(err.contains("phone_every_days must be at least 1"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(duration("2m", "x").unwrap().as_secs(), 120);
        assert_eq!(duration("90s", "x").unwrap().as_secs(), 90);
        assert_eq!(duration("1h", "x").unwrap().as_secs(), 3600);
        assert_eq!(duration("250ms", "x").unwrap().as_millis(), 250);
        assert!(duration("0s", "x").is_err());
        assert!(duration("2 weeks", "x")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(duration("soon", "x").unwrap_err().contains("duration"));
    }

    #[test]
    fn example_configs_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml")
                || path.ends_with("relay.toml")
            {
                continue;
            }
            let home_dir = tempfile::tempdir().unwrap();
            std::fs::copy(&path, home_dir.path().join(CONFIG_FILE)).unwrap();
            NodeHome::new(home_dir.path())
                .write_id_opener(&IdOpener::new(
                    IdSecret::generate(),
                    halfsky_shared::idcard::IdKey::generate(),
                ))
                .unwrap();
            let config = NodeHome::new(home_dir.path())
                .config()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(config.sync.congestion, Congestion::Bbr);
            seen += 1;
        }
        assert!(seen >= 4, "one example per level");
    }
}
