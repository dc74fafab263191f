//! Running a node for years: `halfsky doctor` names each fault of a node home in words
//! a clerk can act on; `run` refuses a home whose config and certificate disagree;
//! a store written by the previous release (the fixture in `tests/fixtures/`) opens
//! after the upgrade with the same records, and a store from a newer release is
//! refused.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use halfsky_node::doctor::{examine, Finding, Limits, Severity};
use halfsky_node::run::RunningNode;
use halfsky_node::store::version;
use halfsky_node::{Ledger, NodeHome};
use halfsky_tests::deploy::{free_port, start, Deployment, NodeSpec};
use halfsky_tests::VILLAGE;

const TOWN: &str = "230129100000";
const DAY: u64 = 86_400;

/// Quick limits for tests: a short wait for an absent parent, no disk minimum.
fn limits() -> Limits {
    Limits {
        parent_timeout: Duration::from_secs(2),
        min_free_bytes: 0,
        ..Limits::default()
    }
}

/// The findings of `check` at `severity`.
fn of<'a>(findings: &'a [Finding], check: &str, severity: Severity) -> Vec<&'a Finding> {
    findings
        .iter()
        .filter(|f| f.check == check && f.severity == severity)
        .collect()
}

/// Asserts one `check` failed saying `words`.
fn fails(findings: &[Finding], check: &str, words: &str) {
    let failed = of(findings, check, Severity::Fail);
    assert!(
        failed.iter().any(|f| f.message.contains(words)),
        "expected {check} to fail saying {words:?}; got {findings:#?}"
    );
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_each_fault_and_its_fix() {
    let d = Deployment::new();
    let town = start(&d.home(TOWN, "城关镇", &NodeSpec::new("t1", None, true))).await;
    let village = |device: &str| {
        d.home(
            VILLAGE,
            "红星村",
            &NodeSpec::new(device, town.listen_addr(), false),
        )
    };

    // A healthy village: nothing fails, the township answers as itself.
    let healthy = village("ok");
    let findings = examine(&healthy, &limits()).await;
    assert!(
        findings.iter().all(|f| f.severity == Severity::Ok),
        "{findings:#?}"
    );
    assert!(of(&findings, "parent", Severity::Ok)[0]
        .message
        .contains("230129100000/t1"));
    assert!(of(&findings, "clock", Severity::Ok)[0]
        .message
        .contains("agrees with the parent 230129100000's"));

    // Expiry: soon is a warning, past is a failure, both saying whom to ask.
    let soon = Limits {
        now: SystemTime::now() + Duration::from_secs(1800 * DAY),
        ..limits()
    };
    let findings = examine(&healthy, &soon).await;
    assert!(of(&findings, "certificate", Severity::Warn)[0]
        .message
        .contains("pki enroll"));
    let past = Limits {
        now: SystemTime::now() + Duration::from_secs(1900 * DAY),
        ..limits()
    };
    fails(&examine(&healthy, &past).await, "certificate", "expired on");

    // Not enough disk.
    let full = Limits {
        min_free_bytes: u64::MAX,
        ..limits()
    };
    fails(&examine(&healthy, &full).await, "disk", "free some space");

    // A config that does not parse.
    let broken = village("broken");
    std::fs::write(broken.config_path(), "[node\norg = 1").expect("write");
    fails(&examine(&broken, &limits()).await, "config", "halfsky.toml");

    // Keys and the home readable by others.
    let loose = village("loose");
    chmod(&loose.dir().join("node.key"), 0o644);
    chmod(loose.dir(), 0o755);
    let findings = examine(&loose, &limits()).await;
    fails(&findings, "files", "chmod 600");
    fails(&findings, "files", "chmod 700");

    // Config and certificate naming different devices.
    let renamed = village("renamed");
    renamed
        .set_option("node", "device", Some("someone-else"))
        .expect("set");
    fails(
        &examine(&renamed, &limits()).await,
        "certificate",
        "pki issue",
    );

    // A certificate from another deployment's CA.
    let foreign = village("foreign");
    let other = Deployment::new();
    std::fs::copy(other.ca().join("ca.pem"), foreign.dir().join("ca.pem")).expect("copy");
    fails(
        &examine(&foreign, &limits()).await,
        "certificate",
        "not issued by the CA",
    );

    // No certificate at all.
    let bare = village("bare");
    std::fs::remove_file(bare.dir().join("node.pem")).expect("remove");
    fails(&examine(&bare, &limits()).await, "certificate", "pki issue");

    // A parent that does not answer.
    let lonely = village("lonely");
    lonely
        .set_sync_option("parent", Some(&format!("127.0.0.1:{}", free_port())))
        .expect("set");
    fails(
        &examine(&lonely, &limits()).await,
        "parent",
        "no answer within",
    );

    town.shutdown().await;
}

/// A township whose clock is `skew` behind (negative: ahead): accepts one dial as
/// the real node would (mutual TLS with its own certificate), answers the Hello with
/// its Hello and its wrong Clock, and waits for the dialler to end.
async fn township_with_a_wrong_clock(
    home: &NodeHome,
    skew_ms: i64,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use halfsky_shared::wire::{Frame, PROTOCOL_VERSION};
    let identity = halfsky_node::pki::load_node_identity(home.dir()).expect("identity");
    let config = home.config().expect("config");
    let transport = halfsky_node::sync::link::transport(&config.sync);
    let server = halfsky_node::sync::tls::server_config(&identity, transport).expect("tls");
    let endpoint =
        quinn::Endpoint::server(server, "127.0.0.1:0".parse().unwrap()).expect("endpoint");
    let addr = endpoint.local_addr().expect("bound");
    let task = tokio::spawn(async move {
        let conn = endpoint
            .accept()
            .await
            .expect("a dial")
            .await
            .expect("handshake");
        let mut hello = conn.accept_uni().await.expect("the child's stream");
        let body = halfsky_node::sync::frames::read_body(&mut hello, Frame::body_len)
            .await
            .expect("a frame")
            .expect("not the end");
        assert!(matches!(Frame::decode_body(&body), Ok(Frame::Hello { .. })));
        let mut out = conn.open_uni().await.expect("a stream");
        let now = halfsky_shared::session::unix_ms_now();
        for frame in [
            Frame::Hello {
                version: PROTOCOL_VERSION,
                org: config.org,
                device: config.device.clone(),
            },
            Frame::Clock {
                unix_ms: now - skew_ms,
            },
        ] {
            out.write_all(&frame.encode().unwrap())
                .await
                .expect("write");
        }
        conn.closed().await;
        endpoint.wait_idle().await;
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_tells_how_far_the_parents_clock_is() {
    let d = Deployment::new();
    let town = d.home(TOWN, "城关镇", &NodeSpec::new("t1", None, false));
    let village = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let cases = [
        // This laptop 7 minutes ahead of its township: a warning with the fix.
        (
            7 * 60_000,
            Severity::Warn,
            "7 minutes ahead of the parent 230129100000's",
        ),
        // 3 hours behind: records and bundles go wrong; a failure.
        (
            -3 * 3_600_000,
            Severity::Fail,
            "3 hours behind the parent 230129100000's",
        ),
        // A few seconds: fine.
        (4_000, Severity::Ok, "agrees with the parent 230129100000's"),
    ];
    for (skew_ms, severity, words) in cases {
        let (addr, township) = township_with_a_wrong_clock(&town, skew_ms).await;
        village
            .set_sync_option("parent", Some(&addr.to_string()))
            .expect("set");
        let findings = examine(&village, &limits()).await;
        let clock = of(&findings, "clock", severity);
        assert!(
            clock.len() == 1 && clock[0].message.contains(words),
            "expected the clock {severity:?} saying {words:?}; got {findings:#?}"
        );
        if severity != Severity::Ok {
            assert!(clock[0].message.contains("timedatectl"), "{clock:?}");
        }
        tokio::time::timeout(Duration::from_secs(20), township)
            .await
            .expect("the doctor ends its dial")
            .expect("the township's side ran");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_refuses_a_home_whose_config_and_certificate_disagree() {
    let d = Deployment::new();
    let home = d.home(
        VILLAGE,
        "红星村",
        &NodeSpec::new("cadre-laptop", None, false),
    );
    home.set_option("node", "device", Some("vm")).expect("set");
    let err = RunningNode::start(&home).await.expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("\"vm\"") && text.contains("cadre-laptop") && text.contains("pki issue"),
        "{text}"
    );
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("readable") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// `halfsky ARGS` on an open ledger, as JSON.
fn cli_json(ledger: &mut Ledger, args: &[&str]) -> serde_json::Value {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = halfsky_node::cli::execute_args(ledger, Path::new("."), &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).expect("JSON")
}

/// Statistics without what depends on the day they are computed.
fn dateless(mut stats: serde_json::Value) -> serde_json::Value {
    let map = stats.as_object_mut().expect("an object");
    map.remove("as_of");
    map["women"]
        .as_object_mut()
        .expect("women")
        .remove("by_age_band");
    stats
}

#[test]
fn a_store_of_the_previous_release_opens_after_the_upgrade() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let dir = tempfile::tempdir().expect("temp dir");
    let home = NodeHome::new(dir.path().join("hx"));
    copy_tree(&fixtures.join("store-0.1.0"), home.dir());
    let read = |name: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(fixtures.join(name)).expect("fixture");
        serde_json::from_str(&text).expect("JSON")
    };
    {
        let mut ledger = Ledger::open(&home).expect("the old store opens");
        assert_eq!(
            version::format(ledger.store().as_ref()).expect("format"),
            Some(version::STORE_FORMAT),
            "migrated and stamped"
        );
        assert_eq!(
            cli_json(&mut ledger, &["list", "women", "--json"]),
            read("store-0.1.0.women.json")
        );
        // Every figure the previous release reported is the same; figures this release
        // adds (such as verification by level) are not in the old report.
        let old = dateless(read("store-0.1.0.stats.json"));
        let mut now = dateless(cli_json(&mut ledger, &["stats", "--json"]));
        if let (Some(now), Some(old)) = (now.as_object_mut(), old.as_object()) {
            now.retain(|key, _| old.contains_key(key));
        }
        assert_eq!(now, old);
        let id = cli_json(&mut ledger, &["list", "women", "--json"])[0]["id"]
            .as_str()
            .expect("id")
            .to_string();
        let history = cli_json(&mut ledger, &["history", &id, "--json"]);
        assert_eq!(history.as_array().expect("entries").len(), 2, "add, update");
        // The upgraded store takes new records.
        let out = halfsky_node::cli::execute_args(
            &mut ledger,
            Path::new("."),
            &[
                "add",
                "woman",
                "--name",
                "升级后",
                "--birth-year",
                "1990",
                "--labor",
                "full",
            ]
            .map(String::from),
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    // A store from a newer release is refused, with what to do.
    {
        let ledger = Ledger::open(&home).expect("opens again");
        version::set_format(ledger.store().as_ref(), version::STORE_FORMAT + 1).expect("set");
    }
    let err = Ledger::open(&home).expect_err("too new");
    assert!(err.to_string().contains("install that release"), "{err}");
}
