//! The deployment's certificate authority: created once (`halfsky pki init`), then
//! issuing one certificate per device (`halfsky pki issue`).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use halfsky_shared::OrgCode;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};

use super::error::PkiError;
use super::files::*;
use super::identity::{PeerIdentity, Subject};
use super::names::*;

/// What `init_ca` made.
#[derive(Debug, Clone)]
pub struct CaInfo {
    /// The unit the CA belongs to (its deployment is this unit's subtree).
    pub org: OrgCode,
    /// The CA certificate (public; copied into every node home).
    pub cert_path: PathBuf,
    /// The CA private key (secret).
    pub key_path: PathBuf,
    /// End of the CA's validity.
    pub not_after: SystemTime,
}

/// What `issue` wrote into a node home.
#[derive(Debug, Clone)]
pub struct DeviceCert {
    /// The identity the certificate carries.
    pub identity: PeerIdentity,
    /// `node.pem`.
    pub cert_path: PathBuf,
    /// `node.key`.
    pub key_path: PathBuf,
    /// `ca.pem` (the deployment's CA certificate).
    pub ca_path: PathBuf,
    /// Host names and addresses the certificate is valid for (when the node is a parent).
    pub names: Vec<String>,
    /// End of the certificate's validity.
    pub not_after: SystemTime,
}

/// Creates the deployment's CA for `org` (normally the city) in `out`: `ca.pem` and
/// `ca.key` (0600), each written atomically. Refuses if `out` already holds a CA.
pub fn init_ca(org: OrgCode, out: &Path) -> Result<CaInfo, PkiError> {
    let cert_path = out.join(CA_CERT_FILE);
    let key_path = out.join(CA_KEY_FILE);
    for file in [&key_path, &cert_path] {
        if fs::symlink_metadata(file).is_ok() {
            return Err(PkiError::CaExists {
                dir: out.to_path_buf(),
                file: file.clone(),
            });
        }
    }
    fs::create_dir_all(out).map_err(io("create directory", out))?;

    let key = KeyPair::generate().map_err(generate("the CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{CA_CN_PREFIX}{org}"));
    params
        .distinguished_name
        .push(DnType::OrganizationName, "halfsky");
    // Path length 0: the CA signs devices only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = SystemTime::now();
    let not_after = now + CA_VALIDITY;
    set_validity(&mut params, now, not_after);
    let cert = params
        .self_signed(&key)
        .map_err(generate("the CA certificate"))?;

    let exists = |file: &Path| PkiError::CaExists {
        dir: out.to_path_buf(),
        file: file.to_path_buf(),
    };
    write_atomic(&key_path, key.serialize_pem().as_bytes(), true, false)
        .map_err(|e| already_exists_as(e, || exists(&key_path)))?;
    if let Err(e) = write_atomic(&cert_path, cert.pem().as_bytes(), false, false) {
        // Leave no half CA behind: a key without its certificate only blocks a retry.
        let _ = fs::remove_file(&key_path);
        return Err(already_exists_as(e, || exists(&cert_path)));
    }
    Ok(CaInfo {
        org,
        cert_path,
        key_path,
        not_after,
    })
}

/// Issues a certificate for device `device` of unit `org` with the CA in `ca_dir`,
/// valid for `localhost` and 127.0.0.1, and writes `node.pem`, `node.key` and `ca.pem`
/// into `node_home` (replacing an earlier certificate there).
pub fn issue(
    ca_dir: &Path,
    org: OrgCode,
    device: &str,
    node_home: &Path,
) -> Result<DeviceCert, PkiError> {
    issue_with_names(ca_dir, org, device, node_home, &[])
}

/// Like [`issue`], and also valid for `extra_names` (host names or IP addresses by
/// which children dial this node when it is a parent).
pub fn issue_with_names(
    ca_dir: &Path,
    org: OrgCode,
    device: &str,
    node_home: &Path,
    extra_names: &[String],
) -> Result<DeviceCert, PkiError> {
    validate_device(device)?;
    let ca = load_ca(ca_dir)?;
    if !org.is_in_subtree_of(&ca.org) {
        return Err(PkiError::OutsideCa {
            org,
            ca_org: ca.org,
            ca_dir: ca_dir.to_path_buf(),
        });
    }
    let identity = PeerIdentity {
        org,
        device: device.to_string(),
    };
    let written = issue_subject(
        &ca,
        &Subject::Node(identity.clone()),
        node_home,
        extra_names,
    )?;
    Ok(DeviceCert {
        identity,
        cert_path: written.cert_path,
        key_path: written.key_path,
        ca_path: written.ca_path,
        names: written.names,
        not_after: written.not_after,
    })
}

