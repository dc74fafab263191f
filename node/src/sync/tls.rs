//! rustls and quinn configurations for the links between nodes: mutual TLS 1.3 in
//! which both sides present a certificate from the deployment's CA ([`crate::pki`])
//! and trust nothing else. A parent thereby knows which unit a child speaks for, and
//! a child knows it reached a node of its own deployment, before any frame is read.
//!
//! The ring crypto provider is given to each config explicitly, so nothing depends
//! on a process-wide default provider being installed.

use std::sync::Arc;

use quinn::crypto::rustls::{NoInitialCipherSuite, QuicClientConfig, QuicServerConfig};
use quinn::{ConnectionError, TransportErrorCode};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::pki::{self, PeerIdentity, PkiError, TlsCredentials};

/// ALPN of the sync protocol (defined with the protocol in `shared`).
pub use halfsky_shared::wire::ALPN;

/// Why a TLS config could not be built, or a peer's identity not read.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA certificate in the node home cannot serve as a trust root.
    #[error("the deployment CA certificate (ca.pem in the node home) cannot be used as a trust root: {source}; issue this node's certificate again with `halfsky pki issue`")]
    Root {
        /// rustls' reason.
        source: rustls::Error,
    },
    /// The verifier of children's certificates could not be built.
    #[error("cannot set up the check of children's certificates: {source}")]
    ClientVerifier {
        /// rustls' reason.
        source: rustls::server::VerifierBuilderError,
    },
    /// This node's certificate or key is not accepted by rustls.
    #[error("this node's certificate or key (node.pem / node.key) cannot be used as a TLS {role}: {source}; issue it again with `halfsky pki issue`")]
    NodeCert {
        /// "server" or "client".
        role: &'static str,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// The crypto provider lacks TLS 1.3 (a build problem, not a user's).
    #[error("TLS 1.3 is not available with the ring crypto provider: {source}")]
    Protocol {
        /// rustls' reason.
        source: rustls::Error,
    },
    /// The rustls config lacks what QUIC needs (a build problem, not a user's).
    #[error("the TLS settings cannot be used for QUIC: {source}")]
    Quic {
        /// quinn's reason.
        source: NoInitialCipherSuite,
    },
    /// The connection carries no peer certificate (not a mutual-TLS link).
    #[error("the other side presented no certificate")]
    NoPeerCertificate,
    /// The peer's certificate names no halfsky unit.
    #[error("the other side's certificate: {source}")]
    PeerIdentity {
        /// Why its identity could not be read.
        source: PkiError,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(id: &(impl TlsCredentials + ?Sized)) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(id.ca().clone())
        .map_err(|source| TlsError::Root { source })?;
    Ok(Arc::new(roots))
}

/// TLS sessions a parent keeps for resumption: enough for every village of a large
/// county (~2,000) and the county's own children besides.
pub const SESSION_CACHE: usize = 4_096;

/// A QUIC server config for a parent: TLS 1.3 only, requires every child to present a
/// certificate from the deployment's CA, offers [`ALPN`].
pub fn server_config(
    id: &(impl TlsCredentials + ?Sized),
    transport: Arc<quinn::TransportConfig>,
) -> Result<quinn::ServerConfig, TlsError> {
    server_config_with_alpn(id, transport, ALPN)
}

/// Like [`server_config`], offering another protocol (the relay's).
pub fn server_config_with_alpn(
    id: &(impl TlsCredentials + ?Sized),
    transport: Arc<quinn::TransportConfig>,
    alpn: &[u8],
) -> Result<quinn::ServerConfig, TlsError> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(id)?, provider.clone())
        .build()
        .map_err(|source| TlsError::ClientVerifier { source })?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|source| TlsError::Protocol { source })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(id.chain().to_vec(), id.private_key())
        .map_err(|source| TlsError::NodeCert {
            role: "server",
            source,
        })?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    // Resumption: a child that reconnects after a drop resumes its TLS session instead
    // of sending both certificate chains again. A county keeps the sessions of all its
    // villages (rustls keeps 256 by default).
    tls.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    let quic = QuicServerConfig::try_from(tls).map_err(|source| TlsError::Quic { source })?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(transport);
    Ok(config)
}

/// A QUIC client config for a child: trusts only the deployment's CA, presents this
/// node's certificate, asks for [`ALPN`]. Dial with a server name that the parent's
/// certificate carries (`localhost`, 127.0.0.1, or a `--name` given when it was issued).
pub fn client_config(
    id: &(impl TlsCredentials + ?Sized),
    transport: Arc<quinn::TransportConfig>,
) -> Result<quinn::ClientConfig, TlsError> {
    client_config_with_alpn(id, transport, ALPN)
}

