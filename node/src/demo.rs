//! `halfsky demo`: a whole city on one machine. Harbin with its poverty counties
//! Yanshou, Bayan and Mulan (the embedded plan, `config/demo/city.toml`), two
//! townships each and three villages per township: 28 nodes in this process, each its
//! own QUIC endpoint with its own certificate from a demo CA, villages behind
//! simulated rural links, writing records at a gentle rate, while a one-screen summary
//! shows what has reached the city. Ctrl-C stops everything cleanly.
//!
//! Also home of the human-readable statistics printout shared with `halfsky stats`.
//!
//! # Layout
//! - [`plan`]: the city's shape (TOML), resizing.
//! - [`city`]: the running city; [`snapshot`]: what it looks like at one moment.
//! - `clerk`: every unit's clerk checking a sample of its verification queue.
//! - `setup`, `relay`, `carrier`, `writer`: making its node homes, the relay child
//!   process, the bundle carrier, the villages' writers.
//! - [`screen`]: the terminal summary.
//! - [`error`]: why the demo failed ([`DemoError`]).

mod carrier;
pub mod city;
mod clerk;
pub mod error;
pub mod plan;
mod relay;
pub mod screen;
mod setup;
pub mod snapshot;
mod writer;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use halfsky_shared::rollup::StatsReport;
use halfsky_shared::schema::enums;

use city::{DemoCity, DemoOptions};
use error::{Context, DemoError, Result};
use plan::CityPlan;

/// Options of `halfsky demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's CA and node homes here, to pick up again next time (default:
    /// a temporary directory, removed when the demo stops).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The city to run, as TOML (default: the embedded Harbin plan; see
    /// config/demo/city.toml for the format).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Counties to run (the plan's first ones; more are invented).
    #[arg(long)]
    pub counties: Option<usize>,
    /// Townships per county.
    #[arg(long)]
    pub townships: Option<usize>,
    /// Villages per township.
    #[arg(long)]
    pub villages: Option<usize>,
    /// Households each new village starts with.
    #[arg(long, default_value_t = 20)]
    pub households: usize,
    /// Records each village adds per minute while the demo runs (0: none).
    #[arg(long, default_value_t = 6.0)]
    pub rate: f64,
    /// Port of the city dashboard on 127.0.0.1 (a busy port falls back to a free one).
    #[arg(long, default_value_t = 8080)]
    pub dashboard_port: u16,
    /// Seconds between the bundle carrier's trips (a village with no network at all).
    #[arg(long, default_value_t = 30)]
    pub carry_every: u64,
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Seed of the synthetic data and the simulated links.
    #[arg(long, default_value_t = 2016)]
    pub seed: u64,
}

/// Where the demo's node logs go: `DIR/demo.log` with `--data DIR`, else a file in
/// the system's temporary folder named after this process.
pub fn log_path(args: &DemoArgs) -> PathBuf {
    match &args.data {
        Some(dir) => dir.join("demo.log"),
        None => std::env::temp_dir().join(format!("halfsky-demo-{}.log", std::process::id())),
    }
}

/// Opens (appending) the demo's log file, creating its folder; `None` if that fails
/// (logs then go to stderr as usual).
pub fn open_log(args: &DemoArgs) -> Option<std::fs::File> {
    let path = log_path(args);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    use std::os::unix::fs::OpenOptionsExt;
    // Logs name units and peers: owner-only, like everything else of a node.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .ok()
}

/// The plan the options ask for.
fn plan_of(args: &DemoArgs) -> Result<CityPlan> {
    let plan = match &args.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the demo plan {}", path.display()))?;
            CityPlan::parse(&text).map_err(|e| {
                DemoError::Usage(format!(
                    "{}: {e}; see config/demo/city.toml for the format",
                    path.display()
                ))
            })?
        }
        None => CityPlan::default_city(),
    };
    if args.counties.is_none() && args.townships.is_none() && args.villages.is_none() {
        return Ok(plan);
    }
    let first = &plan.counties[0];
    let counties = args.counties.unwrap_or(plan.counties.len());
    let townships = args.townships.unwrap_or(first.townships.len());
    let villages = args
        .villages
        .unwrap_or_else(|| first.townships.first().map_or(3, |t| t.villages.len()));
    for (n, what) in [
        (counties, "--counties"),
        (townships, "--townships"),
        (villages, "--villages"),
    ] {
        if !(1..=50).contains(&n) {
            return Err(DemoError::Usage(format!(
                "{what} {n}: give a number from 1 to 50"
            )));
        }
    }
    Ok(plan.resized(counties, townships, villages))
}

