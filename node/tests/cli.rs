//! The `halfsky` command line as scripts and cadres use it: the real binary, run as a
//! process, on a temporary node home.

use std::path::Path;
use std::process::{Command, Output};

struct Node {
    _dir: tempfile::TempDir,
    home: std::path::PathBuf,
}

fn halfsky(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_halfsky"))
        .arg("-d")
        .arg(home)
        .args(args)
        .env_remove("HALFSKY_HOME")
        .env_remove("HALFSKY_LANG")
        .output()
        .expect("halfsky runs")
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = halfsky(home, args);
    assert!(
        out.status.success(),
        "halfsky {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

fn fails(home: &Path, args: &[&str]) -> String {
    let out = halfsky(home, args);
    assert!(!out.status.success(), "halfsky {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn village() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("v");
    ok(
        &home,
        &[
            "init",
            "--org",
            "230129100201",
            "--name",
            "红星村",
            "--device",
            "laptop",
        ],
    );
    Node { _dir: dir, home }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

#[test]
fn add_update_show_history_retire() {
    let node = village();
    let h = &node.home;
    let household = ok(
        h,
        &[
            "add",
            "household",
            "--head-name",
            "王大山",
            "--members",
            "4",
            "--registered-poor",
        ],
    );
    let household = household.trim();
    let woman = ok(
        h,
        &[
            "add",
            "woman",
            "--name",
            "王秀英",
            "--birth-year",
            "1975",
            "--labor",
            "full",
            "--wants-work",
            "--cause",
            "illness",
            "--cause",
            "因残",
            "--status",
            "poor",
            "--household-id",
            household,
        ],
    );
    let woman = woman.trim();
    assert!(woman.starts_with("230129100201-W-"), "{woman}");
    // Plural and Chinese kind names work; stdout is only the id.
    let visit = ok(
        h,
        &[
            "add",
            "visits",
            "--woman-id",
            woman,
            "--date",
            "2026年11月1日",
            "--visitor",
            "李主席",
        ],
    );
    assert_eq!(visit.lines().count(), 1);

    ok(h, &["update", "woman", woman, "--status", "脱贫"]);
    let shown = json(&ok(h, &["show", woman, "--json"]));
    assert_eq!(shown["record"]["fields"]["status"], "exited");
    assert!(
        shown["record"]["fields"]["exit_date"].is_null(),
        "an exit without a date stays without one (never today silently)"
    );
    assert_eq!(
        shown["record"]["fields"]["poverty_causes"],
        serde_json::json!(["illness", "disability"])
    );

    let history = json(&ok(h, &["history", woman, "--json"]));
    let ops: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["op"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ops, ["add", "update"]);
    assert!(history[0]["by"].as_str().unwrap().ends_with("/laptop"));

    let list = json(&ok(h, &["list", "woman", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    let table = ok(h, &["list", "women"]);
    assert!(table.contains("王秀英"), "{table}");

    ok(
        h,
        &["retire", "woman", woman, "--reason", "迁出 moved away"],
    );
    assert_eq!(
        json(&ok(h, &["list", "woman", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        json(&ok(h, &["list", "woman", "--all", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let stats = json(&ok(h, &["stats", "--json"]));
    assert_eq!(stats["women"]["total"], 0);
    assert_eq!(stats["households"]["total"], 1);
    assert_eq!(stats["visits"]["total"], 1);
}

#[test]
fn stats_json_has_the_contract_fields() {
    let node = village();
    let h = &node.home;
    let w = ok(
        h,
        &[
            "add",
            "woman",
            "--name",
            "李桂兰",
            "--birth-year",
            "1960",
            "--labor",
            "partial",
            "--status",
            "poor",
            "--insured",
        ],
    );
    ok(
        h,
        &[
            "add",
            "pairing",
            "--woman-id",
            w.trim(),
            "--helper-name",
            "刘建国",
            "--helper-kind",
            "企业家",
            "--since",
            "2026-01-01",
        ],
    );
    ok(
        h,
        &[
            "add",
            "loan",
            "--woman-id",
            w.trim(),
            "--amount-yuan",
            "5000",
            "--date",
            "2026-02-01",
        ],
    );
    ok(
        h,
        &[
            "add",
            "training",
            "--topic",
            "电商",
            "--date",
            "2026-03-01",
            "--attendees",
            w.trim(),
            "--others-count",
            "9",
        ],
    );
    let s = json(&ok(h, &["stats", "--json"]));
    assert_eq!(s["org"], "230129100201");
    assert_eq!(s["households"]["total"], 0);
    assert_eq!(s["women"]["total"], 1);
    for status in ["poor", "exited", "at_risk"] {
        assert!(s["women"]["by_status"][status].is_i64(), "{status}");
    }
    assert_eq!(s["women"]["by_labor"]["partial"], 1);
    assert!(s["women"]["by_cause"].is_object());
    assert_eq!(s["women"]["by_age_band"]["60_plus"], 1);
    assert_eq!(s["visits"]["total"], 0);
    assert_eq!(
        s["visits"]["overdue_women"], 0,
        "a card made minutes ago is not overdue"
    );
    assert_eq!(s["pairings"]["active"], 1);
    assert_eq!(s["trainings"]["sessions"], 1);
    assert_eq!(s["trainings"]["person_times"], 10);
    assert_eq!(s["loans"]["count"], 1);
    assert_eq!(s["loans"]["amount_yuan"], 5000.0);
    assert_eq!(s["insured"], 1);
    assert!(s["exits_this_year"].is_i64());
    assert!(s["children"].is_array());
}

#[test]
fn bad_input_is_refused_clearly_and_writes_nothing() {
    let node = village();
    let h = &node.home;
    // Malformed org code.
    let dir = tempfile::tempdir().unwrap();
    let err = fails(
        &dir.path().join("x"),
        &["init", "--org", "230129X00201", "--name", "x"],
    );
    assert!(err.contains("digit 7 is not a number"), "{err}");
    // Every bad field is listed at once.
    let err = fails(
        h,
        &[
            "add",
            "woman",
            "--name",
            "王",
            "--birth-year",
            "1850",
            "--labor",
            "strong",
            "--status",
            "rich",
        ],
    );
    assert!(
        err.contains("birth_year") && err.contains("labor_capacity") && err.contains("status"),
        "{err}"
    );
    // Bad date, future date, unknown flag, missing required field.
    assert!(fails(h, &["add", "visit", "--date", "2026-13-01"]).contains("date"));
    assert!(fails(
        h,
        &[
            "add",
            "woman",
            "--name",
            "王",
            "--birth-year",
            "1975",
            "--labor",
            "full",
            "--shoe-size",
            "3"
        ]
    )
    .contains("shoe-size"));
    let err = fails(h, &["add", "woman", "--name", "王"]);
    assert!(
        err.contains("birth_year") && err.contains("required"),
        "{err}"
    );
    // Reference to a missing record.
    let err = fails(
        h,
        &[
            "add",
            "visit",
            "--woman-id",
            "230129100201-W-ZZZZ-9",
            "--date",
            "2026-01-01",
            "--visitor",
            "x",
        ],
    );
    assert!(err.contains("does not exist"), "{err}");
    // The same woman typed twice. A village cannot open sealed numbers, so it knows
    // her by name, birth year and the last four digits (the township and above compare
    // full numbers: tests/tests/duplicates.rs).
    let id_number = halfsky_shared::idcard::with_check_digit("23012919750304123");
    ok(
        h,
        &[
            "add",
            "woman",
            "--name",
            "甲",
            "--birth-year",
            "1975",
            "--labor",
            "full",
            "--id-number",
            &id_number,
        ],
    );
    let err = fails(
        h,
        &[
            "add",
            "woman",
            "--name",
            "甲",
            "--birth-year",
            "1975",
            "--labor",
            "full",
            "--id-number",
            &id_number,
        ],
    );
    assert!(err.contains("already registered"), "{err}");
    // Not an id; a record of another unit.
    assert!(fails(h, &["show", "nonsense"]).contains("not a record id"));
    let err = fails(
        h,
        &["update", "woman", "230129100202-W-AAAA-1", "--name", "x"],
    );
    assert!(err.contains("belongs to unit 230129100202"), "{err}");
    // Nothing half-written: only the one good woman exists.
    assert_eq!(
        json(&ok(h, &["list", "woman", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Not a node home.
    let err = fails(&dir.path().join("nowhere"), &["stats"]);
    assert!(err.contains("halfsky init"), "{err}");
}

#[test]
fn damaged_store_gives_a_clear_error_not_a_panic() {
    for damage in ["truncate", "garbage"] {
        let node = village();
        let h = &node.home;
        ok(
            h,
            &[
                "add",
                "woman",
                "--name",
                "王",
                "--birth-year",
                "1975",
                "--labor",
                "full",
            ],
        );
        let store = h.join("store");
        for entry in std::fs::read_dir(&store).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let len = std::fs::metadata(&path).unwrap().len();
                match damage {
                    "truncate" => std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .unwrap()
                        .set_len(len / 3)
                        .unwrap(),
                    _ => std::fs::write(&path, vec![0xA5u8; len as usize]).unwrap(),
                }
            }
        }
        let out = halfsky(h, &["stats"]);
        let err = String::from_utf8_lossy(&out.stderr);
        // Either the damage is detected (clear error) or sled recovered what it could;
        // never a panic.
        assert!(!err.contains("panicked"), "{damage}: {err}");
        if !out.status.success() {
            assert!(err.contains("store"), "{damage}: {err}");
        }
    }
}

#[test]
fn help_texts_list_fields_with_chinese_names() {
    let node = village();
    let out = halfsky(&node.home, &["add", "woman", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--birth-year") && text.contains("出生年份"),
        "{text}"
    );
    assert!(text.contains("--wants-work"), "{text}");
}

/// Every command's help, at every depth, works where there is no node home at all:
/// a newcomer types `halfsky add woman --help` before she has created one.
#[test]
fn help_works_everywhere_without_a_node_home() {
    use clap::CommandFactory;
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("no-home-here");
    let cli = halfsky_node::cli::Cli::command();
    let mut asked = vec![vec!["--help".to_string()]];
    for sub in cli.get_subcommands() {
        let name = sub.get_name().to_string();
        asked.push(vec![name.clone(), "--help".into()]);
        for subsub in sub.get_subcommands() {
            asked.push(vec![
                name.clone(),
                subsub.get_name().into(),
                "--help".into(),
            ]);
        }
    }
    for kind in halfsky_shared::Kind::ALL {
        let kind = kind.spec().name.to_string();
        asked.push(vec!["add".into(), kind.clone(), "--help".into()]);
        asked.push(vec!["update".into(), kind, "--help".into()]);
    }
    assert!(asked.len() > 30, "the walk found the commands: {asked:?}");
    for args in &asked {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = halfsky(&nowhere, &args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Usage"),
            "halfsky {args:?}: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!nowhere.exists(), "asking for help created a node home");
    let text = ok(&nowhere, &["add", "--help"]);
    assert!(text.contains("KIND"), "{text}");
    let text = ok(&nowhere, &["update", "visit", "--help"]);
    assert!(text.contains("--woman-id"), "{text}");
}

/// Statistics of a unit never heard from say so instead of printing zeros and a
/// blank name.
#[test]
fn stats_of_a_unit_never_heard_from_says_no_data_yet() {
    let node = village();
    let err = fails(&node.home, &["stats", "--org", "230129100299"]);
    assert!(err.contains("no data yet for 230129100299"), "{err}");
    let text = ok(&node.home, &["stats", "--org", "230129100201"]);
    assert!(text.contains("红星村"), "{text}");
}

/// Logs written where no person is watching (a pipe, a file, a service's journal)
/// are plain text: no colour codes.
#[test]
fn logs_are_plain_text_when_not_on_a_terminal() {
    let node = village();
    let out = Command::new(env!("CARGO_BIN_EXE_halfsky"))
        .arg("-d")
        .arg(&node.home)
        .args(["stats"])
        .env_remove("HALFSKY_HOME")
        .env("RUST_LOG", "debug")
        .output()
        .expect("halfsky runs");
    assert!(out.status.success());
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("DEBUG"), "debug logs were asked for: {logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in piped logs: {logs}"
    );
}

/// The monthly report: a printable page stamped with the unit and the month, the same
/// as the dashboard's; a wrong month is refused saying how to write it.
#[test]
fn the_monthly_report_is_written_as_a_printable_page() {
    let node = village();
    let dir = node.home.parent().unwrap().to_path_buf();
    let out = dir.join("report.html");
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let args = ["report", "--month", &month, "--out", out.to_str().unwrap()];
    ok(&node.home, &args);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("红星村 (230129100201)"), "{html}");
    assert!(html.contains("id=\"month-figures\""), "{html}");
    assert!(html.contains("填报人"), "{html}");
    assert!(html.contains("@media print"), "{html}");
    assert!(!dir.join("report.html.partial").exists());
    let english = dir.join("report-en.html");
    let out = Command::new(env!("CARGO_BIN_EXE_halfsky"))
        .arg("-d")
        .arg(&node.home)
        .args(["report", "--out", english.to_str().unwrap()])
        .env_remove("HALFSKY_HOME")
        .env("HALFSKY_LANG", "en")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&english).unwrap();
    assert!(html.contains("Prepared by"), "{html}");
    let err = fails(
        &node.home,
        &["report", "--month", "11/2026", "--out", "x.html"],
    );
    assert!(err.contains("must be written YYYY-MM"), "{err}");
    let err = fails(
        &node.home,
        &["report", "--org", "230100000000", "--out", "x.html"],
    );
    assert!(err.contains("not below"), "{err}");
}

/// One language per command: Chinese by default, English with `--lang en` or
/// `HALFSKY_LANG=en`; fields by their labels and values by their names (never codes)
/// in `show`, `list`, `history` and exports; money grouped with two decimals; an
/// export in either language, CSV or XLSX, imports back changing nothing.
#[test]
fn show_list_history_and_exports_speak_one_language() {
    let node = village();
    let h = &node.home;
    let household = ok(
        h,
        &[
            "add",
            "household",
            "--head-name",
            "王大山",
            "--members",
            "4",
            "--income-per-capita",
            "1545000",
        ],
    );
    let household = household.trim();
    let woman = ok(
        h,
        &[
            "add",
            "woman",
            "--name",
            "王秀英",
            "--birth-year",
            "1975",
            "--labor",
            "full",
            "--cause",
            "illness",
            "--cause",
            "因残",
            "--status",
            "poor",
        ],
    );
    let woman = woman.trim();

    let zh = ok(h, &["show", woman]);
    for word in [
        "妇女",
        "出生年份",
        "有劳动能力",
        "因病、因残",
        "贫困",
        "创建",
    ] {
        assert!(zh.contains(word), "{word} in:\n{zh}");
    }
    for code in ["full", "illness", "poor", "birth_year", "created"] {
        assert!(!zh.contains(code), "{code} in:\n{zh}");
    }
    assert!(ok(h, &["show", household]).contains("1,545,000.00 元"));
    let en = ok(h, &["--lang", "en", "show", woman]);
    for word in [
        "birth year",
        "full",
        "illness, disability",
        "poor",
        "created",
    ] {
        assert!(en.contains(word), "{word} in:\n{en}");
    }
    assert!(!en.contains("出生年份") && !en.contains("贫困"), "{en}");
    let out = Command::new(env!("CARGO_BIN_EXE_halfsky"))
        .arg("-d")
        .arg(h)
        .args(["show", household])
        .env_remove("HALFSKY_HOME")
        .env("HALFSKY_LANG", "en")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1,545,000.00 yuan"), "{text}");

    let list = ok(h, &["list", "women"]);
    assert!(
        list.contains("姓名") && list.contains("共 1 条妇女记录"),
        "{list}"
    );
    let list = ok(h, &["list", "women", "--lang", "en"]);
    assert!(
        list.contains("birth year") && list.contains("(1 women)"),
        "{list}"
    );

    ok(h, &["update", "woman", woman, "--status", "at_risk"]);
    let history = ok(h, &["history", woman]);
    assert!(
        history.contains("新增") && history.contains("修改"),
        "{history}"
    );
    assert!(history.contains("状态=返贫风险"), "{history}");
    assert!(history.contains("致贫原因=因病、因残"), "{history}");
    assert!(
        !history.contains("at_risk") && !history.contains(" add "),
        "{history}"
    );
    let history = ok(h, &["--lang", "en", "history", woman]);
    assert!(history.contains("status=at risk"), "{history}");
    assert!(
        history.contains("added") && history.contains("changed"),
        "{history}"
    );

    let dir = h.parent().unwrap();
    for (lang, format) in [("zh", "csv"), ("en", "csv"), ("zh", "xlsx"), ("en", "xlsx")] {
        let file = dir.join(format!("women-{lang}.{format}"));
        let file = file.to_str().unwrap();
        let args = [
            "--lang", lang, "export", "--kind", "woman", "--format", format, "--out", file,
        ];
        let out = halfsky(h, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stderr);
        let wrote = if lang == "zh" {
            "已导出 1 条妇女记录"
        } else {
            "wrote 1 women"
        };
        assert!(said.contains(wrote), "{said}");
        if format == "csv" {
            let text = std::fs::read_to_string(file).unwrap();
            let (header, value) = if lang == "zh" {
                ("姓名", "返贫风险")
            } else {
                ("name", "at risk")
            };
            assert!(text.lines().next().unwrap().contains(header), "{text}");
            assert!(text.contains(value) && !text.contains("at_risk"), "{text}");
        }
        for import_lang in ["zh", "en"] {
            let args = ["--lang", import_lang, "import", file, "--kind", "woman"];
            let out = halfsky(h, &args);
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{lang} {format}: {said}");
            let nothing = if import_lang == "zh" {
                "新增 0 条，修改 0 条，1 条不变"
            } else {
                "0 added, 0 changed, 1 unchanged"
            };
            assert!(
                said.contains(nothing),
                "{lang} {format} read in {import_lang}: {said}"
            );
        }
    }
    let shown = json(&ok(h, &["show", woman, "--json"]));
    assert_eq!(
        shown["record"]["fields"]["status"], "at_risk",
        "JSON keeps the codes"
    );
    let err = fails(h, &["--lang", "fr", "list", "women"]);
    assert!(err.contains("zh (Chinese) or en (English)"), "{err}");
}