/// Like [`client_config`], asking for another protocol (the relay's).
pub fn client_config_with_alpn(
    id: &(impl TlsCredentials + ?Sized),
    transport: Arc<quinn::TransportConfig>,
    alpn: &[u8],
) -> Result<quinn::ClientConfig, TlsError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|source| TlsError::Protocol { source })?
        .with_root_certificates(roots(id)?)
        .with_client_auth_cert(id.chain().to_vec(), id.private_key())
        .map_err(|source| TlsError::NodeCert {
            role: "client",
            source,
        })?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|source| TlsError::Quic { source })?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(transport);
    Ok(config)
}

/// The identity (unit and device) the other side's certificate carries. The
/// certificate was already verified against the deployment's CA by the handshake.
pub fn peer_identity(conn: &quinn::Connection) -> Result<PeerIdentity, TlsError> {
    let certs = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or(TlsError::NoPeerCertificate)?;
    let leaf = certs.first().ok_or(TlsError::NoPeerCertificate)?;
    pki::identity_of(leaf).map_err(|source| TlsError::PeerIdentity { source })
}

/// The other side's leaf certificate (DER), as verified by the handshake.
pub fn peer_certificate(conn: &quinn::Connection) -> Option<Vec<u8>> {
    let certs = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())?;
    certs.first().map(|c| c.to_vec())
}

/// Which end of a link is reading the explanation.
#[derive(Clone, Copy)]
enum Side {
    /// This node dialled its parent.
    Child,
    /// A child dialled this node.
    Parent,
}

/// A reason a person can act on for a failed connection to the parent, as seen by
/// the child that dialled. In TLS 1.3 a child whose certificate the parent refuses
/// finishes its half of the handshake and only then sees the connection closed; this
/// names that case instead of "connection lost".
pub fn explain_handshake_failure(e: &ConnectionError) -> String {
    explain(e, Side::Child)
}

/// Completes an incoming QUIC handshake and reads the peer's certificate identity;
/// on failure logs a readable reason (and closes a connection without a usable
/// identity) and returns `None`. Shared by the node's and the relay's accept loops.
pub async fn accept_identified(
    incoming: quinn::Incoming,
) -> Option<(quinn::Connection, PeerIdentity)> {
    let remote = incoming.remote_address();
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(%remote, reason = %explain_incoming_failure(&e), "refused a connection");
            return None;
        }
    };
    match peer_identity(&conn) {
        Ok(peer) => Some((conn, peer)),
        Err(e) => {
            tracing::warn!(%remote, error = %e, "refused a connection without a usable identity");
            conn.close(
                quinn::VarInt::from_u32(1),
                b"no usable certificate identity",
            );
            None
        }
    }
}

/// The same for a parent whose child's connection failed (for its log).
pub fn explain_incoming_failure(e: &ConnectionError) -> String {
    explain(e, Side::Parent)
}

fn explain(e: &ConnectionError, side: Side) -> String {
    let (peer, this) = match side {
        Side::Child => ("the parent", "this node"),
        Side::Parent => ("the child", "this node"),
    };
    match e {
        // The other side's TLS refused something: close code 0x100 + TLS alert.
        ConnectionError::ConnectionClosed(close) => match tls_alert(close.error_code) {
            Some(alert) => format!(
                "{peer} refused {this}'s certificate — {}{}",
                refused_ours(alert, side),
                detail(&String::from_utf8_lossy(&close.reason))
            ),
            None => format!("{peer} closed the connection: {close}"),
        },
        // Our TLS refused the other side's certificate (or the handshake).
        ConnectionError::TransportError(te) => match tls_alert(te.code) {
            Some(alert) => format!(
                "{this} refused {peer}'s certificate — {}{}",
                refused_theirs(alert, side),
                detail(&te.reason)
            ),
            None => format!("the connection with {peer} broke: {te}"),
        },
        ConnectionError::TimedOut => format!(
            "no answer from {peer} in time: it may be down, the address or port may be wrong, or a firewall may block UDP; {this} will retry"
        ),
        ConnectionError::Reset => format!("{peer} reset the connection (it probably restarted); {this} will retry"),
        ConnectionError::VersionMismatch => format!(
            "{peer} speaks no QUIC version this halfsky knows; update halfsky on the older machine"
        ),
        ConnectionError::ApplicationClosed(close) => format!("{peer} closed the connection: {close}"),
        ConnectionError::LocallyClosed => format!("{this} closed the connection"),
        ConnectionError::CidsExhausted => "too many connections at once; try again later".to_string(),
    }
}

