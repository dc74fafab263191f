//! The deployment's ID key at a node (see `halfsky_shared::idcard`). Every home has the
//! **public** half in `[node] id_public`: numbers typed here are sealed to it. The
//! offices that find duplicates (township, county, city) also hold the **private** half
//! and their own hash key in an owner-only file, `id.key`, never in the config (it is
//! shown, copied and edited by hand; a secret there leaks with it). A village never holds
//! them: a lost village laptop, its backups or a copy of its store give no way to open a
//! sealed number. Older homes kept one shared hash key (`[node] id_key`, later a bare hex
//! `id.key`): opening one turns it into the new form, and a village's copy is removed.

use std::path::Path;

use halfsky_shared::idcard::{IdKey, IdPublic, IdSecret, Sealer};
use halfsky_shared::org::Level;
use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use super::files::ID_KEY_FILE;
use super::{invalid_in, read_text, write_private, ConfigError, NodeHome};

/// The deployment's ID key as handed to a new home: the private half (for an office
/// that finds duplicates; a village keeps only its public half) or the public half.
#[derive(Debug, Clone)]
pub enum IdKeyGiven {
    /// The private half (from the CA's `deployment.toml` or another office's `id.key`).
    Secret(IdSecret),
    /// The public half only.
    Public(IdPublic),
}

impl IdKeyGiven {
    /// The public half.
    pub fn public(&self) -> IdPublic {
        match self {
            IdKeyGiven::Secret(secret) => secret.public(),
            IdKeyGiven::Public(public) => public.clone(),
        }
    }
}

/// What a node holds to protect ID numbers.
#[derive(Debug, Clone)]
pub struct IdKeys {
    /// The deployment's ID public key: every number typed here is sealed to it.
    pub public: IdPublic,
    /// Seals to `public` (one ephemeral key per thousand seals, in memory only).
    pub sealer: std::sync::Arc<Sealer>,
    /// At an office that finds duplicates: what opens and hashes sealed numbers.
    pub opener: Option<IdOpener>,
}

impl IdKeys {
    /// Keys sealing to `public`, opening with `opener` (at an office).
    pub(crate) fn new(public: IdPublic, opener: Option<IdOpener>) -> Self {
        IdKeys {
            sealer: std::sync::Arc::new(Sealer::new(public.clone())),
            public,
            opener,
        }
    }
}

/// The private half of the deployment's ID key and this node's own hash key: it opens
/// each sealed number as it arrives and indexes the number's keyed hash (the hash never
/// leaves the node, so each office may rotate its hash key alone).
#[derive(Debug, Clone)]
pub struct IdOpener {
    /// Opens sealed numbers: the private half this home was made with.
    pub secret: IdSecret,
    /// Private halves added since (`halfsky id-key replace` or `add`), oldest first:
    /// numbers sealed after a replacement open with the newer ones, older numbers
    /// still with `secret`.
    pub added: Vec<IdSecret>,
    /// Keys the hash the index finds duplicates by.
    pub hash: IdKey,
}

impl IdOpener {
    /// An opener with one private half.
    pub fn new(secret: IdSecret, hash: IdKey) -> Self {
        IdOpener {
            secret,
            added: Vec::new(),
            hash,
        }
    }

    /// Every private half it holds, the first one first.
    pub fn secrets(&self) -> impl Iterator<Item = &IdSecret> {
        std::iter::once(&self.secret).chain(&self.added)
    }

    /// Whether it holds the private half of `public`.
    pub fn opens(&self, public: &IdPublic) -> bool {
        self.secrets().any(|s| s.public() == *public)
    }
}

/// `id.key` as written.
#[derive(Serialize, Deserialize)]
struct IdKeyFile {
    /// The private half of the deployment's ID key, hex.
    secret: String,
    /// This node's key for hashing opened numbers, hex.
    hash: String,
    /// Private halves added since, hex, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    added: Vec<String>,
}

/// Whether a unit of this level holds the private half: every office with units below
/// it (their cards meet there), never a village.
pub fn holds_id_secret(org: OrgCode) -> bool {
    org.level() != Level::Village
}

