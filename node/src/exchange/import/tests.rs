//! Import's tests: sheets in both languages, bad rows, and re-imports that change nothing.

use super::sheet::{column_letter, float_text};
use halfsky_shared::idcard::with_check_digit;
use halfsky_shared::schema::FieldType;
use halfsky_shared::{OrgCode, Value};
use rust_xlsxwriter::{ExcelDateTime, Workbook};
use std::path::PathBuf;

use chrono::NaiveDate;

use crate::exchange::export::META_COLUMNS;

use super::*;
use crate::config::NodeHome;

fn ledger(dir: &Path) -> Ledger {
    let home = NodeHome::new(dir.join("v"));
    home.init(
        OrgCode::parse("230129100201").expect("valid code"),
        "红星村",
        "test",
        None,
    )
    .expect("init");
    let mut ledger = Ledger::open(&home).expect("open");
    ledger.set_today(NaiveDate::from_ymd_opt(2026, 6, 30).expect("valid date"));
    ledger
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

fn women(ledger: &Ledger) -> Vec<halfsky_shared::Record> {
    ledger
        .list(Kind::Woman, "", true)
        .expect("list")
        .into_iter()
        .map(|r| r.record)
        .collect()
}

#[test]
fn csv_with_chinese_headers_and_bom() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path());
    let csv = "\u{feff}姓名,出生年份,劳动能力,致贫原因,状态,就业愿望\n\
               王秀英,1975,有劳动能力,因病、缺技术,贫困,是\n\
               ,,,,,\n\
               \"李,桂兰\",1980,无,,脱贫,否\n";
    let path = write(dir.path(), "women.csv", csv.as_bytes());
    let table = read_rows(&path, Kind::Woman).expect("read");
    let numbers: Vec<_> = table.rows.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [2, 4], "the empty row 3 is skipped");
    assert_eq!(table.columns[0].header, "姓名");
    let report = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
    assert_eq!(report.written, 2);
    assert!(report.bad.is_empty());
    let mut women = women(&ledger);
    women.sort_by_key(|w| w.int("birth_year"));
    assert_eq!(women[0].text("name"), Some("王秀英"));
    assert_eq!(women[0].int("birth_year"), Some(1975));
    assert_eq!(
        women[0].list("poverty_causes"),
        ["illness", "lack_of_skills"]
    );
    assert!(women[0].flag("wants_work"));
    assert_eq!(women[1].text("name"), Some("李,桂兰"));
    assert_eq!(women[1].text("labor_capacity"), Some("none"));
    assert_eq!(women[1].text("status"), Some("exited"));
    assert_eq!(
        women[1].text("exit_date"),
        None,
        "an exit without a date is not dated today"
    );
}

#[test]
fn xlsx_numbers_and_dates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path());
    let path = dir.path().join("women.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy/m/d");
    for (col, h) in [
        "name",
        "birth-year",
        "labor",
        "status",
        "exit_date",
        "wants_work",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, col as u16, *h).expect("write");
    }
    sheet.write_string(1, 0, "张凤英").expect("write");
    sheet.write_number(1, 1, 1975).expect("write");
    sheet.write_string(1, 2, "full").expect("write");
    sheet.write_string(1, 3, "exited").expect("write");
    let exit = ExcelDateTime::from_ymd(2024, 3, 5).expect("date");
    sheet
        .write_datetime_with_format(1, 4, &exit, &date)
        .expect("write");
    sheet.write_boolean(1, 5, true).expect("write");
    book.save(&path).expect("save");

    let table = read_rows(&path, Kind::Woman).expect("read");
    assert_eq!(table.rows.len(), 1);
    assert_eq!(table.rows[0].number, 2);
    assert_eq!(
        table.rows[0].cells,
        ["张凤英", "1975", "full", "exited", "2024-03-05", "true"]
    );
    let report = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
    assert_eq!(report.written, 1);
    let woman = &women(&ledger)[0];
    assert_eq!(woman.int("birth_year"), Some(1975));
    assert_eq!(woman.text("exit_date"), Some("2024-03-05"));
    assert!(woman.flag("wants_work"));
}

