//! The dashboard benchmark (figures 10–11 of `bench`): a city-sized index, the
//! dashboard serving it over real HTTP on loopback, page latencies, cold start and
//! resident memory.
//!
//! **The index is filled directly** ([`halfsky_node::store::index::Index::bulk_load`]), not
//! through Automerge documents: writing a million women through the ledger (~3k
//! records/s) would take minutes per run, and the pages read only the index. The
//! women come from the shared synthetic generator and go through the same field
//! parsing as real input; about 70 % get a last-visit date within 120 days. There are
//! no pairing or visit rows, so overdue lists show no helper names here.
//!
//! Pages reuse an overview while nothing has been written (the ledger's generation);
//! the "after a write" figure adds a woman's card to one village before each request,
//! so the overview is recomputed (the statistics re-read only that village's rollup).
//!
//! Everything timed runs in a child process ([`serve_child`]) so cold start and RSS
//! are those of a fresh dashboard process, not of the process that built the data.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use halfsky_node::config::DashboardConfig;
use halfsky_node::dashboard::{router, AppState};
use halfsky_node::ledger::actor::LedgerActor;
use halfsky_node::store::index::IndexedRecord;
use halfsky_node::sync::freshness::ArrivalPath;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::idcard::{IdKey, IdSecret};
use halfsky_shared::record::{complete, parse_fields, RecordMeta};
use halfsky_shared::rollup::WomanLinks;
use halfsky_shared::synthetic::Generator;
use halfsky_shared::{Kind, OrgCode, Record, RecordId};

/// The city of the benchmark.
pub const CITY: &str = "230100000000";

/// Units of a built city: one county, one township and one village to visit.
#[derive(Debug, Clone)]
pub struct BuiltCity {
    /// A county.
    pub county: OrgCode,
    /// A township of it.
    pub township: OrgCode,
    /// A village of it.
    pub village: OrgCode,
    /// Women indexed.
    pub women: usize,
    /// Seconds spent building.
    pub build_secs: f64,
}

/// Village codes: 20 villages per township, 20 townships per county.
fn layout(villages: usize) -> Vec<OrgCode> {
    (0..villages)
        .map(|n| {
            let county = 21 + n / 400;
            let township = 100 + (n / 20) % 20;
            let village = 201 + n % 20;
            OrgCode::parse(&format!("2301{county:02}{township:03}{village:03}"))
                .expect("valid synthetic code")
        })
        .collect()
}

