//! A lossy-link simulator: a UDP proxy that puts a bad rural link between clients
//! and a server (two quinn endpoints, or a person's node via the `lossy_proxy`
//! binary). Loss (uniform or bursty), delay, jitter, a rate-limited bounded queue,
//! reordering, duplication and blackouts, each direction impaired independently,
//! all seeded so that a run can be repeated. Kernel `tc netem` is not available on
//! the build machines; this is the stand-in.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use halfsky_node::lossy::{LinkProfile, LossyProxy};
//!
//! let server: std::net::SocketAddr = "127.0.0.1:7000".parse().expect("literal");
//! let profile = LinkProfile::named("rural-3g").expect("a known profile");
//! let proxy = LossyProxy::start("127.0.0.1:0".parse().expect("literal"), server, profile, 1).await?;
//! // Point the client at `proxy.local_addr()` instead of `server`.
//! proxy.set_link_up(false); // the village goes offline
//! println!("{}", proxy.stats());
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - this file: [`LossyProxy`], its sockets and tasks.
//! - `lossy/profile.rs`: [`LinkProfile`], [`LossModel`], [`Blackout`], the named
//!   profiles and their text form.
//! - `lossy/link.rs`: one direction of a link as a state machine without I/O.
//! - `lossy/stats.rs`: [`ProxyStats`] and the counters behind it.

mod link;
mod profile;
mod stats;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep, sleep_until, Instant};

pub use link::REORDER_HOLD;
use link::{Link, LinkSwitch};
pub use profile::{Blackout, LinkProfile, LossModel, ParseProfileError, NAMES};
use stats::Counters;
pub use stats::{DirectionStats, ProxyStats, Traffic};

/// A client address that sends nothing and gets nothing for this long loses its
/// upstream socket (like a NAT mapping); its next packet gets a fresh one.
pub const NAT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;
/// Packets waiting between the listening socket and a client's task; beyond that
/// they are dropped and counted as queue drops.
const CLIENT_CHANNEL: usize = 1024;
/// Pause after a socket error that is not about one packet, so a broken socket
/// does not spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// A running lossy UDP proxy. Clients send to [`local_addr`](Self::local_addr);
/// each client address gets its own socket towards the upstream (as behind a NAT)
/// and its own pair of impaired directions. Dropping the proxy stops it.
#[derive(Debug)]
pub struct LossyProxy {
    local_addr: SocketAddr,
    upstream: SocketAddr,
    profile: LinkProfile,
    shared: Arc<Shared>,
    /// The dispatcher task; it owns the client tasks (a `JoinSet`), so aborting it
    /// stops everything.
    task: JoinHandle<()>,
}

/// State the proxy handle shares with its tasks.
#[derive(Debug)]
struct Shared {
    switch: LinkSwitch,
    to_upstream: Arc<Counters>,
    to_client: Arc<Counters>,
    clients: AtomicU64,
}

