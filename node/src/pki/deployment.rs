//! The settings every node of one deployment shares, carried as one unit: today the
//! deployment's ID key (ID numbers are sealed to its public half; the offices that find
//! duplicates hold its private half). The CA holder keeps them beside the CA
//! (`deployment.toml`, owner-only, made at the first `pki init` or `pki enroll`),
//! enrollment files carry them to each device ([`Deployment::for_unit`]: a village's
//! file carries only the public half), and `init --enroll` installs them.

use std::path::{Path, PathBuf};

use halfsky_shared::idcard::{IdPublic, IdSecret};
use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use super::error::PkiError;
use super::files::{check_private, io, write_atomic};
use crate::config::{holds_id_secret, ConfigError, IdKeyGiven, NodeHome};

/// File in a CA directory holding the deployment's shared settings (secret).
pub const DEPLOYMENT_FILE: &str = "deployment.toml";

/// The deployment's shared settings.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deployment {
    /// The private half of the deployment's ID key, hex (secret: it opens every sealed
    /// ID number). Absent from a village's enrollment. In an older deployment's file
    /// (no `id_public`), its shared hash key: read as the seed of the key pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_key: Option<String>,
    /// The public half, hex: what every node seals ID numbers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_public: Option<String>,
    /// Private halves of the pairs `halfsky id-key replace` replaced, hex, oldest
    /// first: offices still open the numbers sealed to them. Absent from a village's
    /// enrollment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retired_id_keys: Vec<String>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("id_public", &self.id_public)
            .finish_non_exhaustive()
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
    /// New settings with a fresh ID key pair.
    pub fn generate() -> Self {
        Deployment::of_key(&IdKeyGiven::Secret(IdSecret::generate()))
    }

    fn of_key(key: &IdKeyGiven) -> Self {
        Deployment {
            id_key: match key {
                IdKeyGiven::Secret(secret) => Some(secret.to_hex()),
                IdKeyGiven::Public(_) => None,
            },
            id_public: Some(key.public().to_hex()),
            retired_id_keys: Vec::new(),
        }
    }

    /// The settings a node home holds (the private half only if it holds it).
    pub fn of_home(home: &NodeHome) -> Result<Self, ConfigError> {
        let ids = home.config()?.ids;
        Ok(Deployment::of_key(&match ids.opener {
            Some(opener) => IdKeyGiven::Secret(opener.secret),
            None => IdKeyGiven::Public(ids.public),
        }))
    }

    /// What a device of `org` is given: a village gets the public half only.
    pub fn for_unit(&self, org: OrgCode) -> Self {
        match self.id_key() {
            Some(key) if !holds_id_secret(org) => {
                Deployment::of_key(&IdKeyGiven::Public(key.public()))
            }
            _ => self.clone(),
        }
    }

    /// The deployment's ID key, as far as these settings hold it.
    pub fn id_key(&self) -> Option<IdKeyGiven> {
        if let Some(text) = &self.id_key {
            // An older deployment wrote only its shared hash key: the seed of the pair,
            // as older homes derive it.
            if self.id_public.is_none() {
                let seed = hex::decode(text.trim()).ok().filter(|b| b.len() >= 16)?;
                return Some(IdKeyGiven::Secret(IdSecret::from_seed(&seed)));
            }
            return IdSecret::from_hex(text).ok().map(IdKeyGiven::Secret);
        }
        let public = IdPublic::from_hex(self.id_public.as_deref()?).ok()?;
        Some(IdKeyGiven::Public(public))
    }

    /// The private halves of the pairs replaced before the current one (oldest first),
    /// for an office to open the numbers sealed to them.
    pub fn retired_id_keys(&self) -> Vec<IdSecret> {
        self.retired_id_keys
            .iter()
            .filter_map(|hex| IdSecret::from_hex(hex).ok())
            .collect()
    }

    /// Replaces the deployment's ID key pair in the CA directory's settings: a fresh
    /// pair becomes current, the one before joins the retired ones. Returns the new
    /// settings and the new private half. Refused when the CA has no settings yet.
    pub fn replace_id_key(ca_dir: &Path) -> Result<(Self, IdSecret), DeploymentError> {
        let path = ca_dir.join(DEPLOYMENT_FILE);
        if !path.exists() {
            return Err(DeploymentError::Damaged {
                path,
                reason: "it is missing, so this CA holds no ID key to replace; \
                         run the command with the CA directory that made the enrollments"
                    .into(),
            });
        }
        let (mut settings, _) = Deployment::load_or_create(ca_dir)?;
        let Some(IdKeyGiven::Secret(old)) = settings.id_key() else {
            unreachable!("load_or_create refuses settings without the private half")
        };
        let fresh = IdSecret::generate();
        settings.retired_id_keys.push(old.to_hex());
        settings.id_key = Some(fresh.to_hex());
        settings.id_public = Some(fresh.public().to_hex());
        settings.save(ca_dir)?;
        Ok((settings, fresh))
    }

    /// Writes the settings as the CA directory's `deployment.toml` (owner-only).
    pub fn save(&self, ca_dir: &Path) -> Result<(), DeploymentError> {
        let text = format!(
            "# The settings every node of this deployment shares (SECRET: keep with ca.key).\n{}",
            toml::to_string(self).expect("settings serialize")
        );
        write_atomic(&ca_dir.join(DEPLOYMENT_FILE), text.as_bytes(), true, true)?;
        Ok(())
    }

    /// The CA directory's settings; made (and saved, owner-only) if the CA has none
    /// yet. `true` when they were just made.
    pub fn load_or_create(ca_dir: &Path) -> Result<(Self, bool), DeploymentError> {
        let path = ca_dir.join(DEPLOYMENT_FILE);
        if !path.exists() {
            let fresh = Deployment::generate();
            fresh.save(ca_dir)?;
            return Ok((fresh, true));
        }
        check_private(&path)?;
        let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
        let damaged = |reason: String| DeploymentError::Damaged {
            path: path.clone(),
            reason,
        };
        let settings: Deployment = toml::from_str(&text).map_err(|e| damaged(e.to_string()))?;
        match settings.id_key() {
            Some(IdKeyGiven::Secret(_)) => {}
            _ => {
                return Err(damaged(
                    "id_key is not the deployment's private ID key".into(),
                ))
            }
        }
        if settings.retired_id_keys().len() != settings.retired_id_keys.len() {
            return Err(damaged(
                "a retired_id_keys entry is not a private ID key".into(),
            ));
        }
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
        let secret = made
            .id_key
            .clone()
            .expect("the CA's copy has the private half");
        assert!(!format!("{made:?}").contains(&secret), "never in logs");
        let village = made.for_unit("230129100201".parse().unwrap());
        assert!(
            village.id_key.is_none(),
            "a village's file has no private half"
        );
        assert_eq!(village.id_public, made.id_public);
        let county = made.for_unit("230129000000".parse().unwrap());
        assert_eq!(county, made);
    }
}
