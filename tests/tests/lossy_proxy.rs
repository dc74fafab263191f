//! The lossy-link simulator, checked with plain UDP sockets on loopback and with a
//! quinn connection across it.
//!
//! No assertion depends on how fast this machine is: they check counts and ratios
//! that depend only on the seed, or run under `tokio::time::pause` where the test
//! owns the clock.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use halfsky_tests::lossy::{Blackout, DirectionStats, LinkProfile, LossModel, LossyProxy};
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// Packets sent between two looks at the proxy's counters: few enough that no
/// socket buffer overflows, so every loss is the simulator's.
const WINDOW: u32 = 32;
/// Hang guard for waits on a condition (real time, even when tokio time is paused).
const HANG_GUARD: Duration = Duration::from_secs(30);

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal address")
}

#[derive(Clone, Copy)]
enum Dir {
    ToUpstream,
    ToClient,
}

impl Dir {
    fn of(self, proxy: &LossyProxy) -> DirectionStats {
        let stats = proxy.stats();
        match self {
            Dir::ToUpstream => stats.to_upstream,
            Dir::ToClient => stats.to_client,
        }
    }
}

/// A client and a server talking through a proxy.
struct Ends {
    client: UdpSocket,
    server: UdpSocket,
    proxy: LossyProxy,
}

impl Ends {
    async fn new(profile: LinkProfile, seed: u64) -> Ends {
        let server = UdpSocket::bind(localhost()).await.expect("bind server");
        let upstream = server.local_addr().expect("bound");
        let proxy = LossyProxy::start(localhost(), upstream, profile, seed)
            .await
            .expect("proxy starts");
        let client = UdpSocket::bind(localhost()).await.expect("bind client");
        Ends {
            client,
            server,
            proxy,
        }
    }

    /// Sends `count` numbered packets of `size` bytes client → server; returns the
    /// numbers that arrived, in arrival order.
    async fn upload(&self, first: u32, count: u32, size: usize) -> Vec<u32> {
        let to = self.proxy.local_addr();
        pump(
            &self.proxy,
            Dir::ToUpstream,
            &self.client,
            to,
            &self.server,
            first,
            count,
            size,
        )
        .await
    }

    /// Sends numbered packets server → client, to the address the server saw the
    /// client's packets come from. The client must have sent something first.
    async fn download(&self, to: SocketAddr, first: u32, count: u32, size: usize) -> Vec<u32> {
        pump(
            &self.proxy,
            Dir::ToClient,
            &self.server,
            to,
            &self.client,
            first,
            count,
            size,
        )
        .await
    }
}

/// Polls `done` until it holds, without letting tokio time advance (it yields,
/// never sleeps), so a paused clock stays where it is.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let guard = std::time::Instant::now() + HANG_GUARD;
    while !done() {
        assert!(
            std::time::Instant::now() < guard,
            "timed out waiting for {what}"
        );
        tokio::task::yield_now().await;
        std::thread::yield_now();
    }
}

