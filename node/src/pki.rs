//! The deployment's private certificate authority and the device certificates it
//! issues. Nodes sync over mutual TLS ([`crate::sync::tls`]); a certificate is how a parent
//! knows which unit a child speaks for (DESIGN.md, "Sync protocol"), so every device
//! certificate carries its org code and device name, in a SAN URI
//! `halfsky://org/<code>/device/<name>` (what [`identity_of`] reads) and in the
//! subject CN `<code>/<name>` (what a person reading the certificate sees).
//!
//! Files:
//! - a CA directory (`halfsky pki init`): `ca.pem`, the CA certificate, public; and
//!   `ca.key`, its private key (mode 0600): whoever holds it can enrol devices, so it
//!   stays on the city's offline machine and in its backup, never on a node.
//! - a node home (`halfsky pki issue`): `node.pem`, `node.key` (0600) and `ca.pem`.
//!
//! The CA's own unit is read back from its subject CN (`halfsky CA <code>`), so the
//! CA directory needs no other metadata file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use halfsky_shared::{OrgCode, OrgCodeError};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The CA certificate, in a CA directory and in every node home.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA private key, only in the CA directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// This node's certificate, in the node home.
pub const NODE_CERT_FILE: &str = "node.pem";
/// This node's private key, in the node home.
pub const NODE_KEY_FILE: &str = "node.key";

/// Start of the SAN URI that names a device: `halfsky://org/<code>/device/<name>`.
const URI_PREFIX: &str = "halfsky://org/";
/// Start of the CA's subject CN; the CA's org code follows.
const CA_CN_PREFIX: &str = "halfsky CA ";
const DAY: u64 = 24 * 60 * 60;
/// The CA outlives many device certificates: ten years.
const CA_VALIDITY: Duration = Duration::from_secs(3653 * DAY);
/// Devices are rarely re-enrolled in the field: five years, never past the CA's end.
const DEVICE_VALIDITY: Duration = Duration::from_secs(1827 * DAY);
/// Certificates start two days in the past: office PCs' clocks are often a bit off.
const CLOCK_SLACK: Duration = Duration::from_secs(2 * DAY);
/// Longest device name (it is part of every record's history).
const MAX_DEVICE_LEN: usize = 64;

