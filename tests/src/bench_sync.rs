//! Sync benchmarks (the figures of the sync issue), each beside a baseline measured in
//! the same run:
//! - wire bytes to bring N new records from a village to the city, against zstd-19 of
//!   the same records as canonical JSON (the practical floor) and against re-uploading
//!   the whole village ledger as JSON (what spreadsheet upload does);
//! - a reconnect when nothing changed, with many village documents under a county:
//!   protocol bytes and round trips, against one Automerge sync message pair per
//!   document, plus the real UDP bytes including the QUIC/TLS handshake;
//! - live latency of a record through 3 hops, against 1 hop;
//! - initial sync of a county to a new city: records/s, against applying the same
//!   changes locally.

use std::time::{Duration, Instant};

use automerge::sync::SyncDoc;
use automerge::AutoCommit;
use halfsky_node::Ledger;
use halfsky_shared::idcard::IdSecret;
use halfsky_shared::ledger_doc::{Author, LedgerDoc};
use halfsky_shared::record::{complete, parse_fields, RecordId};
use halfsky_shared::session::{Delivery, Replica, Role, Session};
use halfsky_shared::synthetic::Generator;
use halfsky_shared::wire::Frame;
use halfsky_shared::{Kind, OrgCode};

use crate::deploy::{chain, start, with, Deployment, NodeSpec};
use crate::eventually;

/// One measured figure and its baseline.
#[derive(Debug, Clone)]
pub struct SyncFigure {
    /// What is measured.
    pub name: String,
    /// Measured value.
    pub value: f64,
    /// Unit of value and baseline.
    pub unit: &'static str,
    /// What the baseline is.
    pub baseline_name: String,
    /// Baseline value.
    pub baseline: f64,
    /// The goal, in words.
    pub goal: String,
}

const LIMIT: Duration = Duration::from_secs(600);

fn code(s: &str) -> OrgCode {
    OrgCode::parse(s).expect("valid code")
}

/// A ledger document of `org` with `women` synthetic women, built in memory.
pub fn synthetic_doc(org: OrgCode, women: usize, seed: u64) -> AutoCommit {
    synthetic_doc_with(org, women, seed, |_| {})
}

/// [`synthetic_doc`], calling `after_each` on the document after each record.
pub fn synthetic_doc_with(
    org: OrgCode,
    women: usize,
    seed: u64,
    mut after_each: impl FnMut(&mut AutoCommit),
) -> AutoCommit {
    let today = crate::today();
    let seal_to = halfsky_shared::idcard::Sealer::new(IdSecret::from_seed(&[42; 32]).public());
    let mut doc = LedgerDoc::create(org, automerge::ActorId::from(seed.to_be_bytes().repeat(2)));
    let mut generator = Generator::new(seed, today);
    for seq in 1..=women as u64 {
        let inputs = generator.woman(&org, None);
        let mut parsed =
            parse_fields(Kind::Woman, &inputs, today).expect("synthetic input is valid");
        complete(Kind::Woman, &mut parsed.fields, today);
        let id = RecordId::new(org, Kind::Woman, "BENC", seq);
        let author = Author {
            device: format!("{org}/bench"),
            time: 1_700_000_000 + seq as i64,
        };
        let sealed = parsed.id_number.as_ref().map(|n| seal_to.seal(n));
        doc.insert(&id, &parsed.fields, sealed.as_deref(), &author)
            .expect("insert");
        after_each(doc.automerge());
    }
    doc.automerge().clone()
}

