//! Re-imports: an export imported back changes nothing, rows update the records they
//! name, a registered ID number is the same woman, masks are recognised, dry runs
//! write nothing.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use halfsky_shared::idcard::with_check_digit;
use halfsky_shared::lang::Lang;
use halfsky_shared::synthetic::Generator;
use halfsky_shared::{Kind, OrgCode, RecordId};

use crate::config::NodeHome;
use crate::exchange::export::{export, Format};
use crate::exchange::import::{import, import_with, ImportError, ImportOptions};
use crate::ledger::Ledger;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 30).expect("valid date")
}

fn ledger(dir: &Path, name: &str, org: &str) -> Ledger {
    let home = NodeHome::new(dir.join(name));
    home.init(OrgCode::parse(org).expect("valid code"), name, "test", None)
        .expect("init");
    let mut ledger = Ledger::open(&home).expect("open");
    ledger.set_today(today());
    ledger
}

/// A village with households and women (some with ID numbers, some with households).
fn village(dir: &Path) -> Ledger {
    let mut ledger = ledger(dir, "village", "230129100201");
    let org = ledger.config().org;
    let mut generator = Generator::new(11, today());
    for _ in 0..12 {
        let h = ledger
            .add(Kind::Household, &generator.household())
            .expect("household");
        ledger
            .add(Kind::Woman, &generator.woman(&org, Some(&h)))
            .expect("woman");
        ledger
            .add(Kind::Woman, &generator.woman(&org, None))
            .expect("woman");
    }
    ledger
}

fn count(ledger: &Ledger, kind: Kind) -> usize {
    ledger.list(kind, "", true).expect("list").len()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn reimporting_an_export_changes_nothing_in_either_format_or_language() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = village(dir.path());
    for format in [Format::Csv, Format::Xlsx] {
        for lang in [Lang::En, Lang::Zh] {
            for kind in [Kind::Household, Kind::Woman] {
                let before = count(&ledger, kind);
                let out = dir
                    .path()
                    .join(format!("{kind}-{lang:?}.{}", format.extension()));
                export(&ledger, kind, format, &out, "", lang).expect("export");
                let generation = ledger.generation();
                let report = import(&mut ledger, &out, kind, false, false)
                    .unwrap_or_else(|e| panic!("{format} {lang:?} {kind}: {e}"));
                let what = format!("{format}, {lang:?}, {kind}: {report:?}");
                assert_eq!(report.written, 0, "{what}");
                assert!(report.changed.is_empty(), "{what}");
                assert!(report.bad.is_empty(), "{what}");
                assert_eq!(report.unchanged, before, "{what}");
                assert_eq!(report.masked_ids_dropped, 0, "{what}");
                assert_eq!(count(&ledger, kind), before, "{what}");
                assert_eq!(ledger.generation(), generation, "nothing written: {what}");
            }
        }
    }
}

#[test]
fn a_row_with_an_id_updates_that_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = village(dir.path());
    let out = dir.path().join("women.csv");
    export(&ledger, Kind::Woman, Format::Csv, &out, "", Lang::Zh).expect("export");
    let text = std::fs::read_to_string(&out).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let year_at = header
        .iter()
        .position(|h| *h == "出生年份")
        .expect("column");
    let id_at = header.iter().position(|h| h.ends_with("编号")).expect("id");
    let mut cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    let id = RecordId::parse(&cells[id_at]).expect("an id");
    let old_year = ledger
        .show(&id)
        .expect("show")
        .indexed
        .record
        .int("birth_year");
    let new_year = if old_year == Some(1970) { 1971 } else { 1970 };
    cells[year_at] = new_year.to_string();
    lines[1] = cells.join(",");
    let path = write(dir.path(), "edited.csv", &(lines.join("\n") + "\n"));
    let before = count(&ledger, Kind::Woman);

    let dry = ImportOptions {
        dry_run: true,
        ..ImportOptions::default()
    };
    let report = import_with(&mut ledger, &path, Kind::Woman, dry).expect("dry run");
    assert!(report.dry_run);
    assert_eq!(report.changed.len(), 1, "{report:?}");
    assert_eq!(report.changed[0].id, id);
    assert_eq!(report.changed[0].row, 2);
    assert_eq!(report.changed[0].fields, ["birth_year"]);
    let record = ledger.show(&id).expect("show").indexed.record;
    assert_eq!(
        record.int("birth_year"),
        old_year,
        "a dry run writes nothing"
    );

    let report = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
    assert_eq!((report.written, report.changed.len()), (0, 1), "{report:?}");
    assert_eq!(report.unchanged, before - 1);
    assert_eq!(count(&ledger, Kind::Woman), before, "no second card");
    let record = ledger.show(&id).expect("show").indexed.record;
    assert_eq!(record.int("birth_year"), Some(new_year));
    let history = ledger.history(&id).expect("history");
    assert_eq!(history.last().expect("entries").op, "update");
}