/// Builds a city node home at `home` whose index holds `villages` × `per_village`
/// women, with names and freshness for every unit.
pub fn build_city(
    home: &NodeHome,
    villages: usize,
    per_village: usize,
    seed: u64,
) -> anyhow::Result<BuiltCity> {
    let started = Instant::now();
    let city = OrgCode::parse(CITY)?;
    home.init(city, "哈尔滨市", "bench", None)?;
    let ledger = Ledger::open(home)?;
    let today = ledger.today();
    let key = IdKey::new(vec![7; 32]);
    // Every row carries a sealed number of the real size; sealing a million numbers
    // would time the benchmark's setup, not the city.
    let sealed_example = IdSecret::from_seed(&[7; 32]).public().seal(
        &halfsky_shared::idcard::IdNumber::parse(&halfsky_shared::idcard::with_check_digit(
            "23012919800101123",
        ))
        .expect("valid"),
    );
    let mut generator = Generator::new(seed, today);
    let codes = layout(villages);
    let now = chrono::Utc::now().timestamp();
    let mut seen = HashSet::new();
    let mut named = HashSet::new();
    let mut women = 0;
    for (n, village) in codes.iter().enumerate() {
        let mut names = vec![(*village, format!("村{n}"))];
        for unit in village.ancestors() {
            if named.insert(unit) {
                names.push((unit, format!("{}{}", unit.level().zh(), unit)));
            }
        }
        let mut rows = Vec::with_capacity(per_village);
        for seq in 1..=per_village as u64 {
            let mut inputs = generator.woman(village, None);
            inputs.retain(|(k, v)| k != "id_number" || seen.insert(v.clone()));
            let parsed = parse_fields(Kind::Woman, &inputs, today)
                .map_err(|e| anyhow::anyhow!("synthetic woman refused: {e:?}"))?;
            let mut fields = parsed.fields;
            let errors = complete(Kind::Woman, &mut fields, today);
            anyhow::ensure!(errors.is_empty(), "synthetic woman incomplete: {errors:?}");
            let id = RecordId::new(*village, Kind::Woman, "BNCH", seq);
            let visit = generator.visit(&id, 120);
            let last_visit = (seq % 10 < 7)
                .then(|| {
                    visit
                        .iter()
                        .find(|(k, _)| k == "date")
                        .map(|(_, v)| v.clone())
                })
                .flatten();
            let meta = RecordMeta {
                created_at: "2026-01-01T00:00:00Z".into(),
                created_by: format!("{village}/bench"),
                updated_at: "2026-01-01T00:00:00Z".into(),
                updated_by: format!("{village}/bench"),
                retired: false,
                retired_reason: None,
                id_hash: parsed
                    .id_number
                    .as_ref()
                    .map(|n| format!("h{}", n.hash(&key))),
                id_sealed: parsed.id_number.as_ref().map(|_| sealed_example.clone()),
            };
            rows.push(IndexedRecord {
                record: Record { id, fields, meta },
                links: WomanLinks {
                    last_visit,
                    active_pairings: (seq % 5 < 3) as u32,
                },
                conflicted: false,
            });
        }
        women += rows.len();
        ledger.index().bulk_load(&names, &rows)?;
        // Villages last heard from between 0 and 48 hours ago: some are stale.
        let arrived = now - ((n as i64 * 7919) % (48 * 3600));
        ledger
            .freshness()
            .record(*village, ArrivalPath::Direct, arrived, Some(arrived - 600))?;
        ledger.freshness().heard(
            *village,
            arrived,
            now,
            ArrivalPath::Direct,
            Some(village.ancestors()[0]),
        )?;
    }
    ledger.store().flush()?;
    drop(ledger);
    let village = codes[0];
    Ok(BuiltCity {
        county: village.ancestors()[1],
        township: village.ancestors()[0],
        village,
        women,
        build_secs: started.elapsed().as_secs_f64(),
    })
}

/// One HTTP/1.1 GET over a fresh loopback connection; returns the status code and
/// body length.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<(u16, usize)> {
    http_get_response(addr, path).map(|(status, response)| (status, response.len()))
}

/// [`http_get`] returning the whole response (head and body), for callers that read it.
pub fn http_get_response(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head = String::from_utf8_lossy(&response[..response.len().min(20)]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("not an HTTP response: {head:?}"))?;
    Ok((status, response))
}

