//! # halfsky benchmark report
//!
//! Measures the ledger on this machine and prints a Markdown table (the source of
//! `BENCHMARKS.md`). Every figure sits next to a **baseline measured in the same run**
//! on the same machine, so the ratio says what halfsky adds on top of the engine it
//! stands on, whatever the hardware:
//!
//! 1. durable single-record write latency (`Ledger::add` of a woman's card) vs a raw
//!    sled `insert` + `flush` of a ~600-byte value;
//! 2. bulk import of a women's XLSX with Chinese headers (`import::import`) vs merely
//!    reading the same file with calamine;
//! 3. cold open of a 5,000-woman village ledger, with and without loading its
//!    document, and the resident memory afterwards, vs `AutoCommit::load` of the same
//!    document bytes (each measured in a fresh child process of this binary, so the
//!    memory is not polluted by building the data);
//! 4. index update cost: `Ledger::update` / `Ledger::add` latency on the 5,000-woman
//!    ledger vs the same operations on a 100-woman ledger;
//! 5. `stats` latency (reads rollups) vs a full scan of the women (`list`);
//! 6. to 9. sync: wire bytes, no-op reconnect, live latency, county → city initial
//!    sync (see `halfsky_tests::bench_sync`);
//! 10. delivery of new records over each rural link profile vs the ideal (clean-link
//!     bytes ÷ link rate) and vs a clean link (see `halfsky_tests::bench_links`);
//! 11. each congestion controller on each profile (the evidence for the default);
//! 12. dashboard page latency (p50/p99 of overview, drill-down and overdue pages over
//!     HTTP on loopback) on a city index of 1,000,000 women over 2,000 villages, vs the
//!     bare `stats` work and a raw index scan in the same process;
//! 13. dashboard cold start (process start → first overview served) and RSS while
//!     serving, vs opening the same store with plain sled. The index of figures 12–13
//!     is filled directly, not through documents (see `bench_dashboard`).
//! 14. the whole demo city: start until the city holds every village's records, vs
//!     the same city on clean links (see `halfsky_tests::bench_demo`).
//!
//! Goals are printed beside the figures; nothing is asserted. A figure that fails to
//! measure is reported as failed, by name, and the run goes on; the exit status is 1
//! if any figure failed.
//!
//! ```text
//! cargo run --release -p halfsky-tests --bin bench                 # full sizes
//! cargo run --release -p halfsky-tests --bin bench -- --quick      # CI sizes (a few minutes)
//! cargo run --release -p halfsky-tests --bin bench -- --out BENCHMARKS.md
//! ```
//!
//! All data lives in temporary directories, removed at the end. The page cache is not
//! dropped between runs (that needs root), so "cold" means a new process that opens the
//! store, not a cold disk.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use calamine::Reader as _;
use halfsky_node::store::{SledStore, Storage};
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::schema::FieldType;
use halfsky_shared::synthetic::{Generator, Inputs};
use halfsky_shared::{Kind, OrgCode, RecordId};
use halfsky_tests::{new_home, open, today, village};

/// Flag that turns the binary into the cold-open child of figure 3.
const COLD_OPEN_CHILD: &str = "--cold-open-child";
/// Flag that turns the binary into the `AutoCommit::load` child of figure 3.
const AUTOMERGE_LOAD_CHILD: &str = "--automerge-load-child";
/// Flag that turns the binary into the dashboard child of figures 10–11.
const DASHBOARD_CHILD: &str = "--dashboard-child";
/// Flag that turns the binary into the plain-sled child of figure 11.
const SLED_CHILD: &str = "--sled-child";

/// How big each scenario is; `--quick` shrinks everything for CI.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Timed `Ledger::add` calls (and raw sled writes) in figure 1.
    adds: usize,
    /// Rows of the XLSX imported in figure 2.
    xlsx_rows: usize,
    /// Women in the big village of figures 3–5.
    village_women: usize,
    /// Women in the small village that is figure 4's baseline.
    small_women: usize,
    /// Timed updates (and adds) per ledger in figure 4.
    updates: usize,
    /// Timed `stats` (and `list`) calls in figure 5.
    stats_calls: usize,
    /// Child processes started per cold-open measurement in figure 3.
    cold_runs: usize,
    /// New records sent village → city in figure 6.
    wire_records: &'static [usize],
    /// Village documents under the county in figure 7.
    reconnect_docs: usize,
    /// Records timed through 3 hops in figure 8.
    live_samples: usize,
    /// Villages × women of the county in figure 9.
    county: (usize, usize),
    /// New records delivered over each link profile in figure 10.
    link_records: &'static [usize],
    /// New records delivered per congestion controller and profile in figure 11.
    controller_records: usize,
    /// Link profiles of figures 10 and 11.
    link_profiles: &'static [&'static str],
    /// Villages × women per village of the city index in figures 12–13.
    city: (usize, usize),
    /// Timed requests per page in figure 12.
    page_requests: usize,
    /// Households per village of the demo city in figure 14.
    demo_households: usize,
}

impl Sizes {
    /// The sizes the goals are stated for.
    const FULL: Sizes = Sizes {
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
        link_profiles: halfsky_tests::bench_links::LOSSY_PROFILES,
        city: (2_000, 500),
        page_requests: 200,
        demo_households: 20,
    };
    /// Small enough for CI, even in a debug build.
    const QUICK: Sizes = Sizes {
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
        link_profiles: halfsky_tests::bench_links::QUICK_PROFILES,
        city: (20, 100),
        page_requests: 20,
        demo_households: 3,
    };
}