impl LossyProxy {
    /// Binds `listen` (port 0 picks a free port) and forwards to `upstream` through
    /// a link that behaves like `profile`, with random choices drawn from `seed`.
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        profile: LinkProfile,
        seed: u64,
    ) -> io::Result<LossyProxy> {
        let socket = UdpSocket::bind(listen).await.map_err(|e| {
            io::Error::new(e.kind(), format!("lossy proxy cannot bind {listen}: {e}"))
        })?;
        Self::from_socket(socket, upstream, profile, seed)
    }

    /// Like [`start`](Self::start), on a socket the caller has bound. Spawns the
    /// proxy's task, so it must be called inside a tokio runtime.
    pub fn from_socket(
        socket: UdpSocket,
        upstream: SocketAddr,
        profile: LinkProfile,
        seed: u64,
    ) -> io::Result<LossyProxy> {
        let local_addr = socket.local_addr()?;
        let shared = Arc::new(Shared {
            switch: LinkSwitch::new(Instant::now(), profile.blackout()),
            to_upstream: Arc::default(),
            to_client: Arc::default(),
            clients: AtomicU64::new(0),
        });
        let dispatcher = Dispatcher {
            listen: Arc::new(socket),
            upstream,
            profile: profile.clone(),
            seed,
            shared: shared.clone(),
            clients: HashMap::new(),
            tasks: JoinSet::new(),
            next_client: 0,
        };
        let task = tokio::spawn(dispatcher.run());
        Ok(LossyProxy {
            local_addr,
            upstream,
            profile,
            shared,
            task,
        })
    }

    /// The address clients send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address packets are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The link the proxy simulates.
    pub fn profile(&self) -> &LinkProfile {
        &self.profile
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            to_upstream: self.shared.to_upstream.snapshot(),
            to_client: self.shared.to_client.snapshot(),
            clients: self.shared.clients.load(Ordering::Relaxed),
        }
    }

    /// `false` takes the link down in both directions, whatever the blackout
    /// schedule says (packets arriving or due to leave are dropped); `true` hands
    /// it back to the schedule.
    pub fn set_link_up(&self, up: bool) {
        self.shared.switch.set_forced_up(up);
    }

    /// Whether the link is up now (schedule and [`set_link_up`](Self::set_link_up)).
    pub fn is_link_up(&self) -> bool {
        self.shared.switch.is_up(Instant::now())
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the listening socket and hands each packet to its client's task.
struct Dispatcher {
    listen: Arc<UdpSocket>,
    upstream: SocketAddr,
    profile: LinkProfile,
    seed: u64,
    shared: Arc<Shared>,
    clients: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    /// Client tasks; dropped (and so aborted) with the dispatcher.
    tasks: JoinSet<SocketAddr>,
    next_client: u64,
}

impl Dispatcher {
    async fn run(mut self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            tokio::select! {
                received = self.listen.recv_from(&mut buf) => match received {
                    Ok((len, from)) => self.dispatch(from, buf[..len].to_vec()).await,
                    Err(e) => {
                        // E.g. an ICMP error for an earlier send on some platforms.
                        tracing::debug!(error = %e, "lossy proxy: receive failed");
                        sleep(ERROR_BACKOFF).await;
                    }
                },
                Some(done) = self.tasks.join_next() => {
                    if let Ok(client) = done {
                        if self.clients.get(&client).is_some_and(|tx| tx.is_closed()) {
                            self.clients.remove(&client);
                        }
                    }
                }
            }
        }
    }

    async fn dispatch(&mut self, from: SocketAddr, packet: Vec<u8>) {
        let packet = match self.clients.get(&from) {
            None => packet,
            Some(tx) => match tx.try_send(packet) {
                Ok(()) => return,
                Err(TrySendError::Full(packet)) => {
                    self.shared.to_upstream.received.add(packet.len());
                    self.shared.to_upstream.dropped_queue.add(packet.len());
                    return;
                }
                // The client's task ended (idle): start a new one.
                Err(TrySendError::Closed(packet)) => packet,
            },
        };
        match self.spawn_client(from).await {
            Ok(tx) => {
                if let Err(e) = tx.try_send(packet) {
                    // A fresh channel has room; only a dead task refuses.
                    tracing::warn!(%from, error = %e, "lossy proxy: new client task gone");
                }
                self.clients.insert(from, tx);
            }
            Err(e) => {
                tracing::warn!(%from, upstream = %self.upstream, error = %e,
                    "lossy proxy: cannot open a socket towards the upstream");
                self.shared.to_upstream.received.add(packet.len());
                self.shared.to_upstream.send_failed.add(packet.len());
            }
        }
    }

    async fn spawn_client(&mut self, client: SocketAddr) -> io::Result<mpsc::Sender<Vec<u8>>> {
        let socket = UdpSocket::bind(bind_address_towards(self.upstream)).await?;
        socket.connect(self.upstream).await?;
        let index = self.next_client;
        self.next_client += 1;
        self.shared.clients.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(CLIENT_CHANNEL);
        let task = ClientTask {
            client,
            socket,
            listen: self.listen.clone(),
            rx,
            to_upstream: Link::new(
                self.profile.clone(),
                derive_seed(self.seed, index, 0),
                self.shared.to_upstream.clone(),
            ),
            to_client: Link::new(
                self.profile.clone(),
                derive_seed(self.seed, index, 1),
                self.shared.to_client.clone(),
            ),
            shared: self.shared.clone(),
        };
        self.tasks.spawn(task.run());
        Ok(tx)
    }
}