/// The child side of the dashboard benchmark: from process start, open the ledger,
/// start the dashboard on loopback, serve the first overview (cold start), then time
/// `requests` GETs of each page, and the same-run baselines (the work of
/// `halfsky stats --json`, and a raw index scan of 200 women). Prints `key=value`
/// lines; latencies in ms, memory in KiB.
pub fn serve_child(home: &Path, units: [&str; 3], requests: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let [county, township, village] = units;
    let home = NodeHome::new(home);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ledger = Ledger::open(&home)?;
    let (actor, handle) = LedgerActor::start(ledger)?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let state = AppState::new(
        handle.clone(),
        OrgCode::parse(CITY)?,
        "哈尔滨市".into(),
        &DashboardConfig::default(),
        addr,
    );
    let server = {
        let _guard = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener)?;
        runtime.spawn(halfsky_node::dashboard::serve(
            listener,
            router(state),
            cancel.clone(),
        ))
    };
    let (status, _) = http_get(addr, &format!("/org/{CITY}"))?;
    anyhow::ensure!(status == 200, "the first overview answered {status}");
    println!("cold_start_ms={}", started.elapsed().as_secs_f64() * 1e3);
    let pages = [
        ("overview", format!("/org/{CITY}")),
        ("drilldown", format!("/org/{county}")),
        ("drilldown_township", format!("/org/{township}")),
        ("overdue", format!("/org/{village}/overdue")),
        ("overdue_city", format!("/org/{CITY}/overdue")),
    ];
    let mut bytes = Vec::new();
    for (name, path) in &pages {
        let mut samples = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = Instant::now();
            let (status, len) = http_get(addr, path)?;
            samples.push(t.elapsed());
            anyhow::ensure!(status == 200, "{path} answered {status}");
            bytes.push((name, len));
        }
        print_percentiles(name, &samples);
    }
    // The city overview right after a woman's card arrived in one village: the
    // overview is recomputed, not reused.
    let prefix = OrgCode::parse(village)?.subtree_prefix().to_string();
    let mut samples = Vec::with_capacity(requests);
    for n in 0..requests {
        let p = prefix.clone();
        runtime.block_on(handle.run(move |l| -> anyhow::Result<()> {
            let mut row = l
                .index()
                .list(Kind::Woman, &p)
                .next()
                .ok_or_else(|| anyhow::anyhow!("the village has no women"))??;
            let id = row.record.id.clone();
            row.record.id = RecordId::new(id.org(), Kind::Woman, "NEW", 1 + n as u64);
            l.index().bulk_load(&[], &[row])?;
            let today = l.today();
            l.set_today(today); // a new generation, as any write makes
            Ok(())
        }))??;
        let t = Instant::now();
        let (status, _) = http_get(addr, &format!("/org/{CITY}"))?;
        samples.push(t.elapsed());
        anyhow::ensure!(status == 200, "the overview answered {status}");
    }
    print_percentiles("overview_after_change", &samples);
    for (name, len) in bytes.iter().step_by(requests.max(1)) {
        println!("{name}_bytes={len}");
    }
    let (rss, hwm) = memory_kib()?;
    println!("rss_kib={rss}\nhwm_kib={hwm}");
    // Baselines, in the same process: the statistics alone, computed anew as after a
    // write (a new generation; the report is otherwise kept), and a raw scan.
    for (name, org) in [("stats_city", CITY), ("stats_county", county)] {
        let org = OrgCode::parse(org)?;
        let mut samples = Vec::with_capacity(requests);
        for _ in 0..requests {
            let (took, r) = runtime.block_on(handle.run(move |l| {
                let today = l.today();
                l.set_today(today);
                let t = Instant::now();
                let r = l.stats(Some(org)).map(|r| r.women);
                (t.elapsed(), r)
            }))?;
            samples.push(took);
            std::hint::black_box(r?);
        }
        print_percentiles(name, &samples);
    }
    let prefix = OrgCode::parse(village)?.subtree_prefix().to_string();
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let p = prefix.clone();
        let t = Instant::now();
        let n = runtime.block_on(handle.run(move |l| {
            l.index()
                .list(Kind::Woman, &p)
                .take(200)
                .filter(|r| r.is_ok())
                .count()
        }))?;
        samples.push(t.elapsed());
        std::hint::black_box(n);
    }
    print_percentiles("scan200", &samples);
    cancel.cancel();
    runtime.block_on(server)?;
    drop(handle);
    actor.shutdown();
    Ok(())
}

/// The baseline child: open the same store with plain sled and read every rollup row.
pub fn sled_child(home: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let db = sled::open(NodeHome::new(home).store_path())?;
    let tree = db.open_tree("index-1")?;
    let rows = tree.scan_prefix(b"u").count();
    println!("sled_open_ms={}", started.elapsed().as_secs_f64() * 1e3);
    std::hint::black_box(rows);
    let (rss, hwm) = memory_kib()?;
    println!("rss_kib={rss}\nhwm_kib={hwm}");
    Ok(())
}

fn print_percentiles(name: &str, samples: &[Duration]) {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let i = ((p / 100.0) * ms.len() as f64).ceil() as usize;
        ms[i.clamp(1, ms.len()) - 1]
    };
    if !ms.is_empty() {
        println!("{name}_p50={}\n{name}_p99={}", rank(50.0), rank(99.0));
    }
}

/// This process's VmRSS and VmHWM, in KiB.
pub fn memory_kib() -> anyhow::Result<(f64, f64)> {
    memory_kib_of("self")
}

/// VmRSS and VmHWM of process `pid` (`self` for this one), in KiB, from `/proc`.
pub fn memory_kib_of(pid: &str) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("/proc/{pid}/status has no {name}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}
