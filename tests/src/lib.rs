//! # halfsky-tests
//!
//! Shared harness for halfsky's integration tests, crash tests and benchmarks.
//!
//! # Layout
//! - this file: temporary node homes, synthetic ledgers, small helpers, and the two
//!   condition waits every test uses ([`eventually`] in async tests,
//!   [`eventually_blocking`] around child processes).
//! - [`bench_report`]: the benchmark report's frame (sizes, rows, timing, Markdown).
//! - [`bench_ledger`]: benchmark figures 1–2 (durable write, XLSX import).
//! - [`bench_village`]: benchmark figures 3–5 (cold open, index update, `stats`).
//! - [`bench_city`]: benchmark figure 15 (a city built through its documents, run as
//!   its own process).
//! - [`bench_dashboard`]: the dashboard benchmark (a city-sized index served over HTTP).
//! - [`bench_live`]: live-mode bytes (pushes vs a sync round per change).
//! - [`bench_sync`]: the sync benchmarks (wire bytes, no-op reconnect, live latency, initial sync).
//! - [`deploy`]: a test CA, node homes at every level, nodes started in-process.
//! - [`procs`]: real child processes (workspace binaries, SIGKILL guards, bounded waits).
//! - [`lossy`]: the lossy-link simulator (re-exported from `halfsky_node::lossy`, where
//!   the demo uses it too).
//! - `src/bin/lossy_proxy.rs`: that proxy as a command, to put in front of a real node.
//! - `src/bin/crash_writer.rs`: a process that adds records until it is killed.
//! - `src/bin/relay_writer.rs`: a process that deposits bundles in a relay store until killed.
//! - `src/bin/bench.rs`: the benchmark report.
//! - `tests/`: integration tests by area (`crash`, …).

pub use halfsky_node::lossy;

pub mod bench_admission;
pub mod bench_city;
pub mod bench_dashboard;
pub mod bench_demo;
pub mod bench_ledger;
pub mod bench_links;
pub mod bench_live;
pub mod bench_reconnect;
pub mod bench_report;
pub mod bench_sync;
pub mod bench_village;
pub mod bench_workload;
pub mod deploy;
pub mod hostile_input;
pub mod procs;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::synthetic::Generator;
use halfsky_shared::{OrgCode, RecordId};

/// The demo village code used across tests.
pub const VILLAGE: &str = "230129100201";

/// A fixed "today" so tests do not depend on the calendar.
pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).expect("valid date")
}

/// The village code, parsed.
pub fn village() -> OrgCode {
    OrgCode::parse(VILLAGE).expect("valid code")
}

/// A fresh node home for `org` under `dir`.
pub fn new_home(dir: &Path, org: OrgCode, name: &str) -> NodeHome {
    let home = NodeHome::new(dir.join(org.as_str()));
    home.init(org, name, "test-device", None)
        .expect("a new directory takes a node home");
    home
}

/// Opens a ledger with "today" fixed.
pub fn open(home: &NodeHome) -> Ledger {
    let mut ledger = Ledger::open(home).expect("ledger opens");
    ledger.set_today(today());
    ledger
}

/// Fills `ledger` with a synthetic village of `households` households; returns the women.
pub fn fill_village(ledger: &mut Ledger, households: usize, seed: u64) -> Vec<RecordId> {
    let org = ledger.config().org;
    let mut generator = Generator::new(seed, ledger.today());
    generator
        .village(&org, households, |kind, inputs| ledger.add(kind, &inputs))
        .expect("synthetic records are valid")
}

/// Runs a ledger command line (as typed after `halfsky`) on an open ledger, as a
/// clerk would meet it: what it printed and its exit code.
pub fn cli(ledger: &mut Ledger, args: &[&str]) -> halfsky_node::cli::Captured {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    halfsky_node::cli::execute_args(ledger, Path::new("/"), &args)
}

/// Adds a synthetic woman with this ID number (her birth year read from it).
pub fn add_woman_numbered(village: &mut Ledger, seed: u64, number: &str) -> RecordId {
    let unit = village.config().org;
    let mut inputs = Generator::new(seed, village.today()).woman(&unit, None);
    inputs.retain(|(k, _)| k != "id_number" && k != "birth_year");
    inputs.push(("id_number".into(), number.into()));
    inputs.push(("birth_year".into(), number[6..10].into()));
    village
        .add(halfsky_shared::Kind::Woman, &inputs)
        .expect("a valid woman")
}

/// Directory for a test's output files (screenshots, reports), under `target/`.
pub fn output_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-output")
        .join(test);
    std::fs::create_dir_all(&dir).expect("target/ is writable");
    dir
}

/// Waits until `check` returns `Some`, polling; panics with `what` after `limit`.
/// `limit` is a safety net against a hang, not a pass/fail threshold: pick it far above
/// what the condition normally takes.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if started.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`eventually`] for code without a runtime (child processes, the command line):
/// polls `check` until `Ok`, at most `limit`; panics with `what` and the last `Err`
/// (what was seen instead).
pub fn eventually_blocking<T>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(seen) if started.elapsed() > limit => {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {seen}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The body of `path` on a dashboard of `ledger` served on loopback (no login),
/// asserting it is answered 200.
pub fn dashboard_page(ledger: Ledger, path: &str) -> String {
    use halfsky_node::config::DashboardConfig;
    use halfsky_node::dashboard::{router, AppState};
    use halfsky_node::ledger::actor::LedgerActor;
    use tower::ServiceExt;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let unit = ledger.config().org;
        let (_actor, handle) = LedgerActor::start(ledger).unwrap();
        let app = router(AppState::new(
            handle,
            unit,
            "(test)".into(),
            &DashboardConfig::default(),
            "127.0.0.1:8080".parse().unwrap(),
        ));
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), axum::http::StatusCode::OK, "{path}");
        let body = axum::body::to_bytes(response.into_body(), 10 << 20)
            .await
            .unwrap();
        String::from_utf8_lossy(&body).into_owned()
    })
}
