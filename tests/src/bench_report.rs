//! The benchmark report's frame (`src/bin/bench.rs`): scenario sizes, the table's
//! rows ([`Figure`], [`Measured`], [`Section`]), timing helpers, child processes of the
//! bench binary that report `key=value` numbers, and the Markdown rendering. The
//! figures themselves live by family in `bench_ledger` (1–2), `bench_village` (3–5),
//! `bench_sync` (6–9), `bench_links` (10–11), `bench_dashboard` (12–13) and
//! `bench_demo` (14), `bench_city` (15).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// Flag that turns the binary into the cold-open child of figure 3.
pub const COLD_OPEN_CHILD: &str = "--cold-open-child";
/// Flag that turns the binary into the `AutoCommit::load` child of figure 3.
pub const AUTOMERGE_LOAD_CHILD: &str = "--automerge-load-child";
/// Flag that turns the binary into the dashboard child of figures 10–11.
pub const DASHBOARD_CHILD: &str = "--dashboard-child";
/// Flag that turns the binary into the plain-sled child of figure 11.
pub const SLED_CHILD: &str = "--sled-child";

/// How big each scenario is; `--quick` shrinks everything for CI.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Timed `Ledger::add` calls (and raw sled writes) in figure 1.
    pub adds: usize,
    /// Rows of the XLSX imported in figure 2.
    pub xlsx_rows: usize,
    /// Women in the big village of figures 3–5.
    pub village_women: usize,
    /// Women in the small village that is figure 4's baseline.
    pub small_women: usize,
    /// Timed updates (and adds) per ledger in figure 4.
    pub updates: usize,
    /// Timed `stats` (and `list`) calls in figure 5.
    pub stats_calls: usize,
    /// Child processes started per cold-open measurement in figure 3.
    pub cold_runs: usize,
    /// New records sent village → city in figure 6.
    pub wire_records: &'static [usize],
    /// Village documents under the county in figure 7.
    pub reconnect_docs: usize,
    /// Records timed through 3 hops in figure 8.
    pub live_samples: usize,
    /// Villages × women of the county in figure 9.
    pub county: (usize, usize),
    /// New records delivered over each link profile in figure 10.
    pub link_records: &'static [usize],
    /// New records delivered per congestion controller and profile in figure 11.
    pub controller_records: usize,
    /// Loss seeds each controller meets on each profile in figure 11 (the same for all).
    pub controller_seeds: &'static [u64],
    /// Link profiles of figures 10 and 11.
    pub link_profiles: &'static [&'static str],
    /// Villages × women per village of the city index in figures 12–13.
    pub city: (usize, usize),
    /// Timed requests per page in figure 12.
    pub page_requests: usize,
    /// Households per village of the demo city in figure 14.
    pub demo_households: usize,
    /// Villages × women per village of each city built through documents (figure 15).
    pub city_docs: &'static [(usize, usize)],
}

impl Sizes {
    /// The sizes the goals are stated for.
    pub const FULL: Sizes = Sizes {
        adds: 1_000,
        xlsx_rows: 20_000,
        village_women: 5_000,
        small_women: 100,
        updates: 200,
        stats_calls: 200,
        cold_runs: 5,
        wire_records: &[100, 1_000, 10_000],
        reconnect_docs: 2_000,
        live_samples: 50,
        county: (200, 1_000),
        link_records: &[1_000, 5_000],
        controller_records: 1_000,
        controller_seeds: &[11, 12, 13],
        link_profiles: crate::bench_links::LOSSY_PROFILES,
        city: (2_000, 500),
        page_requests: 200,
        demo_households: 20,
        city_docs: &[(200, 500), (500, 500)],
    };
    /// Small enough for CI, even in a debug build.
    pub const QUICK: Sizes = Sizes {
        adds: 200,
        xlsx_rows: 2_000,
        village_women: 500,
        small_women: 100,
        updates: 50,
        stats_calls: 50,
        cold_runs: 3,
        wire_records: &[100, 500],
        reconnect_docs: 200,
        live_samples: 10,
        county: (10, 100),
        link_records: &[100],
        controller_records: 100,
        controller_seeds: &[11],
        link_profiles: crate::bench_links::QUICK_PROFILES,
        city: (20, 100),
        page_requests: 20,
        demo_households: 3,
        city_docs: &[(3, 20)],
    };
}

