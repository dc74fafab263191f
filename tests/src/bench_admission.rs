//! Figure 16, what the admission check costs and what it saves:
//!
//! - the check every change from another node passes (bounded inflation, parsing,
//!   record-level authority), per change, beside Automerge applying the same changes
//!   to the same document, and beside the whole door (check, apply, index, durable);
//! - the peak memory of importing a bundle whose one change inflates to 1 GiB, beside
//!   that of importing a normal bundle of a village's records, each import run by a
//!   fresh child process that reports its own VmHWM.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use automerge::Change;
use halfsky_node::ledger::trust::{Door, Origin};
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::admission::authority::check_batch;
use halfsky_shared::admission::{check_changes, Caps};
use halfsky_shared::ledger_doc::LedgerDoc;
use halfsky_shared::session::Replica;
use halfsky_shared::OrgCode;

use crate::bench_dashboard::memory_kib;
use crate::bench_report::{median, need, run_child, Figure, Measured};
use crate::deploy::{Deployment, NodeSpec};
use crate::hostile_input::{inflation_bomb, sealed_bundle};
use crate::{fill_village, VILLAGE};

/// Argument that makes the bench binary a child importing one bundle file:
/// `--bundle-import-child HOME FILE`; prints `hwm_kib`, `refused` and `ms`.
pub const BUNDLE_IMPORT_CHILD: &str = "--bundle-import-child";

const TOWNSHIP: &str = "230129100000";
/// The township's view of who sent the changes.
const SENDER: &str = "230129100201/v1";
/// What the bomb inflates to: the size the trust issue found allocated 3.16 GB.
const BOMB_BYTES: usize = 1024 * 1024 * 1024;

/// A village with records and the township above it, each its own node home.
struct Pair {
    d: Deployment,
    village_home: NodeHome,
    township_home: NodeHome,
    org: OrgCode,
    /// Every change of the village's document, as raw bytes.
    raw: Vec<Vec<u8>>,
    today: chrono::NaiveDate,
}

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).expect("a valid org code")
}

impl Pair {
    fn new(households: usize) -> Result<Pair> {
        let d = Deployment::new();
        let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
        let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
        let org = org(VILLAGE);
        let mut village = Ledger::open(&village_home).context("opening the village")?;
        fill_village(&mut village, households, 16);
        let raw = Replica::changes_since(&mut village, &org, &[])
            .map_err(|e| anyhow!("reading the village's changes: {e}"))?
            .ok_or_else(|| anyhow!("the village holds no document"))?;
        let today = village.today();
        Ok(Pair {
            d,
            village_home,
            township_home,
            org,
            raw,
            today,
        })
    }

    fn parsed(&self) -> Result<Vec<Change>> {
        self.raw
            .iter()
            .map(|b| Change::from_bytes(b.clone()).context("parsing a village change"))
            .collect()
    }
}

/// Admission per change beside Automerge's apply and the whole door, medians of
/// `runs` runs over one village's `households` households.
pub fn admission_cost(households: usize, runs: usize) -> Result<Measured> {
    let pair = Pair::new(households)?;
    let n = pair.raw.len();
    let (mut check, mut apply, mut door) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let start = Instant::now();
        check_changes(&pair.raw, &Caps::default()).context("the size check")?;
        let verdicts = check_batch(
            &LedgerDoc::genesis(pair.org),
            pair.org,
            pair.parsed()?,
            pair.today,
        );
        check.push(start.elapsed().as_secs_f64());
        if !verdicts.refused.is_empty() {
            bail!(
                "the village's own changes were refused: {:?}",
                verdicts.refused[0]
            );
        }

        let changes = pair.parsed()?;
        let mut doc = LedgerDoc::genesis(pair.org);
        let start = Instant::now();
        doc.apply_changes(changes)
            .context("Automerge applying the village's changes")?;
        apply.push(start.elapsed().as_secs_f64());

        let home = pair.d.home(
            TOWNSHIP,
            "兴隆镇",
            &NodeSpec::new(&format!("t-door-{run}"), None, false),
        );
        let mut township = Ledger::open(&home).context("opening a fresh township")?;
        township.set_today(pair.today);
        let origin = Origin {
            sender: SENDER.into(),
            door: Door::Catchup,
        };
        let start = Instant::now();
        township
            .receive_changes(pair.org, pair.raw.clone(), &origin)
            .map_err(|e| anyhow!("the township's door refused the village: {e}"))?;
        door.push(start.elapsed().as_secs_f64());
    }
    let per_change_us = |v: &mut Vec<f64>| median(v) * 1e6 / n as f64;
    let apply_us = per_change_us(&mut apply);
    Ok(Measured {
        figures: vec![
            Figure::new(
                "admission check per change (sizes, parse, authority)",
                per_change_us(&mut check),
                "µs",
            )
            .baseline("Automerge applying the change", apply_us)
            .goal("a fraction of the apply"),
            Figure::new(
                "whole door per change (check, apply, index, durable)",
                per_change_us(&mut door),
                "µs",
            )
            .baseline("Automerge applying the change", apply_us),
        ],
        notes: vec![format!(
            "Figure 16: one village of {households} households ({n} changes) admitted by a fresh \
             township; medians of {runs} runs."
        )],
    })
}

