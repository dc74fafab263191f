//! Records added at a village behind each named link profile reach its township. The
//! link is the in-process lossy UDP proxy; the nodes are real, on loopback with mutual
//! TLS. The tests wait on the township's count of delivered records, however long the
//! profile makes that take; they fail only if the delivery stops moving (see
//! [`deliver`]), never because it was slow.

use std::time::Duration;

use halfsky_tests::bench_links::deliver;

/// Records written at the village while it was offline.
const RECORDS: usize = 200;

/// How long the township's count may stand still (keep-alives are not progress)
/// before a delivery is stuck. A safety net against a hang, far above the longest
/// silence a profile imposes (`awful`'s 30-second blackouts).
const STALL: Duration = Duration::from_secs(300);

async fn arrives_over(profile: &str) {
    let delivery = deliver(profile, RECORDS, "bbr", 7, STALL)
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
    arrives_over("clean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_over_satellite() {
    arrives_over("satellite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_over_rural_3g() {
    arrives_over("rural-3g").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_over_edge_2g() {
    arrives_over("edge-2g").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_over_a_flaky_link() {
    arrives_over("flaky").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_over_an_awful_link() {
    arrives_over("awful").await;
}
