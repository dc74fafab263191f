//! The certificate is the node's identity: its unit and device are the ones
//! `node.pem` names. `halfsky.toml` repeats them (records carry the device name, the
//! `Hello` of every link carries both), so the two must agree. `pki issue` into a node
//! home makes them agree, `init` in a home that already holds a certificate takes its
//! names from it, and `run` refuses to start on a home where they differ, saying the
//! fix, instead of dialling a parent that would end every session.

use std::path::{Path, PathBuf};

use halfsky_shared::OrgCode;

use super::error::PkiError;
use super::files::read_certs;
use super::identity::{identity_of, PeerIdentity};
use super::names::NODE_CERT_FILE;
use crate::config::{ConfigError, NodeConfig, NodeHome};

/// Why a node home's config and its certificate do not name the same unit and device.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The config and the certificate name different units.
    #[error("{home}: halfsky.toml is for unit {config} but the certificate is for unit {cert}; this home is either {config}'s or {cert}'s: issue a certificate for {config} with `halfsky -d {home} pki issue --ca <CA dir> --org {config} --device <name>`, or start over with `halfsky -d <new dir> init --enroll <file>` for {cert}", home = .home.display())]
    WrongUnit {
        /// The node home.
        home: PathBuf,
        /// The org in `halfsky.toml`.
        config: OrgCode,
        /// The org in `node.pem`.
        cert: OrgCode,
    },
    /// The config and the certificate name different devices.
    #[error("{home}: halfsky.toml says device {config:?} but node.pem is for device {cert:?}; the certificate decides: set `device = \"{cert}\"` under [node] in {home}/halfsky.toml, or issue a certificate for {config:?} with `halfsky -d {home} pki issue --ca <CA dir> --org {org} --device {config}` (which updates halfsky.toml itself)", home = .home.display())]
    WrongDevice {
        /// The node home.
        home: PathBuf,
        /// The unit (both agree on it).
        org: OrgCode,
        /// The device in `halfsky.toml`.
        config: String,
        /// The device in `node.pem`.
        cert: String,
    },
    /// `init --device` names another device than the certificate already in the home.
    #[error("{home} already holds a certificate for {cert}, but {given} was asked for; leave out --device/--org (the certificate decides), or issue a new certificate with `halfsky -d {home} pki issue`", home = .home.display())]
    InitDisagrees {
        /// The node home.
        home: PathBuf,
        /// What the certificate names.
        cert: PeerIdentity,
        /// What the command line asked for.
        given: String,
    },
    /// `pki issue` for another unit than the home's.
    #[error("{home} is the node home of {home_org} but --org is {asked}; give that unit's code, or another -d DIR", home = .home.display())]
    IssueForOtherUnit {
        /// The node home.
        home: PathBuf,
        /// Its unit.
        home_org: OrgCode,
        /// The unit asked for.
        asked: OrgCode,
    },
    /// The certificate could not be read.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// `halfsky.toml` could not be read or updated.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Checks that `config` names the unit and device of `cert` (the node home `home`'s
/// certificate).
pub fn check(config: &NodeConfig, cert: &PeerIdentity, home: &Path) -> Result<(), IdentityError> {
    if config.org != cert.org {
        return Err(IdentityError::WrongUnit {
            home: home.to_path_buf(),
            config: config.org,
            cert: cert.org,
        });
    }
    if config.device != cert.device {
        return Err(IdentityError::WrongDevice {
            home: home.to_path_buf(),
            org: cert.org,
            config: config.device.clone(),
            cert: cert.device.clone(),
        });
    }
    Ok(())
}

