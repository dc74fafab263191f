//! Figures 1–2 of the benchmark report: a durable single-record write against raw
//! sled, and a bulk XLSX import against merely reading the file; plus the synthetic
//! villages (one `add` per record, or batched) that figures 3–5 build on.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use calamine::Reader as _;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::schema::FieldType;
use halfsky_shared::synthetic::{Generator, Inputs};
use halfsky_shared::{Kind, OrgCode, RecordId};

use crate::bench_report::{percentiles, thousands, time_each, Figure, Measured, Sizes};
use crate::{new_home, open, today, village};

/// Drops an ID number already used in this run: the generator's ID numbers are random,
/// and a duplicate would (rightly) be refused by the ledger.
pub fn keep_id_numbers_unique(inputs: &mut Inputs, seen: &mut HashSet<String>) {
    inputs.retain(|(k, v)| k != "id_number" || seen.insert(v.clone()));
}

/// A node home in a temporary directory, removed on drop.
pub struct TempHome {
    /// The directory (private: dropping it removes everything).
    dir: tempfile::TempDir,
    /// The node home inside it, for the benchmark village.
    pub home: NodeHome,
}

impl TempHome {
    /// A fresh temporary directory with a village node home in it.
    pub fn new() -> Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let home = new_home(dir.path(), village(), "基准村");
        Ok(TempHome { dir, home })
    }

    /// The temporary directory, for scratch files beside the home.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Fills `ledger` with a synthetic village of about `women` women (and their
/// households, pairings, visits, measures, loans, trainings) with one durable `add`
/// per record, as cadres would; returns the women. Used for small villages only: see
/// [`build_village_batched`].
pub fn build_village(ledger: &mut Ledger, women: usize, seed: u64) -> Result<Vec<RecordId>> {
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
pub fn households_for(women: usize) -> usize {
    (women * 2).div_ceil(3).max(1)
}

/// Kinds written in each batch of [`build_village_batched`]: a batch only refers to
/// records of earlier batches.
pub const BATCHES: [&[Kind]; 3] = [
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
pub fn build_village_batched(
    ledger: &mut Ledger,
    women: usize,
    seed: u64,
) -> Result<Vec<RecordId>> {
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
pub fn durable_write(sizes: Sizes) -> Result<Measured> {
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

    let signed = signed_adds(&inputs)?;
    let (seal, open, hmac) = id_number_costs(n);
    let (a, r) = (percentiles(&adds), percentiles(&raw));
    let s = percentiles(&signed);
    let base = "raw sled insert+flush, 600 B";
    Ok(Measured {
        figures: vec![
            Figure::new("durable write `add(woman)` p50", a.p50, "ms").baseline(base, r.p50),
            Figure::new("durable write `add(woman)` p99", a.p99, "ms")
                .baseline(base, r.p99)
                .goal("≤ 5 ms"),
            Figure::new("durable write `add(woman)` p50, signed", s.p50, "ms")
                .baseline("the same adds unsigned", a.p50),
            Figure::new("durable write `add(woman)` p99, signed", s.p99, "ms")
                .baseline("the same adds unsigned", a.p99)
                .goal("≤ 5 ms"),
            Figure::new(
                "sealing one ID number (a sealer: one key agreement per 1,024)",
                seal,
                "µs",
            )
            .baseline("HMAC of the number, what adds did before", hmac),
            Figure::new(
                "opening one sealed number (office, agreements remembered)",
                open,
                "µs",
            )
            .baseline("HMAC of the number", hmac),
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

/// Mean cost of sealing an ID number to the deployment's key, of opening it at an
/// office, and of the keyed hash adds computed before numbers were sealed, over `n`
/// numbers each, in µs.
fn id_number_costs(n: usize) -> (f64, f64, f64) {
    use halfsky_shared::idcard::{with_check_digit, IdKey, IdNumber, IdSecret, Sealer};
    let numbers: Vec<IdNumber> = (0..n.max(1))
        .map(|i| {
            let first17 = format!("230129{}{:03}", 19_800_101 + (i % 28) as u32, i % 1000);
            IdNumber::parse(&with_check_digit(&first17)).expect("valid")
        })
        .collect();
    let secret = IdSecret::generate();
    let sealer = Sealer::new(secret.public());
    let key = IdKey::generate();
    let mean_us = |started: Instant| started.elapsed().as_secs_f64() * 1e6 / numbers.len() as f64;
    let started = Instant::now();
    let sealed: Vec<String> = numbers.iter().map(|n| sealer.seal(n)).collect();
    let seal = mean_us(started);
    let started = Instant::now();
    let mut agreed = std::collections::HashMap::new();
    let opened = sealed
        .iter()
        .filter(|s| secret.open_remembering(s, &mut agreed).is_some())
        .count();
    let open = mean_us(started);
    assert_eq!(opened, numbers.len(), "every seal opens");
    let started = Instant::now();
    let hashes: usize = numbers.iter().map(|n| n.hash(&key).len()).sum();
    let hmac = mean_us(started);
    assert!(hashes > 0);
    (seal, open, hmac)
}

/// The same adds on a village node with a device certificate, so each one is
/// followed by its device attestation (signed authorship).
fn signed_adds(inputs: &[Inputs]) -> Result<Vec<std::time::Duration>> {
    let temp = TempHome::new()?;
    let ca = temp.path().join("ca");
    let org = village();
    halfsky_node::pki::init_ca(OrgCode::parse("230100000000")?, &ca).context("a test CA")?;
    let device = temp.home.config().context("the home's config")?.device;
    halfsky_node::pki::issue(&ca, org, &device, temp.home.dir()).context("a certificate")?;
    let mut ledger = open(&temp.home);
    time_each(inputs, |inputs| {
        ledger
            .add(Kind::Woman, inputs)
            .context("Ledger::add of a woman, signed")
    })
}

/// Writes `rows` synthetic women to an XLSX with the Chinese headers of the schema.
/// List fields (poverty causes) go in one cell, joined with `;`.
pub fn write_women_xlsx(path: &Path, rows: usize, org: &OrgCode) -> Result<()> {
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
pub fn read_with_calamine(path: &Path) -> Result<usize> {
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
pub fn bulk_import(sizes: Sizes) -> Result<Measured> {
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
