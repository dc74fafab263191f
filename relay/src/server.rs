//! The relay server: accepts QUIC connections with mutual TLS from the deployment's
//! CA (ALPN [`RELAY_ALPN`]), one request per bidirectional stream. The depositor's and
//! fetcher's unit come from their certificates, so a node can only leave mail as
//! itself and read and delete only its own mailbox. Everything the server starts
//! belongs to the [`Relay`]; shutting it down stops every task.

use std::net::SocketAddr;
use std::time::Duration;

use halfsky_node::pki::{self, PeerIdentity, PkiError};
use halfsky_node::sync::relay_client::{read_frame, write_frame, FrameIoError};
use halfsky_node::sync::tls::{self, TlsError};
use halfsky_shared::relay_wire::{
    ItemId, RelayFrame, MAX_EXCEPT, MAX_FETCH, MAX_REVOCATIONS, RELAY_ALPN,
};
use halfsky_shared::revocation::SignedRevocation;
use quinn::{Connection, RecvStream, SendStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, RelayConfig, RelayHome};
use crate::store::{RelayStore, StoreError};

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// relay.toml.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The relay's certificate.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// TLS settings.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address.
    #[error("cannot listen on {addr}: {source}; is another program using that port?")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Why one request on a link could not be served. Refusals (quota, unknown item, a
/// frame that is not a request) are answers, not errors: these are the cases where
/// no answer could be given or delivered, logged with the peer by the link task.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The request could not be read: the link broke or the frame is malformed.
    #[error("cannot read the request: {0}")]
    ReadRequest(#[source] FrameIoError),
    /// An answer could not be written back.
    #[error("cannot send the answer to {request}: {source}")]
    WriteAnswer {
        /// The request being answered (its kind, e.g. `fetch`).
        request: &'static str,
        /// What went wrong on the stream.
        source: FrameIoError,
    },
    /// The answer stream could not be finished (the peer already stopped it).
    #[error("cannot finish the answer to {request}: {source}")]
    Finish {
        /// The request being answered.
        request: &'static str,
        /// The stream error.
        source: quinn::ClosedStream,
    },
}

/// A relay running in this process.
#[derive(Debug)]
pub struct Relay {
    store: RelayStore,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Relay {
    /// Starts the relay of `home`.
    pub async fn start(home: &RelayHome) -> Result<Relay, StartError> {
        let config = home.config()?;
        let identity = pki::load_relay_identity(home.dir())?;
        let ca = pki::revocation::ca_key_of(&identity.ca, &home.dir().join(pki::CA_CERT_FILE))?;
        let transport = halfsky_node::sync::link::transport(&Default::default());
        let server = tls::server_config_with_alpn(&identity, transport, RELAY_ALPN)?;
        let store = RelayStore::open(&home.store_path())?;
        let endpoint =
            quinn::Endpoint::server(server, config.listen).map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = endpoint.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(
            endpoint.clone(),
            Serving {
                store: store.clone(),
                config: config.clone(),
                ca,
            },
            cancel.clone(),
        ));
        tasks.spawn(prune_loop(
            store.clone(),
            config.prune_every,
            cancel.clone(),
        ));
        tracing::info!(%addr, "relay running");
        Ok(Relay {
            store,
            cancel,
            tasks,
            endpoint,
            addr,
        })
    }

    /// The address nodes dial (with the real port if the config said port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The store (mailbox listing while running).
    pub fn store(&self) -> RelayStore {
        self.store.clone()
    }

