//! One-file enrollment: the CA holder makes one file per device (`halfsky pki enroll`)
//! holding everything a ready node home needs — the device's certificate and private
//! key, the CA certificate, the deployment's shared settings ([`Deployment`]), the
//! unit's name, the parent's address and the listen address — and carries it to the
//! device (USB stick), where `halfsky init --enroll FILE` makes the home.
//!
//! The file holds a private key and the ID key, so it is sealed with a passphrase
//! ([`super::passphrase_seal`], kind `MAGIC`, contents the JSON [`Payload`]). A changed
//! byte, a wrong passphrase or a truncated file is refused as one; a file past its
//! expiry (sealed inside) is refused by date.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use super::deployment::{Deployment, DeploymentError};
use super::error::PkiError;
use super::files::{date, io, system_time, write_atomic};
use super::names::{CA_CERT_FILE, NODE_CERT_FILE, NODE_KEY_FILE};
use super::passphrase_seal::{self, Unsealed};
use crate::config::{ConfigError, NodeConfig, NodeHome};

/// First bytes of an enrollment file (format 1).
const MAGIC: &[u8; 8] = b"HSENROL1";
/// Shortest passphrase accepted when sealing.
pub const MIN_PASSPHRASE: usize = 8;
/// Environment variable a passphrase may come from (instead of a prompt).
pub const PASSPHRASE_ENV: &str = "HALFSKY_ENROLL_PASSPHRASE";

/// What the CA holder asks for.
#[derive(Debug, Clone)]
pub struct EnrollRequest {
    /// The device's unit.
    pub org: OrgCode,
    /// The device's name within its unit.
    pub device: String,
    /// The unit's name (红星村); the org code if not given.
    pub unit_name: Option<String>,
    /// The parent's address, `host:port`.
    pub parent: Option<String>,
    /// Where the node accepts children, `ip:port`.
    pub listen: Option<String>,
    /// Host names or addresses children dial this node by.
    pub names: Vec<String>,
    /// How long the file may be used.
    pub valid_for: Duration,
}

/// Everything a node home needs, as sealed in the file.
#[derive(Serialize, Deserialize)]
struct Payload {
    /// Unix time after which the file is refused.
    expires: i64,
    org: String,
    unit_name: String,
    device: String,
    parent: Option<String>,
    listen: Option<String>,
    cert_pem: String,
    key_pem: String,
    ca_pem: String,
    deployment: Deployment,
}

/// An opened enrollment file.
pub struct Enrollment {
    payload: Payload,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment")
            .field("org", &self.payload.org)
            .field("device", &self.payload.device)
            .finish_non_exhaustive()
    }
}

/// What `seal` wrote.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The file.
    pub path: PathBuf,
    /// When it stops being accepted.
    pub expires: SystemTime,
    /// The deployment's settings were made just now (the CA had none).
    pub new_deployment: bool,
}

/// Why an enrollment file could not be made, opened or installed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// Certificates, keys or files.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The CA's shared settings.
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    /// The node home.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A parent or listen address the node could not use.
    #[error("{0}")]
    BadAddress(String),
    /// A passphrase too short to protect a private key.
    #[error("the passphrase must have at least {MIN_PASSPHRASE} characters (it protects the device's key and the ID key on the way)")]
    WeakPassphrase,
    /// Wrong passphrase, or the file was changed.
    #[error("{} cannot be opened: the passphrase is wrong, or the file was changed or damaged after it was made; check the passphrase, or ask the CA holder for a new file (`halfsky pki enroll`)", .0.display())]
    Unsealed(PathBuf),
    /// Not an enrollment file at all.
    #[error("{} is not a halfsky enrollment file (made by `halfsky pki enroll`)", .0.display())]
    NotEnrollment(PathBuf),
    /// Past its expiry.
    #[error("{} expired on {expired} (this computer's clock says {now}); ask the CA holder for a new one with `halfsky pki enroll`, or correct the clock", .path.display())]
    Expired {
        /// The file.
        path: PathBuf,
        /// Its expiry date.
        expired: String,
        /// The local clock.
        now: String,
    },
    /// The home already has a node.
    #[error("{} already holds a halfsky node; enroll into a new directory", .0.display())]
    HomeExists(PathBuf),
}