/// One row of the report: a figure, its same-run baseline and the goal.
#[derive(Debug, Clone)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// The measurement, in `unit`.
    pub value: f64,
    /// Unit of `value` and `baseline` (`ms`, `rows/s`, `MiB`).
    pub unit: &'static str,
    /// What the baseline is.
    pub baseline_name: String,
    /// The baseline, in `unit`, if the figure has one.
    pub baseline: Option<f64>,
    /// The goal, as text (`p99 ≤ 5 ms`), or `—`.
    pub goal: String,
}

impl Figure {
    /// A row with no baseline and no goal yet.
    pub fn new(name: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Figure {
            name: name.into(),
            value,
            unit,
            baseline_name: String::new(),
            baseline: None,
            goal: "—".into(),
        }
    }

    /// Sets the same-run baseline the ratio is taken against.
    pub fn baseline(mut self, name: impl Into<String>, value: f64) -> Self {
        self.baseline_name = name.into();
        self.baseline = Some(value);
        self
    }

    /// Sets the goal printed beside the figure.
    pub fn goal(mut self, goal: impl Into<String>) -> Self {
        self.goal = goal.into();
        self
    }
}

/// What one figure function produced: rows for the table and notes for below it.
#[derive(Debug, Default)]
pub struct Measured {
    /// Table rows.
    pub figures: Vec<Figure>,
    /// Sizes, setup times and other context, one line each.
    pub notes: Vec<String>,
}

/// The outcome of one numbered figure, success or not.
#[derive(Debug)]
pub struct Section {
    /// Figure title, e.g. "1. Durable write".
    pub title: &'static str,
    /// Rows and notes, or why measuring failed.
    pub result: Result<Measured, String>,
}

/// p50 and p99 of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest sample.
    pub max: f64,
}

/// Nearest-rank percentiles of `samples`.
pub fn percentiles(samples: &[Duration]) -> Percentiles {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        if ms.is_empty() {
            return f64::NAN;
        }
        let i = ((p / 100.0) * ms.len() as f64).ceil() as usize;
        ms[i.clamp(1, ms.len()) - 1]
    };
    Percentiles {
        p50: rank(50.0),
        p99: rank(99.0),
        max: rank(100.0),
    }
}

/// Runs `op` once per item, timing each call.
pub fn time_each<I, T>(
    items: impl IntoIterator<Item = I>,
    mut op: impl FnMut(I) -> Result<T>,
) -> Result<Vec<Duration>> {
    let mut out = Vec::new();
    for item in items {
        let start = Instant::now();
        op(item)?;
        out.push(start.elapsed());
    }
    Ok(out)
}

/// Median of `values` (NaN if empty).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs this binary as a child with `args`; returns the `key=value` numbers it prints.
pub fn run_child(args: &[&std::ffi::OsStr]) -> Result<BTreeMap<String, f64>> {
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let output = Command::new(exe)
        .args(args)
        .output()
        .context("starting a child process")?;
    if !output.status.success() {
        bail!(
            "child {:?} failed ({}): {}",
            args,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let mut out = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v: f64 = v
                .trim()
                .parse()
                .with_context(|| format!("child printed {line:?}"))?;
            out.insert(k.trim().to_string(), v);
        }
    }
    Ok(out)
}

/// Median over `runs` child runs of each number they print.
pub fn child_medians(runs: usize, args: &[&std::ffi::OsStr]) -> Result<BTreeMap<String, f64>> {
    let mut all: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for _ in 0..runs {
        for (k, v) in run_child(args)? {
            all.entry(k).or_default().push(v);
        }
    }
    Ok(all
        .into_iter()
        .map(|(k, mut v)| (k, median(&mut v)))
        .collect())
}