/// One row of the report: a figure, its same-run baseline and the goal.
#[derive(Debug, Clone)]
struct Figure {
    /// What was measured.
    name: String,
    /// The measurement, in `unit`.
    value: f64,
    /// Unit of `value` and `baseline` (`ms`, `rows/s`, `MiB`).
    unit: &'static str,
    /// What the baseline is.
    baseline_name: String,
    /// The baseline, in `unit`, if the figure has one.
    baseline: Option<f64>,
    /// The goal, as text (`p99 ≤ 5 ms`), or `—`.
    goal: String,
}

impl Figure {
    fn new(name: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Figure {
            name: name.into(),
            value,
            unit,
            baseline_name: String::new(),
            baseline: None,
            goal: "—".into(),
        }
    }

    fn baseline(mut self, name: impl Into<String>, value: f64) -> Self {
        self.baseline_name = name.into();
        self.baseline = Some(value);
        self
    }

    fn goal(mut self, goal: impl Into<String>) -> Self {
        self.goal = goal.into();
        self
    }
}

/// What one figure function produced: rows for the table and notes for below it.
#[derive(Debug, Default)]
struct Measured {
    /// Table rows.
    figures: Vec<Figure>,
    /// Sizes, setup times and other context, one line each.
    notes: Vec<String>,
}

/// The outcome of one numbered figure, success or not.
#[derive(Debug)]
struct Section {
    /// Figure title, e.g. "1. Durable write".
    title: &'static str,
    /// Rows and notes, or why measuring failed.
    result: Result<Measured, String>,
}

/// p50 and p99 of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

/// Nearest-rank percentiles of `samples`.
fn percentiles(samples: &[Duration]) -> Percentiles {
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
fn time_each<I, T>(
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
fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Drops an ID number already used in this run: the generator's ID numbers are random,
/// and a duplicate would (rightly) be refused by the ledger.
fn keep_id_numbers_unique(inputs: &mut Inputs, seen: &mut HashSet<String>) {
    inputs.retain(|(k, v)| k != "id_number" || seen.insert(v.clone()));
}

/// A node home in a temporary directory, removed on drop.
struct TempHome {
    _dir: tempfile::TempDir,
    home: NodeHome,
}

impl TempHome {
    fn new() -> Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let home = new_home(dir.path(), village(), "基准村");
        Ok(TempHome { _dir: dir, home })
    }

    fn path(&self) -> &Path {
        self._dir.path()
    }
}

/// Fills `ledger` with a synthetic village of about `women` women (and their
/// households, pairings, visits, measures, loans, trainings) with one durable `add`
/// per record, as cadres would; returns the women. Used for small villages only: see
/// [`build_village_batched`].
fn build_village(ledger: &mut Ledger, women: usize, seed: u64) -> Result<Vec<RecordId>> {
    let org = ledger.config().org;
    let mut generator = Generator::new(seed, ledger.today());
    let mut seen = HashSet::new();
    generator
        .village(&org, households_for(women), |kind, mut inputs| {
            keep_id_numbers_unique(&mut inputs, &mut seen);
            ledger.add(kind, &inputs)
        })
        .context("building the synthetic village")
}

/// Households that hold about `women` women: the generator gives a household one or
/// two women, 1.5 on average.
fn households_for(women: usize) -> usize {
    (women * 2).div_ceil(3).max(1)
}

/// Kinds written in each batch of [`build_village_batched`]: a batch only refers to
/// records of earlier batches.
const BATCHES: [&[Kind]; 3] = [
    &[Kind::Household],
    &[Kind::Woman],
    &[
        Kind::Pairing,
        Kind::Visit,
        Kind::Measure,
        Kind::Loan,
        Kind::Training,
    ],
];

/// The same village as [`build_village`] (same generator, same records, one Automerge
/// change per record), written as three `add_prepared` batches, like three imports,
/// then compacted to one snapshot, the steady state of a stored document.
///
/// Writing a big village one durable `add` at a time floods the background compactor
/// (one request per write once a document has more than 128 chunks, each a full
/// load + save) and closing the ledger then waits for every queued request.
fn build_village_batched(ledger: &mut Ledger, women: usize, seed: u64) -> Result<Vec<RecordId>> {
    let org = ledger.config().org;
    let tag = ledger.config().device_tag.clone();
    let mut generator = Generator::new(seed, ledger.today());
    let mut seen = HashSet::new();
    let mut records: Vec<(Kind, Inputs, String)> = Vec::new();
    // Generate with placeholder ids, then swap in the ids the ledger gives.
    let placeholder_women = generator
        .village(&org, households_for(women), |kind, mut inputs| {
            keep_id_numbers_unique(&mut inputs, &mut seen);
            let id = RecordId::new(org, kind, &tag, 1_000_000_000 + records.len() as u64);
            records.push((kind, inputs, id.to_string()));
            Ok::<_, std::convert::Infallible>(id)
        })
        .unwrap_or_else(|never| match never {});
    let mut real: HashMap<String, RecordId> = HashMap::new();
    for kinds in BATCHES {
        let mut pending = HashSet::new();
        let mut prepared = Vec::new();
        let mut placeholders = Vec::new();
        for (kind, inputs, placeholder) in records.iter().filter(|r| kinds.contains(&r.0)) {
            let inputs: Inputs = inputs
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        real.get(v).map_or_else(|| v.clone(), |id| id.to_string()),
                    )
                })
                .collect();
            prepared.push(
                ledger
                    .prepare(*kind, &inputs, &mut pending)
                    .with_context(|| format!("preparing synthetic {kind:?} {inputs:?}"))?,
            );
            placeholders.push(placeholder.clone());
        }
        let ids = ledger
            .add_prepared(prepared, |_| {})
            .context("Ledger::add_prepared")?;
        real.extend(placeholders.into_iter().zip(ids));
    }
    halfsky_node::store::compact::compact_now(ledger.store().as_ref(), &org)
        .context("compacting the village document")?;
    placeholder_women
        .iter()
        .map(|p| {
            real.get(&p.to_string())
                .cloned()
                .ok_or_else(|| anyhow!("woman {p} was not written"))
        })
        .collect()
}