/// Why a CA or device certificate could not be created, read or used. Each message
/// says what failed, which file, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// `init` into a directory that already holds a CA.
    #[error("{} already holds a CA ({} exists); a deployment has exactly one CA: use it as it is, or choose another directory", .dir.display(), .file.display())]
    CaExists {
        /// The CA directory.
        dir: PathBuf,
        /// The file that is already there.
        file: PathBuf,
    },
    /// `issue` with a CA directory that has no (complete) CA.
    #[error("no deployment CA at {} ({} is missing); point --ca at the directory made by `halfsky pki init` (it holds {CA_CERT_FILE} and {CA_KEY_FILE})", .dir.display(), .file.display())]
    CaMissing {
        /// The CA directory given.
        dir: PathBuf,
        /// The file that is missing.
        file: PathBuf,
    },
    /// A node home without its certificate files.
    #[error("{} has no certificate ({} is missing); issue one on the CA machine with `halfsky pki issue --ca <CA dir> --org <code> --device <name> -d {}`", .home.display(), .file.display(), .home.display())]
    NodeMissing {
        /// The node home.
        home: PathBuf,
        /// The file that is missing.
        file: PathBuf,
    },
    /// A file that exists but is not what halfsky wrote there.
    #[error("{} is damaged or not a halfsky file: {reason}; restore it from the backup, or issue it again with `halfsky pki`", .path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A private key that other users of the computer can read.
    #[error("{} can be read by other users of this computer (mode {mode:o}); run `chmod 600 {}` and try again", .path.display(), .path.display())]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Reading or writing a file failed.
    #[error("cannot {op} {}", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Key or certificate generation failed (should not happen with valid input).
    #[error("cannot create {what}: {source}")]
    Generate {
        /// What was being made.
        what: &'static str,
        /// rcgen's reason.
        source: rcgen::Error,
    },
    /// `issue` for a unit that the CA's deployment does not cover.
    #[error("{org} is not in the subtree of {ca_org}: the CA in {} issues certificates only for units of {ca_org}; check the code, or use the CA of {org}'s own deployment", .ca_dir.display())]
    OutsideCa {
        /// The unit asked for.
        org: OrgCode,
        /// The CA's unit.
        ca_org: OrgCode,
        /// The CA directory.
        ca_dir: PathBuf,
    },
    /// An org code given on the command line is malformed.
    #[error("--org {0}")]
    BadOrg(#[source] OrgCodeError),
    /// A device name that cannot go into a certificate.
    #[error("device name {name:?} {reason}: use 1-64 of the characters A-Z a-z 0-9 . _ - (e.g. office-pc-1), starting with a letter or digit")]
    BadDevice {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An extra `--name` that is neither an IP address nor a host name.
    #[error("--name {0:?} is neither an IP address (e.g. 10.2.3.4) nor a host name (e.g. county.example.cn)")]
    BadHostName(String),
    /// A certificate without a halfsky identity (or with a malformed one).
    #[error("the certificate names no halfsky unit: {reason}; only certificates made by `halfsky pki issue` can be used")]
    NoIdentity {
        /// What is missing or wrong.
        reason: String,
    },
    /// `node.key` and `node.pem` are not a pair.
    #[error("{} does not belong to {} (an issue was interrupted, or files were mixed up); issue the certificate again with `halfsky pki issue`", .key.display(), .cert.display())]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// `node.pem` was not signed by the CA in `ca.pem` beside it.
    #[error("{} was not issued by the CA in {}; issue it again with `halfsky pki issue --ca <the deployment's CA>`", .cert.display(), .ca.display())]
    NotFromCa {
        /// The node certificate.
        cert: PathBuf,
        /// The CA certificate.
        ca: PathBuf,
    },
    /// A certificate outside its validity period.
    #[error("{} is valid from {not_before} to {not_after}, and this computer's clock says {now}; if the clock is wrong, correct it, otherwise issue a new certificate with `halfsky pki issue`", .path.display())]
    NotValidNow {
        /// The certificate file.
        path: PathBuf,
        /// Start of validity.
        not_before: String,
        /// End of validity.
        not_after: String,
        /// The local clock.
        now: String,
    },
    /// The node's config and its certificate name different units.
    #[error("this node's config says {config} but its certificate is for {cert}; issue a certificate for the right unit with `halfsky pki issue --ca <CA dir> --org {config} --device <name> -d <this node home>`")]
    WrongUnit {
        /// The org in `halfsky.toml`.
        config: OrgCode,
        /// The org in `node.pem`.
        cert: OrgCode,
    },
}

/// Who is at the other end of a link: the unit and the device, as its certificate says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerIdentity {
    /// The unit the device writes for.
    pub org: OrgCode,
    /// The device's name within its unit.
    pub device: String,
}

impl PeerIdentity {
    /// The SAN URI that carries this identity in a certificate.
    pub fn uri(&self) -> String {
        format!("{URI_PREFIX}{}/device/{}", self.org, self.device)
    }
}

impl std::fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.org, self.device)
    }
}

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

/// A node's own TLS identity, loaded from its home: everything [`crate::sync::tls`] needs.
pub struct NodeIdentity {
    /// This node's certificate chain (leaf first).
    pub chain: Vec<CertificateDer<'static>>,
    /// The deployment's CA certificate: the only trust root.
    pub ca: CertificateDer<'static>,
    /// Who this node is, as its certificate says.
    pub identity: PeerIdentity,
    /// The private key of `chain[0]`; kept out of `Debug`.
    pub(crate) key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("identity", &self.identity)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// Refuses a node whose config names another unit than its certificate does.
    pub fn check_matches(&self, org: OrgCode) -> Result<(), PkiError> {
        if self.identity.org == org {
            Ok(())
        } else {
            Err(PkiError::WrongUnit {
                config: org,
                cert: self.identity.org,
            })
        }
    }

    /// A copy of the private key, for a TLS config.
    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
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
    let uri = identity
        .uri()
        .try_into()
        .map_err(generate("the identity URI"))?;
    sans.insert(0, SanType::URI(uri));