#[test]
fn xlsx_money_and_offset_sheet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path());
    let path = dir.path().join("households.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    // Header in row 3, column B: row numbers follow the sheet.
    for (col, h) in ["户主姓名", "家庭人口", "人均纯收入"].iter().enumerate() {
        sheet.write_string(2, col as u16 + 1, *h).expect("write");
    }
    sheet.write_string(3, 1, "刘建华").expect("write");
    sheet.write_number(3, 2, 4).expect("write");
    sheet.write_number(3, 3, 1500.5).expect("write");
    sheet.write_string(4, 1, "陈金凤").expect("write");
    sheet.write_number(4, 2, 0).expect("write");
    book.save(&path).expect("save");

    let err = import(&mut ledger, &path, Kind::Household, false, false).unwrap_err();
    let ImportError::BadRows { rows, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(rows.len(), 1, "{err}");
    assert_eq!((rows[0].row, rows[0].column.as_str()), (5, "家庭人口"));
    let report = import(&mut ledger, &path, Kind::Household, true, false).expect("import");
    assert_eq!(report.written, 1);
    let rows = ledger.list(Kind::Household, "", false).expect("list");
    assert_eq!(
        rows[0].record.fields["income_per_capita"],
        Value::Int(150050)
    );
    assert_eq!(rows[0].record.int("members"), Some(4));
}

/// Rows 3, 5 and 6 are bad: a birth year too early, an unknown labour capacity and
/// a household that does not exist.
fn file_with_bad_rows(dir: &Path) -> PathBuf {
    let csv = "姓名,出生年份,劳动能力,户编号\n\
               王秀英,1975,有劳动能力,\n\
               李桂兰,1850,有劳动能力,\n\
               张玉兰,1980,部分劳动能力,\n\
               刘淑珍,1968,strong,\n\
               陈凤英,1972,无,230129100201-H-ZZZZ-99\n";
    write(dir, "bad.csv", csv.as_bytes())
}

#[test]
fn every_bad_row_is_listed_and_nothing_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path());
    let path = file_with_bad_rows(dir.path());
    let err = import(&mut ledger, &path, Kind::Woman, false, false).unwrap_err();
    let ImportError::BadRows { rows, total, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(*total, 5);
    let places: Vec<_> = rows.iter().map(|r| (r.row, r.column.as_str())).collect();
    assert_eq!(places, [(3, "出生年份"), (5, "劳动能力"), (6, "户编号")]);
    let message = err.to_string();
    assert!(
        message.contains("row 3, column 出生年份: 1850 is outside"),
        "{message}"
    );
    assert!(
        message.contains("row 5, column 劳动能力: \"strong\""),
        "{message}"
    );
    assert!(
        message.contains("row 6, column 户编号: 230129100201-H-ZZZZ-99 does not exist"),
        "{message}"
    );
    assert!(
        message.contains("3 of 5 rows") && message.contains("--skip-bad"),
        "{message}"
    );
    assert_eq!(
        message.lines().filter(|l| l.starts_with("  row ")).count(),
        3
    );
    assert!(women(&ledger).is_empty());
}

#[test]
fn skip_bad_writes_the_good_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path());
    let path = file_with_bad_rows(dir.path());
    // With progress asked for: the bar hides itself when stderr is not a terminal.
    let report = import(&mut ledger, &path, Kind::Woman, true, true).expect("import");
    assert_eq!(report.written, 2);
    assert_eq!(report.ids.len(), 2);
    let bad_rows: Vec<_> = report.bad.iter().map(|b| b.row).collect();
    assert_eq!(bad_rows, [3, 5, 6]);
    let mut names: Vec<_> = women(&ledger)
        .iter()
        .filter_map(|w| w.text("name").map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, ["张玉兰", "王秀英"]);
}

#[test]
fn missing_required_column_and_duplicate_id_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path());
    let number = with_check_digit("23012919750304123");
    let csv = format!(
        "name,birth_year,labor_capacity,id_number\n\
         A,1975,full,{number}\n\
         B,1976,full,{number}\n\
         C,1977,full,230129********1234\n"
    );
    let path = write(dir.path(), "dup.csv", csv.as_bytes());
    let err = import(&mut ledger, &path, Kind::Woman, false, false).unwrap_err();
    let ImportError::BadRows { rows, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(rows.len(), 1, "{err}");
    assert_eq!((rows[0].row, rows[0].column.as_str()), (3, "id_number"));
    assert!(rows[0].reason.contains("twice"), "{err}");

    let path = write(
        dir.path(),
        "missing.csv",
        "姓名,出生年份\n王秀英,1975\n".as_bytes(),
    );
    let err = import(&mut ledger, &path, Kind::Woman, false, false).unwrap_err();
    assert!(
        err.to_string()
            .contains("row 2, column 劳动能力: is required"),
        "{err}"
    );
}

