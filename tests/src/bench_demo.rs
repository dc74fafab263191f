//! The whole demo city as a benchmark (the demo issue): time from start until the
//! city holds every village's records, with the demo's realistic links (rural-3g,
//! edge-2g, flaky, one village only through the relay, one only by carried bundle
//! files), against the same city with every village on a clean direct link.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use halfsky_node::demo::city::{DemoCity, DemoOptions};
use halfsky_node::demo::plan::{CityPlan, VillageLink};

use crate::bench_sync::SyncFigure;

/// Longest a run may take before the figure fails.
const LIMIT: Duration = Duration::from_secs(900);

/// Starts `plan` with `households` per village (no further writes) and returns the
/// time until the city holds every village's women, and how many that is.
async fn time_to_city(plan: CityPlan, households: usize) -> Result<(Duration, i64)> {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let city = DemoCity::start(
        plan,
        DemoOptions {
            dir: dir.path().to_path_buf(),
            households,
            records_per_minute: 0.0,
            seed: 2016,
            carry_every: Duration::from_secs(5),
            dashboard_port: 0,
        },
        |_| {},
    )
    .await?;
    let outcome = loop {
        let s = city.snapshot().await;
        if s.village_women > 0 && s.city_has_everything() {
            // Every village row is at the city; the city total was read a moment
            // earlier in the snapshot, so count the villages' own.
            break Ok((started.elapsed(), s.village_women));
        }
        if started.elapsed() > LIMIT {
            break Err(anyhow::anyhow!(
                "after {LIMIT:?} the city holds {} of the villages' {} women",
                s.city_women,
                s.village_women
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    city.shutdown().await;
    outcome
}

/// The demo city's figure: realistic links against clean ones.
pub async fn demo_city(households: usize) -> Result<(Vec<SyncFigure>, Vec<String>)> {
    let realistic = CityPlan::default_city();
    let mut clean = realistic.clone();
    for county in &mut clean.counties {
        for township in &mut county.townships {
            for village in &mut township.villages {
                village.link = VillageLink::Profile("clean".into());
            }
        }
    }
    let nodes = realistic.node_count();
    let (slow, women) = time_to_city(realistic, households).await?;
    let (fast, clean_women) = time_to_city(clean, households).await?;
    if women != clean_women {
        bail!("the two runs hold different numbers of women ({women} vs {clean_women})");
    }
    Ok((
        vec![SyncFigure {
            name: format!(
                "demo city ({nodes} nodes): start until the city holds every village's {women} women"
            ),
            value: slow.as_secs_f64(),
            unit: "s",
            baseline_name: "same city, every village on a clean direct link".into(),
            baseline: fast.as_secs_f64(),
            goal: "—".into(),
        }],
        vec![format!(
            "Demo city: the embedded plan (Harbin, 3 counties × 2 townships × 3 villages), {households} \
             households per village written before the nodes start; the relay village waits \
             `relay_after` = 10 s before leaving a bundle at the relay (polled every 5 s), the \
             bundle village's files are carried every 5 s. Time includes creating the CA, 28 \
             certificates and the villages' ledgers."
        )],
    ))
}
