//! A whole hierarchy on loopback QUIC with real mutual TLS: records written at every
//! village reach the city; the city's statistics equal the sum of the villages';
//! verifications written at a county reach the villages below it; two devices of one
//! village converge with their conflict visible; an offline village catches up.

use std::collections::BTreeMap;
use std::time::Duration;

use halfsky_node::run::RunningNode;
use halfsky_shared::rollup::StatsReport;
use halfsky_shared::{Kind, OrgCode, RecordId};
use halfsky_tests::deploy::{add_woman, chain, free_port, start, with, Deployment, NodeSpec};
use halfsky_tests::eventually;
use halfsky_tests::fill_village;

const LIMIT: Duration = Duration::from_secs(90);

async fn stats(node: &RunningNode, org: Option<&str>) -> StatsReport {
    let org = org.map(|o| OrgCode::parse(o).unwrap());
    with(node, move |l| l.stats(org).unwrap()).await
}

async fn heads(n: &RunningNode) -> Vec<automerge::ChangeHash> {
    with(n, |l| {
        let mut h = l
            .stored_heads(&OrgCode::parse("230129100201").unwrap())
            .unwrap();
        h.sort();
        h
    })
    .await
}

async fn women(n: &RunningNode) -> i64 {
    with(n, |l| {
        let org = OrgCode::parse("230129100201").unwrap();
        l.stats(Some(org)).unwrap().women.total
    })
    .await
}