    let key = KeyPair::generate().map_err(generate("the device key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, identity.to_string());
    params
        .distinguished_name
        .push(DnType::OrganizationName, "halfsky");
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // A township is a server for its villages and a client of its county.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let now = SystemTime::now();
    let not_after = (now + DEVICE_VALIDITY).min(ca.not_after);
    set_validity(&mut params, now, not_after);
    let cert = params
        .signed_by(&key, &ca.issuer)
        .map_err(generate("the device certificate"))?;

    fs::create_dir_all(node_home).map_err(io("create directory", node_home))?;
    let out = DeviceCert {
        identity,
        cert_path: node_home.join(NODE_CERT_FILE),
        key_path: node_home.join(NODE_KEY_FILE),
        ca_path: node_home.join(CA_CERT_FILE),
        names,
        not_after,
    };
    write_atomic(&out.ca_path, ca.pem.as_bytes(), false, true)?;
    write_atomic(&out.key_path, key.serialize_pem().as_bytes(), true, true)?;
    write_atomic(&out.cert_path, cert.pem().as_bytes(), false, true)?;
    Ok(out)
}

/// Reads the halfsky identity (org and device) from a DER certificate's SAN URI.
pub fn identity_of(cert_der: &[u8]) -> Result<PeerIdentity, PkiError> {
    let no = |reason: String| PkiError::NoIdentity { reason };
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|e| no(format!("not an X.509 certificate ({e})")))?;
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| no(format!("its subject alternative names are malformed ({e})")))?
        .ok_or_else(|| no("it has no subject alternative names".into()))?;
    let mut uris = sans.value.general_names.iter().filter_map(|n| match n {
        GeneralName::URI(u) => u.strip_prefix(URI_PREFIX),
        _ => None,
    });
    let rest = uris
        .next()
        .ok_or_else(|| no(format!("it has no {URI_PREFIX}… name")))?;
    if uris.next().is_some() {
        return Err(no(format!("it has more than one {URI_PREFIX}… name")));
    }
    let (code, device) = rest
        .split_once("/device/")
        .ok_or_else(|| no(format!("{URI_PREFIX}{rest} has no /device/ part")))?;
    let org = OrgCode::parse(code).map_err(|e| no(e.to_string()))?;
    validate_device(device).map_err(|e| no(e.to_string()))?;
    Ok(PeerIdentity {
        org,
        device: device.to_string(),
    })
}

/// Loads this node's certificate, key and CA from its home and checks that they fit
/// together (key matches certificate, certificate signed by the CA, valid now).
pub fn load_node_identity(home: &Path) -> Result<NodeIdentity, PkiError> {
    let cert_path = home.join(NODE_CERT_FILE);
    let key_path = home.join(NODE_KEY_FILE);
    let ca_path = home.join(CA_CERT_FILE);
    for file in [&cert_path, &key_path, &ca_path] {
        if !file.exists() {
            return Err(PkiError::NodeMissing {
                home: home.to_path_buf(),
                file: file.clone(),
            });
        }
    }
    let chain = read_certs(&cert_path)?;
    let ca = read_certs(&ca_path)?.swap_remove(0);
    let key = read_key(&key_path)?;

    let leaf = parse_cert(&chain[0], &cert_path)?;
    let ca_cert = parse_cert(&ca, &ca_path)?;
    if leaf.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(PkiError::KeyMismatch {
            key: key_path,
            cert: cert_path,
        });
    }
    if leaf.verify_signature(Some(ca_cert.public_key())).is_err() {
        return Err(PkiError::NotFromCa {
            cert: cert_path,
            ca: ca_path,
        });
    }
    check_valid_now(&leaf, &cert_path)?;
    check_valid_now(&ca_cert, &ca_path)?;
    let identity = identity_of(&chain[0])?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok(NodeIdentity {
        chain,
        ca,
        identity,
        key,
    })
}

/// The CA, loaded for issuing.
struct LoadedCa {
    org: OrgCode,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
    not_after: SystemTime,
}

fn load_ca(dir: &Path) -> Result<LoadedCa, PkiError> {
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
    let issuer = Issuer::from_ca_cert_der(&der, key).map_err(|e| damaged(&e.to_string()))?;
    let pem = fs::read_to_string(&cert_path).map_err(io("read", &cert_path))?;
    Ok(LoadedCa {
        org,
        pem,
        issuer,
        not_after,
    })
}

