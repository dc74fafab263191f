//! A relay home: `relay.toml`, the store directory and the relay's certificate files
//! (`node.pem`, `node.key`, `ca.pem`, as `halfsky pki issue` writes them). The TOML is
//! read into a private serde struct documenting each setting, then validated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::Quota;

/// Config file name in a relay home.
pub const CONFIG_FILE: &str = "relay.toml";
/// Store directory in a relay home.
pub const STORE_DIR: &str = "store";
/// The commented example written by `init` (also `config/relay.toml` in the source).
pub const EXAMPLE: &str = include_str!("../../config/relay.toml");

/// Why a relay home could not be created or read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No relay.toml.
    #[error("{} is not a relay home (no {CONFIG_FILE}); create one with `halfsky-relay init -d {}`", .0.display(), .0.display())]
    NotAHome(PathBuf),
    /// `init` over an existing home.
    #[error("{} already holds a relay; use it as it is or choose another directory", .0.display())]
    AlreadyAHome(PathBuf),
    /// Reading or writing failed.
    #[error("cannot {op} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A bad setting.
    #[error("{} is not a valid relay config: {reason}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawRelay {
    /// Address nodes dial.
    listen: String,
    /// Bytes one sender may have waiting (default 64 MiB).
    #[serde(default)]
    max_bytes_per_sender: Option<u64>,
    /// Bundles one sender may have waiting (default 1024).
    #[serde(default)]
    max_bundles_per_sender: Option<u64>,
    /// Seconds between expiry sweeps (default 600).
    #[serde(default)]
    prune_every_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    relay: RawRelay,
}

/// A validated relay config.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Per-sender limits.
    pub quota: Quota,
    /// Interval of expiry sweeps.
    pub prune_every: Duration,
}

/// A relay's directory.
#[derive(Debug, Clone)]
pub struct RelayHome {
    dir: PathBuf,
}

impl RelayHome {
    /// The home at `dir` (not checked yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RelayHome { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store directory.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join(STORE_DIR)
    }

    /// Writes the commented example config, listening on `listen`.
    pub fn init(&self, listen: &str) -> Result<RelayConfig, ConfigError> {
        let path = self.dir.join(CONFIG_FILE);
        if path.exists() {
            return Err(ConfigError::AlreadyAHome(self.dir.clone()));
        }
        let io = |op, source| ConfigError::Io {
            op,
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| io("create the directory of", e))?;
        let text = EXAMPLE.replace(
            "listen = \"0.0.0.0:7420\"",
            &format!("listen = \"{listen}\""),
        );
        let tmp = self.dir.join(".relay.toml.tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| io("write", e))?;
        self.config()
    }

    /// Reads and validates `relay.toml`.
    pub fn config(&self) -> Result<RelayConfig, ConfigError> {
        let path = self.dir.join(CONFIG_FILE);
        if !path.exists() {
            return Err(ConfigError::NotAHome(self.dir.clone()));
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            op: "read",
            path: path.clone(),
            source,
        })?;
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.clone(),
            reason,
        };
        let raw: RawConfig = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let listen = raw.relay.listen.parse().map_err(|_| {
            invalid(format!(
                "relay.listen = \"{}\" must be ip:port, e.g. 0.0.0.0:7420",
                raw.relay.listen
            ))
        })?;
        let positive = |v: Option<u64>, d: u64, name: &str| match v {
            Some(0) => Err(invalid(format!("relay.{name} must be at least 1"))),
            Some(n) => Ok(n),
            None => Ok(d),
        };
        Ok(RelayConfig {
            listen,
            quota: Quota {
                bytes: positive(
                    raw.relay.max_bytes_per_sender,
                    64 << 20,
                    "max_bytes_per_sender",
                )?,
                count: positive(
                    raw.relay.max_bundles_per_sender,
                    1024,
                    "max_bundles_per_sender",
                )?,
            },
            prune_every: Duration::from_secs(positive(
                raw.relay.prune_every_secs,
                600,
                "prune_every_secs",
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_is_valid_and_init_uses_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = RelayHome::new(dir.path().join("r"));
        let config = home.init("127.0.0.1:0").unwrap();
        assert_eq!(config.quota.count, 1024);
        assert_eq!(config.quota.bytes, 64 << 20);
        assert!(matches!(
            home.init("127.0.0.1:0"),
            Err(ConfigError::AlreadyAHome(_))
        ));
        std::fs::write(dir.path().join("r/relay.toml"), "[relay]\nlisten = \"x\"\n").unwrap();
        assert!(home.config().unwrap_err().to_string().contains("ip:port"));
    }
}
