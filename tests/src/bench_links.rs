//! Delivering records over a simulated rural link (the rural-links issue): a village
//! whose link to its township goes through the in-process [`LossyProxy`] with a named
//! profile, records written while it was offline, then started; measured until the
//! township holds every record. Used by the `link_profiles` tests (does everything
//! arrive?) and by the benchmark (how fast, how many bytes, which congestion
//! controller).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use halfsky_node::Ledger;
use halfsky_shared::synthetic::Generator;
use halfsky_shared::{Kind, OrgCode};

use crate::deploy::{start, with, Deployment, NodeSpec};
use crate::lossy::{LinkProfile, LossyProxy};

/// The village whose records travel (under Yanshou county's first township).
pub const VILLAGE: &str = "230129100201";
/// Its township, the receiving end.
pub const TOWNSHIP: &str = "230129100000";

/// One delivery over one link.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The link profile's name.
    pub profile: String,
    /// The congestion controller both ends used.
    pub congestion: String,
    /// Records delivered.
    pub records: usize,
    /// From starting the village until the township held every record.
    pub elapsed: Duration,
    /// UDP payload bytes both ends handed to the link (both directions, including
    /// handshakes, retransmissions and packets the link then lost).
    pub bytes_sent: u64,
    /// Of those, bytes the link dropped (loss, queue overflow, blackout).
    pub bytes_dropped: u64,
    /// The profile's bottleneck rate, if it has one.
    pub rate_bps: Option<u64>,
}

impl Delivery {
    /// Payload bytes per second the link actually delivered (both directions).
    pub fn throughput_bps(&self) -> f64 {
        (self.bytes_sent - self.bytes_dropped) as f64 * 8.0 / self.elapsed.as_secs_f64()
    }
}

/// Writes `records` synthetic women into a stopped village ledger in one batch
/// (one Automerge change each, as `import` does).
fn write_offline(home: &halfsky_node::NodeHome, records: usize, seed: u64) -> Result<()> {
    let mut ledger = Ledger::open(home).context("opening the village ledger")?;
    let org = ledger.config().org;
    let mut generator = Generator::new(seed, ledger.today());
    let mut pending = std::collections::HashSet::new();
    // The generator's ID numbers can repeat over thousands of women: a duplicate is
    // refused like a cadre's would be, and another woman is drawn instead.
    let mut prepared = Vec::with_capacity(records);
    let mut refused = 0;
    while prepared.len() < records {
        match ledger.prepare(Kind::Woman, &generator.woman(&org, None), &mut pending) {
            Ok(p) => prepared.push(p),
            Err(e) if refused < records => {
                refused += 1;
                tracing::debug!(error = %e, "synthetic woman refused; drawing another");
            }
            Err(e) => return Err(e).context("preparing synthetic women"),
        }
    }
    ledger
        .add_prepared(prepared, |_| {})
        .context("writing synthetic women")?;
    Ok(())
}

/// Delivers `records` new women from a village to its township over a link shaped
/// like `profile` (a name from [`crate::lossy::NAMES`]), both ends using
/// `congestion`. It waits on the township's count, however long the link needs; it
/// gives up only when the count has not moved for `stall` (a wedged link, a node that
/// stopped trying, or a delivery refused; keep-alives alone are not progress). How
/// long the delivery took is measured, never judged here.
pub async fn deliver(
    profile: &str,
    records: usize,
    congestion: &str,
    seed: u64,
    stall: Duration,
) -> Result<Delivery> {
    let link =
        LinkProfile::named(profile).ok_or_else(|| anyhow!("no link profile named {profile}"))?;
    let d = Deployment::new();
    let sync = vec![("congestion", congestion.to_string())];
    let township = start(&d.home(
        TOWNSHIP,
        "镇",
        &NodeSpec {
            device: "t".into(),
            listen: true,
            sync: sync.clone(),
            ..Default::default()
        },
    ))
    .await;
    let township_addr = township
        .listen_addr()
        .ok_or_else(|| anyhow!("the township does not listen"))?;
    let localhost: SocketAddr = "127.0.0.1:0".parse().expect("address");
    // The proxy (and its blackout schedule) starts just before the village does.
    let proxy = LossyProxy::start(localhost, township_addr, link.clone(), seed)
        .await
        .context("starting the lossy proxy")?;
    let village_home = d.home(
        VILLAGE,
        "村",
        &NodeSpec {
            device: "v".into(),
            parent: Some(proxy.local_addr()),
            sync,
            ..Default::default()
        },
    );
    write_offline(&village_home, records, seed)?;
    let started = Instant::now();
    let village = start_when_unlocked(&village_home).await?;
    let arrived = wait_for_delivery(&township, records, stall)
        .await
        .map(|()| started.elapsed())
        .map_err(|held| {
            anyhow!(
                "over {profile} ({congestion}): the township holds {held} of {records} records and no record has arrived for {stall:?}"
            )
        });
    let stats = proxy.stats();
    village.shutdown().await;
    township.shutdown().await;
    drop(proxy);
    let elapsed = arrived?;
    let (up, down) = (stats.to_upstream, stats.to_client);
    Ok(Delivery {
        profile: profile.to_string(),
        congestion: congestion.to_string(),
        records,
        elapsed,
        bytes_sent: up.received.bytes + down.received.bytes,
        bytes_dropped: up.dropped().bytes + down.dropped().bytes,
        rate_bps: link.rate_bps(),
    })
}