/// Reads the PEM certificates of a file (at least one).
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let bytes = fs::read(path).map_err(io("read", path))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Damaged {
            path: path.to_path_buf(),
            reason: format!("not a PEM certificate ({e})"),
        })?;
    if certs.is_empty() {
        return Err(PkiError::Damaged {
            path: path.to_path_buf(),
            reason: "it holds no certificate".into(),
        });
    }
    Ok(certs)
}

/// Reads a private key after checking that only its owner can read it.
fn read_key(path: &Path) -> Result<KeyPair, PkiError> {
    check_private(path)?;
    let pem = fs::read_to_string(path).map_err(io("read", path))?;
    KeyPair::from_pem(&pem).map_err(|e| PkiError::Damaged {
        path: path.to_path_buf(),
        reason: format!("not a PEM private key ({e})"),
    })
}

fn parse_cert<'a>(der: &'a [u8], path: &Path) -> Result<X509Certificate<'a>, PkiError> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| PkiError::Damaged {
            path: path.to_path_buf(),
            reason: format!("not an X.509 certificate ({e})"),
        })
}

fn check_valid_now(cert: &X509Certificate<'_>, path: &Path) -> Result<(), PkiError> {
    if cert.validity().is_valid() {
        return Ok(());
    }
    let validity = cert.validity();
    Err(PkiError::NotValidNow {
        path: path.to_path_buf(),
        not_before: date(system_time(validity.not_before.timestamp())),
        not_after: date(system_time(validity.not_after.timestamp())),
        now: date(SystemTime::now()),
    })
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), PkiError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(io("read", path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(PkiError::Permissions {
            path: path.to_path_buf(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), PkiError> {
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a
/// rename, so a crash leaves either the old file or the new one. `secret` files get
/// mode 0600, others 0644; `replace = false` refuses an existing `path`.
fn write_atomic(path: &Path, bytes: &[u8], secret: bool, replace: bool) -> Result<(), PkiError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".halfsky-pki-")
        .tempfile_in(dir)
        .map_err(io("create a temporary file in", dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if secret { 0o600 } else { 0o644 };
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io("set permissions of", tmp.path()))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    tmp.write_all(bytes).map_err(io("write", tmp.path()))?;
    tmp.as_file().sync_all().map_err(io("write", tmp.path()))?;
    let persisted = if replace {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    persisted.map_err(|e| io("write", path)(e.error))?;
    // Make the rename itself durable; not every platform can open a directory.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Turns an "already exists" I/O error into `err()`, leaving other errors alone.
fn already_exists_as(e: PkiError, err: impl FnOnce() -> PkiError) -> PkiError {
    match e {
        PkiError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            err()
        }
        other => other,
    }
}

fn validate_device(name: &str) -> Result<(), PkiError> {
    let bad = |reason| PkiError::BadDevice {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("is empty"));
    }
    if name.len() > MAX_DEVICE_LEN {
        return Err(bad("is too long"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(bad("has a character that cannot go into a certificate"));
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(bad("does not start with a letter or digit"));
    }
    Ok(())
}

/// A `--name`: an IP address, or a DNS host name.
fn host_san(name: &str) -> Result<SanType, PkiError> {
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(PkiError::BadHostName(name.to_string()));
    }
    let ia5 = name
        .to_string()
        .try_into()
        .map_err(|_| PkiError::BadHostName(name.to_string()))?;
    Ok(SanType::DnsName(ia5))
}

fn set_validity(params: &mut CertificateParams, now: SystemTime, not_after: SystemTime) {
    params.not_before = (now - CLOCK_SLACK).into();
    params.not_after = not_after.into();
    // Random, positive serial: unique without a counter file beside the CA.
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
}

fn system_time(unix_secs: i64) -> SystemTime {
    if unix_secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(unix_secs.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(unix_secs.unsigned_abs())
    }
}

/// A certificate time as a date (UTC), for messages.
pub fn date(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%d")
        .to_string()
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PkiError {
    let path = path.to_path_buf();
    move |source| PkiError::Io { op, path, source }
}

fn generate(what: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Generate { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;

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
