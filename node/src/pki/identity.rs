//! Who a certificate speaks for: the [`PeerIdentity`] in every device certificate
//! (unit and device), and a node's own [`NodeIdentity`] loaded from its home.

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
