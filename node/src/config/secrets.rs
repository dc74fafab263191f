//! The deployment's ID key in its own owner-only file (`id.key`) beside `halfsky.toml`,
//! never in the config: the config is shown, copied and edited by hand; a secret there
//! leaks with it. Homes made before keep the key in `[node] id_key`: opening one moves it
//! out (the file written first, then the config rewritten without it).

use std::path::Path;

use halfsky_shared::idcard::IdKey;

use super::files::ID_KEY_FILE;
use super::{invalid_in, read_text, write_private, ConfigError, NodeHome};

impl NodeHome {
    /// Path of the ID key file (hex, 0600).
    pub fn id_key_path(&self) -> std::path::PathBuf {
        self.dir().join(ID_KEY_FILE)
    }

    /// Writes `key` as this home's ID key (owner-only, atomically).
    pub fn write_id_key(&self, key: &IdKey) -> Result<(), ConfigError> {
        let path = self.id_key_path();
        write_private(&path, &format!("{}\n", key.to_hex())).map_err(|source| ConfigError::Io {
            op: "write",
            path,
            source,
        })
    }

    /// This home's ID key: from `id.key`, after moving a key still written in
    /// `halfsky.toml` (`legacy`, from `[node] id_key`) into it.
    pub(crate) fn read_id_key(&self, legacy: Option<&str>) -> Result<IdKey, ConfigError> {
        let path = self.id_key_path();
        if let Some(hex) = legacy {
            let config = self.config_path();
            let key = IdKey::from_hex(hex).ok_or_else(|| {
                invalid_in(&config)("node.id_key must be at least 32 hex digits".into())
            })?;
            if path.exists() && self.read_key_file(&path)?.to_hex() != key.to_hex() {
                return Err(invalid_in(&config)(format!(
                    "node.id_key differs from {}; keep the right one in {} and delete \
                     the id_key line",
                    path.display(),
                    ID_KEY_FILE
                )));
            }
            self.write_id_key(&key)?;
            remove_legacy_key(&config)?;
            tracing::info!(file = %path.display(), "ID key moved out of halfsky.toml");
            return Ok(key);
        }
        if !path.exists() {
            return Err(invalid_in(&path)(format!(
                "the deployment's ID key is missing; restore {ID_KEY_FILE} from a backup, \
                 or write it with `halfsky init --id-key HEX` on a fresh home"
            )));
        }
        self.read_key_file(&path)
    }

    fn read_key_file(&self, path: &Path) -> Result<IdKey, ConfigError> {
        IdKey::from_hex(&read_text(path)?)
            .ok_or_else(|| invalid_in(path)("an ID key is at least 32 hex digits".into()))
    }
}

/// Rewrites `halfsky.toml` without `[node] id_key`, keeping its comments and layout.
fn remove_legacy_key(config: &Path) -> Result<(), ConfigError> {
    let text = read_text(config)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| invalid_in(config)(format!("{e}")))?;
    if let Some(node) = doc.get_mut("node").and_then(|n| n.as_table_mut()) {
        node.remove("id_key");
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

    #[test]
    fn an_old_home_has_its_id_key_moved_out_of_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let home = NodeHome::new(dir.path().join("h"));
        let key = IdKey::new(vec![7; 32]);
        home.init(
            "230129100201".parse().unwrap(),
            "红星村",
            "pc",
            Some(key.clone()),
        )
        .unwrap();
        let config = std::fs::read_to_string(home.config_path()).unwrap();
        assert!(!config.contains(&key.to_hex()), "a fresh home: {config}");
        // An older home: the key in the config, no key file.
        std::fs::remove_file(home.id_key_path()).unwrap();
        let old = config.replace(
            "[node]\n",
            &format!("[node]\nid_key = \"{}\"\n", key.to_hex()),
        );
        std::fs::write(home.config_path(), old).unwrap();
        assert_eq!(home.config().unwrap().id_key.to_hex(), key.to_hex());
        let config = std::fs::read_to_string(home.config_path()).unwrap();
        assert!(!config.contains(&key.to_hex()), "moved out: {config}");
        assert!(config.contains("红星村"), "the rest is kept: {config}");
        let mode = std::fs::metadata(home.id_key_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            home.config().unwrap().id_key.to_hex(),
            key.to_hex(),
            "reopened"
        );
        // A different key in both places is refused, naming the file.
        let other = IdKey::new(vec![8; 32]).to_hex();
        let text = std::fs::read_to_string(home.config_path()).unwrap();
        let bad = text.replace("[node]\n", &format!("[node]\nid_key = \"{other}\"\n"));
        std::fs::write(home.config_path(), bad).unwrap();
        let err = home.config().unwrap_err().to_string();
        assert!(err.contains(ID_KEY_FILE), "{err}");
    }
}
