//! Chaos: a four-level hierarchy (city, county, township, village) of real `halfsky
//! run` processes plus a `halfsky-relay` process, every child→parent link through a
//! lossy proxy whose link the test takes down and up at random, and random SIGKILLs
//! of any process, relay included, while the village keeps adding records. Then the
//! links heal and every process runs: every record the village acknowledged is at
//! the city exactly once, all four replicas hold the same records, and the village
//! has nothing left unacknowledged. Seeded; bounded in rounds and in every wait.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use halfsky_tests::deploy::free_port;
use halfsky_tests::eventually_blocking;
use halfsky_tests::lossy::{LinkProfile, LossyProxy};
use halfsky_tests::procs::{binary, output, Proc};
use rand::{Rng, SeedableRng};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);
const ROUNDS: usize = 10;
const CITY: &str = "230100000000";
const COUNTY: &str = "230129000000";
const TOWN: &str = "230129100000";
const VILLAGE: &str = "230129100201";

fn halfsky(args: &[&str]) -> (Option<i32>, String, String) {
    output(&binary("halfsky-node", "halfsky"), args, LIMIT)
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = halfsky(args);
    assert_eq!(code, Some(0), "halfsky {args:?} failed: {err}{out}");
    out
}

fn json(dir: &Path, args: &[&str]) -> Result<Value, String> {
    let mut all = vec!["-d", dir.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let (code, out, err) = halfsky(&all);
    if code != Some(0) {
        return Err(format!("{args:?}: {err}"));
    }
    serde_json::from_str(&out).map_err(|e| format!("{args:?} printed no JSON ({e}): {out}"))
}

/// A process of the deployment: a node (`halfsky run`) or the relay.
struct Member {
    name: &'static str,
    dir: PathBuf,
    relay: bool,
    process: Option<Proc>,
}

impl Member {
    fn start(&mut self) {
        assert!(self.process.is_none());
        let log = self.dir.with_extension("log");
        let dir = self.dir.to_str().expect("utf-8 path");
        self.process = Some(if self.relay {
            Proc::spawn(
                &binary("halfsky-relay", "halfsky-relay"),
                &["-d", dir, "run"],
                &log,
            )
        } else {
            Proc::spawn(
                &binary("halfsky-node", "halfsky"),
                &["-d", dir, "run"],
                &log,
            )
        });
        if !self.relay {
            // Until the local API answers, a CLI command would open the store itself.
            let socket = self.dir.join("node.sock");
            let (name, process) = (self.name, self.process.as_mut().expect("started"));
            eventually_blocking(LIMIT, &format!("{name}'s local API"), || {
                process.assert_running(name);
                std::os::unix::net::UnixStream::connect(&socket)
                    .map(drop)
                    .map_err(|e| e.to_string())
            });
        }
    }

    fn sigkill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.sigkill();
        }
    }

    fn women(&self) -> Result<Vec<Value>, String> {
        let list = json(&self.dir, &["list", "woman", "--json"])?;
        let mut women = list.as_array().cloned().ok_or("not a list")?;
        women.sort_by_key(|w| w["id"].as_str().unwrap_or_default().to_string());
        Ok(women)
    }
}

