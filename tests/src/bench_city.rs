//! A city built through its documents (benchmark figure 15): `villages` × `women`
//! real Automerge ledger documents below their counties (100 villages a county, as a
//! city of 2,000 villages over 20 counties), synced over the real protocol on loopback
//! to a fresh city that runs as its own `halfsky run` process, so its memory is read
//! from `/proc/<pid>/status` and its cold start is that of a new process.
//!
//! Reported, each beside a baseline measured in the same run:
//! - time until the city holds every woman, vs the counties applying the same changes
//!   locally;
//! - the city's disk size, vs the same documents saved by Automerge;
//! - peak RSS while syncing and steady RSS once synced, vs the same city process empty;
//! - cold start to the first overview page, vs opening the store with plain sled;
//! - overview and county page p99, vs the login page (the HTTP floor of the same server);
//! - `halfsky reindex`, vs `AutoCommit::load` of the same documents;
//! - a new card at one real village node (under a county) until the city's record page
//!   shows it, vs until the county holds it.
//!
//! Unlike figures 12–13 (index filled directly), everything here goes through
//! documents, sessions and QUIC; the full 2,000 × 500 does not fit a 2-core machine
//! in a benchmark run, so the report measures smaller cities and extrapolates.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use automerge::AutoCommit;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::OrgCode;

use crate::bench_dashboard::{http_get_response, memory_kib_of};
use crate::bench_report::{need, percentiles, run_child, SLED_CHILD};
use crate::bench_sync::{raw_changes, synthetic_doc, ApplyRaw, SyncFigure};
use crate::deploy::{add_woman, enable_dashboard_on, start, with, Deployment, NodeSpec};
use crate::procs::{binary, Proc};

/// The city of the benchmark.
const CITY: &str = "230100000000";
/// Villages per county (a city of 2,000 villages has about 20 counties).
const VILLAGES_PER_COUNTY: usize = 100;
/// Longest wait for any one step (a sync of a quarter of a million women included).
const LIMIT: Duration = Duration::from_secs(1800);
/// New cards timed from the real village to the city page.
const CARDS: usize = 5;
/// Requests per page for the p99.
const REQUESTS: usize = 200;

/// County `c` (0-based) of the city.
fn county(c: usize) -> OrgCode {
    OrgCode::parse(&format!("2301{:02}000000", 21 + c)).expect("valid synthetic code")
}

/// Village `j` (0-based) of county `c`: 20 villages per township.
fn village(c: usize, j: usize) -> OrgCode {
    OrgCode::parse(&format!(
        "2301{:02}{:03}{:03}",
        21 + c,
        100 + j / 20,
        201 + j % 20
    ))
    .expect("valid synthetic code")
}

/// A free TCP port on loopback, for the city's dashboard.
fn free_tcp_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A GET on the city's dashboard, off the async workers.
async fn get(addr: SocketAddr, path: String) -> Result<(u16, Vec<u8>)> {
    tokio::task::spawn_blocking(move || http_get_response(addr, &path)).await?
}

/// Women the city's statistics count (`/api/v1/stats`), if it answers.
async fn city_women(addr: SocketAddr) -> Option<i64> {
    let (status, response) = get(addr, format!("/api/v1/stats?org={CITY}")).await.ok()?;
    if status != 200 {
        return None;
    }
    let at = response.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let body = &response[at..];
    // A chunked body starts with its size line; the JSON starts at the first brace.
    let body = &body[body.iter().position(|b| *b == b'{')?..];
    let end = body.iter().rposition(|b| *b == b'}')? + 1;
    let json: serde_json::Value = serde_json::from_slice(&body[..end]).ok()?;
    json["women"]["total"].as_i64()
}