/// The identity `node.pem` in `dir` names, if the file is there (its chain, key and
/// validity are `load_node_identity`'s business).
pub fn certificate_identity(dir: &Path) -> Result<Option<PeerIdentity>, PkiError> {
    let path = dir.join(NODE_CERT_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let chain = read_certs(&path)?;
    identity_of(&chain[0]).map(Some)
}

/// Before `pki issue` writes a certificate for `org` into `home`: refuses if the home
/// already belongs to another unit (a device of one unit never speaks for another).
pub fn check_issue(home: &NodeHome, org: OrgCode) -> Result<(), IdentityError> {
    if !home.config_path().exists() {
        return Ok(());
    }
    let config = home.config()?;
    if config.org != org {
        return Err(IdentityError::IssueForOtherUnit {
            home: home.dir().to_path_buf(),
            home_org: config.org,
            asked: org,
        });
    }
    Ok(())
}

/// After `pki issue`: makes `halfsky.toml` name the certificate's device. Returns the
/// device name the config had before, if it changed.
pub fn adopt_device(home: &NodeHome, cert: &PeerIdentity) -> Result<Option<String>, IdentityError> {
    if !home.config_path().exists() {
        return Ok(None);
    }
    let config = home.config()?;
    check_issue(home, cert.org)?;
    if config.device == cert.device {
        return Ok(None);
    }
    home.set_option("node", "device", Some(&cert.device))?;
    Ok(Some(config.device))
}

/// For `init` in `dir`: the device to use. A certificate already in the home decides
/// (and `org`/`device` given on the command line must agree with it); otherwise
/// `device`, or `None` to let the caller choose a default.
pub fn device_for_init(
    dir: &Path,
    org: OrgCode,
    device: Option<&str>,
) -> Result<Option<String>, IdentityError> {
    let Some(cert) = certificate_identity(dir)? else {
        return Ok(device.map(str::to_string));
    };
    let given = PeerIdentity {
        org,
        device: device.unwrap_or(&cert.device).to_string(),
    };
    if given != cert {
        return Err(IdentityError::InitDisagrees {
            home: dir.to_path_buf(),
            cert,
            given: given.to_string(),
        });
    }
    Ok(Some(cert.device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{init_ca, issue, load_node_identity};

    fn code(s: &str) -> OrgCode {
        OrgCode::parse(s).expect("test code")
    }

    #[test]
    fn issue_makes_the_config_follow_the_certificate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca");
        init_ca(code("230100000000"), &ca).expect("CA");
        let home = NodeHome::new(dir.path().join("hx"));
        let village = code("230129100201");
        home.init(village, "红星村", "vm", None).expect("init");
        let cert = issue(&ca, village, "cadre-laptop", home.dir()).expect("issue");
        let config = home.config().expect("config");
        let err = check(&config, &cert.identity, home.dir()).expect_err("differs");
        assert!(
            err.to_string().contains("device = \"cadre-laptop\""),
            "{err}"
        );
        assert_eq!(
            adopt_device(&home, &cert.identity).expect("adopted"),
            Some("vm".into())
        );
        let config = home.config().expect("config");
        let loaded = load_node_identity(home.dir()).expect("identity");
        check(&config, &loaded.identity, home.dir()).expect("they agree now");
        assert_eq!(adopt_device(&home, &cert.identity).expect("again"), None);
        // A home of another unit is refused before anything is written.
        let err = check_issue(&home, code("230129100202")).expect_err("other unit");
        assert!(err.to_string().contains("is the node home of"), "{err}");
    }

    #[test]
    fn init_takes_the_device_from_a_certificate_already_there() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca");
        init_ca(code("230100000000"), &ca).expect("CA");
        let village = code("230129100201");
        let home = dir.path().join("hx");
        assert_eq!(
            device_for_init(&home, village, Some("x")).expect("no cert"),
            Some("x".into())
        );
        issue(&ca, village, "cadre-laptop", &home).expect("issue");
        assert_eq!(
            device_for_init(&home, village, None).expect("cert decides"),
            Some("cadre-laptop".into())
        );
        assert!(device_for_init(&home, village, Some("vm")).is_err());
        assert!(device_for_init(&home, code("230129100202"), None).is_err());
    }
}
