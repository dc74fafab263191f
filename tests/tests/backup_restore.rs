//! Backup and restore of a node home: a backup taken through the running node's local
//! API while records are being written is a consistent ledger; a backup of a quiet
//! node restores the same records, ids, statistics and history; the restored home has
//! a fresh actor id and device tag (a restore never forks an actor's history), keeps
//! its certificate, and syncs on with its parent without sending everything again.

use std::time::Duration;

use halfsky_node::backup;
use halfsky_node::command::{Request, Response};
use halfsky_node::run::RunningNode;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::{Kind, OrgCode};
use halfsky_tests::deploy::{add_woman, start, with, Deployment, NodeSpec};
use halfsky_tests::{eventually, fill_village, VILLAGE};

const LIMIT: Duration = Duration::from_secs(90);
const TOWN: &str = "230129100000";

/// Women of the village at `node`.
async fn women_at(node: &RunningNode) -> i64 {
    with(node, |l| {
        let org = OrgCode::parse(VILLAGE).expect("code");
        l.stats(Some(org)).map(|s| s.women.total).unwrap_or(0)
    })
    .await
}

/// Every woman's id and fields, as listed.
fn women(ledger: &mut Ledger) -> Vec<String> {
    ledger
        .list(Kind::Woman, "", true)
        .expect("list")
        .iter()
        .map(|r| serde_json::to_string(r).expect("serializes"))
        .collect()
}

/// Bytes sent to the parent so far, once the link has reported any (links report
/// their traffic every few seconds).
async fn bytes_out(node: &RunningNode) -> u64 {
    eventually(LIMIT, "the link's traffic report", || async {
        let status = node.handle().status().await.expect("status");
        let sent = status.parent.expect("has a parent").bytes_out;
        (sent > 0).then_some(sent)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_writing_restores_the_same_ledger_which_syncs_on() {
    let d = Deployment::new();
    let town = start(&d.home(TOWN, "城关镇", &NodeSpec::new("t1", None, true))).await;
    let spec = NodeSpec::new("laptop", town.listen_addr(), false);
    let hx_home = d.home(VILLAGE, "红星村", &spec);
    let hx = start(&hx_home).await;
    with(&hx, |l| fill_village(l, 40, 7)).await;
    let expected = women_at(&hx).await;
    eventually(LIMIT, "the first sync", || async {
        (women_at(&town).await == expected).then_some(())
    })
    .await;
    let first_sync = bytes_out(&hx).await;

    // A backup through the local API while a writer keeps adding.
    let handle = hx.handle().clone();
    let writer = tokio::spawn(async move {
        for i in 0..40 {
            let fields = vec![
                ("name".to_string(), format!("写入中{i}")),
                ("birth_year".into(), "1980".into()),
                ("labor_capacity".into(), "full".into()),
            ];
            handle
                .run(move |l| l.add(Kind::Woman, &fields).expect("valid"))
                .await
                .expect("running");
        }
    });
    let during = d.dir().join("during.backup");
    let request = Request::Backup {
        out: during.clone(),
    };
    let home = hx_home.clone();
    let reply = tokio::task::spawn_blocking(move || {
        halfsky_node::local_api::try_forward(&home, &request).expect("local API")
    })
    .await
    .expect("no panic")
    .expect("the running node answers");
    assert!(matches!(reply, Ok(Response::BackedUp(_))), "{reply:?}");
    writer.await.expect("writer finished");

    // The backup taken during writes is a consistent ledger: its index matches its
    // documents, and every record in it is the original's.
    let restored = NodeHome::new(d.dir().join("during"));
    backup::restore(&during, &restored, false).expect("restores");
    {
        let mut ledger = Ledger::open(&restored).expect("opens");
        let stats = serde_json::to_value(ledger.stats(None).expect("stats")).expect("json");
        ledger.reindex().expect("reindex");
        let again = serde_json::to_value(ledger.stats(None).expect("stats")).expect("json");
        assert_eq!(stats, again, "the restored index matches its documents");
        let n = ledger.stats(None).expect("stats").women.total;
        assert!(
            (expected..=expected + 40).contains(&n),
            "{n} women restored"
        );
    }

    // A quiet node's backup restores exactly.
    let out = d.dir().join("hx.backup");
    let home = hx_home.clone();
    let out2 = out.clone();
    tokio::task::spawn_blocking(move || {
        halfsky_node::local_api::try_forward(&home, &Request::Backup { out: out2 })
    })
    .await
    .expect("no panic")
    .expect("local API")
    .expect("running")
    .expect("backed up");
    hx.shutdown().await;
    let original = hx_home.config().expect("config");
    let (ids, stats, history) = {
        let mut ledger = Ledger::open(&hx_home).expect("opens");
        let ids = women(&mut ledger);
        let first = ledger.list(Kind::Woman, "", true).expect("list")[0]
            .record
            .id
            .clone();
        let history = serde_json::to_value(ledger.history(&first).expect("history")).expect("json");
        let stats = serde_json::to_value(ledger.stats(None).expect("stats")).expect("json");
        (ids, stats, history)
    };
    let replacement = NodeHome::new(d.dir().join("replacement"));
    backup::restore(&out, &replacement, false).expect("restores");
    let config = replacement.config().expect("config");
    assert_ne!(config.actor, original.actor, "a fresh actor id");
    assert_ne!(config.device_tag, original.device_tag, "a fresh device tag");
    assert_eq!(
        (config.org, &config.device, config.ids.public.to_hex()),
        (original.org, &original.device, original.ids.public.to_hex())
    );
    {
        let mut ledger = Ledger::open(&replacement).expect("opens");
        assert_eq!(women(&mut ledger), ids, "same records and ids");
        let first = ledger.list(Kind::Woman, "", true).expect("list")[0]
            .record
            .id
            .clone();
        let restored_history =
            serde_json::to_value(ledger.history(&first).expect("history")).expect("json");
        assert_eq!(restored_history, history, "same history");
        let restored_stats =
            serde_json::to_value(ledger.stats(None).expect("stats")).expect("json");
        assert_eq!(restored_stats, stats, "same statistics");
    }
    assert!(matches!(
        backup::restore(&out, &replacement, false),
        Err(backup::BackupError::HomeExists(_))
    ));

    // The replacement syncs on: its new record reaches the township, and it sends a
    // fraction of what the first sync sent.
    let node = start(&replacement).await;
    let id = add_woman(&node, "换机后").await;
    assert!(
        id.to_string().contains(&config.device_tag),
        "new ids, new tag"
    );
    let total = women_at(&node).await;
    eventually(
        LIMIT,
        "the replacement's record at the township",
        || async { (women_at(&town).await == total).then_some(()) },
    )
    .await;
    let sent = bytes_out(&node).await;
    eprintln!("bytes to the parent: first sync {first_sync}, restored replacement {sent}");
    assert!(
        sent * 2 < first_sync,
        "the replacement sent {sent} B; the first sync {first_sync} B"
    );
    node.shutdown().await;
    town.shutdown().await;
}

#[test]
fn a_damaged_backup_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("x.backup");
    std::fs::write(&file, b"HSBACKU1 not zstd").expect("write");
    let err =
        backup::restore(&file, &NodeHome::new(dir.path().join("h")), false).expect_err("refused");
    assert!(err.to_string().contains("halfsky backup"), "{err}");
}