/// Waits until the dashboard at `addr` serves the city overview; returns when.
async fn first_page(addr: SocketAddr, city: &mut Proc) -> Result<Instant> {
    let started = Instant::now();
    loop {
        if let Ok((200, _)) = get(addr, format!("/org/{CITY}")).await {
            return Ok(Instant::now());
        }
        city.assert_running("the city");
        if started.elapsed() > LIMIT {
            bail!("the city's dashboard at {addr} never served its overview");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// VmRSS and VmHWM of the city process, in MiB.
fn memory_mib(city: &Proc) -> Result<(f64, f64)> {
    let pid = city
        .id()
        .ok_or_else(|| anyhow!("the city process is not running"))?;
    let (rss, hwm) = memory_kib_of(&pid.to_string())?;
    Ok((rss / 1024.0, hwm / 1024.0))
}

/// Bytes of every file under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    walkdir(dir)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Starts `halfsky run` for the node home `home`, its log in `log`.
fn run_city(halfsky: &Path, home: &NodeHome, log: &Path) -> Proc {
    let home = home.dir().to_string_lossy().to_string();
    Proc::spawn(halfsky, &["--dir", &home, "run"], log)
}

/// What the counties were built from: counts and same-run baselines.
struct Built {
    /// County node homes, each with its villages' documents applied.
    counties: Vec<NodeHome>,
    /// Seconds the counties spent applying the changes locally.
    local_apply_secs: f64,
    /// Bytes of the documents as `AutoCommit::save` writes them.
    saved_bytes: u64,
    /// Seconds `AutoCommit::load` takes over those bytes.
    load_secs: f64,
}

/// Builds the villages' documents and applies them to their counties' ledgers.
fn build_counties(d: &Deployment, city_port: u16, villages: usize, women: usize) -> Built {
    let parent = Some(SocketAddr::from(([127, 0, 0, 1], city_port)));
    let mut built = Built {
        counties: Vec::new(),
        local_apply_secs: 0.0,
        saved_bytes: 0,
        load_secs: 0.0,
    };
    for c in 0..villages.div_ceil(VILLAGES_PER_COUNTY) {
        let home = d.home(
            county(c).as_str(),
            "县",
            &NodeSpec {
                device: format!("k{c}"),
                parent,
                listen: c == 0,
                ..Default::default()
            },
        );
        let mut ledger = Ledger::open(&home).expect("county ledger");
        let here = VILLAGES_PER_COUNTY.min(villages - c * VILLAGES_PER_COUNTY);
        for j in 0..here {
            let org = village(c, j);
            let mut doc = synthetic_doc(org, women, (c * VILLAGES_PER_COUNTY + j) as u64 + 1);
            crate::bench_sync::attest(d, org, &mut doc);
            let saved = doc.save();
            let t = Instant::now();
            std::hint::black_box(AutoCommit::load(&saved).expect("saved document loads"));
            built.load_secs += t.elapsed().as_secs_f64();
            built.saved_bytes += saved.len() as u64;
            let changes = raw_changes(&mut doc);
            drop(doc);
            let t = Instant::now();
            ledger.apply_changes_raw(org, changes);
            built.local_apply_secs += t.elapsed().as_secs_f64();
        }
        let t = Instant::now();
        ledger.store().flush().expect("county flushed");
        drop(ledger);
        built.local_apply_secs += t.elapsed().as_secs_f64();
        built.counties.push(home);
    }
    built
}

/// Figure 15 for one size: the rows and the notes.
pub async fn city_through_documents(
    villages: usize,
    women: usize,
) -> Result<(Vec<SyncFigure>, Vec<String>)> {
    let halfsky = tokio::task::spawn_blocking(|| binary("halfsky-node", "halfsky")).await?;
    let d = Deployment::new();
    let sync_port = crate::deploy::free_port();
    let dash_port = free_tcp_port()?;
    let dash = SocketAddr::from(([127, 0, 0, 1], dash_port));
    let city_home = d.home(
        CITY,
        "市",
        &NodeSpec {
            device: "c".into(),
            listen: true,
            listen_port: sync_port,
            ..Default::default()
        },
    );
    enable_dashboard_on(&city_home, dash_port, &[]);
    // Nothing runs yet: building on this thread blocks no node.
    let built = build_counties(&d, sync_port, villages, women);
    let expected = (villages * women) as i64;
    let records = expected as f64;
    let logs = d.dir().join("city.log");

    // The empty city, then every county: time until the city counts every woman.
    let mut city = run_city(&halfsky, &city_home, &logs);
    first_page(dash, &mut city).await?;
    let (empty_rss, _) = memory_mib(&city)?;
    let started = Instant::now();
    let mut counties = Vec::new();
    for home in &built.counties {
        counties.push(start(home).await);
    }
    loop {
        if city_women(dash).await == Some(expected) {
            break;
        }
        city.assert_running("the city");
        ensure!(
            started.elapsed() < LIMIT,
            "the city did not count {expected} women within {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sync_secs = started.elapsed().as_secs_f64();
    let (_, peak_rss) = memory_mib(&city)?;

    // One real village node under the first county: a new card, to the county and on
    // to the city's record page. The first card also brings the village's document.
    // A village code none of the synthetic ones uses, in the first county.
    let real_village = OrgCode::parse("230121100999")?;
    let village_node = start(&d.home(
        real_village.as_str(),
        "村",
        &NodeSpec::new("v", counties[0].listen_addr(), false),
    ))
    .await;
    let (mut to_county, mut to_city) = (Vec::new(), Vec::new());
    for n in 0..=CARDS {
        let t = Instant::now();
        let id = add_woman(&village_node, &format!("新卡{n}")).await;
        let mut at_county = None;
        loop {
            if at_county.is_none() {
                let id = id.clone();
                if with(&counties[0], move |l| l.index().get(&id).ok().flatten())
                    .await
                    .is_some()
                {
                    at_county = Some(t.elapsed());
                }
            }
            if let Ok((200, _)) = get(dash, format!("/record/{id}")).await {
                break;
            }
            ensure!(t.elapsed() < LIMIT, "card {id} never reached the city page");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if n > 0 {
            to_city.push(t.elapsed());
            to_county.push(at_county.unwrap_or_else(|| t.elapsed()));
        }
    }
    let to_city = percentiles(&to_city);
    let to_county = percentiles(&to_county);

    // Steady: everything synced and linked, nothing to do for a while.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (steady_rss, _) = memory_mib(&city)?;
    village_node.shutdown().await;
    for c in counties {
        c.shutdown().await;
    }
    city.sigterm(Duration::from_secs(120));
    let disk = disk_bytes(city_home.dir());

    // Cold start of a new city process until its first overview page, then pages.
    let mut city = run_city(&halfsky, &city_home, &logs);
    let spawned = Instant::now();
    let cold_ms = first_page(dash, &mut city)
        .await?
        .duration_since(spawned)
        .as_secs_f64()
        * 1e3;
    let mut pages = Vec::new();
    for path in [
        format!("/org/{CITY}"),
        format!("/org/{}", county(0)),
        "/login".to_string(),
    ] {
        let mut samples = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            let t = Instant::now();
            let (status, _) = get(dash, path.clone()).await?;
            samples.push(t.elapsed());
            ensure!(status == 200, "{path} answered {status}");
        }
        pages.push(percentiles(&samples));
    }
    let (serving_rss, _) = memory_mib(&city)?;
    city.sigterm(Duration::from_secs(120));

    // Reindex by the command line, the node stopped; the same store in plain sled.
    let home_arg = city_home.dir().to_string_lossy().to_string();
    let t = Instant::now();
    let (code, _, err) = tokio::task::spawn_blocking({
        let halfsky = halfsky.clone();
        move || crate::procs::output(&halfsky, &["--dir", &home_arg, "reindex"], LIMIT)
    })
    .await?;
    let reindex_secs = t.elapsed().as_secs_f64();
    ensure!(code == Some(0), "halfsky reindex failed: {err}");
    let sled = run_child(&[SLED_CHILD.as_ref(), city_home.dir().as_os_str()])
        .context("the plain-sled child")?;
    let sled_ms = need(&sled, "sled_open_ms")?;

    let size = format!(
        "{} villages × {women} women",
        crate::bench_report::thousands(villages as u64)
    );
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let rows = vec![
        SyncFigure {
            name: format!("{size}: sync to a new city ({sync_secs:.1} s)"),
            value: records / sync_secs,
            unit: "records/s",
            baseline_name: format!(
                "counties applying the same changes locally ({:.1} s)",
                built.local_apply_secs
            ),
            baseline: records / built.local_apply_secs,
            goal: "≥ 20,000 records/s".into(),
        },
        SyncFigure {
            name: format!("{size}: city disk size"),
            value: mib(disk),
            unit: "MiB",
            baseline_name: "the same documents saved by Automerge".into(),
            baseline: mib(built.saved_bytes),
            goal: "—".into(),
        },
        SyncFigure {
            name: format!("{size}: city peak RSS while syncing (VmHWM)"),
            value: peak_rss,
            unit: "MiB",
            baseline_name: "the same city process, empty".into(),
            baseline: empty_rss,
            goal: "≤ 1,024 MiB".into(),
        },
        SyncFigure {
            name: format!("{size}: city steady RSS, synced and linked (VmRSS)"),
            value: steady_rss,
            unit: "MiB",
            baseline_name: "the same city process, empty".into(),
            baseline: empty_rss,
            goal: "≤ 1,024 MiB".into(),
        },
        SyncFigure {
            name: format!("{size}: cold start of `halfsky run` to the first overview"),
            value: cold_ms,
            unit: "ms",
            baseline_name: "plain `sled::open` + scan of the rollups".into(),
            baseline: sled_ms,
            goal: "≤ 5,000 ms".into(),
        },
        SyncFigure {
            name: format!("{size}: city overview page p99"),
            value: pages[0].p99,
            unit: "ms",
            baseline_name: "login page p99, same server".into(),
            baseline: pages[2].p99,
            goal: "≤ 50 ms".into(),
        },
        SyncFigure {
            name: format!("{size}: county page p99"),
            value: pages[1].p99,
            unit: "ms",
            baseline_name: "login page p99, same server".into(),
            baseline: pages[2].p99,
            goal: "≤ 50 ms".into(),
        },
        SyncFigure {
            name: format!("{size}: `halfsky reindex`"),
            value: reindex_secs * 1e3,
            unit: "ms",
            baseline_name: "`AutoCommit::load` of the same documents".into(),
            baseline: built.load_secs * 1e3,
            goal: "—".into(),
        },
        SyncFigure {
            name: format!("{size}: new card at a village until the city's record page shows it, p50 of {CARDS}"),
            value: to_city.p50,
            unit: "ms",
            baseline_name: "until the county holds it, p50".into(),
            baseline: to_county.p50,
            goal: "≤ 2,000 ms".into(),
        },
    ];
    let per_million = 1_000_000.0 / records;
    let notes = vec![format!(
        "{size}: the city ran as `halfsky run` (RSS from /proc); {} counties of ≤ {VILLAGES_PER_COUNTY} \
         villages synced to it at once; slowest new card {:.0} ms to the city ({:.0} ms to the county); \
         RSS while serving pages after the cold start {serving_rss:.0} MiB; page p50s: overview {:.1} ms, \
         county {:.1} ms. Linear extrapolation to 1,000,000 women: sync {:.0} s, disk {:.0} MiB, \
         reindex {:.0} s (RSS does not scale linearly; see the sizes side by side).",
        built.counties.len(),
        to_city.max,
        to_county.max,
        pages[0].p50,
        pages[1].p50,
        sync_secs * per_million,
        mib(disk) * per_million,
        reindex_secs * per_million,
    )];
    Ok((rows, notes))
}
