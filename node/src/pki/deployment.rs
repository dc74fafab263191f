//! The settings every node of one deployment shares, carried as one unit: today the
//! ID-number hashing key (so a woman registered in two units is found as one). The CA
//! holder keeps them beside the CA (`deployment.toml`, owner-only, made at the first
//! `pki init` or `pki enroll`), enrollment files carry them to each device, and
//! `init --enroll` installs them. Adding a shared setting, or moving the key into a
//! file of its own, changes this one type and its two ends ([`Deployment::of_home`],
//! [`Deployment::id_key`]).

use std::path::{Path, PathBuf};

use halfsky_shared::idcard::IdKey;
use serde::{Deserialize, Serialize};

use super::error::PkiError;
use super::files::{check_private, io, write_atomic};
use crate::config::{ConfigError, NodeHome};

/// File in a CA directory holding the deployment's shared settings (secret).
pub const DEPLOYMENT_FILE: &str = "deployment.toml";

/// The deployment's shared settings.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deployment {
    /// The ID-number hashing key, hex (secret: with it, ID numbers can be guessed back
    /// from their hashes).
    id_key: String,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment").finish_non_exhaustive()
    }
}

/// Why the deployment's settings could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// The CA directory's file could not be read or written.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The file is not what halfsky wrote.
    #[error("{} is damaged ({reason}); restore it from the CA's backup: every node of the deployment shares it", .path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A node home's settings could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl Deployment {
    /// New settings with a fresh ID key.
    pub fn generate() -> Self {
        Deployment {
            id_key: IdKey::generate().to_hex(),
        }
    }

    /// The settings a node home holds.
    pub fn of_home(home: &NodeHome) -> Result<Self, ConfigError> {
        Ok(Deployment {
            id_key: home.config()?.id_key.to_hex(),
        })
    }

    /// The ID-number key.
    pub fn id_key(&self) -> Option<IdKey> {
        IdKey::from_hex(&self.id_key)
    }

    /// The CA directory's settings; made (and saved, owner-only) if the CA has none
    /// yet. `true` when they were just made.
    pub fn load_or_create(ca_dir: &Path) -> Result<(Self, bool), DeploymentError> {
        let path = ca_dir.join(DEPLOYMENT_FILE);
        if !path.exists() {
            let fresh = Deployment::generate();
            let text = format!(
                "# The settings every node of this deployment shares (SECRET: keep with ca.key).\n{}",
                toml::to_string(&fresh).expect("settings serialize")
            );
            write_atomic(&path, text.as_bytes(), true, false)?;
            return Ok((fresh, true));
        }
        check_private(&path)?;
        let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
        let damaged = |reason: String| DeploymentError::Damaged {
            path: path.clone(),
            reason,
        };
        let settings: Deployment = toml::from_str(&text).map_err(|e| damaged(e.to_string()))?;
        settings
            .id_key()
            .ok_or_else(|| damaged("id_key is not at least 32 hex digits".into()))?;
        Ok((settings, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_read_back_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let (made, created) = Deployment::load_or_create(dir.path()).expect("made");
        assert!(created);
        let (read, created) = Deployment::load_or_create(dir.path()).expect("read");
        assert!(!created);
        assert_eq!(made, read);
        let path = dir.path().join(DEPLOYMENT_FILE);
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!format!("{made:?}").contains(&made.id_key), "never in logs");
    }
}