/// What `issue_relay` wrote into the relay's home.
#[derive(Debug, Clone)]
pub struct RelayCert {
    /// The relay's name.
    pub name: String,
    /// `node.pem`.
    pub cert_path: PathBuf,
    /// `node.key`.
    pub key_path: PathBuf,
    /// `ca.pem`.
    pub ca_path: PathBuf,
    /// Host names and addresses the certificate is valid for.
    pub names: Vec<String>,
    /// End of the certificate's validity.
    pub not_after: SystemTime,
}

/// Issues the relay's certificate (role relay: `halfsky://relay/<name>`, server
/// authentication only) into `home`. It names no unit, so it can serve mailboxes
/// and nothing else: no node takes it as a sync peer, seals a bundle to it or
/// believes an acknowledgement it signed.
pub fn issue_relay(
    ca_dir: &Path,
    name: &str,
    home: &Path,
    extra_names: &[String],
) -> Result<RelayCert, PkiError> {
    validate_device(name)?;
    let ca = load_ca(ca_dir)?;
    let w = issue_subject(&ca, &Subject::Relay(name.to_string()), home, extra_names)?;
    Ok(RelayCert {
        name: name.to_string(),
        cert_path: w.cert_path,
        key_path: w.key_path,
        ca_path: w.ca_path,
        names: w.names,
        not_after: w.not_after,
    })
}

/// Files and names of a certificate just written.
struct Written {
    cert_path: PathBuf,
    key_path: PathBuf,
    ca_path: PathBuf,
    names: Vec<String>,
    not_after: SystemTime,
}

/// Signs a certificate for `subject` (its role in the SAN URI, CN and extended key
/// usage) and writes it, its key and the CA certificate into `home`.
fn issue_subject(
    ca: &LoadedCa,
    subject: &Subject,
    home: &Path,
    extra_names: &[String],
) -> Result<Written, PkiError> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let mut sans = Vec::new();
    for name in extra_names.iter().map(|n| n.trim()) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    for name in &names {
        sans.push(host_san(name)?);
    }
    let (uri, cn) = match subject {
        Subject::Node(identity) => (identity.uri(), identity.to_string()),
        Subject::Relay(name) => (format!("{RELAY_URI_PREFIX}{name}"), format!("relay/{name}")),
    };
    let uri = uri.try_into().map_err(generate("the identity URI"))?;
    sans.insert(0, SanType::URI(uri));

    let key = KeyPair::generate().map_err(generate("the device key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "halfsky");
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match subject {
        // A township is a server for its villages and a client of its county.
        Subject::Node(_) => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        // The relay only answers: no node's TLS accepts it as a client (a child).
        Subject::Relay(_) => {
            params
                .distinguished_name
                .push(DnType::OrganizationalUnitName, RELAY_OU);
            vec![ExtendedKeyUsagePurpose::ServerAuth]
        }
    };
    params.use_authority_key_identifier_extension = true;
    let now = SystemTime::now();
    let not_after = (now + DEVICE_VALIDITY).min(ca.not_after);
    set_validity(&mut params, now, not_after);
    let cert = params
        .signed_by(&key, &ca.issuer)
        .map_err(generate("the device certificate"))?;

    fs::create_dir_all(home).map_err(io("create directory", home))?;
    let out = Written {
        cert_path: home.join(NODE_CERT_FILE),
        key_path: home.join(NODE_KEY_FILE),
        ca_path: home.join(CA_CERT_FILE),
        names,
        not_after,
    };
    write_atomic(&out.ca_path, ca.pem.as_bytes(), false, true)?;
    write_atomic(&out.key_path, key.serialize_pem().as_bytes(), true, true)?;
    write_atomic(&out.cert_path, cert.pem().as_bytes(), false, true)?;
    Ok(out)
}

/// The CA, loaded for issuing.
pub(crate) struct LoadedCa {
    /// The CA's unit (read from its CN).
    pub(crate) org: OrgCode,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// The CA key, PKCS#8 DER (signs revocations).
    pub(crate) key_pkcs8: Vec<u8>,
    not_after: SystemTime,
}

pub(crate) fn load_ca(dir: &Path) -> Result<LoadedCa, PkiError> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    for file in [&cert_path, &key_path] {
        if !file.exists() {
            return Err(PkiError::CaMissing {
                dir: dir.to_path_buf(),
                file: file.clone(),
            });
        }
    }
    let der = read_certs(&cert_path)?.swap_remove(0);
    let cert = parse_cert(&der, &cert_path)?;
    let damaged = |reason: &str| PkiError::Damaged {
        path: cert_path.clone(),
        reason: reason.to_string(),
    };
    if !cert.is_ca() {
        return Err(damaged("it is not a CA certificate"));
    }
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or_else(|| damaged("its subject has no common name"))?;
    let org = cn
        .strip_prefix(CA_CN_PREFIX)
        .and_then(|code| OrgCode::parse(code).ok())
        .ok_or_else(|| damaged("its common name is not `halfsky CA <org code>`"))?;
    let not_after = system_time(cert.validity().not_after.timestamp());
    check_valid_now(&cert, &cert_path)?;

    let key = read_key(&key_path)?;
    if cert.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(PkiError::KeyMismatch {
            key: key_path,
            cert: cert_path,
        });
    }
    let key_pkcs8 = key.serialize_der();
    let issuer = Issuer::from_ca_cert_der(&der, key).map_err(|e| damaged(&e.to_string()))?;
    let pem = fs::read_to_string(&cert_path).map_err(io("read", &cert_path))?;
    Ok(LoadedCa {
        org,
        pem,
        issuer,
        key_pkcs8,
        not_after,
    })
}

