//! `halfsky demo`: the city starts, village records reach the city through simulated
//! rural links, the state survives a restart with `--data`, and the command stops by
//! itself with `--duration` and says what it holds.

use std::time::{Duration, Instant};

use halfsky_node::demo::city::{DemoCity, DemoOptions};
use halfsky_node::demo::plan::CityPlan;

/// Waits until the city holds, for every village, at least what the village held when
/// read; returns that snapshot.
async fn wait_until_city_has_everything(
    city: &DemoCity,
    limit: Duration,
) -> halfsky_node::demo::snapshot::Snapshot {
    let started = Instant::now();
    loop {
        let s = city.snapshot().await;
        if s.village_women > 0 && s.city_has_everything() {
            return s;
        }
        assert!(
            started.elapsed() < limit,
            "the city does not hold every village's women after {limit:?}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The status line of a plain HTTP/1.0 GET.
async fn http_status(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .expect("request sent");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.expect("reply");
    String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_city_gets_every_village_record_and_picks_up_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    // One county, one township, two villages on rural-3g: 5 nodes.
    let plan = CityPlan::default_city().resized(1, 1, 2);
    let options = DemoOptions {
        dir: dir.path().to_path_buf(),
        households: 5,
        records_per_minute: 120.0,
        seed: 1,
        carry_every: Duration::from_secs(2),
        dashboard_port: 0,
    };
    let mut lines = Vec::new();
    let city = DemoCity::start(plan.clone(), options.clone(), |l| lines.push(l.to_string()))
        .await
        .expect("the demo city starts");
    assert_eq!(city.nodes.len(), 5);
    assert!(
        lines.iter().any(|l| l.contains("wrote")),
        "new villages are seeded: {lines:?}"
    );
    let (addr, login) = city.dashboard.clone().expect("the city serves a dashboard");
    assert_eq!(login.user, "demo");
    assert!(login.password.len() >= 12);
    let status = http_status(addr, "/").await;
    assert!(
        status.contains("303") || status.contains("302"),
        "the city dashboard asks for the demo login: {status}"
    );
    assert!(http_status(addr, "/login").await.contains("200"));
    let first = wait_until_city_has_everything(&city, Duration::from_secs(90)).await;
    // Villages keep writing while the demo runs: the city's total, read last, holds at
    // least what the villages held when they were read.
    assert!(first.city_women >= first.village_women, "{first:?}");
    // The city measures against the Harbin plan's targets (seed 001), loaded once.
    let targets = city.nodes[0]
        .node
        .handle()
        .run(|l| {
            l.list(halfsky_shared::Kind::Target, "", false)
                .map(|t| t.len())
        })
        .await
        .expect("the city answers")
        .expect("the city lists its targets");
    assert_eq!(targets, 5);
    city.shutdown().await;

    // Again on the same data: nothing is seeded twice, nothing is lost.
    let mut lines = Vec::new();
    let city = DemoCity::start(plan, options, |l| lines.push(l.to_string()))
        .await
        .expect("the demo city starts again");
    assert!(
        !lines.iter().any(|l| l.contains("wrote")),
        "villages are not seeded twice: {lines:?}"
    );
    assert_eq!(
        city.dashboard.as_ref().map(|(_, l)| l.password.clone()),
        Some(login.password.clone()),
        "a kept demo keeps its login"
    );
    let again = city.snapshot().await;
    let targets = city.nodes[0]
        .node
        .handle()
        .run(|l| {
            l.list(halfsky_shared::Kind::Target, "", false)
                .map(|t| t.len())
        })
        .await
        .expect("the city answers")
        .expect("the city lists its targets");
    assert_eq!(targets, 5, "the plan's targets are not written twice");
    assert!(again.village_women >= first.village_women);
    assert!(
        again.city_women >= first.city_women,
        "{again:?} vs {first:?}"
    );
    wait_until_city_has_everything(&city, Duration::from_secs(90)).await;
    city.shutdown().await;
}

#[test]
fn the_demo_command_stops_by_itself_and_reports() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_halfsky"))
        .args([
            "demo",
            "--counties",
            "1",
            "--townships",
            "1",
            "--villages",
            "1",
            "--households",
            "3",
            "--duration",
            "5",
        ])
        .output()
        .expect("halfsky runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("哈尔滨市") && stdout.contains("4 nodes"),
        "{stdout}"
    );
    assert!(stdout.contains("city holds"), "{stdout}");
    assert!(stdout.contains("temporary data removed"), "{stdout}");
}

#[test]
fn bad_demo_options_are_refused_with_a_reason() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_halfsky"))
        .args(["demo", "--villages", "0"])
        .output()
        .expect("halfsky runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--villages 0"), "{stderr}");
}