/// Signing each change vs signing the heads once after a run of writes: the same
/// `women` records attested after every record, or once after all of them; bytes
/// of their changes and their admission (catch-up batches into a node with the CA).
pub fn attestation_granularity(women: usize) -> Vec<SyncFigure> {
    let d = Deployment::new();
    let org = code("230129100201");
    let mut once = synthetic_doc(org, women, 7);
    attest(&d, org, &mut once);
    let mut each = synthetic_doc_with(org, women, 7, |doc| attest(&d, org, doc));
    let measure = |doc: &mut AutoCommit, device: &str| {
        let changes = raw_changes(doc);
        let bytes: usize = changes.iter().map(Vec::len).sum();
        let home = d.home("230129100000", "镇", &NodeSpec::new(device, None, false));
        let mut township = Ledger::open(&home).expect("township");
        let started = Instant::now();
        for frame in halfsky_shared::session::batches(org, changes) {
            if let Frame::Changes { changes, .. } = frame {
                Replica::apply_changes(&mut township, "bench", &org, changes, Delivery::CatchUp)
                    .expect("admitted");
            }
        }
        (bytes, started.elapsed().as_secs_f64(), doc.save().len())
    };
    let (once_bytes, once_secs, once_saved) = measure(&mut once, "t-once");
    let (each_bytes, each_secs, each_saved) = measure(&mut each, "t-each");
    let n = women as f64;
    vec![
        SyncFigure {
            name: format!(
                "change bytes per record, attested after each record (saved: {:.0} B/record)",
                each_saved as f64 / n
            ),
            value: each_bytes as f64 / n,
            unit: "B/record",
            baseline_name: format!(
                "attested once over the heads (saved: {:.0} B/record)",
                once_saved as f64 / n
            ),
            baseline: once_bytes as f64 / n,
            goal: "the cheaper one is the default".into(),
        },
        SyncFigure {
            name: format!("admission of {women} records, attested after each record"),
            value: n / each_secs,
            unit: "records/s",
            baseline_name: "attested once over the heads".into(),
            baseline: n / once_secs,
            goal: "the cheaper one is the default".into(),
        },
    ]
}

/// Attests `doc` as device `bench` of `org` (a certificate from `d`'s CA, issued once
/// per unit): what the unit's own node does after its writes, so that nodes of the
/// deployment admit the synthetic document.
pub fn attest(d: &Deployment, org: OrgCode, doc: &mut AutoCommit) {
    let dir = d.dir().join(format!("signer-{org}"));
    if !dir.join("node.pem").exists() {
        std::fs::create_dir_all(&dir).expect("a signer directory");
        halfsky_node::pki::issue(d.ca(), org, "bench", &dir).expect("a certificate");
    }
    let signer = halfsky_node::pki::attest::Authorship::load(&halfsky_node::NodeHome::new(dir))
        .expect("the signer has the CA");
    signer.attest(org, doc).expect("attests");
}