/// The technical reason in parentheses, for whoever reads the log after the user.
fn detail(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

/// The TLS alert carried by a QUIC crypto error code (0x100–0x1ff).
fn tls_alert(code: TransportErrorCode) -> Option<u8> {
    u64::from(code)
        .checked_sub(0x100)
        .and_then(|alert| u8::try_from(alert).ok())
}

/// Advice when the other side's TLS sent `alert` about our certificate.
fn refused_ours(alert: u8, side: Side) -> &'static str {
    match (alert, side) {
        // unknown_ca, bad_certificate, decrypt_error: signed by another CA.
        (48 | 42 | 51, Side::Child) => "it was probably issued by another deployment's CA; re-issue it with `halfsky pki issue --ca <the deployment's CA>`",
        (48 | 51, Side::Parent) => "the child's certificates come from another CA (another deployment, or a CA made anew): re-issue the child's certificate with `halfsky pki issue --ca <the deployment's CA>`",
        (42, Side::Parent) => "the child dialled an address this node's certificate lacks: re-issue this node's certificate with `halfsky pki issue --name <the address children dial>`",
        (45, _) => "a certificate is expired or not yet valid: check both computers' clocks, then re-issue the expired certificate with `halfsky pki issue`",
        (116, _) => "no certificate was presented; issue one with `halfsky pki issue`",
        (43 | 46, _) => "the certificate is not for this use; re-issue it with `halfsky pki issue`",
        (120, _) => "the two sides speak different halfsky protocol versions; update halfsky on the older machine",
        _ => "the secure handshake failed; check that both nodes run the same halfsky version and use certificates from the same CA",
    }
}

/// Advice when our TLS sent `alert` about the other side's certificate.
fn refused_theirs(alert: u8, side: Side) -> &'static str {
    match (alert, side) {
        (48 | 51, Side::Child) => "the parent's certificate comes from another CA than this node's (another deployment, or a CA made anew): check the parent's address, then re-issue whichever certificate is not from the deployment's CA with `halfsky pki issue --ca <the deployment's CA>`",
        (48 | 51, Side::Parent) => "the child's certificate is not from this deployment's CA; re-issue it with `halfsky pki issue --ca <the deployment's CA>`",
        (42, Side::Child) => "the parent's certificate is not valid for the address dialled: re-issue the parent's certificate with `--name <that address>`, or dial one of the names it has",
        (45, _) => "a certificate is expired or not yet valid: check both computers' clocks, then re-issue the expired certificate with `halfsky pki issue`",
        (116, _) => "the child presented no certificate; issue one with `halfsky pki issue`",
        (43 | 46, _) => "the certificate is not for this use; re-issue it with `halfsky pki issue`",
        (120, _) => "the two sides speak different halfsky protocol versions; update halfsky on the older machine",
        _ => "the secure handshake failed; check that both nodes run the same halfsky version and use certificates from the same CA",
    }
}

/// The name to verify in a peer's certificate when dialling `host:port` (IPv6
/// literals in brackets lose them).
pub fn server_name(addr: &str) -> String {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed_with_alert(alert: u8) -> ConnectionError {
        ConnectionError::ConnectionClosed(quinn::ConnectionClose {
            error_code: TransportErrorCode::crypto(alert),
            frame_type: None,
            reason: Default::default(),
        })
    }

    #[test]
    fn explains_refused_certificate() {
        let text = explain_handshake_failure(&closed_with_alert(48));
        assert!(
            text.contains("the parent refused this node's certificate"),
            "{text}"
        );
        assert!(text.contains("halfsky pki issue --ca"), "{text}");
        let text = explain_handshake_failure(&closed_with_alert(45));
        assert!(text.contains("clocks"), "{text}");
        assert!(explain_handshake_failure(&ConnectionError::TimedOut).contains("firewall"));
        assert!(explain_incoming_failure(&closed_with_alert(48)).starts_with("the child refused"));
    }

    #[test]
    fn alert_codes() {
        assert_eq!(tls_alert(TransportErrorCode::crypto(48)), Some(48));
        assert_eq!(tls_alert(TransportErrorCode::PROTOCOL_VIOLATION), None);
    }
}