/// Figure 1: durable single-record write latency.
fn durable_write(sizes: Sizes) -> Result<Measured> {
    let n = sizes.adds;
    let temp = TempHome::new()?;
    let mut ledger = open(&temp.home);
    let org = ledger.config().org;
    let mut generator = Generator::new(1, today());
    let mut seen = HashSet::new();
    let inputs: Vec<Inputs> = (0..n)
        .map(|_| {
            let mut inputs = generator.woman(&org, None);
            keep_id_numbers_unique(&mut inputs, &mut seen);
            inputs
        })
        .collect();
    let adds = time_each(&inputs, |inputs| {
        ledger
            .add(Kind::Woman, inputs)
            .context("Ledger::add of a woman")
    })?;
    let stored = ledger
        .store()
        .load(&org)
        .context("loading the document to size its chunks")?
        .ok_or_else(|| anyhow!("the document was not stored"))?;
    let chunk_bytes: usize = stored.chunks.iter().map(|(_, c)| c.len()).sum();
    let chunks = stored.chunks.len().max(1);
    let start = Instant::now();
    drop(ledger);
    let close_secs = start.elapsed().as_secs_f64();

    let sled_dir = tempfile::tempdir().context("creating a temporary directory")?;
    let db = sled::Config::new()
        .path(sled_dir.path())
        .open()
        .context("opening a fresh sled database")?;
    let value: Vec<u8> = (0..600u32).map(|i| (i * 31 % 251) as u8).collect();
    let raw = time_each(0..n as u64, |i| {
        db.insert(i.to_be_bytes(), value.as_slice())
            .context("sled insert")?;
        db.flush().context("sled flush")?;
        Ok(())
    })?;

    let (a, r) = (percentiles(&adds), percentiles(&raw));
    let base = "raw sled insert+flush, 600 B";
    Ok(Measured {
        figures: vec![
            Figure::new("durable write `add(woman)` p50", a.p50, "ms").baseline(base, r.p50),
            Figure::new("durable write `add(woman)` p99", a.p99, "ms")
                .baseline(base, r.p99)
                .goal("≤ 5 ms"),
        ],
        notes: vec![format!(
            "Durable write: {n} adds to a fresh village ledger (growing from 0 to {n} women), \
             max {:.2} ms; raw sled max {:.2} ms. Stored chunks now average {} B \
             ({} chunk(s) not yet compacted); closing the ledger afterwards took \
             {close_secs:.2} s (it waits for queued background compactions).",
            a.max,
            r.max,
            chunk_bytes / chunks,
            stored.chunks.len()
        )],
    })
}

/// Writes `rows` synthetic women to an XLSX with the Chinese headers of the schema.
/// List fields (poverty causes) go in one cell, joined with `;`.
fn write_women_xlsx(path: &Path, rows: usize, org: &OrgCode) -> Result<()> {
    let fields = Kind::Woman.spec().fields;
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, field) in fields.iter().enumerate() {
        sheet.write_string(0, col as u16, field.zh)?;
    }
    let mut generator = Generator::new(2, today());
    let mut seen = HashSet::new();
    for row in 1..=rows {
        let mut inputs = generator.woman(org, None);
        keep_id_numbers_unique(&mut inputs, &mut seen);
        for (col, field) in fields.iter().enumerate() {
            let values: Vec<&str> = inputs
                .iter()
                .filter(|(k, _)| k == field.name)
                .map(|(_, v)| v.as_str())
                .collect();
            if values.is_empty() {
                continue;
            }
            let cell = values.join(";");
            let (r, c) = (row as u32, col as u16);
            match (&field.ty, cell.parse::<f64>()) {
                (FieldType::Int { .. } | FieldType::Year { .. }, Ok(n)) => {
                    sheet.write_number(r, c, n)?
                }
                _ => sheet.write_string(r, c, cell)?,
            };
        }
    }
    workbook.save(path).context("saving the XLSX")?;
    Ok(())
}

/// Reads every cell of the first sheet as text, as an importer must; returns the data
/// rows (without the header).
fn read_with_calamine(path: &Path) -> Result<usize> {
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook(path).context("calamine opening the XLSX")?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| anyhow!("the XLSX has no sheet"))?
        .context("calamine reading the sheet")?;
    let mut text = 0usize;
    for row in range.rows() {
        for cell in row {
            text += cell.to_string().len();
        }
    }
    std::hint::black_box(text);
    Ok(range.height().saturating_sub(1))
}