#[test]
fn a_registered_id_number_is_the_same_woman() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path(), "v", "230129100201");
    let number = with_check_digit("23012919750304123");
    let sheet = format!("姓名,出生年份,劳动能力,身份证号\n王秀英,1975,有,{number}\n");
    let path = write(dir.path(), "a.csv", &sheet);
    let first = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
    assert_eq!(first.written, 1);
    let id = first.ids[0].clone();
    // The cadre's sheet next month: same woman, now wanting work; no id column.
    let sheet = format!("姓名,出生年份,劳动能力,身份证号,就业愿望\n王秀英,1975,有,{number},是\n");
    let path = write(dir.path(), "b.csv", &sheet);
    let report = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
    assert_eq!(report.written, 0, "{report:?}");
    assert_eq!(report.changed.len(), 1);
    assert_eq!(report.changed[0].id, id);
    assert_eq!(count(&ledger, Kind::Woman), 1);
    assert!(ledger
        .show(&id)
        .expect("show")
        .indexed
        .record
        .flag("wants_work"));
    let again = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
    assert_eq!(
        (again.written, again.changed.len(), again.unchanged),
        (0, 0, 1)
    );
}

#[test]
fn masks_are_recognised_and_a_different_mask_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path(), "v", "230129100201");
    let number = with_check_digit("23012919750304123");
    let id = ledger
        .add(
            Kind::Woman,
            &[
                ("name".into(), "王秀英".into()),
                ("birth_year".into(), "1975".into()),
                ("labor_capacity".into(), "full".into()),
                ("id_number".into(), number.clone()),
            ],
        )
        .expect("add");
    let mask = ledger
        .show(&id)
        .expect("show")
        .indexed
        .record
        .text("id_number")
        .map(str::to_string)
        .expect("mask");
    let same =
        format!("id,name,birth_year,labor_capacity,id_number\n{id},王秀英,1975,full,{mask}\n");
    let path = write(dir.path(), "same.csv", &same);
    let report = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
    assert_eq!(report.unchanged, 1, "{report:?}");
    let other = mask.replacen("123", "999", 1);
    assert_ne!(other, mask);
    let differs =
        format!("id,name,birth_year,labor_capacity,id_number\n{id},王秀英,1975,full,{other}\n");
    let path = write(dir.path(), "differs.csv", &differs);
    let err = import(&mut ledger, &path, Kind::Woman, false, false).unwrap_err();
    let ImportError::BadRows { rows, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        (rows[0].row, rows[0].column.as_str()),
        (2, "id_number"),
        "{err}"
    );
    assert!(rows[0].reason.contains("masked"), "{err}");
}

#[test]
fn a_corrected_sheet_imported_again_does_not_double_the_good_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path(), "v", "230129100201");
    let bad = "姓名,出生年份,劳动能力\n王秀英,1975,有\n李桂兰,1850,有\n";
    let path = write(dir.path(), "w.csv", bad);
    let first = import(&mut ledger, &path, Kind::Woman, true, false).expect("skip bad");
    assert_eq!((first.written, first.bad.len()), (1, 1));
    let fixed = "姓名,出生年份,劳动能力\n王秀英,1975,有\n李桂兰,1958,有\n";
    let path = write(dir.path(), "w.csv", fixed);
    let report = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
    assert_eq!((report.written, report.unchanged), (1, 1), "{report:?}");
    assert_eq!(count(&ledger, Kind::Woman), 2);
}

#[test]
fn ids_of_units_this_ledger_does_not_hold_are_refused_and_dry_runs_list_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path(), "v", "230129100201");
    let sheet = "编号,姓名,出生年份,劳动能力\n\
                 230129100202-W-AB12-1,王秀英,1975,有\n\
                 230129100201-W-AB12-7,李桂兰,1976,有\n\
                 ,张玉兰,1980,无\n";
    let path = write(dir.path(), "w.csv", sheet);
    let dry = ImportOptions {
        dry_run: true,
        ..ImportOptions::default()
    };
    let report = import_with(&mut ledger, &path, Kind::Woman, dry).expect("dry run");
    assert_eq!(report.added_rows, [3, 4]);
    assert_eq!(report.bad.len(), 1, "{report:?}");
    assert_eq!(
        (report.bad[0].row, report.bad[0].column.as_str()),
        (2, "编号")
    );
    assert!(report.bad[0].reason.contains("230129100202"), "{report:?}");
    assert_eq!(count(&ledger, Kind::Woman), 0, "a dry run writes nothing");
    let report = import(&mut ledger, &path, Kind::Woman, true, false).expect("skip bad");
    assert_eq!(report.written, 2);
    let restored = RecordId::parse("230129100201-W-AB12-7").expect("id");
    assert!(ledger.show(&restored).is_ok(), "this unit's id is kept");
    let again = import(&mut ledger, &path, Kind::Woman, true, false).expect("again");
    assert_eq!((again.written, again.unchanged), (0, 2), "{again:?}");
}
