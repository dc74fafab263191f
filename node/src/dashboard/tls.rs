//! HTTPS for the dashboard (`[dashboard] tls_cert`, `tls_key`): rustls through
//! tokio-rustls, each connection served by hyper with the same router as plain HTTP,
//! and every cookie the dashboard sets marked `Secure`, so a browser never sends a
//! session over plain HTTP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Why the dashboard's HTTPS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DashboardTlsError {
    /// A PEM file that cannot be read or holds nothing usable.
    #[error("dashboard.{setting} = {}: {reason}; give a PEM file (certificate chain for tls_cert, private key for tls_key)", .path.display())]
    File {
        /// `tls_cert` or `tls_key`.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file is readable by other users.
    #[error(transparent)]
    LooseKey(#[from] crate::pki::PkiError),
    /// rustls refused the pair (key does not match the certificate, …).
    #[error("the dashboard's certificate and key cannot be used together: {0}")]
    Config(#[source] rustls::Error),
}

/// Reads `cert` and `key` (relative to `home` unless absolute) into a rustls server
/// config offering HTTP/1.1.
pub fn server_config(
    home: &Path,
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, DashboardTlsError> {
    let (cert, key) = (home.join(cert), home.join(key));
    let bad = |setting, path: &Path, reason: String| DashboardTlsError::File {
        setting,
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(&cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad("tls_cert", &cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad("tls_cert", &cert, "no certificate in it".into()));
    }
    crate::pki::files::check_private(&key)?;
    let private =
        PrivateKeyDer::from_pem_file(&key).map_err(|e| bad("tls_key", &key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(DashboardTlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(DashboardTlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Adds `Secure` to every cookie a response sets.
async fn secure_cookies(mut response: Response) -> Response {
    let cookies: Vec<HeaderValue> = response
        .headers_mut()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| HeaderValue::from_str(&format!("{v}; Secure")).ok())
        .collect();
    if !cookies.is_empty() {
        response.headers_mut().remove(header::SET_COOKIE);
        for c in cookies {
            response.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    response
}

/// Serves `router` over HTTPS on `listener` until `cancel` fires; a failed handshake
/// costs only its own connection.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    cancel: CancellationToken,
) {
    let router = router.layer(axum::middleware::map_response(secure_cookies));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let mut connections = JoinSet::new();
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "dashboard: cannot accept a connection");
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
            Some(_) = connections.join_next() => continue,
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        connections.spawn(async move {
            let handshake =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "dashboard: TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            // The client's address, as `axum::serve` gives it (login throttling).
            let service = router.layer(axum::Extension(ConnectInfo::<SocketAddr>(remote)));
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
            if let Err(e) = served {
                tracing::debug!(%remote, error = %e, "dashboard: connection ended with an error");
            }
        });
    }
    connections.shutdown().await;
}