/// Starts a node whose store a just-dropped ledger held: sled's flusher thread can
/// hold the store's file lock a moment after the drop (seen with nine deliveries at
/// once), so a lock refusal is retried for a few seconds; any other error is final.
async fn start_when_unlocked(
    home: &halfsky_node::NodeHome,
) -> Result<halfsky_node::run::RunningNode> {
    let started = Instant::now();
    loop {
        match halfsky_node::run::RunningNode::start(home).await {
            Ok(node) => return Ok(node),
            Err(e)
                if format!("{e:?}").contains("could not acquire lock")
                    && started.elapsed() < Duration::from_secs(10) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => {
                return Err(anyhow!(
                    "starting the village at {}: {e}",
                    home.dir().display()
                ))
            }
        }
    }
}

/// Polls the township's count of the village's women until it reaches `records`;
/// `Err(held)` once that count has not changed for `stall`.
async fn wait_for_delivery(
    township: &halfsky_node::run::RunningNode,
    records: usize,
    stall: Duration,
) -> Result<(), usize> {
    let org = OrgCode::parse(VILLAGE).expect("valid code");
    let mut last = usize::MAX;
    let mut last_change = Instant::now();
    loop {
        let held = with(township, move |l| {
            l.stats(Some(org)).map(|s| s.women.total).unwrap_or(0)
        })
        .await as usize;
        if held >= records {
            return Ok(());
        }
        if held != last {
            last = held;
            last_change = Instant::now();
        } else if last_change.elapsed() > stall {
            return Err(held);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Link profiles measured by the benchmark, mildest first.
pub const LOSSY_PROFILES: &[&str] = &["satellite", "rural-3g", "edge-2g", "flaky", "awful"];

/// Congestion controllers quinn offers, as `[sync] congestion` spells them.
pub const CONTROLLERS: &[&str] = &["bbr", "cubic", "newreno"];

/// How long a benchmark delivery may show no progress at all before it is called stuck.
const BENCH_STALL: Duration = Duration::from_secs(300);

/// Runs deliveries concurrently (each has its own nodes and link, and a slow link
/// leaves the CPU idle), returning them in the order given. Each run is
/// `(profile, records, controller, seed)`: the seed draws the link's losses.
async fn deliver_all(runs: Vec<(&'static str, usize, &'static str, u64)>) -> Result<Vec<Delivery>> {
    let mut set = tokio::task::JoinSet::new();
    for (i, (profile, records, congestion, seed)) in runs.into_iter().enumerate() {
        set.spawn(async move {
            (
                i,
                deliver(profile, records, congestion, seed, BENCH_STALL).await,
            )
        });
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        out.push(done.context("a delivery task panicked")?);
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, d)| d).collect()
}

/// Ideal time to push `bytes` through a link of `rate_bps`.
fn ideal_secs(bytes: u64, rate_bps: Option<u64>) -> f64 {
    rate_bps.map_or(0.0, |r| bytes as f64 * 8.0 / r as f64)
}

/// The rows of one delivery against the clean link with the same records.
fn delivery_rows(
    d: &Delivery,
    clean: &Delivery,
    label: &str,
) -> Vec<crate::bench_sync::SyncFigure> {
    let ideal = ideal_secs(clean.bytes_sent, d.rate_bps);
    let goodput_goal = match d.profile.as_str() {
        "edge-2g" | "awful" => "goodput ≥ 60 % of the link rate (ratio ≤ 1.67)",
        "flaky" => "— (two thirds of the time the link is down)",
        _ => "—",
    };
    let bytes_goal = if d.profile == "flaky" {
        "≤ 1.3× clean (nothing re-sent from zero)"
    } else {
        "—"
    };
    vec![
        crate::bench_sync::SyncFigure {
            name: format!("{label}: delivery time"),
            value: d.elapsed.as_secs_f64(),
            unit: "s",
            baseline_name: format!(
                "ideal: clean-link bytes ÷ {} kbit/s",
                d.rate_bps.unwrap_or(0) / 1000
            ),
            baseline: ideal,
            goal: goodput_goal.into(),
        },
        crate::bench_sync::SyncFigure {
            name: format!("{label}: UDP bytes sent (both ways)"),
            value: d.bytes_sent as f64,
            unit: "B",
            baseline_name: format!(
                "clean link, same records ({:.2} s)",
                clean.elapsed.as_secs_f64()
            ),
            baseline: clean.bytes_sent as f64,
            goal: bytes_goal.into(),
        },
    ]
}

/// Profiles quick (CI) runs measure: `awful` is left out, its 30-second blackouts
/// make one delivery take minutes.
pub const QUICK_PROFILES: &[&str] = &["satellite", "rural-3g", "edge-2g", "flaky"];

/// Per profile and size: time and bytes to deliver new records village → township
/// with the default controller (BBR), against the ideal and the clean link.
pub async fn profile_figures(
    sizes: &[usize],
    profiles: &[&'static str],
) -> Result<Vec<crate::bench_sync::SyncFigure>> {
    let mut figures = Vec::new();
    for &n in sizes {
        let clean = deliver("clean", n, "bbr", 5, BENCH_STALL).await?;
        let runs = profiles
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, n, "bbr", 11 + i as u64))
            .collect();
        for d in deliver_all(runs).await? {
            figures.extend(delivery_rows(
                &d,
                &clean,
                &format!("{}, {n} records", d.profile),
            ));
        }
    }
    Ok(figures)
}

/// Each congestion controller on each profile, `records` new records: the evidence
/// for the default. Every controller meets the same links: one run per seed in
/// `seeds`, the seed drawing the losses, so controllers differ only in themselves
/// (a run per controller with its own seed once made one bursty loss pattern look
/// like a controller's fault). Each profile's runs go at once, profile after
/// profile. Rows: the median over the seeds; notes: the ranking and every run.
pub async fn controller_figures(
    records: usize,
    profiles: &[&'static str],
    seeds: &[u64],
) -> Result<(Vec<crate::bench_sync::SyncFigure>, Vec<String>)> {
    let mut figures = Vec::new();
    let mut notes = Vec::new();
    let clean = deliver("clean", records, "bbr", 5, BENCH_STALL).await?;
    for profile in profiles {
        let runs = CONTROLLERS
            .iter()
            .flat_map(|c| seeds.iter().map(move |s| (*profile, records, *c, *s)))
            .collect();
        let deliveries = deliver_all(runs).await?;
        let mut ranking = Vec::new();
        for (c, per_controller) in CONTROLLERS.iter().zip(deliveries.chunks(seeds.len())) {
            let mut by_time: Vec<&Delivery> = per_controller.iter().collect();
            by_time.sort_by_key(|d| d.elapsed);
            let median = by_time[by_time.len() / 2];
            let label = format!(
                "{profile}, {c}, {records} records, median of {} seeds",
                seeds.len()
            );
            figures.extend(delivery_rows(median, &clean, &label).into_iter().take(1));
            let each: Vec<String> = per_controller
                .iter()
                .zip(seeds)
                .map(|(d, s)| format!("seed {s}: {:.1} s", d.elapsed.as_secs_f64()))
                .collect();
            ranking.push((
                median.elapsed,
                format!(
                    "{c} {:.1} s ({})",
                    median.elapsed.as_secs_f64(),
                    each.join(", ")
                ),
            ));
        }
        ranking.sort_by_key(|(t, _)| *t);
        let ranking: Vec<String> = ranking.into_iter().map(|(_, r)| r).collect();
        notes.push(format!("{profile}: {}", ranking.join(" < ")));
    }
    Ok((figures, notes))
}