#[test]
fn unknown_columns_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "w.csv",
        "姓名,鞋码,出生年份,hat\n王秀英,38,1975,x\n".as_bytes(),
    );
    let err = read_rows(&path, Kind::Woman).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, ImportError::UnknownColumns { .. }),
        "{message}"
    );
    assert!(message.contains("column B: \"鞋码\""), "{message}");
    assert!(message.contains("column D: \"hat\""), "{message}");
    assert!(message.contains("birth_year (出生年份)"), "{message}");
}

#[test]
fn export_columns_are_ignored_but_unnamed_values_are_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path());
    let csv = "编号,姓名,出生年份,劳动能力,创建时间,已停用\n\
               230129100201-W-AB12-1,王秀英,1975,有,2026-01-01T00:00:00Z,false\n\
               230129100201-W-AB12-2,李桂兰,1976,有,2026-01-01T00:00:00Z,true\n";
    let path = write(dir.path(), "w.csv", csv.as_bytes());
    let report = import(&mut ledger, &path, Kind::Woman, false, false).expect("import");
    assert_eq!((report.written, report.retired_skipped), (1, 1));

    let path = write(
        dir.path(),
        "u.csv",
        "姓名,,出生年份\n王秀英,x,1975\n".as_bytes(),
    );
    let err = read_rows(&path, Kind::Woman).unwrap_err();
    assert!(
        err.to_string()
            .contains("column B has values but no header"),
        "{err}"
    );
    let path = write(dir.path(), "d.csv", "姓名,name\nA,B\n".as_bytes());
    let err = read_rows(&path, Kind::Woman).unwrap_err();
    assert!(matches!(err, ImportError::DuplicateColumn { .. }), "{err}");
}

#[test]
fn empty_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger(dir.path());
    for (name, text) in [("a.csv", ""), ("b.csv", "\u{feff}\n\n,,\n")] {
        let path = write(dir.path(), name, text.as_bytes());
        let err = import(&mut ledger, &path, Kind::Woman, false, false).unwrap_err();
        assert!(matches!(err, ImportError::Empty { .. }), "{err}");
    }
    let path = write(dir.path(), "c.csv", "\u{feff}姓名,出生年份\n,\n".as_bytes());
    let err = import(&mut ledger, &path, Kind::Woman, true, false).unwrap_err();
    assert!(matches!(err, ImportError::NoRows { .. }), "{err}");
    let path = dir.path().join("empty.xlsx");
    Workbook::new().save(&path).expect("save");
    let err = import(&mut ledger, &path, Kind::Woman, false, false).unwrap_err();
    assert!(matches!(err, ImportError::Empty { .. }), "{err}");
    assert!(women(&ledger).is_empty());
}

#[test]
fn unsupported_and_unreadable_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "w.txt", "姓名\n王秀英\n".as_bytes());
    let err = read_rows(&path, Kind::Woman).unwrap_err();
    assert!(matches!(err, ImportError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("CSV UTF-8"), "{err}");
    // 姓名 in GBK, as older Excel saves "CSV".
    let path = write(dir.path(), "gbk.csv", b"name\n\xd0\xd5\xc3\xfb\n");
    let err = read_rows(&path, Kind::Woman).unwrap_err();
    assert!(matches!(err, ImportError::NotUtf8 { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("CSV UTF-8"), "{err}");
    let path = write(dir.path(), "fake.xlsx", b"not a zip");
    let err = read_rows(&path, Kind::Woman).unwrap_err();
    assert!(matches!(err, ImportError::Xlsx { .. }), "{err}");
    let err = read_rows(&dir.path().join("none.csv"), Kind::Woman).unwrap_err();
    assert!(matches!(err, ImportError::Io { .. }), "{err}");
}

#[test]
fn cells_as_typed() {
    let money = FieldType::Money;
    let date = FieldType::Date;
    assert_eq!(float_text(1975.0, None), "1975");
    assert_eq!(float_text(1500.5, Some(&money)), "1500.50");
    assert_eq!(float_text(0.1 + 0.2, Some(&money)), "0.30");
    assert_eq!(float_text(45356.0, Some(&date)), "2024-03-05");
    assert_eq!(float_text(20240305.0, Some(&date)), "20240305");
    assert_eq!(column_letter(0), "A");
    assert_eq!(column_letter(25), "Z");
    assert_eq!(column_letter(26), "AA");
    assert_eq!(column_letter(27 * 26), "AAA");
}

#[test]
fn export_columns_never_shadow_fields() {
    for kind in Kind::ALL {
        for (en, zh) in META_COLUMNS {
            assert!(kind.spec().field(en).is_none(), "{kind}.{en}");
            assert!(kind.spec().field(zh).is_none(), "{kind}.{zh}");
        }
    }
}