/// Issues a certificate for `req` with the CA in `ca_dir` and seals it, with the
/// deployment's settings, into `out` (owner-only) under `passphrase`.
pub fn seal(
    ca_dir: &Path,
    req: &EnrollRequest,
    passphrase: &str,
    out: &Path,
) -> Result<Sealed, EnrollError> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(EnrollError::WeakPassphrase);
    }
    // Checked now, not on the device: a bad address there means another trip.
    crate::config::settings::validate_sync(&crate::config::settings::RawSync {
        parent: req.parent.clone(),
        listen: req.listen.clone(),
        ..Default::default()
    })
    .map_err(|reason| EnrollError::BadAddress(format!("--parent/--listen: {reason}")))?;
    let (deployment, new_deployment) = Deployment::load_or_create(ca_dir)?;
    // Issued into a private scratch directory, read back, then gone.
    let scratch = tempfile::tempdir().map_err(io("create a temporary directory", ca_dir))?;
    super::issue_with_names(ca_dir, req.org, &req.device, scratch.path(), &req.names)?;
    let read = |name: &str| {
        let path = scratch.path().join(name);
        std::fs::read_to_string(&path).map_err(io("read", &path))
    };
    let expires = SystemTime::now() + req.valid_for;
    let payload = Payload {
        expires: unix(expires),
        org: req.org.to_string(),
        unit_name: req.unit_name.clone().unwrap_or_else(|| req.org.to_string()),
        device: req.device.clone(),
        parent: req.parent.clone(),
        listen: req.listen.clone(),
        cert_pem: read(NODE_CERT_FILE)?,
        key_pem: read(NODE_KEY_FILE)?,
        ca_pem: read(CA_CERT_FILE)?,
        deployment: deployment.for_unit(req.org),
    };
    let plain = serde_json::to_vec(&payload).expect("payload serializes");
    let sealed = passphrase_seal::seal(MAGIC, &plain, passphrase);
    write_atomic(out, &sealed, true, false)?;
    Ok(Sealed {
        path: out.to_path_buf(),
        expires,
        new_deployment,
    })
}

/// Opens the enrollment file `path` with `passphrase`; refuses a changed, foreign or
/// expired file.
pub fn open(path: &Path, passphrase: &str, now: SystemTime) -> Result<Enrollment, EnrollError> {
    let bytes = std::fs::read(path).map_err(io("read", path))?;
    let unsealed = || EnrollError::Unsealed(path.to_path_buf());
    let plain = passphrase_seal::open(MAGIC, &bytes, passphrase).map_err(|e| match e {
        Unsealed::NotThisKind => EnrollError::NotEnrollment(path.to_path_buf()),
        Unsealed::WrongOrChanged => unsealed(),
    })?;
    let payload: Payload = serde_json::from_slice(&plain).map_err(|_| unsealed())?;
    if payload.expires < unix(now) {
        return Err(EnrollError::Expired {
            path: path.to_path_buf(),
            expired: date(system_time(payload.expires)),
            now: date(now),
        });
    }
    Ok(Enrollment { payload })
}

impl Enrollment {
    /// The unit the file enrolls a device of.
    pub fn org(&self) -> Result<OrgCode, PkiError> {
        OrgCode::parse(&self.payload.org).map_err(PkiError::BadOrg)
    }

    /// The device's name.
    pub fn device(&self) -> &str {
        &self.payload.device
    }

    /// Makes the node home `home` from this file: `halfsky.toml` (unit, device, shared
    /// settings, parent, listen), `node.pem`, `node.key` (0600) and `ca.pem`.
    /// `unit_name` overrides the name in the file.
    pub fn install(
        &self,
        home: &NodeHome,
        unit_name: Option<&str>,
    ) -> Result<NodeConfig, EnrollError> {
        if home.config_path().exists() {
            return Err(EnrollError::HomeExists(home.dir().to_path_buf()));
        }
        let p = &self.payload;
        let org = self.org()?;
        let id_key = p.deployment.id_key().ok_or_else(|| PkiError::Damaged {
            path: home.dir().to_path_buf(),
            reason: "the enrollment's ID key is malformed".into(),
        })?;
        let config = home.init_with(
            org,
            unit_name.unwrap_or(&p.unit_name),
            &p.device,
            Some(id_key),
            p.parent.clone(),
            p.listen.clone(),
        )?;
        let retired = p.deployment.retired_id_keys();
        if !retired.is_empty() && crate::config::holds_id_secret(org) {
            // Numbers sealed before the pair was replaced still open here.
            home.add_id_secrets(&retired)?;
        }
        let dir = home.dir();
        write_atomic(&dir.join(CA_CERT_FILE), p.ca_pem.as_bytes(), false, true)?;
        write_atomic(&dir.join(NODE_KEY_FILE), p.key_pem.as_bytes(), true, true)?;
        write_atomic(
            &dir.join(NODE_CERT_FILE),
            p.cert_pem.as_bytes(),
            false,
            true,
        )?;
        Ok(config)
    }
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{agree, init_ca, load_node_identity};