/// Waits until the proxy holds nothing in direction `dir`, letting time run (a
/// paused clock advances to the proxy's timers).
async fn settle(proxy: &LossyProxy, dir: Dir) {
    let guard = std::time::Instant::now() + HANG_GUARD;
    while dir.of(proxy).in_flight() > 0 {
        assert!(std::time::Instant::now() < guard, "proxy never emptied");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Receives `count` packets that the proxy has already forwarded to `socket`
/// (they are in its buffer) and appends their numbers to `out`.
async fn receive(socket: &UdpSocket, count: u64, out: &mut Vec<u32>) {
    let mut buf = [0u8; 65_536];
    for _ in 0..count {
        let (len, _) = tokio::time::timeout(HANG_GUARD, socket.recv_from(&mut buf))
            .await
            .expect("a forwarded packet arrives")
            .expect("receive");
        assert!(len >= 4, "a packet shorter than its number");
        out.push(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
    }
}

/// Receives on `socket` what the proxy forwarded in `dir` since the last call.
struct Collector {
    dir: Dir,
    seen: u64,
    got: Vec<u32>,
}

impl Collector {
    fn new(proxy: &LossyProxy, dir: Dir) -> Self {
        Collector {
            dir,
            seen: dir.of(proxy).forwarded.packets,
            got: Vec::new(),
        }
    }

    /// Receives the packets forwarded since the last call; returns how many.
    async fn collect(&mut self, proxy: &LossyProxy, socket: &UdpSocket) -> usize {
        let forwarded = self.dir.of(proxy).forwarded.packets;
        let new = forwarded - self.seen;
        receive(socket, new, &mut self.got).await;
        self.seen = forwarded;
        new as usize
    }
}

/// Sends packets numbered `first..first + count` of `size` bytes from `from` to
/// `to`, [`WINDOW`] at a time; after each window waits until the proxy has seen
/// them and forwarded or dropped them, and receives what reached `at`.
#[allow(clippy::too_many_arguments)]
async fn pump(
    proxy: &LossyProxy,
    dir: Dir,
    from: &UdpSocket,
    to: SocketAddr,
    at: &UdpSocket,
    first: u32,
    count: u32,
    size: usize,
) -> Vec<u32> {
    let base = dir.of(proxy).received.packets;
    let mut collector = Collector::new(proxy, dir);
    let mut packet = vec![0u8; size.max(4)];
    let mut sent = 0u64;
    for n in first..first + count {
        packet[..4].copy_from_slice(&n.to_be_bytes());
        from.send_to(&packet, to).await.expect("send");
        sent += 1;
        if sent.is_multiple_of(u64::from(WINDOW)) || n + 1 == first + count {
            wait_for("the proxy to receive a window", || {
                dir.of(proxy).received.packets >= base + sent
            })
            .await;
            settle(proxy, dir).await;
            collector.collect(proxy, at).await;
        }
    }
    collector.got
}

/// Lengths of the runs of consecutive missing numbers in `0..count`.
fn loss_runs(received: &[u32], count: u32) -> Vec<u32> {
    let got: BTreeSet<u32> = received.iter().copied().collect();
    let mut runs = Vec::new();
    let mut run = 0;
    for n in 0..count {
        if got.contains(&n) {
            if run > 0 {
                runs.push(run);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    if run > 0 {
        runs.push(run);
    }
    runs
}

fn mean(xs: &[u32]) -> f64 {
    xs.iter().map(|&x| f64::from(x)).sum::<f64>() / xs.len().max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_link_forwards_everything_both_ways() {
    let ends = Ends::new(LinkProfile::named("clean").expect("exists"), 1).await;
    let up = ends.upload(0, 500, 200).await;
    assert_eq!(up, (0..500).collect::<Vec<_>>());

    // Reply to where the server saw the client's packets come from.
    ends.client
        .send_to(&[0, 0, 0, 0], ends.proxy.local_addr())
        .await
        .expect("send");
    let mut buf = [0u8; 16];
    let (_, client_seen_as) = ends.server.recv_from(&mut buf).await.expect("receive");
    let down = ends.download(client_seen_as, 0, 500, 1200).await;
    assert_eq!(down, (0..500).collect::<Vec<_>>());

    let stats = ends.proxy.stats();
    assert_eq!(stats.clients, 1);
    for dir in [stats.to_upstream, stats.to_client] {
        assert_eq!(dir.forwarded, dir.received);
        assert_eq!(dir.dropped().packets, 0);
    }
    assert_eq!(stats.to_client.forwarded.bytes, 500 * 1200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_gets_its_own_upstream_socket() {
    let ends = Ends::new(LinkProfile::clean(), 1).await;
    let other = UdpSocket::bind(localhost()).await.expect("bind");
    let mut seen = BTreeSet::new();
    let mut buf = [0u8; 16];
    for socket in [&ends.client, &other, &ends.client] {
        socket
            .send_to(b"ping", ends.proxy.local_addr())
            .await
            .expect("send");
        let (_, from) = ends.server.recv_from(&mut buf).await.expect("receive");
        seen.insert(from);
    }
    assert_eq!(seen.len(), 2, "two clients, two upstream addresses");
    assert_eq!(ends.proxy.stats().clients, 2);
    // Replies go back to the right client.
    for (i, from) in seen.iter().enumerate() {
        ends.server.send_to(&[i as u8], from).await.expect("send");
    }
    let (a, b) = (&mut [0u8; 4], &mut [0u8; 4]);
    ends.client
        .recv(a)
        .await
        .expect("reply to the first client");
    other.recv(b).await.expect("reply to the second client");
    assert_ne!(a[0], b[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uniform_loss_is_near_its_rate_and_repeats_with_the_seed() {
    let profile = LinkProfile::clean().with_loss(LossModel::uniform(0.20));
    let run = |seed| {
        let profile = profile.clone();
        async move {
            let ends = Ends::new(profile, seed).await;
            let got = ends.upload(0, 2000, 100).await;
            let stats = ends.proxy.stats().to_upstream;
            assert_eq!(stats.received.packets, 2000);
            assert_eq!(stats.forwarded.packets, got.len() as u64);
            assert_eq!(stats.dropped_loss.packets + got.len() as u64, 2000);
            got
        }
    };
    let first = run(7).await;
    let again = run(7).await;
    let other = run(8).await;
    let loss = 1.0 - first.len() as f64 / 2000.0;
    eprintln!("uniform 20 %: lost {:.1} %", loss * 100.0);
    assert!((0.15..=0.25).contains(&loss), "loss {loss}");
    assert_eq!(first, again, "the same seed drops the same packets");
    assert_ne!(first, other, "another seed drops other packets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursty_loss_comes_in_longer_runs_than_uniform() {
    let measure = |loss: LossModel| async move {
        let ends = Ends::new(LinkProfile::clean().with_loss(loss), 3).await;
        let got = ends.upload(0, 2000, 100).await;
        let runs = loss_runs(&got, 2000);
        (
            1.0 - got.len() as f64 / 2000.0,
            mean(&runs),
            runs.iter().max().copied(),
        )
    };
    let (u_loss, u_run, u_max) = measure(LossModel::uniform(0.2)).await;
    let (b_loss, b_run, b_max) = measure(LossModel::bursty(0.2, 5.0)).await;
    eprintln!(
        "uniform: loss {:.1} %, mean run {u_run:.2}, longest {u_max:?}; \
         bursty: loss {:.1} %, mean run {b_run:.2}, longest {b_max:?}",
        u_loss * 100.0,
        b_loss * 100.0
    );
    assert!((0.10..=0.30).contains(&b_loss), "bursty loss {b_loss}");
    assert!(u_run < 1.6, "uniform runs {u_run}");
    assert!(
        b_run > 2.0 * u_run,
        "bursty runs {b_run} vs uniform {u_run}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn rate_cap_drops_the_excess_and_paces_the_rest() {
    // 384 kbit/s = 48 bytes/ms: a 1,000-byte packet takes 20.83 ms to send.
    let profile = LinkProfile::clean()
        .with_rate_bps(Some(384_000))
        .with_queue_bytes(16_000);
    let ends = Ends::new(profile, 1).await;
    let to = ends.proxy.local_addr();
    let start = Instant::now();
    // 200 KB as fast as possible: the clock stands still while it is sent.
    let mut packet = [0u8; 1000];
    for n in 0..200u32 {
        packet[..4].copy_from_slice(&n.to_be_bytes());
        ends.client.send_to(&packet, to).await.expect("send");
        if n % WINDOW == WINDOW - 1 {
            wait_for("the proxy to receive a window", || {
                ends.proxy.stats().to_upstream.received.packets > u64::from(n)
            })
            .await;
        }
    }
    wait_for("the proxy to receive everything", || {
        ends.proxy.stats().to_upstream.received.packets == 200
    })
    .await;
    assert_eq!(Instant::now(), start, "paused clock");
    // Collect the deliveries with the (virtual) time each arrived.
    let mut collector = Collector::new(&ends.proxy, Dir::ToUpstream);
    let mut arrivals = Vec::new();
    while ends.proxy.stats().to_upstream.in_flight() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let new = collector.collect(&ends.proxy, &ends.server).await;
        arrivals.extend(std::iter::repeat_n(Instant::now() - start, new));
    }
    let got = collector.got;

    let stats = ends.proxy.stats().to_upstream;
    // The queue holds 16 packets; the other 184 are dropped by the bottleneck.
    assert_eq!(stats.forwarded.bytes, 16_000);
    assert_eq!(stats.dropped_queue.packets, 184);
    assert_eq!(
        stats.dropped_loss.packets + stats.dropped_blackout.packets,
        0
    );
    assert_eq!(got, (0..16).collect::<Vec<_>>());
    // The 16 leave one by one at the link rate: the last after 16 x 20.83 ms.
    let last = *arrivals.last().expect("something arrived");
    let ideal = Duration::from_micros(16 * 20_833);
    assert!(
        last >= ideal && last <= ideal + Duration::from_millis(2),
        "{last:?}"
    );
    let rate = (15 * 1000 * 8) as f64 / (last - arrivals[0]).as_secs_f64();
    eprintln!(
        "burst of 200 KB: delivered {} B at {rate:.0} bit/s",
        stats.forwarded.bytes
    );
    assert!((370_000.0..=400_000.0).contains(&rate), "rate {rate}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn rate_cap_sustains_the_rate_under_overload() {
    let profile = LinkProfile::clean()
        .with_rate_bps(Some(384_000))
        .with_queue_bytes(16_000);
    let ends = Ends::new(profile, 1).await;
    let to = ends.proxy.local_addr();
    let start = Instant::now();
    // Offer twice the link rate (1,000 B every 10.4 ms) for 200 KB, ~2.1 s.
    let mut packet = [0u8; 1000];
    let mut collector = Collector::new(&ends.proxy, Dir::ToUpstream);
    for n in 0..200u32 {
        packet[..4].copy_from_slice(&n.to_be_bytes());
        ends.client.send_to(&packet, to).await.expect("send");
        wait_for("the proxy to receive the packet", || {
            ends.proxy.stats().to_upstream.received.packets > u64::from(n)
        })
        .await;
        tokio::time::sleep_until(start + Duration::from_micros(10_417) * (n + 1)).await;
        collector.collect(&ends.proxy, &ends.server).await;
    }
    let offered_for = Instant::now() - start;
    let delivered_meanwhile = ends.proxy.stats().to_upstream.forwarded.bytes;
    settle(&ends.proxy, Dir::ToUpstream).await;
    collector.collect(&ends.proxy, &ends.server).await;
    let got = collector.got;
    let stats = ends.proxy.stats().to_upstream;
    let rate = delivered_meanwhile as f64 * 8.0 / offered_for.as_secs_f64();
    eprintln!(
        "2x overload for {offered_for:?}: {rate:.0} bit/s delivered, {} dropped by the queue",
        stats.dropped_queue.packets
    );
    assert!((360_000.0..=400_000.0).contains(&rate), "rate {rate}");
    // About half is dropped, all of it by the queue.
    assert!(
        (80..=110).contains(&stats.dropped_queue.packets),
        "{stats:?}"
    );
    assert_eq!(stats.forwarded.packets + stats.dropped_queue.packets, 200);
    assert_eq!(got.len() as u64, stats.forwarded.packets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_blackout_drops_everything_until_the_link_is_back() {
    let ends = Ends::new(LinkProfile::clean(), 1).await;
    ends.proxy.set_link_up(false);
    assert!(!ends.proxy.is_link_up());
    assert!(ends.upload(0, 200, 100).await.is_empty());
    ends.proxy.set_link_up(true);
    assert_eq!(
        ends.upload(200, 200, 100).await,
        (200..400).collect::<Vec<_>>()
    );
    let stats = ends.proxy.stats().to_upstream;
    assert_eq!(stats.dropped_blackout.packets, 200);
    assert_eq!(stats.forwarded.packets, 200);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn blackout_drops_packets_in_flight_and_follows_the_schedule() {
    let profile = LinkProfile::clean()
        .with_one_way_delay(Duration::from_millis(200))
        .with_blackout(Some(Blackout {
            up: Duration::from_secs(10),
            down: Duration::from_secs(5),
        }));
    let ends = Ends::new(profile, 1).await;
    let start = Instant::now();
    let to = ends.proxy.local_addr();
    let send = |n: u32| {
        let client = &ends.client;
        async move { client.send_to(&n.to_be_bytes(), to).await.expect("send") }
    };
    let received = || ends.proxy.stats().to_upstream.received.packets;

    // In flight when the link is cut: lost.
    for n in 0..10 {
        send(n).await;
    }
    wait_for("10 packets in", || received() == 10).await;
    ends.proxy.set_link_up(false);
    settle(&ends.proxy, Dir::ToUpstream).await;
    assert_eq!(ends.proxy.stats().to_upstream.dropped_blackout.packets, 10);
    ends.proxy.set_link_up(true);

    // The schedule: up for 10 s, down for 5 s, up again.
    let mut collector = Collector::new(&ends.proxy, Dir::ToUpstream);
    for (at_ms, n) in [(2_000, 10), (12_000, 11), (16_000, 12)] {
        tokio::time::sleep_until(start + Duration::from_millis(at_ms)).await;
        send(n).await;
        wait_for("a packet in", || received() == u64::from(n) + 1).await;
        settle(&ends.proxy, Dir::ToUpstream).await;
        collector.collect(&ends.proxy, &ends.server).await;
    }
    assert_eq!(collector.got, vec![10, 12]);
    assert_eq!(ends.proxy.stats().to_upstream.dropped_blackout.packets, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplication_and_reordering_happen_when_enabled() {
    let dup = Ends::new(LinkProfile::clean().with_duplicate(0.5), 5).await;
    let got = dup.upload(0, 1000, 100).await;
    let stats = dup.proxy.stats().to_upstream;
    eprintln!("duplicate 50 %: {} copies", stats.duplicated.packets);
    assert_eq!(got.len() as u64, 1000 + stats.duplicated.packets);
    assert!((400..=600).contains(&stats.duplicated.packets), "{stats:?}");
    assert_eq!(got.iter().copied().collect::<BTreeSet<_>>().len(), 1000);

    let reorder = Ends::new(LinkProfile::clean().with_reorder(0.2), 5).await;
    let got = reorder.upload(0, 1000, 100).await;
    let stats = reorder.proxy.stats().to_upstream;
    let inversions = got.windows(2).filter(|w| w[0] > w[1]).count();
    eprintln!(
        "reorder 20 %: {} held back, {inversions} arrived before an earlier one",
        stats.reordered.packets
    );
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..1000).collect::<Vec<_>>(),
        "each packet exactly once"
    );
    assert!(inversions > 50, "{inversions} inversions");

    let clean = Ends::new(LinkProfile::clean(), 5).await;
    let got = clean.upload(0, 1000, 100).await;
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "no reordering unless asked"
    );
}

/// A self-signed server and a client that trusts it.
fn quinn_configs() -> (quinn::ServerConfig, quinn::ClientConfig) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("generate a certificate");
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_idle_timeout(Some(
            Duration::from_secs(30)
                .try_into()
                .expect("a valid idle timeout"),
        ))
        .keep_alive_interval(Some(Duration::from_secs(5)));
    let transport = Arc::new(transport);
    let mut server = quinn::ServerConfig::with_single_cert(vec![der.clone()], key.into())
        .expect("server config");
    server.transport_config(transport.clone());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).expect("add the certificate");
    let mut client =
        quinn::ClientConfig::with_root_certificates(Arc::new(roots)).expect("client config");
    client.transport_config(transport);
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quinn_transfers_100_kb_over_rural_3g() {
    const SIZE: usize = 100 * 1024;
    let (server_config, client_config) = quinn_configs();
    let server = quinn::Endpoint::server(server_config, localhost()).expect("server endpoint");
    let server_addr = server.local_addr().expect("bound");
    let profile = LinkProfile::named("rural-3g").expect("exists");
    let proxy = LossyProxy::start(localhost(), server_addr, profile, 42)
        .await
        .expect("proxy starts");
    let mut client = quinn::Endpoint::client(localhost()).expect("client endpoint");
    client.set_default_client_config(client_config);

    let transfer = async {
        let serve = async {
            let incoming = server.accept().await.expect("an incoming connection");
            let conn = incoming.await.expect("handshake (server)");
            let mut recv = conn.accept_uni().await.expect("a stream");
            let data = recv.read_to_end(SIZE + 1).await.expect("read the stream");
            // Tell the client everything arrived before it closes.
            let mut ack = conn.open_uni().await.expect("ack stream");
            ack.write_all(&(data.len() as u64).to_be_bytes())
                .await
                .expect("ack");
            ack.finish().expect("finish ack");
            let _ = conn.closed().await;
            data
        };
        let send = async {
            let conn = client
                .connect(proxy.local_addr(), "localhost")
                .expect("connect")
                .await
                .expect("handshake (client)");
            let mut stream = conn.open_uni().await.expect("open stream");
            let payload: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
            stream.write_all(&payload).await.expect("write");
            stream.finish().expect("finish");
            let mut ack = conn.accept_uni().await.expect("ack stream");
            let ack = ack.read_to_end(8).await.expect("read ack");
            conn.close(0u32.into(), b"done");
            ack
        };
        tokio::join!(serve, send)
    };
    let started = std::time::Instant::now();
    let (data, ack) = tokio::time::timeout(Duration::from_secs(60), transfer)
        .await
        .expect("100 KB over rural-3g within 60 s");
    assert_eq!(data.len(), SIZE);
    assert!(data.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    assert_eq!(ack, (SIZE as u64).to_be_bytes());
    let stats = proxy.stats();
    eprintln!(
        "quinn over rural-3g: 100 KB in {:.1} s\n{stats}",
        started.elapsed().as_secs_f64()
    );
    assert!(stats.to_upstream.forwarded.bytes >= SIZE as u64);
    client.wait_idle().await;
}