    /// Stops every task and closes every link.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"relay shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

async fn prune_loop(store: RelayStore, every: Duration, cancel: CancellationToken) {
    loop {
        match store.prune(now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(dropped = n, "dropped expired bundles"),
            Err(e) => tracing::warn!(error = %e, "cannot drop expired bundles"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// What every link and request of the relay needs.
#[derive(Clone)]
struct Serving {
    store: RelayStore,
    config: RelayConfig,
    /// The deployment's CA: revocations nodes bring are checked against it.
    ca: pki::revocation::CaKey,
}

impl Serving {
    /// Why `peer` is refused, if the CA revoked its device (as far as the relay knows).
    fn revoked(&self, peer: &PeerIdentity) -> Option<String> {
        let signed = match self.store.revocation(&peer.org, &peer.device) {
            Ok(Some(signed)) => signed,
            Ok(None) => return None,
            Err(e) => {
                return Some(format!(
                    "the relay cannot read its revocation list ({e}); try again later"
                ))
            }
        };
        SignedRevocation::from_bytes(&signed)
            .and_then(|s| s.verify(&self.ca.public))
            .ok()
            .map(|r| pki::revocation::refusal(&r))
    }

    /// Keeps every revocation in `signed` that the CA signed; returns how many the
    /// relay holds, or why none was kept.
    async fn take_revocations(&self, signed: Vec<Vec<u8>>) -> Result<u32, String> {
        if signed.len() > MAX_REVOCATIONS {
            return Err(format!(
                "more than {MAX_REVOCATIONS} revocations in one frame"
            ));
        }
        for bytes in signed {
            let revocation = SignedRevocation::from_bytes(&bytes)
                .and_then(|s| s.verify(&self.ca.public))
                .map_err(|e| e.to_string())?;
            self.store
                .put_revocation(&revocation.org, &revocation.device, &bytes)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(u32::try_from(self.store.revocation_count()).unwrap_or(u32::MAX))
    }
}

async fn accept_loop(endpoint: quinn::Endpoint, serving: Serving, cancel: CancellationToken) {
    let mut links = JoinSet::new();
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i { Some(i) => i, None => break },
            _ = cancel.cancelled() => break,
            Some(_) = links.join_next() => continue,
        };
        let serving = serving.clone();
        let cancel = cancel.clone();
        links.spawn(async move {
            let Some((conn, peer)) = tls::accept_identified(incoming).await else {
                return;
            };
            if let Some(reason) = serving.revoked(&peer) {
                tracing::warn!(peer = %peer, %reason, "refused a revoked device");
                // Its requests are refused with the reason (the close reason alone may
                // never reach it); its certificate is not kept to hand out.
            } else if let Some(der) = tls::peer_certificate(&conn) {
                if let Err(e) = serving.store.put_cert(&peer.org, &der) {
                    tracing::warn!(peer = %peer, error = %e, "cannot keep a certificate");
                }
            }
            tokio::select! {
                _ = serve_link(&conn, &peer, &serving) => {}
                _ = cancel.cancelled() => conn.close(quinn::VarInt::from_u32(0), b"relay shutting down"),
            }
        });
    }
    links.shutdown().await;
}

async fn serve_link(conn: &Connection, peer: &PeerIdentity, serving: &Serving) {
    let mut requests = JoinSet::new();
    loop {
        let (send, recv) = tokio::select! {
            s = conn.accept_bi() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            Some(_) = requests.join_next() => continue,
        };
        let (peer, serving) = (peer.clone(), serving.clone());
        requests.spawn(async move {
            if let Err(error) = serve_request(send, recv, &peer, &serving).await {
                tracing::warn!(peer = %peer, %error, "relay request failed");
            }
        });
    }
    while requests.join_next().await.is_some() {}
}

fn fetch_answer(
    serving: &Serving,
    peer: &PeerIdentity,
    limit: u32,
    except: &[ItemId],
) -> Vec<RelayFrame> {
    let limit = limit.min(MAX_FETCH) as usize;
    match serving.store.fetch(peer.org, limit, now(), except) {
        Ok((items, remaining)) => {
            let mut out: Vec<RelayFrame> = items
                .into_iter()
                .map(|(id, item)| RelayFrame::Item {
                    id,
                    sender: item.sender,
                    bundle: item.bundle,
                })
                .collect();
            out.push(RelayFrame::End { remaining });
            out
        }
        Err(e) => vec![RelayFrame::Refused {
            reason: e.to_string(),
        }],
    }
}

async fn serve_request(
    mut send: SendStream,
    mut recv: RecvStream,
    peer: &PeerIdentity,
    serving: &Serving,
) -> Result<(), ServeError> {
    let (store, config) = (&serving.store, &serving.config);
    let Some(frame) = read_frame(&mut recv)
        .await
        .map_err(ServeError::ReadRequest)?
    else {
        return Ok(());
    };
    let request = request_kind(&frame);
    let answers = if let Some(reason) = serving.revoked(peer) {
        tracing::warn!(peer = %peer, request, %reason, "refused a request from a revoked device");
        vec![RelayFrame::Refused { reason }]
    } else {
        match frame {
            RelayFrame::Deposit {
                recipient,
                replace,
                bundle,
            } => {
                let size = bundle.len();
                match store
                    .deposit(peer.org, recipient, replace, bundle, now(), config.quota)
                    .await
                {
                    Ok(id) => {
                        tracing::info!(sender = %peer, %recipient, size, "bundle deposited");
                        vec![RelayFrame::Deposited { id }]
                    }
                    Err(e) => {
                        tracing::warn!(sender = %peer, %recipient, reason = %e, "deposit refused");
                        vec![RelayFrame::Refused {
                            reason: e.to_string(),
                        }]
                    }
                }
            }
            RelayFrame::Fetch { limit } => fetch_answer(serving, peer, limit, &[]),
            RelayFrame::FetchExcept { limit, except } if except.len() <= MAX_EXCEPT => {
                fetch_answer(serving, peer, limit, &except)
            }
            RelayFrame::Delete { id } => match store.delete(peer.org, &id).await {
                Ok(()) => vec![RelayFrame::Deleted { id }],
                Err(e) => vec![RelayFrame::Refused {
                    reason: e.to_string(),
                }],
            },
            RelayFrame::CertOf { org } => match store.cert(&org) {
                Ok(cert) => vec![RelayFrame::Cert { org, cert }],
                Err(e) => vec![RelayFrame::Refused {
                    reason: e.to_string(),
                }],
            },
            RelayFrame::Revocations { signed } => match serving.take_revocations(signed).await {
                Ok(count) => vec![RelayFrame::RevocationsHeld { count }],
                Err(reason) => {
                    tracing::warn!(peer = %peer, %reason, "revocations refused");
                    vec![RelayFrame::Refused { reason }]
                }
            },
            other => vec![RelayFrame::Refused {
                reason: format!("{} is not a request the relay serves", request_kind(&other)),
            }],
        }
    };
    for a in &answers {
        write_frame(&mut send, a)
            .await
            .map_err(|source| ServeError::WriteAnswer { request, source })?;
    }
    send.finish()
        .map_err(|source| ServeError::Finish { request, source })?;
    // Wait until the node has read everything before the stream goes away.
    let _ = tokio::time::timeout(Duration::from_secs(30), send.stopped()).await;
    Ok(())
}

/// The name of a request for error messages.
fn request_kind(frame: &RelayFrame) -> &'static str {
    match frame {
        RelayFrame::Deposit { .. } => "deposit",
        RelayFrame::Fetch { .. } => "fetch",
        RelayFrame::Delete { .. } => "delete",
        RelayFrame::CertOf { .. } => "cert-of",
        RelayFrame::Revocations { .. } => "revocations",
        RelayFrame::FetchExcept { .. } => "fetch-except",
        _ => "a non-request frame",
    }
}