/// Runs the demo until Ctrl-C (or `--duration`).
pub fn run(args: DemoArgs, out: &mut impl Write) -> Result<()> {
    if args.rate < 0.0 || !args.rate.is_finite() {
        return Err(DemoError::Usage(format!(
            "--rate {}: give records per village per minute, 0 or more",
            args.rate
        )));
    }
    let plan = plan_of(&args)?;
    let city_org = plan.city.org;
    let temp;
    let dir = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let options = DemoOptions {
        dir: dir.clone(),
        households: args.households,
        records_per_minute: args.rate,
        seed: args.seed,
        carry_every: Duration::from_secs(args.carry_every.max(1)),
        dashboard_port: args.dashboard_port,
    };
    writeln!(
        out,
        "halfsky demo: {} {} with {} nodes, data in {}, node logs in {}",
        plan.city.name,
        plan.city.org,
        plan.node_count(),
        dir.display(),
        log_path(&args).display()
    )?;
    let interactive = std::io::stdout().is_terminal();
    runtime.block_on(async {
        let city = DemoCity::start(plan, options, |line| {
            let _ = writeln!(out, "  {line}");
        })
        .await?;
        if let Some((addr, login)) = &city.dashboard {
            writeln!(
                out,
                "city dashboard: http://{addr}/  (login {} / {})",
                login.user, login.password
            )?;
        }
        let deadline = args
            .duration
            .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
        let refresh = Duration::from_secs(if interactive { 2 } else { 10 });
        let last = loop {
            let snapshot = city.snapshot().await;
            let text = if interactive {
                screen::full(&city, &snapshot)
            } else {
                screen::line(&snapshot)
            };
            if interactive {
                write!(out, "\x1b[2J\x1b[H{text}")?;
            } else {
                writeln!(out, "{text}")?;
            }
            out.flush()?;
            let sleep = tokio::time::sleep(refresh);
            let stop = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => {}
                _ = stop => break snapshot,
                _ = tokio::signal::ctrl_c() => {
                    writeln!(out)?;
                    break snapshot;
                }
            }
        };
        writeln!(
            out,
            "stopping: every node closes its ledger with everything durable…"
        )?;
        city.shutdown().await;
        writeln!(out, "{}", screen::line(&last))?;
        Ok::<(), DemoError>(())
    })?;
    match &args.data {
        Some(dir) => writeln!(
            out,
            "The city is kept in {}: run the same command again to go on, or try `halfsky -d {}/{city_org} stats`.",
            dir.display(),
            dir.display(),
        )?,
        None => writeln!(out, "(temporary data removed; keep it with --data DIR)")?,
    }
    Ok(())
}

/// Prints a statistics report for a person (Chinese labels, English beside them).
pub fn print_stats(out: &mut impl Write, r: &StatsReport) -> std::io::Result<()> {
    let w = &r.women;
    writeln!(
        out,
        "{} {} ({}) — as of {}",
        r.level.zh(),
        r.name,
        r.org,
        r.as_of
    )?;
    writeln!(
        out,
        "户 households           {:>7}   建档立卡 registered poor {}",
        r.households.total, r.households.registered_poor
    )?;
    writeln!(out, "妇女 women             {:>7}", w.total)?;
    let status: Vec<_> = enums::STATUS
        .codes()
        .map(|c| format!("{} {} {}", enums::STATUS.zh(c), c, w.by_status.of(c)))
        .collect();
    writeln!(out, "  状态 status          {}", status.join(" · "))?;
    let labor: Vec<_> = enums::LABOR
        .codes()
        .map(|c| {
            let wants = w.by_labor_and_work.get(c).map_or(0, |x| x.wants_work);
            format!("{} {} (wants work {})", c, w.by_labor.of(c), wants)
        })
        .collect();
    writeln!(out, "  劳动能力 labour       {}", labor.join(" · "))?;
    let causes: Vec<_> = enums::CAUSE
        .codes()
        .filter(|c| w.by_cause.of(c) > 0)
        .map(|c| format!("{} {}", enums::CAUSE.zh(c), w.by_cause.of(c)))
        .collect();
    writeln!(out, "  致贫原因 causes       {}", causes.join(" · "))?;
    let ages: Vec<_> = halfsky_shared::rollup::AGE_BANDS
        .iter()
        .map(|b| format!("{b} {}", w.by_age_band.of(b)))
        .collect();
    writeln!(out, "  年龄 age bands        {}", ages.join(" · "))?;
    // `{:?}` keeps the decimal point of whole numbers ("50.0"), as the JSON shows them.
    writeln!(
        out,
        "结对 pairings active   {:>7}   coverage {:?}%",
        r.pairings.active, w.pairing_coverage_percent
    )?;
    writeln!(
        out,
        "回访 visits            {:>7}   overdue (> {} days) {} of {} followed",
        r.visits.total,
        r.visits.overdue_after_days,
        r.visits.overdue_women,
        r.visits.followed_women
    )?;
    let t = &r.trainings;
    let share = t
        .poor_share_percent_this_year
        .map(|s| format!("{s}% (goal ≥ 40%)"))
        .unwrap_or_else(|| "-".into());
    writeln!(
        out,
        "培训 trainings {}     {:>7} sessions, {} person-times; poor women's share {}",
        t.year, t.sessions_this_year, t.person_times_this_year, share
    )?;
    writeln!(
        out,
        "贷款 loans             {:>7}   {:?} yuan",
        r.loans.count, r.loans.amount_yuan
    )?;
    writeln!(out, "两癌保险 insured       {:>7}", r.insured)?;
    writeln!(out, "今年脱贫 exits this year {:>5}", r.exits_this_year)?;
    writeln!(out, "核查 verifications     {:>7}", r.verifications.total)?;
    if !r.children.is_empty() {
        writeln!(out, "下级 units below:")?;
        for c in &r.children {
            writeln!(
                out,
                "  {} {:<12} women {:>6}  households {:>6}  overdue {:>5}  exits {:>4}",
                c.org,
                c.name,
                c.women_total,
                c.households_total,
                c.overdue_women,
                c.exits_this_year
            )?;
        }
    }
    Ok(())
}