#[cfg(test)]
mod tests {
    use x509_parser::prelude::{FromDer, X509Certificate};

    use super::*;
    use crate::pki::identity::{identity_of, load_node_identity};

    fn code(s: &str) -> OrgCode {
        OrgCode::parse(s).expect("test code is valid")
    }

    #[test]
    fn device_names() {
        for ok in ["office-pc-1", "a", "PC_2.backup", &"x".repeat(64)] {
            assert!(validate_device(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-pc", ".", "办公室", "pc 1", "a/b", &"x".repeat(65)] {
            let e = validate_device(bad).expect_err(bad).to_string();
            assert!(e.contains("A-Z a-z 0-9 . _ -"), "{e}");
        }
    }

    #[test]
    fn host_names() {
        assert!(matches!(host_san("10.2.3.4"), Ok(SanType::IpAddress(_))));
        assert!(matches!(host_san("::1"), Ok(SanType::IpAddress(_))));
        assert!(matches!(
            host_san("county.example.cn"),
            Ok(SanType::DnsName(_))
        ));
        for bad in ["", "a..b", "-x.cn", "a b", "县.cn"] {
            assert!(host_san(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identity_round_trip_and_cn() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca");
        let home = dir.path().join("home");
        init_ca(code("230100000000"), &ca).expect("init");
        let cert = issue_with_names(
            &ca,
            code("230129100201"),
            "pc-1",
            &home,
            &["10.0.0.7".into(), "twp.example.cn".into()],
        )
        .expect("issue");
        assert_eq!(cert.names.len(), 4);
        let id = load_node_identity(&home).expect("load");
        assert_eq!(id.identity, cert.identity);
        assert_eq!(id.identity.to_string(), "230129100201/pc-1");
        let (_, x509) = X509Certificate::from_der(&id.chain[0]).expect("parse");
        let cn = x509.subject().iter_common_name().next().expect("cn");
        assert_eq!(cn.as_str().expect("utf8"), "230129100201/pc-1");
        // The CA certificate itself carries no device identity.
        assert!(matches!(
            identity_of(&id.ca),
            Err(PkiError::NoIdentity { .. })
        ));
        assert!(identity_of(b"not a certificate").is_err());
    }

    #[test]
    fn mixed_up_key_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca");
        init_ca(code("230100000000"), &ca).expect("init");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        issue(&ca, code("230129100201"), "pc", &a).expect("issue a");
        issue(&ca, code("230129100202"), "pc", &b).expect("issue b");
        fs::copy(b.join(NODE_KEY_FILE), a.join(NODE_KEY_FILE)).expect("copy");
        let e = load_node_identity(&a).expect_err("mismatch");
        assert!(matches!(e, PkiError::KeyMismatch { .. }), "{e}");
    }
}