/// Both directions of one client's link.
struct ClientTask {
    client: SocketAddr,
    /// Connected to the upstream: only its replies come back here.
    socket: UdpSocket,
    listen: Arc<UdpSocket>,
    rx: mpsc::Receiver<Vec<u8>>,
    to_upstream: Link,
    to_client: Link,
    shared: Arc<Shared>,
}

impl ClientTask {
    async fn run(mut self) -> SocketAddr {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut last_activity = Instant::now();
        loop {
            let next = [self.to_upstream.next_wakeup(), self.to_client.next_wakeup()]
                .into_iter()
                .flatten()
                .min();
            let wake = next.unwrap_or(last_activity + NAT_IDLE_TIMEOUT);
            tokio::select! {
                packet = self.rx.recv() => match packet {
                    Some(packet) => {
                        let now = Instant::now();
                        last_activity = now;
                        self.to_upstream.offer(now, self.shared.switch.is_up(now), packet);
                    }
                    None => return self.client,
                },
                received = self.socket.recv(&mut buf) => match received {
                    Ok(len) => {
                        let now = Instant::now();
                        last_activity = now;
                        let up = self.shared.switch.is_up(now);
                        self.to_client.offer(now, up, buf[..len].to_vec());
                    }
                    // ICMP "port unreachable" for an earlier send: nothing listens
                    // upstream (yet). That send was already counted.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                    Err(e) => {
                        tracing::debug!(client = %self.client, error = %e,
                            "lossy proxy: upstream receive failed");
                        sleep(ERROR_BACKOFF).await;
                    }
                },
                () = sleep_until(wake) => {}
            }
            self.flush().await;
            if next.is_none()
                && self.to_upstream.is_idle()
                && self.to_client.is_idle()
                && Instant::now() >= last_activity + NAT_IDLE_TIMEOUT
            {
                return self.client;
            }
        }
    }

    /// Sends every packet that is due.
    async fn flush(&mut self) {
        let now = Instant::now();
        let up = self.shared.switch.is_up(now);
        while let Some(packet) = self.to_upstream.pop_due(now, up) {
            let counters = &self.shared.to_upstream;
            match self.socket.send(&packet).await {
                Ok(_) => counters.forwarded.add(packet.len()),
                Err(e) => {
                    tracing::debug!(client = %self.client, error = %e, "lossy proxy: send upstream failed");
                    counters.send_failed.add(packet.len());
                }
            }
        }
        while let Some(packet) = self.to_client.pop_due(now, up) {
            let counters = &self.shared.to_client;
            match self.listen.send_to(&packet, self.client).await {
                Ok(_) => counters.forwarded.add(packet.len()),
                Err(e) => {
                    tracing::debug!(client = %self.client, error = %e, "lossy proxy: send to client failed");
                    counters.send_failed.add(packet.len());
                }
            }
        }
    }
}

/// Where a client's upstream socket binds: loopback for a loopback upstream (so
/// tests open nothing to the network), otherwise any address of the same family.
fn bind_address_towards(upstream: SocketAddr) -> SocketAddr {
    let ip = match upstream.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(ip) if ip.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// The seed of one direction of the `index`-th client (in order of first packet).
fn derive_seed(seed: u64, index: u64, direction: u64) -> u64 {
    splitmix64(seed ^ splitmix64(index.wrapping_mul(2).wrapping_add(direction)))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
