//! The README's setup cannot rot: its "Running offices that sync" block is run as
//! written, line by line through `bash`, with the `halfsky` binary of this build first
//! on `PATH`, in an empty directory (the only substitution: the example's port, so
//! tests running side by side never share one). Lines ending in `&` are the nodes,
//! started in the background and killed when the test ends; every other line must
//! succeed. Then the village's records must reach the township.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use halfsky_node::pki::deployment::Deployment;
use halfsky_node::NodeHome;
use halfsky_tests::deploy::free_port;
use halfsky_tests::procs::{self, Proc};

/// Longest wait for one command or condition.
const LIMIT: Duration = Duration::from_secs(90);
/// The section whose first `sh` block is the multi-node setup.
const SECTION: &str = "## Running offices that sync";
/// The port the README's example uses (replaced by a free one).
const README_PORT: &str = "7410";

/// The README's command lines of the first `sh` block after `section`, continuation
/// lines (`\` at the end) joined.
fn readme_block(section: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&path).expect("README.md is readable");
    let after = text
        .split_once(section)
        .unwrap_or_else(|| panic!("README.md has no section {section:?}"))
        .1;
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .expect("the section has a ```sh block")
        .0;
    let mut lines = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        match line.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                if !pending.trim().is_empty() && !pending.trim_start().starts_with('#') {
                    lines.push(std::mem::take(&mut pending));
                }
                pending.clear();
            }
        }
    }
    lines
}

/// The command of a background line (`… &   # comment`), or `None` for a foreground one.
fn background(line: &str) -> Option<&str> {
    let code = line.split(" #").next().unwrap_or(line).trim_end();
    code.strip_suffix('&').map(str::trim_end)
}

/// `bash -c line` in `dir`, with this build's `halfsky` first on `PATH`.
fn shell(line: &str, dir: &Path, bin_dir: &Path) -> Command {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PATH", std::env::join_paths(dirs).expect("joinable PATH"))
        .env_remove("HALFSKY_HOME")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

/// Runs a foreground line to completion; panics with its output unless it succeeds.
fn run_line(line: &str, dir: &Path, bin_dir: &Path, log: &Path) -> String {
    let out = dir.join(".line-out");
    let mut cmd = shell(line, dir, bin_dir);
    cmd.stdout(std::fs::File::create(&out).expect("scratch file"))
        .stderr(std::fs::File::create(log).expect("scratch file"));
    let mut proc = Proc::new(cmd.spawn().expect("bash starts"), log.to_path_buf());
    let status = proc
        .wait(LIMIT)
        .unwrap_or_else(|| panic!("`{line}` did not finish within {LIMIT:?}"));
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        status.success(),
        "README line `{line}` failed ({status}):\n{stderr}{stdout}"
    );
    stdout
}

/// Runs `halfsky args…`; parses its JSON output.
fn json(args: &[&str]) -> Result<serde_json::Value, String> {
    let (code, out, err) = procs::output(halfsky(), args, LIMIT);
    if code != Some(0) {
        return Err(err);
    }
    serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))
}

fn halfsky() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| procs::binary("halfsky-node", "halfsky"))
}

#[test]
fn readme_multi_node_setup_runs_as_written_and_syncs() {
    let bin_dir = halfsky().parent().expect("a directory").to_path_buf();
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path();
    let port = free_port().to_string();
    let lines = readme_block(SECTION);
    assert!(
        lines.iter().any(|l| l.contains(README_PORT)),
        "the README's example uses port {README_PORT}"
    );
    let mut nodes = Vec::new();
    // `export` lines hold for every later line, as in one terminal.
    let mut exports = String::new();
    for (i, line) in lines.iter().enumerate() {
        let line = line.replace(README_PORT, &port);
        if line.trim_start().starts_with("export ") {
            exports.push_str(&line);
            exports.push('\n');
            continue;
        }
        let log = dir.join(format!(".line-{i}.log"));
        match background(&line) {
            Some(command) => {
                let file = std::fs::File::create(&log).expect("log file");
                let child = shell(&format!("{exports}exec {command}"), dir, &bin_dir)
                    .stdout(file.try_clone().expect("log file"))
                    .stderr(file)
                    .spawn()
                    .expect("bash starts");
                nodes.push((command.to_string(), Proc::new(child, log)));
            }
            // The last line asks the township for the village's numbers, which it has
            // once the village has synced (as the README says): asked until it answers.
            None if i + 1 == lines.len() => {
                let line = format!("{exports}{line}");
                let printed =
                    halfsky_tests::eventually_blocking(LIMIT, "the README's last line", || {
                        let mut cmd = shell(&line, dir, &bin_dir);
                        let out = cmd.output().map_err(|e| e.to_string())?;
                        out.status
                            .success()
                            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
                            .ok_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
                    });
                assert!(printed.contains("红星村"), "{printed}");
            }
            None => {
                run_line(&format!("{exports}{line}"), dir, &bin_dir, &log);
            }
        }
    }
    assert!(nodes.len() >= 2, "the README starts at least two nodes");
    // The village's woman reaches the township (the README's last line asks for the
    // village's numbers there).
    let town = dir.join("town");
    let village = "230129100201";
    halfsky_tests::eventually_blocking(LIMIT, "the village's records at the township", || {
        for (what, node) in nodes.iter_mut() {
            node.assert_running(what);
        }
        let town = town.to_str().expect("UTF-8 path");
        let stats = json(&["-d", town, "stats", "--org", village, "--json"])?;
        match stats["women"]["total"].as_u64() {
            Some(n) if n >= 1 => Ok(()),
            other => Err(format!("women at the township: {other:?}")),
        }
    });
    // Both nodes share the deployment's ID key: the village seals numbers to its
    // public half, which the township (holding the private half) opens. The village's
    // home has no private half.
    let shared = |home: &str| {
        Deployment::of_home(&NodeHome::new(dir.join(home))).expect("the home's settings")
    };
    let village_org = village.parse().expect("valid code");
    assert_eq!(
        shared("town").for_unit(village_org),
        shared("hx"),
        "one ID key per deployment"
    );
    assert!(
        !dir.join("hx").join("id.key").exists(),
        "a village holds no ID secret"
    );
    assert!(dir.join("town").join("id.key").exists());
}