/// Appends settings to the `[sync]` table (the last one in halfsky.toml).
fn append_sync(dir: &Path, lines: &str) {
    let path = dir.join("halfsky.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    if !text.contains("[sync]") {
        text.push_str("\n[sync]\n");
    }
    text.push_str(lines);
    std::fs::write(&path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_record_reaches_the_city_exactly_once_through_chaos() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    let ports = [free_port(), free_port(), free_port()]; // city, county, township
    let relay_port = free_port();
    let up = |port: u16| format!("127.0.0.1:{port}").parse().unwrap();
    let mut proxies = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let proxy = LossyProxy::start(
            "127.0.0.1:0".parse().unwrap(),
            up(*port),
            LinkProfile::clean(),
            1000 + i as u64,
        )
        .await
        .unwrap();
        proxies.push(Arc::new(proxy));
    }
    let links: Vec<String> = proxies.iter().map(|p| p.local_addr().to_string()).collect();
    let switches = proxies.clone();

    let script = tokio::task::spawn_blocking(move || {
        let ca = base.join("ca");
        ok(&["pki", "init", "--org", CITY, "--out", ca.to_str().unwrap()]);
        let key = "42".repeat(32);
        let spec: [(&'static str, &str, Option<&str>, Option<u16>); 4] = [
            ("city", CITY, None, Some(ports[0])),
            ("county", COUNTY, Some(&links[0]), Some(ports[1])),
            ("township", TOWN, Some(&links[1]), Some(ports[2])),
            ("village", VILLAGE, Some(&links[2]), None),
        ];
        let mut members = Vec::new();
        for (name, org, parent, listen) in spec {
            let dir = base.join(name);
            let d = dir.to_str().unwrap();
            let mut args = vec!["-d", d, "init", "--org", org, "--name", name];
            args.extend(["--device", "d1", "--id-key", &key]);
            let listen = listen.map(|p| format!("127.0.0.1:{p}"));
            if let Some(parent) = parent {
                args.extend(["--parent", parent]);
            }
            if let Some(listen) = &listen {
                args.extend(["--listen", listen]);
            }
            ok(&args);
            ok(&[
                "-d",
                d,
                "pki",
                "issue",
                "--ca",
                ca.to_str().unwrap(),
                "--org",
                org,
                "--device",
                "d1",
            ]);
            append_sync(
                &dir,
                &format!(
                    "keep_alive_secs = 1\nidle_timeout_secs = 3\nmax_backoff_secs = 1\n\
                     relay = \"127.0.0.1:{relay_port}\"\nrelay_after = \"1s\"\nrelay_poll = \"500ms\"\n"
                ),
            );
            members.push(Member {
                name,
                dir,
                relay: false,
                process: None,
            });
        }
        let relay_dir = base.join("relay");
        let (code, _, err) = output(
            &binary("halfsky-relay", "halfsky-relay"),
            &[
                "-d",
                relay_dir.to_str().unwrap(),
                "init",
                "--listen",
                &format!("127.0.0.1:{relay_port}"),
            ],
            LIMIT,
        );
        assert_eq!(code, Some(0), "{err}");
        ok(&[
            "-d",
            relay_dir.to_str().unwrap(),
            "pki",
            "issue",
            "--ca",
            ca.to_str().unwrap(),
            "--org",
            CITY,
            "--device",
            "relay",
        ]);
        members.push(Member {
            name: "relay",
            dir: relay_dir,
            relay: true,
            process: None,
        });
        for m in &mut members {
            m.start();
        }

        let mut rng = rand::rngs::StdRng::seed_from_u64(20261128);
        let mut acknowledged = Vec::new();
        let village_dir = members[3].dir.clone();
        for round in 0..ROUNDS {
            for i in 0..3 {
                let name = format!("妇女{round}-{i}");
                let out = ok(&[
                    "-d",
                    village_dir.to_str().unwrap(),
                    "add",
                    "woman",
                    "--name",
                    &name,
                    "--birth-year",
                    "1980",
                    "--labor",
                    "full",
                ]);
                acknowledged.push(out.trim().to_string());
            }
            for p in &switches {
                if rng.random_bool(0.4) {
                    p.set_link_up(rng.random_bool(0.5));
                }
            }
            if rng.random_bool(0.6) {
                let victim = rng.random_range(0..members.len());
                members[victim].sigkill();
                std::thread::sleep(Duration::from_millis(rng.random_range(100..800)));
                members[victim].start();
            }
            std::thread::sleep(Duration::from_millis(rng.random_range(300..1200)));
        }

        // Heal: every link up, every process running.
        for p in &switches {
            p.set_link_up(true);
        }
        let mut expected = acknowledged.clone();
        expected.sort();
        let city = &members[0];
        eventually_blocking(LIMIT, "every acknowledged record at the city", || {
            let women = city.women()?;
            let ids: Vec<String> = women
                .iter()
                .map(|w| w["id"].as_str().unwrap_or_default().to_string())
                .collect();
            if ids == expected {
                Ok(())
            } else {
                Err(format!("{} of {} records", ids.len(), expected.len()))
            }
        });
        let reference = city.women().unwrap();
        for m in &members[1..4] {
            eventually_blocking(
                LIMIT,
                &format!("{} to hold the same records", m.name),
                || {
                    let women = m.women()?;
                    if women == reference {
                        Ok(())
                    } else {
                        Err(format!("{} records", women.len()))
                    }
                },
            );
        }
        eventually_blocking(LIMIT, "the village to see everything acknowledged", || {
            let status = json(&village_dir, &["status", "--json"])?;
            let pending = &status["parent"]["pending_changes"];
            if pending == 0 {
                Ok(())
            } else {
                Err(format!("{pending} pending"))
            }
        });
        for m in &mut members {
            m.sigkill();
        }
        acknowledged.len()
    });
    let n = script.await.unwrap();
    assert_eq!(n, ROUNDS * 3);
    drop(proxies);
}