/// The number `key` a child reported, or an error naming it.
pub fn need(values: &BTreeMap<String, f64>, key: &str) -> Result<f64> {
    values
        .get(key)
        .copied()
        .ok_or_else(|| anyhow!("the child process did not report {key}"))
}

/// Runs a sync benchmark on its own runtime and turns its rows into figures.
pub fn sync_figures(
    future: impl std::future::Future<Output = Vec<crate::bench_sync::SyncFigure>>,
) -> Result<Vec<Figure>> {
    Ok(figures_of(block_on(future)?))
}

/// Like [`sync_figures`], for a measurement that can fail.
pub fn sync_figures_result(
    future: impl std::future::Future<Output = Result<Vec<crate::bench_sync::SyncFigure>>>,
) -> Result<Vec<Figure>> {
    Ok(figures_of(block_on(future)??))
}

/// Runs an async measurement on a fresh 2-thread runtime.
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}

/// The report's rows for measured figures.
pub fn figures_of(rows: Vec<crate::bench_sync::SyncFigure>) -> Vec<Figure> {
    rows.into_iter()
        .map(|f| {
            Figure::new(f.name, f.value, f.unit)
                .baseline(f.baseline_name, f.baseline)
                .goal(f.goal)
        })
        .collect()
}

/// Runs `f`, turning an error or a panic into a message, so one failing figure is
/// reported by name and the run goes on.
pub fn guarded(f: impl FnOnce() -> Result<Measured>) -> Result<Measured, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(panic) => Err(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "(no message)".into())
        )),
    }
}

/// Formats a value for its unit.
pub fn fmt_value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    match unit {
        "rows/s" => format!("{} rows/s", thousands(v.round() as u64)),
        "ms" if v < 1.0 => format!("{v:.3} ms"),
        "ms" if v < 100.0 => format!("{v:.2} ms"),
        _ => format!("{v:.1} {unit}"),
    }
}

/// `12345` → `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// CPU model, cores, memory and kernel of this machine, from /proc.
pub fn machine() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or("unknown".into(), |kib| {
            format!("{:.1} GiB", kib / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    vec![
        format!("CPU: {model}, {cores} cores available"),
        format!("memory: {mem_gib}; kernel: Linux {}", kernel.trim()),
    ]
}

/// Renders the Markdown report.
pub fn report(sections: &[Section], quick: bool, total: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# halfsky benchmarks\n");
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let mode = if quick {
        "quick (`--quick`, CI sizes)"
    } else {
        "full"
    };
    for line in machine() {
        let _ = writeln!(out, "- {line}");
    }
    let _ = writeln!(
        out,
        "- run: {mode}, {build} build, {} UTC, took {:.0} s\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        total.as_secs_f64()
    );
    let _ = writeln!(out, "Baselines are measured in the same run on the same machine; ratio = measured / baseline.\n");
    let _ = writeln!(out, "| figure | measured | baseline | ratio | goal |");
    let _ = writeln!(out, "|---|---:|---|---:|---|");
    for section in sections {
        match &section.result {
            Ok(m) => {
                for f in &m.figures {
                    let (baseline, ratio) = match f.baseline {
                        Some(b) => (
                            format!("{} ({})", fmt_value(b, f.unit), f.baseline_name),
                            if b > 0.0 {
                                format!("{:.2}×", f.value / b)
                            } else {
                                "—".into()
                            },
                        ),
                        None => ("—".into(), "—".into()),
                    };
                    let _ = writeln!(
                        out,
                        "| {} | {} | {baseline} | {ratio} | {} |",
                        f.name,
                        fmt_value(f.value, f.unit),
                        f.goal
                    );
                }
            }
            Err(e) => {
                let e = e.replace('|', "\\|").replace('\n', " ");
                let _ = writeln!(out, "| {} | **failed**: {e} | — | — | — |", section.title);
            }
        }
    }
    let _ = writeln!(out, "\n## Notes\n");
    for section in sections {
        if let Ok(m) = &section.result {
            for note in &m.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
    }
    out
}
