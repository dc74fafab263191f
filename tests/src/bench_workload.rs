//! The shared workload (`../shared/workloads/`): the 5,000 women's cards on which
//! PouchDB and automerge-repo were measured (their figures in `PEERS.md`), imported at a
//! village from `women_5000.csv` as a cadre would, then synced to its township over QUIC
//! on loopback. Wire bytes (UDP, both ways, QUIC/TLS included) of the first sync and of
//! 10 edited cards (5 fields each, as the peers' edit), beside zstd-19 of halfsky's own
//! JSON of the same records (fields only, and with each record's metadata) and beside
//! the peers' figures (application payload only, no TLS: a lower count than ours).

use std::path::{Path, PathBuf};
use std::time::Duration;

use halfsky_node::exchange::import::import;
use halfsky_node::Ledger;
use halfsky_shared::{Kind, OrgCode};

use crate::bench_sync::SyncFigure;
use crate::deploy::{start, with, Deployment, NodeSpec};
use crate::eventually;

const VILLAGE: &str = "230129100201";
const TOWNSHIP: &str = "230129100000";
const LIMIT: Duration = Duration::from_secs(600);
/// PouchDB → CouchDB on the same records (`PEERS.md`).
const POUCHDB_FIRST: f64 = 4_448_163.0;
/// automerge-repo, one document, on the same records (`PEERS.md`).
const AUTOMERGE_REPO_FIRST: f64 = 1_660_996.0;
/// The peers' 10-record edit (`PEERS.md`).
const POUCHDB_EDITS: f64 = 13_312.0;
const AUTOMERGE_REPO_EDITS: f64 = 4_600.0;
/// zstd-19 of the 10 edited records whole (`PEERS.md`).
const EDITS_ZSTD_WHOLE: f64 = 1_897.0;

/// `../shared/workloads/women_5000.csv`, beside the project's root.
pub fn women_csv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/workloads/women_5000.csv")
}

fn code(s: &str) -> OrgCode {
    OrgCode::parse(s).expect("valid code")
}

/// UDP bytes both ways on the village's link to its parent, once the traffic report
/// (every 2 s) has caught up.
async fn link_bytes(village: &halfsky_node::run::RunningNode) -> f64 {
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let status = village.handle().status().await.expect("status");
    let parent = status.parent.expect("village has a parent");
    (parent.bytes_in + parent.bytes_out) as f64
}

/// Runs the workload figures on the cards in `csv`.
pub async fn workload(csv: &Path) -> anyhow::Result<Vec<SyncFigure>> {
    if !csv.exists() {
        anyhow::bail!(
            "{} is missing: the workload lives in ../shared/workloads beside the project",
            csv.display()
        );
    }
    let d = Deployment::new();
    let township = start(&d.home(TOWNSHIP, "加信镇", &NodeSpec::new("t", None, true))).await;
    let village_home = d.home(
        VILLAGE,
        "红星村",
        &NodeSpec::new("v", township.listen_addr(), false),
    );
    let n = {
        let mut ledger = Ledger::open(&village_home)?;
        let report = import(&mut ledger, csv, Kind::Woman, false, false)?;
        report.written
    };
    let village = start(&village_home).await;
    let org = code(VILLAGE);
    eventually(LIMIT, "the township to hold the imported women", || async {
        let got = with(&township, move |l| {
            l.stats(Some(org)).expect("stats").women.total
        })
        .await;
        (got as usize >= n).then_some(())
    })
    .await;
    let first = link_bytes(&village).await;

    // Halfsky's own JSON of the same records: fields only, and whole (with metadata).
    let records = with(&village, |l| l.list(Kind::Woman, "", true).expect("list")).await;
    let fields: Vec<_> = records.iter().map(|r| &r.record.fields).collect();
    let fields_zstd = zstd::bulk::compress(&serde_json::to_vec(&fields).expect("json"), 19)
        .expect("zstd")
        .len() as f64;
    let whole: Vec<_> = records.iter().map(|r| &r.record).collect();
    let whole_zstd = zstd::bulk::compress(&serde_json::to_vec(&whole).expect("json"), 19)
        .expect("zstd")
        .len() as f64;

    // Ten cards edited, five fields each, by the cadre at the village.
    let edited: Vec<_> = records
        .iter()
        .take(10)
        .map(|r| r.record.id.clone())
        .collect();
    let to_edit = edited.clone();
    with(&village, move |l| {
        for id in &to_edit {
            let inputs: Vec<(String, String)> = [
                ("education", "senior"),
                ("labor_capacity", "partial"),
                ("wants_work", "是"),
                ("needs", "employment"),
                ("phone", "139****0000"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            l.update(id, Some(Kind::Woman), &inputs).expect("edit");
        }
    })
    .await;
    let last = edited.last().expect("ten cards").clone();
    eventually(LIMIT, "the edits at the township", || {
        let last = last.clone();
        async {
            let phone = with(&township, move |l| {
                l.show(&last)
                    .ok()
                    .and_then(|r| r.indexed.record.text("phone").map(str::to_string))
            })
            .await;
            (phone.as_deref() == Some("139****0000")).then_some(())
        }
    })
    .await;
    let edits = link_bytes(&village).await - first;
    village.shutdown().await;
    township.shutdown().await;

    let per = |bytes: f64| bytes / n as f64;
    let first_name = format!("workload: first sync of {n} cards from women_5000.csv");
    let edits_name = "workload: 10 cards edited, 5 fields each".to_string();
    let figure =
        |name: &str, value: f64, baseline_name: &str, baseline: f64, goal: &str| SyncFigure {
            name: name.into(),
            value,
            unit: "B",
            baseline_name: baseline_name.into(),
            baseline,
            goal: goal.into(),
        };
    Ok(vec![
        figure(
            &first_name,
            first,
            "zstd-19 of halfsky's JSON of the same cards, fields only",
            fields_zstd,
            "≤ 1.5× zstd",
        ),
        figure(
            &first_name,
            first,
            "zstd-19 of halfsky's JSON of the same cards, with metadata",
            whole_zstd,
            "≤ 1.5× zstd",
        ),
        figure(
            &format!("{first_name}, per card"),
            per(first),
            "PouchDB → CouchDB per record (PEERS.md, no TLS)",
            per(POUCHDB_FIRST),
            "far below",
        ),
        figure(
            &format!("{first_name}, per card"),
            per(first),
            "automerge-repo per record (PEERS.md, no TLS)",
            per(AUTOMERGE_REPO_FIRST),
            "below",
        ),
        figure(
            &edits_name,
            edits,
            "zstd-19 of the 10 edited records whole (PEERS.md)",
            EDITS_ZSTD_WHOLE,
            "≤ 2 KB",
        ),
        figure(
            &edits_name,
            edits,
            "PouchDB (PEERS.md, no TLS)",
            POUCHDB_EDITS,
            "below",
        ),
        figure(
            &edits_name,
            edits,
            "automerge-repo (PEERS.md, no TLS)",
            AUTOMERGE_REPO_EDITS,
            "below",
        ),
    ])
}