/// Figure 2: bulk import rows/s.
fn bulk_import(sizes: Sizes) -> Result<Measured> {
    let temp = TempHome::new()?;
    let path = temp.path().join("women.xlsx");
    let start = Instant::now();
    write_women_xlsx(&path, sizes.xlsx_rows, &village()).context("writing the XLSX")?;
    let write_secs = start.elapsed().as_secs_f64();
    let file_kib = std::fs::metadata(&path)
        .map(|m| m.len() / 1024)
        .unwrap_or(0);

    let start = Instant::now();
    let read_rows = read_with_calamine(&path)?;
    let read_secs = start.elapsed().as_secs_f64();

    let mut ledger = open(&temp.home);
    let start = Instant::now();
    let report =
        halfsky_node::exchange::import::import(&mut ledger, &path, Kind::Woman, false, false)
            .map_err(|e| anyhow!("import::import failed: {e}"))?;
    let import_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    drop(ledger);
    let close_secs = start.elapsed().as_secs_f64();
    if report.written != sizes.xlsx_rows {
        bail!(
            "import wrote {} of {} rows (the benchmark's rows should all be valid)",
            report.written,
            sizes.xlsx_rows
        );
    }
    Ok(Measured {
        figures: vec![Figure::new(
            format!(
                "bulk import XLSX, {} women",
                thousands(sizes.xlsx_rows as u64)
            ),
            report.written as f64 / import_secs,
            "rows/s",
        )
        .baseline(
            "calamine read of the same file",
            read_rows as f64 / read_secs,
        )
        .goal("≥ 2,000 rows/s")],
        notes: vec![format!(
            "Bulk import: {} rows, {file_kib} KiB XLSX (written in {write_secs:.1} s with \
             rust_xlsxwriter, Chinese headers), import took {import_secs:.2} s into an empty \
             village ledger; closing the ledger afterwards (background compaction) took \
             {close_secs:.2} s.",
            thousands(sizes.xlsx_rows as u64)
        )],
    })
}

/// The big village shared by figures 3–5, in a temporary directory.
struct BigVillage {
    temp: TempHome,
    women: Vec<RecordId>,
    notes: Vec<String>,
}

/// Builds the village of figures 3–5 and closes its ledger.
fn big_village(sizes: Sizes) -> Result<BigVillage> {
    let temp = TempHome::new()?;
    let mut ledger = open(&temp.home);
    let start = Instant::now();
    let women = build_village_batched(&mut ledger, sizes.village_women, 3)?;
    let build_secs = start.elapsed().as_secs_f64();
    let records: usize = Kind::ALL
        .iter()
        .map(|k| ledger.list(*k, "", true).map(|l| l.len()))
        .sum::<Result<usize, _>>()
        .context("counting the village's records")?;
    let start = Instant::now();
    drop(ledger);
    let close_secs = start.elapsed().as_secs_f64();
    Ok(BigVillage {
        temp,
        notes: vec![format!(
            "Village for figures 3–5: {} women, {} records in all (households, women, \
             pairings, visits, measures, loans, trainings; one Automerge change each), \
             written as 3 `add_prepared` batches and compacted to one snapshot in \
             {build_secs:.1} s; closing the ledger took {close_secs:.2} s. (Writing it with \
             one `add` per record floods the background compactor: see the \"closing the \
             ledger\" row.)",
            thousands(women.len() as u64),
            thousands(records as u64)
        )],
        women,
    })
}

