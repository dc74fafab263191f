//! `lossy_proxy`: puts a simulated bad rural link in front of a real node.
//!
//! ```text
//! lossy_proxy --listen 127.0.0.1:7001 --upstream 127.0.0.1:7000 --profile rural-3g --seed 1
//! ```
//!
//! Clients connect to `--listen` instead of the node. Counters go to stderr every
//! few seconds; Ctrl-C stops. See `halfsky_tests::lossy` for what the profiles do.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use halfsky_tests::lossy::{DirectionStats, LinkProfile, LossyProxy, NAMES};

/// A UDP proxy that simulates a bad link (loss, delay, rate cap, blackouts).
#[derive(Debug, Parser)]
#[command(name = "lossy_proxy")]
struct Args {
    /// Address clients send to.
    #[arg(long, default_value = "127.0.0.1:7001")]
    listen: SocketAddr,
    /// Address of the real node packets are forwarded to.
    #[arg(long, required_unless_present = "list_profiles")]
    upstream: Option<SocketAddr>,
    /// Link profile: a name (clean, satellite, rural-3g, edge-2g, flaky, awful) with
    /// optional overrides, e.g. `rural-3g,loss=10%,burst=3,blackout=5s/20s`.
    #[arg(long, default_value = "rural-3g")]
    profile: LinkProfile,
    /// Seed of the random choices: the same seed repeats the same pattern.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds between two lines of counters on stderr.
    #[arg(long, default_value_t = 5)]
    stats_every: u64,
    /// Print the named profiles and exit.
    #[arg(long)]
    list_profiles: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    if args.list_profiles {
        for name in NAMES {
            if let Some(profile) = LinkProfile::named(name) {
                println!("{name:10} {profile}");
            }
        }
        return Ok(());
    }
    let upstream = args
        .upstream
        .context("--upstream is required (the node's address)")?;
    let proxy = LossyProxy::start(args.listen, upstream, args.profile.clone(), args.seed)
        .await
        .context("starting the lossy proxy")?;
    eprintln!(
        "lossy_proxy: {} -> {upstream}, seed {}, {}",
        proxy.local_addr(),
        args.seed,
        args.profile
    );
    let every = Duration::from_secs(args.stats_every.max(1));
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    let mut before = proxy.stats();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let now = proxy.stats();
                eprintln!(
                    "link {} | clients {} | to upstream: {} | to client: {}",
                    if proxy.is_link_up() { "up  " } else { "DOWN" },
                    now.clients,
                    line(&before.to_upstream, &now.to_upstream, every),
                    line(&before.to_client, &now.to_client, every),
                );
                before = now;
            }
            signal = tokio::signal::ctrl_c() => {
                signal.context("waiting for Ctrl-C")?;
                break;
            }
        }
    }
    eprintln!("lossy_proxy: stopped; totals:\n{}", proxy.stats());
    Ok(())
}

/// One direction's activity since the last line.
fn line(before: &DirectionStats, now: &DirectionStats, every: Duration) -> String {
    let fwd = now.forwarded.bytes - before.forwarded.bytes;
    let kbps = fwd as f64 * 8.0 / every.as_secs_f64() / 1000.0;
    format!(
        "{} pkt {:.1} kbit/s, dropped loss {} queue {} blackout {}",
        now.forwarded.packets - before.forwarded.packets,
        kbps,
        now.dropped_loss.packets - before.dropped_loss.packets,
        now.dropped_queue.packets - before.dropped_queue.packets,
        now.dropped_blackout.packets - before.dropped_blackout.packets,
    )
}