impl NodeHome {
    /// Path of the ID key file (owner-only; only at offices that find duplicates).
    pub fn id_key_path(&self) -> std::path::PathBuf {
        self.dir().join(ID_KEY_FILE)
    }

    /// Writes `opener` as this home's `id.key` (owner-only, atomically).
    pub fn write_id_opener(&self, opener: &IdOpener) -> Result<(), ConfigError> {
        let path = self.id_key_path();
        let file = IdKeyFile {
            secret: opener.secret.to_hex(),
            hash: opener.hash.to_hex(),
            added: opener.added.iter().map(IdSecret::to_hex).collect(),
        };
        let text = format!(
            "# SECRET. The deployment's ID key (private halves: they open every sealed ID number)\n\
             # and this node's hash key. Only offices that find duplicates hold it; never copy\n\
             # it to a village. `halfsky id-key rotate` replaces the hash key; `id-key add`\n\
             # adds the private half of a replaced pair.\n{}",
            toml::to_string(&file).expect("keys serialize")
        );
        write_private(&path, &text).map_err(|source| ConfigError::Io {
            op: "write",
            path,
            source,
        })
    }

    /// Replaces this node's hash key with a fresh one (the private half stays). The
    /// index must then be rebuilt (`halfsky reindex`) so every number is hashed anew.
    pub fn rotate_id_hash_key(&self) -> Result<(), ConfigError> {
        let config = self.config()?;
        let Some(mut opener) = config.ids.opener else {
            return Err(ConfigError::NoIdKey { org: config.org });
        };
        opener.hash = IdKey::generate();
        self.write_id_opener(&opener)
    }

    /// Adds private halves of the deployment's ID key (a replaced pair's, from the
    /// CA holder's file) to this office's `id.key`; the number not held before.
    /// Refused at a village, which never holds one.
    pub fn add_id_secrets(&self, secrets: &[IdSecret]) -> Result<usize, ConfigError> {
        let config = self.config()?;
        let Some(mut opener) = config.ids.opener else {
            return Err(ConfigError::NoIdKey { org: config.org });
        };
        let mut added = 0;
        for secret in secrets {
            if !opener.opens(&secret.public()) {
                opener.added.push(secret.clone());
                added += 1;
            }
        }
        if added > 0 {
            self.write_id_opener(&opener)?;
        }
        Ok(added)
    }

    /// Writes a new home's ID keys: the public half in the config (done by the
    /// caller), and at an office, `id.key` with the private half and a fresh hash key.
    pub(crate) fn install_id_key(
        &self,
        org: OrgCode,
        given: &IdKeyGiven,
    ) -> Result<(), ConfigError> {
        if let (IdKeyGiven::Secret(secret), true) = (given, holds_id_secret(org)) {
            self.write_id_opener(&IdOpener::new(secret.clone(), IdKey::generate()))?;
        }
        Ok(())
    }

    /// This home's ID keys, after turning an older home's shared key (`legacy`, from
    /// `[node] id_key`, or a bare hex `id.key`) into the new form.
    pub(crate) fn read_id_keys(
        &self,
        org: OrgCode,
        legacy: Option<&str>,
        public: Option<&str>,
    ) -> Result<IdKeys, ConfigError> {
        let path = self.id_key_path();
        let config = self.config_path();
        if let Some(hex) = legacy {
            let key = IdKey::from_hex(hex).ok_or_else(|| {
                invalid_in(&config)("node.id_key must be at least 32 hex digits".into())
            })?;
            if path.exists() {
                if let Some(file) = self.legacy_key_file(&path)? {
                    if file.to_hex() != key.to_hex() {
                        return Err(invalid_in(&config)(format!(
                            "node.id_key differs from {}; keep the right one in {} and \
                             delete the id_key line",
                            path.display(),
                            ID_KEY_FILE
                        )));
                    }
                }
            }
            return self.upgrade_legacy(org, &key);
        }
        if path.exists() {
            if let Some(key) = self.legacy_key_file(&path)? {
                return self.upgrade_legacy(org, &key);
            }
            let opener = self.read_opener(&path)?;
            if !holds_id_secret(org) {
                return self.drop_village_secret(&opener.secret);
            }
            let own = opener.secret.public();
            let public = match public {
                Some(text) => match IdPublic::from_hex(text) {
                    Ok(p) if opener.opens(&p) => p,
                    _ => {
                        return Err(invalid_in(&config)(format!(
                            "node.id_public is not the public half of a key in {ID_KEY_FILE}; \
                             restore both from the same backup"
                        )))
                    }
                },
                None => {
                    set_id_public(&config, &own)?;
                    own
                }
            };
            return Ok(IdKeys::new(public, Some(opener)));
        }
        let Some(text) = public else {
            return Err(invalid_in(&config)(format!(
                "the deployment's ID key is missing: there is no node.id_public here and no \
                 {ID_KEY_FILE}; restore them from a backup, or make the home again from an \
                 enrollment file"
            )));
        };
        let public = IdPublic::from_hex(text)
            .map_err(|e| invalid_in(&config)(format!("node.id_public: {e}")))?;
        Ok(IdKeys::new(public, None))
    }

