//! The office half of replacing the ID key pair (see the parent module): the CA
//! holder's step (`replace`) and the passphrase-sealed file that carries the private
//! halves to the other offices (`open_key_file`). Only offices link the crates it uses.

use std::path::{Path, PathBuf};

use halfsky_shared::ca_signed::CaSigned;
use halfsky_shared::id_key_notice::IdKeyNotice;
use halfsky_shared::idcard::{IdPublic, IdSecret};
use serde::{Deserialize, Serialize};

use super::{ca_unit, IdKeyPairError};
use crate::config::NodeHome;
use crate::pki::ca::load_ca;
use crate::pki::deployment::Deployment;
use crate::pki::enroll::MIN_PASSPHRASE;
use crate::pki::files::{io, write_atomic};
use crate::pki::passphrase_seal::{self, Unsealed};

/// First bytes of an ID key file (format 1).
const MAGIC: &[u8; 8] = b"HSIDKEY1";

/// The contents of an ID key file.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    /// Every private half of the deployment, hex, oldest first (the last is current).
    secrets: Vec<String>,
}

/// What [`replace`] made.
#[derive(Debug)]
pub struct Replaced {
    /// The new public half.
    pub public: IdPublic,
    /// Every private half of the deployment (retired ones first), for this office.
    pub secrets: Vec<IdSecret>,
    /// The CA's notice of the new public half, to record in the CA unit's document.
    pub notice: CaSigned,
    /// The file for the other offices.
    pub file: PathBuf,
}

/// Replaces the deployment's ID key pair with the CA in `ca_dir`, for the node home
/// `home` of the CA's unit: the settings, the offices' file `out` under `passphrase`,
/// and the CA's signed notice (steps 1 and 2 and the notice of 3 in the module's
/// documentation; the node then adds the secrets and records the notice).
pub fn replace(
    ca_dir: &Path,
    home: &NodeHome,
    out: &Path,
    passphrase: &str,
) -> Result<Replaced, IdKeyPairError> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(IdKeyPairError::WeakPassphrase);
    }
    let ca_of_node = ca_unit(home)?;
    let ca = load_ca(ca_dir)?;
    if ca.org != ca_of_node.org {
        return Err(IdKeyPairError::NotTheCaUnit {
            ca_org: ca.org,
            node: ca_of_node.org,
        });
    }
    let (settings, fresh) = Deployment::replace_id_key(ca_dir)?;
    let mut secrets = settings.retired_id_keys();
    secrets.push(fresh.clone());
    let file = KeyFile {
        secrets: secrets.iter().map(IdSecret::to_hex).collect(),
    };
    let plain = serde_json::to_vec(&file).expect("a key file serializes");
    write_atomic(
        out,
        &passphrase_seal::seal(MAGIC, &plain, passphrase),
        true,
        true,
    )?;
    let notice =
        IdKeyNotice::new(&fresh.public(), chrono::Utc::now().timestamp()).sign(&ca.key_pkcs8)?;
    Ok(Replaced {
        public: fresh.public(),
        secrets,
        notice,
        file: out.to_path_buf(),
    })
}

/// The private halves in the ID key file `path`.
pub fn open_key_file(path: &Path, passphrase: &str) -> Result<Vec<IdSecret>, IdKeyPairError> {
    let bytes = std::fs::read(path).map_err(io("read", path))?;
    let plain = passphrase_seal::open(MAGIC, &bytes, passphrase).map_err(|e| match e {
        Unsealed::NotThisKind => IdKeyPairError::NotKeyFile(path.to_path_buf()),
        Unsealed::WrongOrChanged => IdKeyPairError::Unsealed(path.to_path_buf()),
    })?;
    let file: KeyFile = serde_json::from_slice(&plain)
        .map_err(|_| IdKeyPairError::NotKeyFile(path.to_path_buf()))?;
    file.secrets
        .iter()
        .map(|hex| {
            IdSecret::from_hex(hex).map_err(|_| IdKeyPairError::NotKeyFile(path.to_path_buf()))
        })
        .collect()
}
