//! Files a node writes are its owner's only: after `halfsky init` and `pki issue`
//! (home 0700, config and key 0600), after `halfsky run` (store directories 0700 and
//! files 0600, local socket 0600 inside the 0700 home) and after `export` (0600).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use clap::Parser;
use halfsky_node::cli::Cli;
use halfsky_node::command::{execute, Options, Request};
use halfsky_node::exchange::export::Format;
use halfsky_node::NodeHome;
use halfsky_shared::Kind;
use halfsky_tests::deploy::{add_woman, start, Deployment};
use halfsky_tests::VILLAGE;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every file and directory below `dir` with a mode other than 0600 (files) or 0700
/// (directories).
fn loose(dir: &Path) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let m = mode(dir);
    if m != 0o700 {
        out.push((dir.display().to_string(), m));
    }
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(loose(&path));
        } else if mode(&path) != 0o600 {
            out.push((path.display().to_string(), mode(&path)));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_run_and_export_leave_only_owner_only_files() {
    let d = Deployment::new();
    let dir = d.dir().join("village");
    let text = |p: &Path| p.to_str().unwrap().to_string();
    let init = Cli::try_parse_from([
        "halfsky",
        "-d",
        &text(&dir),
        "init",
        "--org",
        VILLAGE,
        "--name",
        "红星村",
        "--device",
        "v1",
    ])
    .unwrap();
    assert_eq!(halfsky_node::cli::run(init).unwrap(), 0);
    let issue = Cli::try_parse_from([
        "halfsky",
        "-d",
        &text(&dir),
        "pki",
        "issue",
        "--ca",
        &text(d.ca()),
        "--org",
        VILLAGE,
        "--device",
        "v1",
    ])
    .unwrap();
    assert_eq!(halfsky_node::cli::run(issue).unwrap(), 0);
    let home = NodeHome::new(&dir);
    assert_eq!(mode(&dir), 0o700, "node home after init");
    assert_eq!(mode(&home.config_path()), 0o600, "halfsky.toml");
    assert_eq!(mode(&dir.join("node.key")), 0o600, "node.key");

    let node = start(&home).await;
    add_woman(&node, "王秀英").await;
    assert_eq!(mode(&dir), 0o700, "node home while running");
    assert_eq!(
        mode(&dir.join(halfsky_node::local_api::SOCKET)),
        0o600,
        "the local socket"
    );
    let store = home.store_path();
    assert!(store.is_dir());
    assert_eq!(loose(&store), Vec::<(String, u32)>::new(), "store files");

    let out = d.dir().join("women.csv");
    let request = Request::Export {
        kind: Kind::Woman,
        format: Format::Csv,
        out: out.clone(),
        org_prefix: String::new(),
        lang: halfsky_shared::lang::Lang::En,
    };
    node.handle()
        .run(move |l| execute(l, request, Options::default()).map(|_| ()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mode(&out), 0o600, "an export");
    node.shutdown().await;

    // Reopened: whatever sled added while running is owner-only too.
    halfsky_node::Ledger::open(&home).unwrap();
    assert_eq!(
        loose(&store),
        Vec::<(String, u32)>::new(),
        "store files after a restart"
    );
}
