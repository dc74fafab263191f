//! Records added at a village behind each named link profile reach its township, and
//! the run ends by itself within a bounded time (the rural-links issue). The link is
//! the in-process lossy UDP proxy; the nodes are real, on loopback with mutual TLS.

use std::time::Duration;

use halfsky_tests::bench_links::deliver;

/// Records written at the village while it was offline.
const RECORDS: usize = 200;

async fn arrives_over(profile: &str, limit: Duration) {
    let delivery = deliver(profile, RECORDS, "bbr", 7, limit)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!(
        "{profile}: {} records in {:.1} s, {} B sent, {} B dropped by the link",
        delivery.records,
        delivery.elapsed.as_secs_f64(),
        delivery.bytes_sent,
        delivery.bytes_dropped
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_over_a_clean_link() {
    arrives_over("clean", Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_over_satellite() {
    arrives_over("satellite", Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_over_rural_3g() {
    arrives_over("rural-3g", Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_over_edge_2g() {
    arrives_over("edge-2g", Duration::from_secs(180)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_over_a_flaky_link() {
    arrives_over("flaky", Duration::from_secs(240)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_over_an_awful_link() {
    arrives_over("awful", Duration::from_secs(300)).await;
}
