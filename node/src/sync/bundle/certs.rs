//! Certificates around bundles: checking a peer's against the deployment's CA,
//! keeping the parent's in `peers/<ORG>.pem`, reading a `--to-cert` file.

use std::path::{Path, PathBuf};

use halfsky_shared::OrgCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::BundleError;
use crate::pki::{self, PeerIdentity};

/// Directory in a node home holding peers' certificates, `<ORG>.pem`.
pub const PEERS_DIR: &str = "peers";

/// Checks that `cert_der` was issued by the CA `ca_der` and is valid now; returns the
/// identity it carries and its public key (SEC1).
pub fn check_cert(
    ca_der: &[u8],
    cert_der: &[u8],
    what: &'static str,
) -> Result<(PeerIdentity, Vec<u8>), BundleError> {
    let refuse = |reason: String| BundleError::Cert { what, reason };
    let (_, ca) = X509Certificate::from_der(ca_der)
        .map_err(|e| refuse(format!("this node's ca.pem does not parse ({e})")))?;
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|e| refuse(format!("not an X.509 certificate ({e})")))?;
    cert.verify_signature(Some(ca.public_key())).map_err(|_| {
        refuse("it was not issued by this deployment's CA (a foreign or forged certificate)".into())
    })?;
    if !cert.validity().is_valid() {
        return Err(refuse("it is expired or not yet valid".into()));
    }
    let identity = pki::identity_of(cert_der).map_err(|e| refuse(e.to_string()))?;
    Ok((identity, cert.public_key().subject_public_key.data.to_vec()))
}

/// `peers/<ORG>.pem` in `home`.
pub fn peer_cert_path(home: &Path, org: &OrgCode) -> PathBuf {
    home.join(PEERS_DIR).join(format!("{org}.pem"))
}

/// Keeps a peer's certificate in the node home (atomically; only if it changed).
pub fn save_peer_cert(home: &Path, org: &OrgCode, cert_der: &[u8]) -> std::io::Result<()> {
    let path = peer_cert_path(home, org);
    let pem = pem_of(cert_der);
    if std::fs::read_to_string(&path).is_ok_and(|old| old == pem) {
        return Ok(());
    }
    std::fs::create_dir_all(home.join(PEERS_DIR))?;
    write_atomic(&path, pem.as_bytes())
}

fn pem_of(der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Writes `bytes` to `path` through a temporary file and a rename: never half-written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Reads a certificate file (PEM or DER).
pub fn read_cert_file(path: &Path) -> Result<Vec<u8>, BundleError> {
    let bytes = std::fs::read(path).map_err(|source| BundleError::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.starts_with(b"-----") {
        let cert = CertificateDer::from_pem_slice(&bytes).map_err(|e| BundleError::Cert {
            what: "recipient's",
            reason: format!("{} is not a PEM certificate ({e})", path.display()),
        })?;
        Ok(cert.to_vec())
    } else {
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trips() {
        for len in [0usize, 1, 2, 3, 100, 301] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let pem = pem_of(&der);
            if len > 0 {
                let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
                assert_eq!(back.as_ref(), der.as_slice());
            }
        }
    }
}
