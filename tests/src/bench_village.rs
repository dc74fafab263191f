//! Figures 3–5 of the benchmark report, all on one big village: cold open (in fresh
//! child processes of the bench binary, for honest memory figures), index update cost
//! against a small village, and `stats` against a full scan.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use halfsky_node::store::{SledStore, Storage};
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::synthetic::{Generator, Inputs};
use halfsky_shared::{Kind, RecordId};

use crate::bench_ledger::{build_village, build_village_batched, keep_id_numbers_unique, TempHome};
use crate::bench_report::{
    child_medians, need, percentiles, thousands, time_each, Figure, Measured, Sizes,
    AUTOMERGE_LOAD_CHILD, COLD_OPEN_CHILD,
};
use crate::{open, today, village};

/// The big village shared by figures 3–5, in a temporary directory.
pub struct BigVillage {
    /// Where it is stored (removed on drop).
    pub temp: TempHome,
    /// Its women, to update and look up.
    pub women: Vec<RecordId>,
    /// How it was built, for the report's notes.
    pub notes: Vec<String>,
}

/// Builds the village of figures 3–5 and closes its ledger.
pub fn big_village(sizes: Sizes) -> Result<BigVillage> {
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

/// Figure 3: cold open + load, and resident memory, each in fresh child processes.
pub fn cold_open(sizes: Sizes, v: &BigVillage) -> Result<Measured> {
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
pub fn cold_open_child(home: &Path, woman: &str) -> Result<()> {
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
pub fn automerge_load_child(file: &Path) -> Result<()> {
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
pub fn memory_kib() -> Result<(f64, f64)> {
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
pub fn update_and_add_latency(
    ledger: &mut Ledger,
    n: usize,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
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
pub fn index_update(sizes: Sizes, v: &BigVillage) -> Result<Measured> {
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
pub fn stats_latency(sizes: Sizes, v: &BigVillage) -> Result<Measured> {
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