/// Runs this binary as a child with `args`; returns the `key=value` numbers it prints.
fn run_child(args: &[&std::ffi::OsStr]) -> Result<BTreeMap<String, f64>> {
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
fn child_medians(runs: usize, args: &[&std::ffi::OsStr]) -> Result<BTreeMap<String, f64>> {
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

fn need(values: &BTreeMap<String, f64>, key: &str) -> Result<f64> {
    values
        .get(key)
        .copied()
        .ok_or_else(|| anyhow!("the child process did not report {key}"))
}

/// Figure 3: cold open + load, and resident memory, each in fresh child processes.
fn cold_open(sizes: Sizes, v: &BigVillage) -> Result<Measured> {
    let org = village();
    let store = SledStore::open(&v.temp.home.store_path())
        .context("opening the store to read the document")?;
    let stored = store
        .load(&org)
        .context("loading the stored document")?
        .ok_or_else(|| anyhow!("the village document is not stored"))?;
    let bytes = stored.concatenated();
    drop(store);
    let doc_file = v.temp.path().join("document.automerge");
    std::fs::write(&doc_file, &bytes).context("writing the document bytes")?;
    let woman = v
        .women
        .first()
        .ok_or_else(|| anyhow!("the village has no women"))?
        .to_string();

    let ledger = child_medians(
        sizes.cold_runs,
        &[
            COLD_OPEN_CHILD.as_ref(),
            v.temp.home.dir().as_os_str(),
            woman.as_ref(),
        ],
    )?;
    let automerge = child_medians(
        sizes.cold_runs,
        &[AUTOMERGE_LOAD_CHILD.as_ref(), doc_file.as_os_str()],
    )?;
    let am_load = need(&automerge, "load_ms")?;
    let am_rss = need(&automerge, "rss_kib")? / 1024.0;
    let am_hwm = need(&automerge, "hwm_kib")? / 1024.0;
    let women = thousands(sizes.village_women as u64);
    let base_load = "`AutoCommit::load` of the same bytes";
    let base_rss = "process holding only `AutoCommit::load`";
    Ok(Measured {
        figures: vec![
            Figure::new(
                format!("cold `Ledger::open`, {women}-woman village"),
                need(&ledger, "open_ms")?,
                "ms",
            )
            .baseline(base_load, am_load),
            Figure::new(
                format!("cold open + document load, {women} women"),
                need(&ledger, "open_load_ms")?,
                "ms",
            )
            .baseline(base_load, am_load)
            .goal("≤ 300 ms"),
            Figure::new(
                "RSS after open + load (VmRSS)",
                need(&ledger, "rss_kib")? / 1024.0,
                "MiB",
            )
            .baseline(base_rss, am_rss),
            Figure::new(
                "peak RSS during open + load (VmHWM)",
                need(&ledger, "hwm_kib")? / 1024.0,
                "MiB",
            )
            .baseline(base_rss, am_hwm),
            Figure::new(
                "`history` of one woman (document loaded)",
                need(&ledger, "history_ms")?,
                "ms",
            ),
        ],
        notes: vec![format!(
            "Cold open: medians of {} child processes each; the document is {} KiB as stored \
             ({} snapshot + {} chunk(s)). \"Document load\" is a no-op `with_automerge`, \
             which loads the document into the ledger's cache.",
            sizes.cold_runs,
            bytes.len() / 1024,
            if stored.snapshot.is_some() { "a" } else { "no" },
            stored.chunks.len()
        )],
    })
}

/// The child side of figure 3: open the ledger at `home`, load its document, time
/// `history` of `woman`, print `key=value` lines.
fn cold_open_child(home: &Path, woman: &str) -> Result<()> {
    let woman = RecordId::parse(woman).map_err(|e| anyhow!("bad woman id {woman}: {e}"))?;
    let home = NodeHome::new(home);
    let start = Instant::now();
    let mut ledger = Ledger::open(&home).context("Ledger::open")?;
    let open_ms = start.elapsed().as_secs_f64() * 1e3;
    let org = ledger.config().org;
    ledger
        .with_automerge(org, |doc| doc.get_heads().len())
        .context("loading the document")?;
    let open_load_ms = start.elapsed().as_secs_f64() * 1e3;
    let (rss, hwm) = memory_kib()?;
    let start = Instant::now();
    let history = ledger.history(&woman).context("Ledger::history")?;
    let history_ms = start.elapsed().as_secs_f64() * 1e3;
    std::hint::black_box(history);
    println!("open_ms={open_ms}\nopen_load_ms={open_load_ms}\nrss_kib={rss}\nhwm_kib={hwm}\nhistory_ms={history_ms}");
    Ok(())
}

/// The child side of figure 3's baseline: `AutoCommit::load` of the bytes in `file`.
fn automerge_load_child(file: &Path) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let start = Instant::now();
    let doc = automerge::AutoCommit::load(&bytes).context("AutoCommit::load")?;
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    let (rss, hwm) = memory_kib()?;
    std::hint::black_box(doc);
    println!("load_ms={load_ms}\nrss_kib={rss}\nhwm_kib={hwm}");
    Ok(())
}

/// This process's VmRSS and VmHWM, in KiB.
fn memory_kib() -> Result<(f64, f64)> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let field = |name: &str| -> Result<f64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow!("/proc/self/status has no {name}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Latencies of `n` status updates and `n` adds on `ledger` (document loaded first).
fn update_and_add_latency(ledger: &mut Ledger, n: usize) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let org = ledger.config().org;
    ledger
        .with_automerge(org, |doc| doc.get_heads().len())
        .context("loading the document")?;
    let poor: Vec<RecordId> = ledger
        .list(Kind::Woman, "", false)?
        .into_iter()
        .filter(|w| w.record.text("status") == Some("poor"))
        .map(|w| w.record.id)
        .collect();
    if poor.is_empty() {
        bail!("the ledger has no poor women to update");
    }
    // poor → at_risk, and back on the next round, so every update really changes.
    let updates = time_each(0..n, |i| {
        let status = if (i / poor.len()).is_multiple_of(2) {
            "at_risk"
        } else {
            "poor"
        };
        let id = &poor[i % poor.len()];
        let changed = ledger
            .update(id, Some(Kind::Woman), &[("status".into(), status.into())])
            .with_context(|| format!("Ledger::update of {id}"))?;
        if !changed {
            bail!("updating {id} to {status} changed nothing");
        }
        Ok(())
    })?;
    let mut generator = Generator::new(4, today());
    let mut seen = HashSet::new();
    let inputs: Vec<Inputs> = (0..=n)
        .map(|_| {
            let mut inputs = generator.woman(&org, None);
            // Fresh ID numbers would rarely collide with the village's; drop them all.
            inputs.retain(|(k, _)| k != "id_number");
            keep_id_numbers_unique(&mut inputs, &mut seen);
            inputs
        })
        .collect();
    ledger.add(Kind::Woman, &inputs[0]).context("warm-up add")?;
    let adds = time_each(&inputs[1..], |inputs| {
        ledger.add(Kind::Woman, inputs).context("Ledger::add")
    })?;
    Ok((updates, adds))
}

/// Figure 4: cost of a change through the index, on a big and a small ledger.
fn index_update(sizes: Sizes, v: &BigVillage) -> Result<Measured> {
    let mut big = open(&v.temp.home);
    let (big_updates, big_adds) = update_and_add_latency(&mut big, sizes.updates)?;
    let start = Instant::now();
    drop(big);
    let big_close = start.elapsed().as_secs_f64() * 1e3;

    let small_home = TempHome::new()?;
    let mut small = open(&small_home.home);
    let small_women = build_village(&mut small, sizes.small_women, 5)?.len();
    let (small_updates, small_adds) = update_and_add_latency(&mut small, sizes.updates)?;
    let start = Instant::now();
    drop(small);
    let small_close = start.elapsed().as_secs_f64() * 1e3;

    let (bu, su) = (percentiles(&big_updates), percentiles(&small_updates));
    let (ba, sa) = (percentiles(&big_adds), percentiles(&small_adds));
    let women = thousands(sizes.village_women as u64);
    let base_u = format!("same update, {small_women}-woman ledger");
    let base_a = format!("same add, {small_women}-woman ledger");
    Ok(Measured {
        figures: vec![
            Figure::new(format!("`update` status p50, {women} women"), bu.p50, "ms")
                .baseline(&base_u, su.p50),
            Figure::new(format!("`update` status p99, {women} women"), bu.p99, "ms")
                .baseline(&base_u, su.p99)
                .goal("≤ 5 ms (a durable write)"),
            Figure::new(format!("`add(woman)` p50, {women} women"), ba.p50, "ms")
                .baseline(&base_a, sa.p50),
            Figure::new(format!("`add(woman)` p99, {women} women"), ba.p99, "ms")
                .baseline(&base_a, sa.p99)
                .goal("≤ 5 ms"),
            Figure::new(
                format!(
                    "closing the ledger after those {} writes, {women} women",
                    2 * sizes.updates
                ),
                big_close,
                "ms",
            )
            .baseline(format!("same, {small_women}-woman ledger"), small_close),
        ],
        notes: vec![format!(
            "Index update: {} updates (status poor ↔ at_risk) then {} adds per ledger, each \
             durable and indexed; max update {:.2} ms (big) / {:.2} ms (small), max add \
             {:.2} ms / {:.2} ms.",
            sizes.updates, sizes.updates, bu.max, su.max, ba.max, sa.max
        )],
    })
}

/// Figure 5: `stats` (rollups) vs a full scan of the women.
fn stats_latency(sizes: Sizes, v: &BigVillage) -> Result<Measured> {
    let ledger = open(&v.temp.home);
    let n = sizes.stats_calls;
    let mut women = 0;
    let stats = time_each(0..n, |_| ledger.stats(None).context("Ledger::stats"))?;
    let scans = time_each(0..n, |_| {
        women = ledger
            .list(Kind::Woman, "", false)
            .context("Ledger::list")?
            .len();
        Ok(())
    })?;
    let (s, l) = (percentiles(&stats), percentiles(&scans));
    let base = format!("`list(woman)` full scan, {} women", thousands(women as u64));
    let village = thousands(sizes.village_women as u64);
    Ok(Measured {
        figures: vec![
            Figure::new(format!("`stats` p50, {village}-woman village"), s.p50, "ms")
                .baseline(&base, l.p50),
            Figure::new(format!("`stats` p99, {village}-woman village"), s.p99, "ms")
                .baseline(&base, l.p99),
        ],
        notes: vec![format!(
            "Stats: {n} calls of `stats(None)` and {n} of `list(Kind::Woman, \"\", false)` on \
             the village (after figure 4's updates and adds)."
        )],
    })
}

/// Runs `f`, turning an error or a panic into a message.
/// Runs a sync benchmark on its own runtime and turns its rows into figures.
fn sync_figures(
    future: impl std::future::Future<Output = Vec<halfsky_tests::bench_sync::SyncFigure>>,
) -> Result<Vec<Figure>> {
    Ok(figures_of(block_on(future)?))
}

/// Like [`sync_figures`], for a measurement that can fail.
fn sync_figures_result(
    future: impl std::future::Future<Output = Result<Vec<halfsky_tests::bench_sync::SyncFigure>>>,
) -> Result<Vec<Figure>> {
    Ok(figures_of(block_on(future)??))
}

/// Runs an async measurement on a fresh 2-thread runtime.
fn block_on<T>(future: impl std::future::Future<Output = T>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}

/// The report's rows for measured figures.
fn figures_of(rows: Vec<halfsky_tests::bench_sync::SyncFigure>) -> Vec<Figure> {
    rows.into_iter()
        .map(|f| {
            Figure::new(f.name, f.value, f.unit)
                .baseline(f.baseline_name, f.baseline)
                .goal(f.goal)
        })
        .collect()
}

fn guarded(f: impl FnOnce() -> Result<Measured>) -> Result<Measured, String> {
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
fn fmt_value(v: f64, unit: &str) -> String {
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
fn thousands(n: u64) -> String {
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
fn machine() -> Vec<String> {
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
fn report(sections: &[Section], quick: bool, total: Duration) -> String {
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

/// Command-line options of the report.
#[derive(Debug, Default)]
struct Options {
    /// CI sizes.
    quick: bool,
    /// Also write the Markdown here.
    out: Option<PathBuf>,
    /// Only these figures (1–5), e.g. to profile one; all if empty.
    only: Vec<u8>,
}

impl Options {
    fn wants(&self, figure: u8) -> bool {
        self.only.is_empty() || self.only.contains(&figure)
    }
}

/// Usage line of the report.
const USAGE: &str = "usage: bench [--quick] [--out FILE] [--only 1,2,…]";

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--out" => {
                options.out = Some(
                    args.next()
                        .ok_or_else(|| anyhow!("--out needs a file name"))?
                        .into(),
                )
            }
            "--only" => {
                let list = args
                    .next()
                    .ok_or_else(|| anyhow!("--only needs figure numbers, e.g. 1,4"))?;
                for n in list.split(',') {
                    match n.trim().parse::<u8>() {
                        Ok(n @ 1..=14) => options.only.push(n),
                        _ => bail!("--only takes figure numbers 1 to 14, not {n:?}"),
                    }
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}; {USAGE}"),
        }
    }
    Ok(options)
}

/// Runs every figure and prints (and optionally writes) the report.
fn run(options: &Options) -> Result<bool> {
    let sizes = if options.quick {
        Sizes::QUICK
    } else {
        Sizes::FULL
    };
    let started = Instant::now();
    let mut sections = Vec::new();
    let mut run = |title: &'static str, f: &mut dyn FnMut() -> Result<Measured>| {
        eprintln!("bench: {title}…");
        let start = Instant::now();
        let result = guarded(f);
        match &result {
            Ok(_) => eprintln!(
                "bench: {title} done in {:.1} s",
                start.elapsed().as_secs_f64()
            ),
            Err(e) => eprintln!("bench: {title} FAILED: {e}"),
        }
        sections.push(Section { title, result });
    };
    if options.wants(1) {
        run("1. Durable single-record write", &mut || {
            durable_write(sizes)
        });
    }
    if options.wants(2) {
        run("2. Bulk XLSX import", &mut || bulk_import(sizes));
    }
    type VillageFigure = fn(Sizes, &BigVillage) -> Result<Measured>;
    let village_figures: [(u8, &'static str, VillageFigure); 3] = [
        (3, "3. Cold open + load", cold_open),
        (4, "4. Index update cost", index_update),
        (5, "5. `stats` latency", stats_latency),
    ];
    let mut shared: Option<BigVillage> = None;
    if village_figures.iter().any(|(n, ..)| options.wants(*n)) {
        run("Building the village for figures 3–5", &mut || {
            let v = big_village(sizes)?;
            let notes = v.notes.clone();
            shared = Some(v);
            Ok(Measured {
                figures: Vec::new(),
                notes,
            })
        });
    }
    for (n, title, figure) in village_figures {
        if !options.wants(n) {
            continue;
        }
        match &shared {
            Some(v) => run(title, &mut || figure(sizes, v)),
            None => run(title, &mut || {
                bail!("the village could not be built (see above)")
            }),
        }
    }
    drop(shared);
    if options.wants(6) {
        run("6. Wire bytes, village → city", &mut || {
            let mut figures = Vec::new();
            for n in sizes.wire_records {
                figures.extend(sync_figures(halfsky_tests::bench_sync::wire_bytes(*n))?);
            }
            Ok(Measured { figures, notes: vec![
                "Catch-up of new records written while the village was offline; UDP bytes of its link \
                 both ways (QUIC/TLS handshake and keep-alives included). Records are synthetic women \
                 (very repetitive, so zstd-19 of their JSON is an unusually low floor).".into(),
            ] })
        });
    }
    if options.wants(7) {
        run("7. No-op reconnect", &mut || {
            Ok(Measured {
                figures: sync_figures(halfsky_tests::bench_sync::noop_reconnect(
                    sizes.reconnect_docs,
                ))?,
                notes: vec![],
            })
        });
    }
    if options.wants(8) {
        run("8. Live latency through 3 hops", &mut || {
            Ok(Measured {
                figures: sync_figures(halfsky_tests::bench_sync::live_latency(sizes.live_samples))?,
                notes: vec![],
            })
        });
    }
    if options.wants(9) {
        run("9. Initial sync county → new city", &mut || {
            let (villages, women) = sizes.county;
            Ok(Measured {
                figures: sync_figures(halfsky_tests::bench_sync::county_to_city(villages, women))?,
                notes: vec![],
            })
        });
    }
    if options.wants(10) {
        run("10. Delivery over each rural link profile", &mut || {
            let figures = sync_figures_result(halfsky_tests::bench_links::profile_figures(
                sizes.link_records,
                sizes.link_profiles,
            ))?;
            Ok(Measured {
                figures,
                notes: vec![
                    "New women written at a village while offline, then delivered to its township \
                     through the in-process lossy UDP proxy (profiles as in `tests/src/lossy/profile.rs`); \
                     time from starting the village until the township holds them all. Bytes are \
                     UDP payload both ends handed to the link, both ways, handshakes and \
                     retransmissions included. The lossy runs of one size run concurrently, each on \
                     its own link; the clean baseline runs alone. Quick runs leave out `awful` \
                     (its 30-second blackouts make one delivery take minutes)."
                        .into(),
                ],
            })
        });
    }
    if options.wants(11) {
        run("11. Congestion controllers on each profile", &mut || {
            let (rows, mut notes) = block_on(halfsky_tests::bench_links::controller_figures(
                sizes.controller_records,
                sizes.link_profiles,
            ))??;
            notes.insert(0, "Fastest first, per profile:".into());
            Ok(Measured {
                figures: figures_of(rows),
                notes,
            })
        });
    }
    if options.wants(12) || options.wants(13) {
        let mut city: Option<(tempfile::TempDir, halfsky_tests::bench_dashboard::BuiltCity)> = None;
        run("Building the city index for figures 12–13", &mut || {
            let dir = tempfile::tempdir().context("creating a temporary directory")?;
            let home = NodeHome::new(dir.path().join("city"));
            let (villages, per) = sizes.city;
            let built = halfsky_tests::bench_dashboard::build_city(&home, villages, per, 10)?;
            let notes = vec![format!(
                "City index for figures 12–13: {} women over {villages} villages, filled directly \
                 into the index (not through Automerge documents) in {:.0} s; pages fetched over \
                 HTTP/1.1 on loopback, one connection per request.",
                thousands(built.women as u64),
                built.build_secs
            )];
            city = Some((dir, built));
            Ok(Measured {
                figures: Vec::new(),
                notes,
            })
        });
        match &city {
            Some((dir, built)) => {
                let home = dir.path().join("city");
                let values = child_medians(
                    1,
                    &[
                        DASHBOARD_CHILD.as_ref(),
                        home.as_os_str(),
                        built.county.as_str().as_ref(),
                        built.township.as_str().as_ref(),
                        built.village.as_str().as_ref(),
                        sizes.page_requests.to_string().as_ref(),
                    ],
                );
                let sled_values = child_medians(3, &[SLED_CHILD.as_ref(), home.as_os_str()]);
                let women = thousands(built.women as u64);
                if options.wants(12) {
                    run("12. Dashboard page latency", &mut || {
                        let v = values.as_ref().map_err(|e| anyhow!("{e:#}"))?;
                        let mut figures = Vec::new();
                        for (key, label, base_key, base_name) in [
                            (
                                "overview",
                                "city overview page",
                                "stats_city",
                                "`stats` of the city alone",
                            ),
                            (
                                "overview_after_change",
                                "city overview page right after a new card in one village",
                                "stats_city",
                                "`stats` of the city alone",
                            ),
                            (
                                "drilldown",
                                "county drill-down page",
                                "stats_county",
                                "`stats` of the county alone",
                            ),
                            (
                                "drilldown_township",
                                "township drill-down page",
                                "stats_county",
                                "`stats` of the county alone",
                            ),
                            (
                                "overdue",
                                "village overdue page",
                                "scan200",
                                "raw index scan of 200 women",
                            ),
                            (
                                "overdue_city",
                                "city overdue page (first 200)",
                                "scan200",
                                "raw index scan of 200 women",
                            ),
                        ] {
                            for p in ["p50", "p99"] {
                                let fig = Figure::new(
                                    format!("{label} {p}, {women} women"),
                                    need(v, &format!("{key}_{p}"))?,
                                    "ms",
                                )
                                .baseline(base_name, need(v, &format!("{base_key}_{p}"))?);
                                figures.push(if p == "p99" {
                                    fig.goal("p99 ≤ 50 ms")
                                } else {
                                    fig
                                });
                            }
                        }
                        Ok(Measured {
                            figures,
                            notes: vec![format!(
                                "Page sizes: overview {} B, county drill-down {} B, village overdue {} B; {} requests per page.",
                                need(v, "overview_bytes")?, need(v, "drilldown_bytes")?, need(v, "overdue_bytes")?, sizes.page_requests
                            )],
                        })
                    });
                }
                if options.wants(13) {
                    run("13. Dashboard cold start and memory", &mut || {
                        let v = values.as_ref().map_err(|e| anyhow!("{e:#}"))?;
                        let s = sled_values.as_ref().map_err(|e| anyhow!("{e:#}"))?;
                        Ok(Measured {
                            figures: vec![
                                Figure::new(format!("cold start until the city overview is served, {women} women"), need(v, "cold_start_ms")?, "ms")
                                    .baseline("plain `sled::open` + scan of the rollups", need(s, "sled_open_ms")?)
                                    .goal("≤ 5,000 ms"),
                                Figure::new("RSS while serving (VmRSS)", need(v, "rss_kib")? / 1024.0, "MiB")
                                    .baseline("process with the store open in plain sled", need(s, "rss_kib")? / 1024.0)
                                    .goal("≤ 1,024 MiB"),
                                Figure::new("peak RSS while serving (VmHWM)", need(v, "hwm_kib")? / 1024.0, "MiB")
                                    .baseline("process with the store open in plain sled", need(s, "hwm_kib")? / 1024.0),
                            ],
                            notes: vec![],
                        })
                    });
                }
            }
            None => run("12–13. Dashboard", &mut || {
                bail!("the city index could not be built (see above)")
            }),
        }
    }
    if options.wants(14) {
        run("14. The whole demo city", &mut || {
            let (rows, notes) =
                block_on(halfsky_tests::bench_demo::demo_city(sizes.demo_households))??;
            Ok(Measured {
                figures: figures_of(rows),
                notes,
            })
        });
    }
    let failed = sections.iter().any(|s| s.result.is_err());
    let markdown = report(&sections, options.quick, started.elapsed());
    println!("{markdown}");
    if let Some(path) = &options.out {
        std::fs::write(path, &markdown).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: report written to {}", path.display());
    }
    Ok(!failed)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some(COLD_OPEN_CHILD) if args.len() == 3 => {
            cold_open_child(Path::new(&args[1]), &args[2]).map(|()| true)
        }
        Some(AUTOMERGE_LOAD_CHILD) if args.len() == 2 => {
            automerge_load_child(Path::new(&args[1])).map(|()| true)
        }
        Some(DASHBOARD_CHILD) if args.len() == 6 => {
            let requests = args[5].parse().unwrap_or(20);
            halfsky_tests::bench_dashboard::serve_child(
                Path::new(&args[1]),
                [&args[2], &args[3], &args[4]],
                requests,
            )
            .map(|()| true)
        }
        Some(SLED_CHILD) if args.len() == 2 => {
            halfsky_tests::bench_dashboard::sled_child(Path::new(&args[1])).map(|()| true)
        }
        _ => parse_options(&args).and_then(|o| run(&o)),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
