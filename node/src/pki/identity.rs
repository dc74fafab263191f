//! Who a certificate speaks for: the [`PeerIdentity`] in every node certificate
//! (unit and device) or the relay's name ([`Subject`]), and a node's own
//! [`NodeIdentity`] (or the relay's [`RelayIdentity`]) loaded from its home.

use std::path::Path;

use halfsky_shared::OrgCode;
use rcgen::PublicKeyData;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::error::PkiError;
use super::files::*;
use super::names::*;

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

/// What a certificate of the deployment speaks for: its role and name. A node
/// certificate may sync, seal, receive and acknowledge bundles; a relay certificate
/// only serves mailboxes (DESIGN.md, "least privilege for the relay").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A device of a unit (`halfsky://org/<code>/device/<name>`).
    Node(PeerIdentity),
    /// The relay (`halfsky://relay/<name>`), by its name.
    Relay(String),
}

/// What TLS needs from a certificate holder: its chain, the deployment's CA and its
/// key. Nodes and the relay both have one.
pub trait TlsCredentials {
    /// This holder's certificate chain (leaf first).
    fn chain(&self) -> &[CertificateDer<'static>];
    /// The deployment's CA certificate: the only trust root.
    fn ca(&self) -> &CertificateDer<'static>;
    /// A copy of the private key of `chain()[0]`.
    fn private_key(&self) -> PrivateKeyDer<'static>;
}

/// The relay's own TLS identity, loaded from its home.
pub struct RelayIdentity {
    /// The relay's certificate chain (leaf first).
    pub chain: Vec<CertificateDer<'static>>,
    /// The deployment's CA certificate.
    pub ca: CertificateDer<'static>,
    /// The relay's name, as its certificate says.
    pub name: String,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for RelayIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayIdentity")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TlsCredentials for RelayIdentity {
    fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
    fn ca(&self) -> &CertificateDer<'static> {
        &self.ca
    }
    fn private_key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

impl TlsCredentials for NodeIdentity {
    fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
    fn ca(&self) -> &CertificateDer<'static> {
        &self.ca
    }
    fn private_key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
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
}

/// Reads the halfsky identity (org and device) of a node certificate from its SAN
/// URI. A relay certificate is refused ([`PkiError::RelayOnly`]): wherever a unit's
/// identity is asked for (a sync peer, a bundle's sender or recipient, an
/// acknowledgement's signer), the relay has none.
pub fn identity_of(cert_der: &[u8]) -> Result<PeerIdentity, PkiError> {
    match subject_of(cert_der)? {
        Subject::Node(id) => Ok(id),
        Subject::Relay(name) => Err(PkiError::RelayOnly {
            name,
            what: "it is refused here",
        }),
    }
}

/// Reads what a certificate speaks for from its one halfsky SAN URI: a node
/// (`halfsky://org/<code>/device/<name>`) or the relay (`halfsky://relay/<name>`).
pub fn subject_of(cert_der: &[u8]) -> Result<Subject, PkiError> {
    let no = |reason: String| PkiError::NoIdentity { reason };
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|e| no(format!("not an X.509 certificate ({e})")))?;
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| no(format!("its subject alternative names are malformed ({e})")))?
        .ok_or_else(|| no("it has no subject alternative names".into()))?;
    let mut uris = sans.value.general_names.iter().filter_map(|n| match n {
        GeneralName::URI(u) if u.starts_with(URI_PREFIX) || u.starts_with(RELAY_URI_PREFIX) => {
            Some(*u)
        }
        _ => None,
    });
    let uri = uris
        .next()
        .ok_or_else(|| no(format!("it has no {URI_PREFIX}… name")))?;
    if uris.next().is_some() {
        return Err(no(format!(
            "it has more than one {URI_PREFIX}… or {RELAY_URI_PREFIX}… name"
        )));
    }
    if let Some(name) = uri.strip_prefix(RELAY_URI_PREFIX) {
        validate_device(name).map_err(|e| no(e.to_string()))?;
        return Ok(Subject::Relay(name.to_string()));
    }
    let rest = uri.strip_prefix(URI_PREFIX).unwrap_or_default();
    let (code, device) = rest
        .split_once("/device/")
        .ok_or_else(|| no(format!("{URI_PREFIX}{rest} has no /device/ part")))?;
    let org = OrgCode::parse(code).map_err(|e| no(e.to_string()))?;
    validate_device(device).map_err(|e| no(e.to_string()))?;
    Ok(Subject::Node(PeerIdentity {
        org,
        device: device.to_string(),
    }))
}

/// Certificate, CA and key of a home, checked to fit together.
type Loaded = (
    Vec<CertificateDer<'static>>,
    CertificateDer<'static>,
    PrivateKeyDer<'static>,
    Subject,
);

/// Loads this node's certificate, key and CA from its home and checks that they fit
/// together (key matches certificate, certificate signed by the CA, valid now). A
/// relay certificate is refused: a node needs a node certificate.
pub fn load_node_identity(home: &Path) -> Result<NodeIdentity, PkiError> {
    let (chain, ca, key, subject) = load_checked(home)?;
    match subject {
        Subject::Node(identity) => Ok(NodeIdentity {
            chain,
            ca,
            identity,
            key,
        }),
        Subject::Relay(name) => Err(PkiError::RelayOnly {
            name,
            what: "a node needs a node certificate: issue one with `halfsky pki issue --org <code> --device <name>`",
        }),
    }
}

/// Loads the relay's certificate, key and CA from its home, with the same checks as
/// [`load_node_identity`]; a node certificate is refused, so that the relay never
/// holds a unit's powers.
pub fn load_relay_identity(home: &Path) -> Result<RelayIdentity, PkiError> {
    let (chain, ca, key, subject) = load_checked(home)?;
    match subject {
        Subject::Relay(name) => Ok(RelayIdentity {
            chain,
            ca,
            name,
            key,
        }),
        Subject::Node(identity) => Err(PkiError::NotARelay {
            path: home.join(NODE_CERT_FILE),
            home: home.to_path_buf(),
            identity: identity.to_string(),
        }),
    }
}

fn load_checked(home: &Path) -> Result<Loaded, PkiError> {
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
    let subject = subject_of(&chain[0])?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((chain, ca, key, subject))
}
