//! The lake, read by a real engine: the README's export loop and its DuckDB query are
//! run exactly as written against a demo city's node home, and DuckDB's counts are
//! compared with the city's own `stats --json`.
//!
//! Needs the `duckdb` command line (`.ci/run` installs it with
//! `pip install duckdb-cli`); without it the test fails and says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use halfsky_tests::procs::{self, Proc};

/// The README's fenced `sh` block that holds the DuckDB query.
fn readme_lake_block() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).expect("README.md is readable");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start().starts_with("```")) {
            (None, true) => current = Some(String::new()),
            (Some(block), true) => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), false) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, false) => {}
        }
    }
    blocks
        .into_iter()
        .find(|b| b.contains("duckdb -c"))
        .expect("README.md has a code block with the DuckDB query")
}

/// Runs a bash script in `dir` with the workspace's `halfsky` first on PATH; returns
/// (success, stdout, stderr).
fn run_script(script: &str, dir: &Path, bin_dir: &Path) -> (bool, String, String) {
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (out_path, err_path) = (dir.join("script.out"), dir.join("script.err"));
    let child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("scratch file"))
        .stderr(std::fs::File::create(&err_path).expect("scratch file"))
        .spawn()
        .expect("bash starts");
    let mut guard = Proc::new(child, err_path.clone());
    let status = guard
        .wait(Duration::from_secs(300))
        .expect("the README's lake commands finish within 5 minutes");
    let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    (status.success(), read(&out_path), read(&err_path))
}

/// The (county, count) rows of DuckDB's box-drawn result table.
fn duckdb_rows(table: &str) -> BTreeMap<String, i64> {
    table
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .split('│')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            match cells.as_slice() {
                [county, count] => Some((county.to_string(), count.parse().ok()?)),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn the_readme_duckdb_query_counts_what_the_city_counts() {
    if Command::new("duckdb").arg("--version").output().is_err() {
        panic!(
            "the `duckdb` command is missing: install it as .ci/run does \
             (pip install duckdb-cli==1.5.6)"
        );
    }
    let halfsky = procs::binary("halfsky-node", "halfsky");
    let bin_dir = halfsky.parent().expect("the binary has a directory");
    let scratch = tempfile::tempdir().expect("temp dir");
    let data = scratch.path().join("demo");
    let data_arg = data.to_str().expect("utf-8 temp path");
    // Two counties, so that DuckDB's group by has more than one row to get right.
    let (code, stdout, stderr) = procs::output(
        &halfsky,
        &[
            "demo",
            "--counties",
            "2",
            "--townships",
            "1",
            "--villages",
            "1",
            "--households",
            "4",
            "--duration",
            "8",
            "--data",
            data_arg,
        ],
        Duration::from_secs(180),
    );
    assert_eq!(code, Some(0), "the demo runs: {stdout}\n{stderr}");

    let work = scratch.path().join("work");
    std::fs::create_dir(&work).expect("work dir");
    std::os::unix::fs::symlink(data.join("230100000000"), work.join("city"))
        .expect("`city` names the demo city's node home");
    let (ok, table, err) = run_script(&readme_lake_block(), &work, bin_dir);
    assert!(
        ok,
        "the README's lake commands run as written:\n{table}\n{err}"
    );
    let by_duckdb = duckdb_rows(&table);

    // The city's own figures, county by county.
    let city = work.join("city");
    let city_arg = city.to_str().expect("utf-8 path");
    let (code, json, err) = procs::output(
        &halfsky,
        &["-d", city_arg, "stats", "--json"],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{err}");
    let report: serde_json::Value = serde_json::from_str(&json).expect("stats --json is JSON");
    let mut by_city = BTreeMap::new();
    for child in report["children"]
        .as_array()
        .expect("the city has counties")
    {
        let county = child["org"].as_str().expect("a county code").to_string();
        let (code, json, err) = procs::output(
            &halfsky,
            &["-d", city_arg, "stats", "--org", &county, "--json"],
            Duration::from_secs(60),
        );
        assert_eq!(code, Some(0), "{err}");
        let county_report: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        let poor = county_report["women"]["by_status"]["poor"]
            .as_i64()
            .unwrap_or(0);
        if poor > 0 {
            by_city.insert(county, poor);
        }
    }
    assert!(
        !by_city.is_empty(),
        "the demo city holds poor women in some county: {json}"
    );
    assert_eq!(
        by_duckdb, by_city,
        "DuckDB over the exported lake counts what the city counts\n{table}"
    );
}