fn key_figures(s: &StatsReport) -> [i64; 6] {
    [
        s.women.total,
        s.households.total,
        s.visits.total,
        s.pairings.active,
        s.loans.count,
        s.women.by_status.of("exited"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_flow_from_every_village_to_the_city_and_verifications_flow_down() {
    let d = Deployment::new();
    let city = start(&d.home("230100000000", "哈尔滨市", &NodeSpec::new("c1", None, true))).await;
    let mut counties = Vec::new();
    let mut townships = Vec::new();
    let mut villages = Vec::new();
    for (county, cname) in [("230129", "延寿县"), ("230126", "巴彦县")] {
        let c = start(&d.home(
            &format!("{county}000000"),
            cname,
            &NodeSpec::new("k1", city.listen_addr(), true),
        ))
        .await;
        for town in ["100", "200"] {
            let t = start(&d.home(
                &format!("{county}{town}000"),
                "镇",
                &NodeSpec::new("t1", c.listen_addr(), true),
            ))
            .await;
            for village in ["201", "202"] {
                let code = format!("{county}{town}{village}");
                let v =
                    start(&d.home(&code, "村", &NodeSpec::new("v1", t.listen_addr(), false))).await;
                villages.push((code, v));
            }
            townships.push(t);
        }
        counties.push((county, c));
    }
    assert_eq!(1 + counties.len() + townships.len() + villages.len(), 15);

    // Every village writes its ledger while linked.
    for (seed, (_, v)) in (1u64..).zip(&villages) {
        with(v, move |l| {
            fill_village(l, 6, seed);
        })
        .await;
    }
    let mut expected = [0i64; 6];
    let mut per_village = BTreeMap::new();
    for (code, v) in &villages {
        let s = stats(v, None).await;
        for (e, x) in expected.iter_mut().zip(key_figures(&s)) {
            *e += x;
        }
        per_village.insert(code.clone(), s.women.total);
    }
    assert!(expected[0] > 40);

    // The city's totals equal the sum of the villages.
    let city_stats = eventually(
        LIMIT,
        "the city to hold every village's records",
        || async {
            let s = stats(&city, None).await;
            (key_figures(&s) == expected).then_some(s)
        },
    )
    .await;
    let children: BTreeMap<String, i64> = city_stats
        .children
        .iter()
        .map(|c| (c.org.to_string(), c.women_total))
        .collect();
    for (county, _) in &counties {
        let sum: i64 = per_village
            .iter()
            .filter(|(v, _)| v.starts_with(county))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            children[&format!("{county}000000")],
            sum,
            "county {county} rollup"
        );
    }
    // Drill-down at the city reaches a village.
    let (vcode, _) = &villages[0];
    let v_at_city = stats(&city, Some(vcode)).await;
    assert_eq!(v_at_city.women.total, per_village[vcode]);

    // A county verifies a village woman; the verification reaches that village.
    let (county_code, county) = &counties[0];
    let (village_code, village) = villages
        .iter()
        .find(|(c, _)| c.starts_with(county_code))
        .unwrap();
    let woman = with(village, |l| {
        l.list(Kind::Woman, "", false).unwrap()[0].record.id.clone()
    })
    .await;
    let w = woman.to_string();
    let verification: RecordId = with(county, move |l| {
        l.add(
            Kind::Verification,
            &[
                ("record".into(), w),
                ("verifier".into(), "县妇联 张".into()),
                ("date".into(), "2026-11-01".into()),
                ("result".into(), "confirmed".into()),
            ],
        )
        .unwrap()
    })
    .await;
    let vid = verification.clone();
    eventually(
        LIMIT,
        &format!("verification to reach village {village_code}"),
        || {
            let vid = vid.clone();
            async move { with(village, move |l| l.index().get(&vid).unwrap()).await }
        },
    )
    .await;
    // …and not a village of the other county.
    let (_, other) = villages
        .iter()
        .find(|(c, _)| !c.starts_with(county_code))
        .unwrap();
    let vid = verification.clone();
    assert!(with(other, move |l| l.index().get(&vid).unwrap())
        .await
        .is_none());

    // Status tells the truth at both ends.
    let vs = village.handle().status().await.unwrap();
    let parent = vs.parent.expect("a village has a parent");
    assert!(parent.connected && parent.last_sync.is_some(), "{parent:?}");
    assert_eq!(parent.pending_changes, 0, "{parent:?}");
    let cs = city.handle().status().await.unwrap();
    assert_eq!(cs.children.len(), 2);
    assert!(
        cs.children
            .iter()
            .all(|c| c.connected && c.last_sync.is_some()),
        "{:?}",
        cs.children
    );

    for (_, v) in villages {
        v.shutdown().await;
    }
    for t in townships {
        t.shutdown().await;
    }
    for (_, c) in counties {
        c.shutdown().await;
    }
    city.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_of_one_village_converge_and_the_conflict_is_visible() {
    let d = Deployment::new();
    let town = start(&d.home("230129100000", "镇", &NodeSpec::new("t1", None, true))).await;
    let a = start(&d.home(
        "230129100201",
        "村",
        &NodeSpec::new("laptop-a", town.listen_addr(), false),
    ))
    .await;
    let b = start(&d.home(
        "230129100201",
        "村",
        &NodeSpec::new("laptop-b", town.listen_addr(), false),
    ))
    .await;
    let woman = add_woman(&a, "王秀英").await;
    let w = woman.clone();
    eventually(
        LIMIT,
        "device b to receive the woman through the township",
        || {
            let w = w.clone();
            async { with(&b, move |l| l.index().get(&w).unwrap()).await }
        },
    )
    .await;
    // Both devices change the same field while offline from each other.
    a.handle()
        .run({
            let w = woman.clone();
            move |l| {
                l.update(&w, None, &[("status".into(), "exited".into())])
                    .unwrap()
            }
        })
        .await
        .unwrap();
    b.handle()
        .run({
            let w = woman.clone();
            move |l| {
                l.update(&w, None, &[("status".into(), "at_risk".into())])
                    .unwrap()
            }
        })
        .await
        .unwrap();
    // And each adds its own records concurrently.
    with(&a, |l| fill_village(l, 3, 1)).await;
    with(&b, |l| fill_village(l, 3, 2)).await;
    eventually(
        LIMIT,
        "both devices and the township to converge",
        || async {
            let (ha, hb, ht) = (heads(&a).await, heads(&b).await, heads(&town).await);
            (ha == hb && hb == ht).then_some(())
        },
    )
    .await;
    for node in [&a, &b, &town] {
        let w = woman.clone();
        let view = with(node, move |l| l.show(&w).unwrap()).await;
        let mut values = view.conflicts.get("status").cloned().unwrap_or_default();
        values.sort();
        assert_eq!(
            values,
            ["at_risk", "exited"],
            "conflict visible on every replica"
        );
    }
    let (sa, sb) = (stats(&a, None).await, stats(&b, None).await);
    assert_eq!(key_figures(&sa), key_figures(&sb));
    for n in [a, b, town] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_village_catches_up_when_its_parent_returns() {
    let d = Deployment::new();
    let port = free_port();
    let town_home = d.home(
        "230129100000",
        "镇",
        &NodeSpec {
            device: "t1".into(),
            listen: true,
            listen_port: port,
            parent: None,
            ..Default::default()
        },
    );
    let town = start(&town_home).await;
    let village = start(&d.home(
        "230129100201",
        "村",
        &NodeSpec::new("v1", town.listen_addr(), false),
    ))
    .await;
    with(&village, |l| fill_village(l, 3, 1)).await;
    let before = women(&village).await;
    eventually(LIMIT, "first sync", || async {
        (women(&town).await == before).then_some(())
    })
    .await;

    // The township goes away; the village keeps working.
    town.shutdown().await;
    with(&village, |l| fill_village(l, 10, 2)).await;
    let total = women(&village).await;
    assert!(total > before);
    let status = eventually(
        LIMIT,
        "the village to notice its parent is gone",
        || async {
            let s = village.handle().status().await.unwrap();
            let p = s.parent.unwrap();
            (!p.connected).then_some(p)
        },
    )
    .await;
    assert!(
        status.pending_changes > 0,
        "unacknowledged changes are counted: {status:?}"
    );
    assert!(status.oldest_pending.is_some());

    // The township comes back on the same address; the village catches up by itself.
    let town = start(&town_home).await;
    eventually(LIMIT, "catch-up after the link returns", || async {
        (women(&town).await == total).then_some(())
    })
    .await;
    let p = eventually(LIMIT, "acknowledgement", || async {
        let p = village.handle().status().await.unwrap().parent.unwrap();
        (p.pending_changes == 0 && p.connected && p.last_sync.is_some()).then_some(p)
    })
    .await;
    assert!(p.last_error.is_none() || p.connected, "{p:?}");
    village.shutdown().await;
    town.shutdown().await;
}

/// Writes made together at a connected village go up as live pushes (held behind the
/// one in flight, then sent together): all of them reach the city through the
/// township and the county, admitted at every hop, and the township's answers
/// acknowledge them (nothing pending at the village).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_live_writes_reaches_the_city_and_is_acknowledged() {
    let d = Deployment::new();
    let [city, county, town, village] = chain(&d).await;
    add_woman(&village, "first").await;
    eventually(LIMIT, "the links to be live", || async {
        (women(&city).await == 1).then_some(())
    })
    .await;
    // Thirty writes queued at the village's ledger at once, each its own request.
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..30 {
        let handle = village.handle().clone();
        writes.spawn(async move {
            let fields = vec![
                ("name".to_string(), format!("w{i}")),
                ("birth_year".into(), "1975".into()),
                ("labor_capacity".into(), "full".into()),
            ];
            handle.run(move |l| l.add(Kind::Woman, &fields)).await
        });
    }
    while let Some(done) = writes.join_next().await {
        done.expect("joins")
            .expect("the actor runs")
            .expect("valid");
    }
    eventually(LIMIT, "every write to reach the city", || async {
        (women(&city).await == 31 && heads(&city).await == heads(&village).await).then_some(())
    })
    .await;
    assert_eq!(heads(&town).await, heads(&village).await);
    eventually(LIMIT, "the township to acknowledge them", || async {
        let p = village.handle().status().await.ok()?.parent?;
        (p.pending_changes == 0).then_some(())
    })
    .await;
    for n in [village, town, county, city] {
        n.shutdown().await;
    }
}