    /// A bare hex `id.key` (the shared key of older homes), if that is what `path` holds.
    fn legacy_key_file(&self, path: &Path) -> Result<Option<IdKey>, ConfigError> {
        let text = read_text(path)?;
        Ok(if text.contains('=') {
            None
        } else {
            Some(
                IdKey::from_hex(&text).ok_or_else(|| {
                    invalid_in(path)("an ID key is at least 32 hex digits".into())
                })?,
            )
        })
    }

    fn read_opener(&self, path: &Path) -> Result<IdOpener, ConfigError> {
        let invalid = invalid_in(path);
        let file: IdKeyFile = toml::from_str(&read_text(path)?)
            .map_err(|e| invalid(format!("{e}; restore {ID_KEY_FILE} from a backup")))?;
        let added = file
            .added
            .iter()
            .map(|hex| IdSecret::from_hex(hex).map_err(|e| invalid(format!("added: {e}"))))
            .collect::<Result<_, _>>()?;
        Ok(IdOpener {
            secret: IdSecret::from_hex(&file.secret)
                .map_err(|e| invalid(format!("secret: {e}")))?,
            added,
            hash: IdKey::from_hex(&file.hash)
                .ok_or_else(|| invalid("hash: at least 32 hex digits".into()))?,
        })
    }

    /// An older home's shared key becomes the seed of the deployment's ID key (every
    /// node of an older deployment shared it, so all derive the same key pair).
    fn upgrade_legacy(&self, org: OrgCode, key: &IdKey) -> Result<IdKeys, ConfigError> {
        let secret = IdSecret::from_seed(&hex::decode(key.to_hex()).unwrap_or_default());
        let config = self.config_path();
        if !holds_id_secret(org) {
            return self.drop_village_secret(&secret);
        }
        let opener = IdOpener::new(secret, key.clone());
        self.write_id_opener(&opener)?;
        set_id_public(&config, &opener.secret.public())?;
        tracing::info!(file = %self.id_key_path().display(), "ID key moved to its own file");
        Ok(IdKeys::new(opener.secret.public(), Some(opener)))
    }

    /// A village keeps only the public half: the config gets it, the secret file goes.
    fn drop_village_secret(&self, secret: &IdSecret) -> Result<IdKeys, ConfigError> {
        let public = secret.public();
        set_id_public(&self.config_path(), &public)?;
        let path = self.id_key_path();
        if path.exists() {
            std::fs::remove_file(&path).map_err(|source| ConfigError::Io {
                op: "remove",
                path: path.clone(),
                source,
            })?;
        }
        tracing::warn!(
            "a village keeps no ID key: {ID_KEY_FILE} removed, its public half kept in halfsky.toml"
        );
        Ok(IdKeys::new(public, None))
    }
}

