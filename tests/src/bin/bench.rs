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
//! 15. a city built through its documents: villages' Automerge documents below their
//!     counties, synced to a fresh city run as `halfsky run`; time, disk, RSS, cold
//!     start, page p99, `reindex`, a new card's way to the city page (see
//!     `halfsky_tests::bench_city`).
//! 16. the admission check per change beside Automerge's apply and the whole door,
//!     and the peak memory of importing a 1 GiB inflation bomb beside a normal bundle
//!     (see `halfsky_tests::bench_admission`).
//! 17. live bytes: women added one by one while the link is up, and single edits, with
//!     pushes vs an Automerge sync round per change (see `halfsky_tests::bench_live`).
//! 18. the shared workload (`../shared/workloads/women_5000.csv`): wire bytes of the
//!     first sync and of 10 edits, beside halfsky's own JSON and the peers' figures
//!     (see `halfsky_tests::bench_workload`).
//!
//! Goals are printed beside the figures; nothing is asserted. A figure that fails to
//! measure is reported as failed, by name, and the run goes on; the exit status is 1
//! if any figure failed.
//!
//! ```text
//! cargo run --release -p halfsky-tests --bin bench                 # full sizes
//! cargo run --release -p halfsky-tests --bin bench -- --quick      # small sizes (a few minutes)
//! cargo run --release -p halfsky-tests --bin bench -- --out BENCHMARKS.md
//! ```
//!
//! This file parses the flags and runs the figures in order; the figures live by
//! family in the tests crate (`bench_report` has the frame, see its doc).
//!
//! All data lives in temporary directories, removed at the end. The page cache is not
//! dropped between runs (that needs root), so "cold" means a new process that opens the
//! store, not a cold disk.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// The allocator the `halfsky` binary uses, so figures are what a node does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{anyhow, bail, Context, Result};
use halfsky_node::NodeHome;
use halfsky_tests::bench_ledger::{bulk_import, durable_write};
use halfsky_tests::bench_report::{
    block_on, child_medians, figures_of, guarded, need, report, sync_figures, sync_figures_result,
    thousands, Figure, Measured, Section, Sizes, AUTOMERGE_LOAD_CHILD, COLD_OPEN_CHILD,
    DASHBOARD_CHILD, SLED_CHILD,
};
use halfsky_tests::bench_village::{
    automerge_load_child, big_village, cold_open, cold_open_child, index_update, stats_latency,
    BigVillage,
};

/// Command-line options of the report.
#[derive(Debug, Default)]
struct Options {
    /// CI sizes.
    quick: bool,
    /// Also write the Markdown here.
    out: Option<PathBuf>,
    /// Only these figures (1–18), e.g. to profile one; all if empty.
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
                        Ok(n @ 1..=18) => options.only.push(n),
                        _ => bail!("--only takes figure numbers 1 to 18, not {n:?}"),
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
                ))?
                .into_iter()
                .chain(sync_figures(
                    halfsky_tests::bench_reconnect::reconnect_after_drop(),
                )?)
                .collect(),
                notes: vec![
                    "The first three figures start both nodes anew (no TLS session to resume); the \
                     last keeps them running, drops their link and counts from the moment it is \
                     back (handshake attempts made while it was down are not counted)."
                        .into(),
                ],
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
            let mut figures =
                sync_figures(halfsky_tests::bench_sync::county_to_city(villages, women))?;
            figures.extend(figures_of(
                halfsky_tests::bench_sync::attestation_granularity(women),
            ));
            Ok(Measured {
                figures,
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
                sizes.controller_seeds,
            ))??;
            notes.insert(
                0,
                "Fastest first, per profile (median over the seeds; every controller \
                meets the same loss draws: the report before this one gave each controller its own \
                seed, so BBR's 39.8 s on `awful` was one loss pattern, met in every run):"
                    .into(),
            );
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
                                "`stats` of the city alone, computed anew after a write",
                            ),
                            (
                                "overview_after_change",
                                "city overview page right after a new card in one village",
                                "stats_city",
                                "`stats` of the city alone, computed anew after a write",
                            ),
                            (
                                "drilldown",
                                "county drill-down page",
                                "stats_county",
                                "`stats` of the county alone, computed anew after a write",
                            ),
                            (
                                "drilldown_township",
                                "township drill-down page",
                                "stats_county",
                                "`stats` of the county alone, computed anew after a write",
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
    if options.wants(15) {
        run("15. A city built through its documents", &mut || {
            let (mut figures, mut notes) = (Vec::new(), Vec::new());
            for (villages, women) in sizes.city_docs {
                let (rows, more) = block_on(halfsky_tests::bench_city::city_through_documents(
                    *villages, *women,
                ))??;
                figures.extend(figures_of(rows));
                notes.extend(more);
            }
            notes.push(
                "The goal is stated for 2,000 villages × 500 women; this 2-core machine (shared) \
                 cannot build and sync that within a benchmark run, so smaller cities are measured \
                 and the notes extrapolate linearly."
                    .into(),
            );
            Ok(Measured { figures, notes })
        });
    }
    if options.wants(16) {
        let households = if options.quick { 10 } else { 200 };
        run("16. Admission: its cost, and a bomb's memory", &mut || {
            let mut cost = halfsky_tests::bench_admission::admission_cost(households, 3)?;
            let bomb = halfsky_tests::bench_admission::bomb_memory(households)?;
            cost.figures.extend(bomb.figures);
            cost.notes.extend(bomb.notes);
            Ok(cost)
        });
    }
    if options.wants(17) {
        run("17. Live bytes: pushes vs sync rounds", &mut || {
            Ok(Measured {
                figures: figures_of(halfsky_tests::bench_live::live_bytes(50, 10)),
                notes: vec![
                    "Frame bytes both ways (`Frame::encode` lengths, QUIC headers not included) \
                     between a village and a township ledger in-process, each change sent as the \
                     node sends it after a write (no coalescing: every record is its own push). \
                     Baseline: the same writes with both Hellos naming protocol 3, so every change \
                     runs an Automerge sync round."
                        .into(),
                ],
            })
        });
    }
    if options.wants(18) {
        run(
            "18. The shared workload: 5,000 cards beside PouchDB and automerge-repo",
            &mut || {
                Ok(Measured {
                    figures: sync_figures_result(halfsky_tests::bench_workload::workload(
                        &halfsky_tests::bench_workload::women_csv(),
                    ))?,
                    notes: vec![
                    "`../shared/workloads/women_5000.csv` imported at a village (`import --kind \
                     woman`), then synced to its township over QUIC on loopback: UDP bytes both \
                     ways, QUIC/TLS handshake included. The peers' figures (PEERS.md) count \
                     application payload only, without TLS, on the same records."
                        .into(),
                ],
                })
            },
        );
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
        Some(halfsky_tests::bench_admission::BUNDLE_IMPORT_CHILD) if args.len() == 3 => {
            halfsky_tests::bench_admission::bundle_import_child(
                Path::new(&args[1]),
                Path::new(&args[2]),
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