/// Peak memory of importing the 1 GiB inflation bomb beside a normal bundle.
pub fn bomb_memory(households: usize) -> Result<Measured> {
    let pair = Pair::new(households)?;
    let township = org(TOWNSHIP);
    let dir = pair.d.dir();
    let normal = dir.join("normal.bundle");
    let bomb = dir.join("bomb.bundle");
    let seal = |changes: Vec<Vec<u8>>| {
        sealed_bundle(
            &pair.village_home,
            pair.org,
            &pair.township_home,
            township,
            vec![(pair.org, changes)],
        )
    };
    std::fs::write(&normal, seal(pair.raw.clone())).context("writing the normal bundle")?;
    let bomb_bytes = seal(vec![inflation_bomb(BOMB_BYTES)]);
    std::fs::write(&bomb, &bomb_bytes).context("writing the bomb bundle")?;
    // The bomb first: it is refused and changes nothing, so the normal import after it
    // meets the same empty township.
    let hostile = import_child(pair.township_home.dir(), &bomb)?;
    if need(&hostile, "refused")? != 1.0 {
        bail!("the township accepted the inflation bomb");
    }
    let honest = import_child(pair.township_home.dir(), &normal)?;
    if need(&honest, "refused")? != 0.0 {
        bail!("the township refused the village's own bundle");
    }
    let mib = |v: &std::collections::BTreeMap<String, f64>| need(v, "hwm_kib").map(|k| k / 1024.0);
    Ok(Measured {
        figures: vec![
            Figure::new(
                format!("peak RSS importing a {}-byte bundle whose change inflates to 1 GiB", bomb_bytes.len()),
                mib(&hostile)?,
                "MiB",
            )
            .baseline(
                format!("importing the village's {} changes", pair.raw.len()),
                mib(&honest)?,
            )
            .goal("no more than a normal import"),
            Figure::new("time to refuse the bomb", need(&hostile, "ms")?, "ms")
                .baseline("importing the village's bundle", need(&honest, "ms")?),
        ],
        notes: vec![format!(
            "Figure 16: each import is `bundle import` in a fresh child process that opens the \
             township's ledger and reports its own VmHWM; {households} households in the normal bundle."
        )],
    })
}

fn import_child(home: &Path, file: &Path) -> Result<std::collections::BTreeMap<String, f64>> {
    run_child(&[
        BUNDLE_IMPORT_CHILD.as_ref(),
        home.as_os_str(),
        file.as_os_str(),
    ])
}

/// The child of [`bomb_memory`]: imports `file` into the ledger at `home` as the CLI
/// does and prints its peak memory, whether the import was refused, and its time.
pub fn bundle_import_child(home: &Path, file: &Path) -> Result<()> {
    let home = NodeHome::new(home.to_path_buf());
    let mut ledger = Ledger::open(&home).context("opening the township")?;
    let file = file.to_str().ok_or_else(|| anyhow!("a non-UTF-8 path"))?;
    let args: Vec<String> = ["bundle", "import", file].map(String::from).to_vec();
    let start = Instant::now();
    let reply = halfsky_node::cli::execute_args(&mut ledger, Path::new("/"), &args);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let (_, hwm) = memory_kib()?;
    println!(
        "hwm_kib={hwm}\nrefused={}\nms={ms}",
        u8::from(reply.code != 0)
    );
    Ok(())
}