/// Every change of `doc`, as raw bytes (what a catch-up carries).
pub fn raw_changes(doc: &mut AutoCommit) -> Vec<Vec<u8>> {
    doc.get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

/// Wire bytes to bring `n` new women from a village to the city.
pub async fn wire_bytes(n: usize) -> Vec<SyncFigure> {
    let d = Deployment::new();
    let city = start(&d.home("230100000000", "市", &NodeSpec::new("c", None, true))).await;
    let village_home = d.home(
        "230129100201",
        "村",
        &NodeSpec::new("v", city.listen_addr(), false),
    );
    // Write the records before the village goes online: a catch-up.
    {
        let mut ledger = Ledger::open(&village_home).expect("ledger");
        let org = ledger.config().org;
        let mut generator = Generator::new(7, ledger.today());
        let mut pending = std::collections::HashSet::new();
        let prepared: Vec<_> = (0..n)
            .map(|_| {
                ledger
                    .prepare(Kind::Woman, &generator.woman(&org, None), &mut pending)
                    .expect("valid")
            })
            .collect();
        ledger.add_prepared(prepared, |_| {}).expect("written");
    }
    let village = start(&village_home).await;
    let org = code("230129100201");
    eventually(LIMIT, "the city to hold the village's women", || async {
        let got = with(&city, move |l| {
            l.stats(Some(org)).expect("stats").women.total
        })
        .await;
        (got as usize >= n).then_some(())
    })
    .await;
    // Let the traffic report (every 2 s) catch up, then read the link's bytes.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let status = village.handle().status().await.expect("status");
    let parent = status.parent.expect("village has a parent");
    let ours = (parent.bytes_in + parent.bytes_out) as f64;
    let records = with(&village, |l| l.list(Kind::Woman, "", true).expect("list")).await;
    let canonical =
        serde_json::to_vec(&records.iter().map(|r| &r.record.fields).collect::<Vec<_>>())
            .expect("json");
    let zstd = zstd::bulk::compress(&canonical, 19).expect("zstd").len() as f64;
    let everything: Vec<_> = with(&village, |l| {
        Kind::ALL
            .iter()
            .flat_map(|k| l.list(*k, "", true).expect("list"))
            .map(|r| r.record)
            .collect::<Vec<_>>()
    })
    .await;
    let full_json = serde_json::to_vec(&everything).expect("json").len() as f64;
    village.shutdown().await;
    city.shutdown().await;
    vec![
        SyncFigure {
            name: format!(
                "wire bytes, {n} new records village → city (UDP, both ways, incl. handshake)"
            ),
            value: ours,
            unit: "B",
            baseline_name: "zstd-19 of the records as JSON".into(),
            baseline: zstd,
            goal: "≤ 1.5× zstd".into(),
        },
        SyncFigure {
            name: format!("wire bytes, {n} new records, vs spreadsheet-style re-upload"),
            value: ours,
            unit: "B",
            baseline_name: "whole village ledger as JSON".into(),
            baseline: full_json,
            goal: "far below".into(),
        },
    ]
}

/// Pumps frames between two in-process sessions; returns (bytes, round trips).
fn pump(
    child: &mut Session,
    c: &mut Ledger,
    parent: &mut Session,
    p: &mut Ledger,
) -> (usize, usize) {
    let (mut bytes, mut rtts) = (0, 0);
    let mut up = child.start(c);
    let mut down = parent.start(p);
    while !up.is_empty() || !down.is_empty() {
        if !up.is_empty() {
            rtts += 1;
        }
        for f in up.drain(..) {
            bytes += f.encode().expect("encodes").len();
            down.extend(parent.handle(f, p));
        }
        for f in down.drain(..) {
            bytes += f.encode().expect("encodes").len();
            up.extend(child.handle(f, c));
        }
    }
    (bytes, rtts)
}

/// A reconnect when nothing changed, with `villages` documents under a county.
pub async fn noop_reconnect(villages: usize) -> Vec<SyncFigure> {
    let d = Deployment::new();
    let port = crate::deploy::free_port();
    let city_home = d.home(
        "230100000000",
        "市",
        &NodeSpec {
            device: "c".into(),
            listen: true,
            listen_port: port,
            ..Default::default()
        },
    );
    let parent = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let county_home = d.home(
        "230129000000",
        "县",
        &NodeSpec {
            device: "k".into(),
            parent,
            ..Default::default()
        },
    );
    let mut county = Ledger::open(&county_home).expect("county");
    let mut city = Ledger::open(&city_home).expect("city");
    for i in 0..villages {
        let org = code(&format!("230129{:03}{:03}", 100 + i / 700, 201 + i % 700));
        let mut doc = synthetic_doc(org, 2, i as u64);
        attest(&d, org, &mut doc);
        let changes = raw_changes(&mut doc);
        county.apply_changes_raw(org, changes.clone());
        city.apply_changes_raw(org, changes);
    }
    // One full session so both sides hold identical documents and sync states.
    let (mut c, mut p) = pair(&county, &city);
    pump(&mut c, &mut county, &mut p, &mut city);
    let (mut c, mut p) = pair(&county, &city);
    let (bytes, rtts) = pump(&mut c, &mut county, &mut p, &mut city);
    // Baseline: one Automerge sync message pair per document, from saved states.
    let mut per_doc = 0usize;
    for org in county.documents().expect("docs") {
        let mut a = automerge::sync::State::new();
        let mut b = automerge::sync::State::new();
        let msg = county
            .with_automerge(org, |doc| doc.sync().generate_sync_message(&mut a))
            .expect("doc");
        if let Some(m) = msg {
            per_doc += m.clone().encode().len();
            city.with_automerge(org, |doc| doc.sync().receive_sync_message(&mut b, m))
                .expect("doc")
                .expect("applies");
            if let Some(reply) = city
                .with_automerge(org, |doc| doc.sync().generate_sync_message(&mut b))
                .expect("doc")
            {
                per_doc += reply.encode().len();
            }
        }
    }
    drop(county);
    drop(city);
    // The same reconnect over real QUIC: UDP bytes including the handshake.
    let city_node = start(&city_home).await;
    let county_node = start(&county_home).await;
    let status = eventually(LIMIT, "the reconnect to complete", || async {
        let p = county_node.handle().status().await.ok()?.parent?;
        p.last_sync.is_some().then_some(p)
    })
    .await;
    let _ = status;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let p = county_node
        .handle()
        .status()
        .await
        .expect("status")
        .parent
        .expect("parent");
    let udp = (p.bytes_in + p.bytes_out) as f64;
    county_node.shutdown().await;
    city_node.shutdown().await;
    vec![
        SyncFigure {
            name: format!("no-op reconnect, {villages} documents: protocol bytes"),
            value: bytes as f64,
            unit: "B",
            baseline_name: "one Automerge sync message pair per document".into(),
            baseline: per_doc as f64,
            goal: "≤ 4 KB".into(),
        },
        SyncFigure {
            name: format!("no-op reconnect, {villages} documents: round trips after the handshake"),
            value: rtts as f64,
            unit: "RTT",
            baseline_name: "per-document exchange (at least)".into(),
            baseline: 1.0,
            goal: "≤ 3".into(),
        },
        SyncFigure {
            name: format!("no-op reconnect, {villages} documents: UDP bytes incl. QUIC/TLS handshake and keep-alives"),
            value: udp,
            unit: "B",
            baseline_name: "one Automerge sync message pair per document".into(),
            baseline: per_doc as f64,
            goal: "small".into(),
        },
    ]
}

fn pair(child: &Ledger, parent: &Ledger) -> (Session, Session) {
    let (c, p) = (child.config(), parent.config());
    (
        Session::new(Role::Child, c.org, &c.device, p.org, &p.device).expect("child below parent"),
        Session::new(Role::Parent, p.org, &p.device, c.org, &c.device).expect("child below parent"),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Live latency of a record written at a connected village, through 3 hops to the city.
pub async fn live_latency(samples: usize) -> Vec<SyncFigure> {
    let d = Deployment::new();
    let [city, county, town, village] = chain(&d).await;
    let mut generator = Generator::new(3, crate::today());
    let org = code("230129100201");
    // Warm up: links up and first sync done.
    let first = with(&village, {
        let inputs = generator.woman(&org, None);
        move |l| l.add(Kind::Woman, &inputs).expect("add")
    })
    .await;
    eventually(LIMIT, "the first record to reach the city", || {
        let id = first.clone();
        let city = &city;
        async move { with(city, move |l| l.index().get(&id).expect("index")).await }
    })
    .await;
    let mut three_hops = Vec::new();
    let mut one_hop = Vec::new();
    for _ in 0..samples {
        let inputs = generator.woman(&org, None);
        let started = Instant::now();
        let id = with(&village, move |l| l.add(Kind::Woman, &inputs).expect("add")).await;
        let mut seen_at_town = None;
        loop {
            let id1 = id.clone();
            if seen_at_town.is_none()
                && with(&town, move |l| l.index().get(&id1).expect("index"))
                    .await
                    .is_some()
            {
                seen_at_town = Some(started.elapsed());
            }
            let id2 = id.clone();
            if with(&city, move |l| l.index().get(&id2).expect("index"))
                .await
                .is_some()
            {
                three_hops.push(started.elapsed());
                one_hop.push(seen_at_town.unwrap_or_else(|| started.elapsed()));
                break;
            }
            assert!(started.elapsed() < LIMIT, "record never reached the city");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    three_hops.sort();
    one_hop.sort();
    for n in [village, town, county, city] {
        n.shutdown().await;
    }
    vec![
        SyncFigure {
            name: format!("live latency village → city, 3 hops, p50 ({samples} records)"),
            value: percentile(&three_hops, 0.5),
            unit: "ms",
            baseline_name: "1 hop (village → township), p50".into(),
            baseline: percentile(&one_hop, 0.5),
            goal: "≈ 3× one hop".into(),
        },
        SyncFigure {
            name: "live latency village → city, 3 hops, p99".into(),
            value: percentile(&three_hops, 0.99),
            unit: "ms",
            baseline_name: "1 hop, p99".into(),
            baseline: percentile(&one_hop, 0.99),
            goal: "≈ 3× one hop".into(),
        },
    ]
}

/// Initial sync of a county holding `villages` × `women` to a new city.
pub async fn county_to_city(villages: usize, women: usize) -> Vec<SyncFigure> {
    let d = Deployment::new();
    let port = crate::deploy::free_port();
    let parent = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let county_home = d.home(
        "230129000000",
        "县",
        &NodeSpec {
            device: "k".into(),
            parent,
            ..Default::default()
        },
    );
    let docs: Vec<(OrgCode, Vec<Vec<u8>>)> = (0..villages)
        .map(|i| {
            let org = code(&format!("230129{:03}{:03}", 100 + i / 700, 201 + i % 700));
            let mut doc = synthetic_doc(org, women, 1000 + i as u64);
            attest(&d, org, &mut doc);
            (org, raw_changes(&mut doc))
        })
        .collect();
    // Verification alone: the same changes through admission (record rules and
    // signed authorship) vs applied unchecked, each into a fresh county store.
    let admit_home = d.home("230129000000", "县", &NodeSpec::new("k-admit", None, false));
    let plain_home = d.home("230129000000", "县", &NodeSpec::new("k-plain", None, false));
    let admitted = Instant::now();
    {
        let mut county = Ledger::open(&admit_home).expect("county");
        for (org, changes) in &docs {
            county.apply_changes_raw(*org, changes.clone());
        }
    }
    let admitted = admitted.elapsed().as_secs_f64();
    let plain = Instant::now();
    {
        let mut county = Ledger::open(&plain_home).expect("county");
        for (org, changes) in &docs {
            let parsed = changes
                .iter()
                .map(|c| automerge::Change::from_bytes(c.clone()).expect("a change"))
                .collect();
            county.apply_changes(*org, parsed).expect("applies");
        }
    }
    let plain = plain.elapsed().as_secs_f64();
    // Baseline: the county applying the same changes locally (no network).
    let local_started = Instant::now();
    {
        let mut county = Ledger::open(&county_home).expect("county");
        for (org, changes) in &docs {
            county.apply_changes_raw(*org, changes.clone());
        }
    }
    let local = local_started.elapsed().as_secs_f64();
    let records = (villages * women) as f64;
    let city = start(&d.home(
        "230100000000",
        "市",
        &NodeSpec {
            device: "c".into(),
            listen: true,
            listen_port: port,
            ..Default::default()
        },
    ))
    .await;
    let started = Instant::now();
    let county = start(&county_home).await;
    let expected = (villages * women) as i64;
    eventually(LIMIT, "the city to hold the county's women", || async {
        let got = with(&city, |l| {
            l.stats(Some(code("230129000000")))
                .expect("stats")
                .women
                .total
        })
        .await;
        (got == expected).then_some(())
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    county.shutdown().await;
    city.shutdown().await;
    vec![
        SyncFigure {
            name: format!(
                "initial sync county → new city, {villages} villages × {women} women ({:.1} s)",
                elapsed
            ),
            value: records / elapsed,
            unit: "records/s",
            baseline_name: format!("county applying the same changes locally ({local:.1} s)"),
            baseline: records / local,
            goal: "network close to local".into(),
        },
        SyncFigure {
            name: format!(
                "admission of the same changes, signed authorship checked ({admitted:.1} s)"
            ),
            value: records / admitted,
            unit: "records/s",
            baseline_name: format!("applied unchecked ({plain:.1} s)"),
            baseline: records / plain,
            goal: "verification a small share".into(),
        },
    ]
}

/// Applies raw changes without the session (benchmark set-up).
pub trait ApplyRaw {
    /// Applies raw Automerge changes to `org`'s document, durable and indexed.
    fn apply_changes_raw(&mut self, org: OrgCode, changes: Vec<Vec<u8>>);
}

impl ApplyRaw for Ledger {
    fn apply_changes_raw(&mut self, org: OrgCode, changes: Vec<Vec<u8>>) {
        Replica::apply_changes(self, "bench/setup", &org, changes, Delivery::CatchUp)
            .expect("changes apply");
    }
}

/// Frame bytes of a frame (for callers that count).
pub fn frame_len(frame: &Frame) -> usize {
    frame.encode().map(|b| b.len()).unwrap_or(0)
}