    const PASS: &str = "plum-river-42";

    fn request() -> EnrollRequest {
        EnrollRequest {
            org: OrgCode::parse("230129100201").expect("code"),
            device: "cadre-laptop".into(),
            unit_name: Some("红星村".into()),
            parent: Some("127.0.0.1:7410".into()),
            listen: None,
            names: Vec::new(),
            valid_for: Duration::from_secs(3600),
        }
    }

    fn ca() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca");
        init_ca(OrgCode::parse("230100000000").expect("code"), &ca).expect("CA");
        (dir, ca)
    }

    #[test]
    fn round_trip_makes_a_ready_home() {
        let (dir, ca) = ca();
        let file = dir.path().join("hx.enroll");
        let sealed = seal(&ca, &request(), PASS, &file).expect("sealed");
        assert!(sealed.new_deployment);
        let opened = open(&file, PASS, SystemTime::now()).expect("opened");
        let home = NodeHome::new(dir.path().join("hx"));
        let config = opened.install(&home, None).expect("installed");
        assert_eq!(config.name, "红星村");
        assert_eq!(config.sync.parent.as_deref(), Some("127.0.0.1:7410"));
        let identity = load_node_identity(home.dir()).expect("certificate usable");
        agree::check(&config, &identity.identity, home.dir()).expect("agree");
        let (shared, _) = Deployment::load_or_create(&ca).expect("CA settings");
        assert_eq!(
            Deployment::of_home(&home).expect("home settings"),
            shared.for_unit(config.org),
            "a village holds the public half only"
        );
        assert!(!home.id_key_path().exists());
        assert!(matches!(
            opened.install(&home, None),
            Err(EnrollError::HomeExists(_))
        ));
    }

    #[test]
    fn wrong_passphrase_tampering_and_expiry_are_refused() {
        let (dir, ca) = ca();
        let file = dir.path().join("hx.enroll");
        seal(&ca, &request(), PASS, &file).expect("sealed");
        assert!(matches!(
            open(&file, "not-the-passphrase", SystemTime::now()),
            Err(EnrollError::Unsealed(_))
        ));
        let later = SystemTime::now() + Duration::from_secs(7200);
        let err = open(&file, PASS, later).expect_err("expired");
        assert!(err.to_string().contains("pki enroll"), "{err}");
        let bytes = std::fs::read(&file).expect("file");
        for at in [10, 30, passphrase_seal::HEADER_LEN + 3, bytes.len() - 1] {
            let mut changed = bytes.clone();
            changed[at] ^= 1;
            std::fs::write(&file, &changed).expect("write");
            assert!(
                open(&file, PASS, SystemTime::now()).is_err(),
                "byte {at} changed"
            );
        }
        std::fs::write(&file, &bytes[..bytes.len() - 20]).expect("write");
        assert!(open(&file, PASS, SystemTime::now()).is_err(), "truncated");
        assert!(matches!(
            seal(&ca, &request(), "short", &dir.path().join("x")),
            Err(EnrollError::WeakPassphrase)
        ));
        let bad = EnrollRequest {
            listen: Some("everywhere".into()),
            ..request()
        };
        assert!(matches!(
            seal(&ca, &bad, PASS, &dir.path().join("y")),
            Err(EnrollError::BadAddress(_))
        ));
    }

    #[test]
    fn an_office_enrolled_after_a_replaced_pair_opens_numbers_of_both() {
        let (dir, ca) = ca();
        let (first, _) = Deployment::load_or_create(&ca).expect("CA settings");
        let Some(crate::config::IdKeyGiven::Secret(old)) = first.id_key() else {
            panic!("the CA holds the private half")
        };
        let (replaced, fresh) = Deployment::replace_id_key(&ca).expect("replaced");
        assert_eq!(replaced.retired_id_keys().len(), 1);
        let village = replaced.for_unit(request().org);
        assert!(
            village.retired_id_keys().is_empty(),
            "a village's file has no private half"
        );

        let township = EnrollRequest {
            org: OrgCode::parse("230129100000").expect("code"),
            device: "town-pc".into(),
            ..request()
        };
        let file = dir.path().join("town.enroll");
        seal(&ca, &township, PASS, &file).expect("sealed");
        let home = NodeHome::new(dir.path().join("town"));
        open(&file, PASS, SystemTime::now())
            .expect("opened")
            .install(&home, None)
            .expect("installed");
        let ids = home.config().expect("config").ids;
        assert_eq!(ids.public, fresh.public(), "seals to the new pair");
        let opener = ids.opener.expect("an office opens numbers");
        assert!(opener.opens(&old.public()) && opener.opens(&fresh.public()));
    }
}
