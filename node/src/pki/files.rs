//! Reading and writing the PKI's files: certificates and keys as PEM, private keys
//! owner-only, every file written atomically; certificate checks shared by the CA and
//! the identity code.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, KeyPair, SanType, SerialNumber};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::PkiError;
use super::names::*;

/// Reads the PEM certificates of a file (at least one).
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
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
pub(crate) fn read_key(path: &Path) -> Result<KeyPair, PkiError> {
    check_private(path)?;
    let pem = fs::read_to_string(path).map_err(io("read", path))?;
    KeyPair::from_pem(&pem).map_err(|e| PkiError::Damaged {
        path: path.to_path_buf(),
        reason: format!("not a PEM private key ({e})"),
    })
}

pub(crate) fn parse_cert<'a>(der: &'a [u8], path: &Path) -> Result<X509Certificate<'a>, PkiError> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| PkiError::Damaged {
            path: path.to_path_buf(),
            reason: format!("not an X.509 certificate ({e})"),
        })
}

pub(crate) fn check_valid_now(cert: &X509Certificate<'_>, path: &Path) -> Result<(), PkiError> {
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
pub(crate) fn check_private(path: &Path) -> Result<(), PkiError> {
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
pub(crate) fn check_private(_path: &Path) -> Result<(), PkiError> {
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a
/// rename, so a crash leaves either the old file or the new one. `secret` files get
/// mode 0600, others 0644; `replace = false` refuses an existing `path`.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    secret: bool,
    replace: bool,
) -> Result<(), PkiError> {
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
pub(crate) fn already_exists_as(e: PkiError, err: impl FnOnce() -> PkiError) -> PkiError {
    match e {
        PkiError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            err()
        }
        other => other,
    }
}

pub(crate) fn validate_device(name: &str) -> Result<(), PkiError> {
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
pub(crate) fn host_san(name: &str) -> Result<SanType, PkiError> {
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

pub(crate) fn set_validity(params: &mut CertificateParams, now: SystemTime, not_after: SystemTime) {
    params.not_before = (now - CLOCK_SLACK).into();
    params.not_after = not_after.into();
    // Random, positive serial: unique without a counter file beside the CA.
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
}

pub(crate) fn system_time(unix_secs: i64) -> SystemTime {
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

pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PkiError {
    let path = path.to_path_buf();
    move |source| PkiError::Io { op, path, source }
}

pub(crate) fn generate(what: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Generate { what, source }
}