/// Rewrites `halfsky.toml` with `[node] id_public` set and no `[node] id_key`, keeping
/// its comments and layout.
fn set_id_public(config: &Path, public: &IdPublic) -> Result<(), ConfigError> {
    let text = read_text(config)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| invalid_in(config)(format!("{e}")))?;
    if let Some(node) = doc.get_mut("node").and_then(|n| n.as_table_mut()) {
        node.remove("id_key");
        node.insert("id_public", toml_edit::value(public.to_hex()));
    }
    write_private(config, &doc.to_string()).map_err(|source| ConfigError::Io {
        op: "write",
        path: config.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const VILLAGE: &str = "230129100201";
    const COUNTY: &str = "230129000000";

    fn home_at(dir: &Path, org: &str, given: Option<IdKeyGiven>) -> NodeHome {
        let home = NodeHome::new(dir.join(org));
        home.init(org.parse().unwrap(), "单位", "pc", given)
            .unwrap();
        home
    }

    #[test]
    fn only_offices_hold_the_private_half_in_an_owner_only_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = IdSecret::generate();
        let given = Some(IdKeyGiven::Secret(secret.clone()));
        let village = home_at(dir.path(), VILLAGE, given.clone());
        let county = home_at(dir.path(), COUNTY, given);
        let v = village.config().unwrap().ids;
        assert_eq!(v.public, secret.public());
        assert!(v.opener.is_none() && !village.id_key_path().exists());
        let text = std::fs::read_to_string(village.config_path()).unwrap();
        assert!(!text.contains(&secret.to_hex()), "{text}");
        let c = county.config().unwrap().ids;
        assert_eq!(c.public, secret.public());
        let opener = c.opener.expect("the county opens numbers");
        assert_eq!(opener.secret.to_hex(), secret.to_hex());
        let mode = std::fs::metadata(county.id_key_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(county.config_path()).unwrap();
        assert!(!text.contains(&secret.to_hex()), "{text}");

        // Rotating keeps the private half and changes the hash key.
        county.rotate_id_hash_key().unwrap();
        let rotated = county.config().unwrap().ids.opener.unwrap();
        assert_eq!(rotated.secret.to_hex(), secret.to_hex());
        assert_ne!(rotated.hash.to_hex(), opener.hash.to_hex());
        assert!(village.rotate_id_hash_key().is_err(), "a village has none");
    }

    #[test]
    fn an_old_home_has_its_shared_key_turned_into_the_new_form() {
        let dir = tempfile::tempdir().unwrap();
        let key = IdKey::new(vec![7; 32]);
        let expected = IdSecret::from_seed(&[7; 32]).public();
        for org in [VILLAGE, COUNTY] {
            let home = home_at(dir.path(), org, None);
            // An older home: the shared key in the config, no key file, no public half.
            let _ = std::fs::remove_file(home.id_key_path());
            let config = std::fs::read_to_string(home.config_path()).unwrap();
            let old: String = config
                .lines()
                .filter(|l| !l.starts_with("id_public"))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                .replace(
                    "[node]\n",
                    &format!("[node]\nid_key = \"{}\"\n", key.to_hex()),
                );
            std::fs::write(home.config_path(), old).unwrap();
            let ids = home.config().unwrap().ids;
            assert_eq!(ids.public, expected, "{org}");
            let config = std::fs::read_to_string(home.config_path()).unwrap();
            assert!(!config.contains(&key.to_hex()), "moved out: {config}");
            assert!(config.contains("单位"), "the rest is kept: {config}");
            assert_eq!(ids.opener.is_some(), org == COUNTY);
            assert_eq!(home.id_key_path().exists(), org == COUNTY, "{org}");
            // Reopened, the same.
            assert_eq!(home.config().unwrap().ids.public, expected);
        }
    }

    #[test]
    fn a_village_given_the_private_half_by_hand_drops_it() {
        let dir = tempfile::tempdir().unwrap();
        let secret = IdSecret::generate();
        let village = home_at(
            dir.path(),
            VILLAGE,
            Some(IdKeyGiven::Public(secret.public())),
        );
        let opener = IdOpener::new(secret.clone(), IdKey::generate());
        village.write_id_opener(&opener).unwrap();
        let ids = village.config().unwrap().ids;
        assert!(ids.opener.is_none());
        assert!(!village.id_key_path().exists());
        // A public half that does not match the private half is refused at an office.
        let county = home_at(dir.path(), COUNTY, Some(IdKeyGiven::Secret(secret)));
        let other = IdOpener::new(IdSecret::generate(), IdKey::generate());
        county.write_id_opener(&other).unwrap();
        let err = county.config().unwrap_err().to_string();
        assert!(err.contains("id_public"), "{err}");
    }
}
