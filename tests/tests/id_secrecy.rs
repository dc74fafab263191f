//! A village laptop gives away no ID number: after registering a woman with her full
//! number, exporting in every format and taking a backup, no byte of the village's node
//! home (store, config, keys, exports, backup, each decompressed where compressed)
//! holds her full number or the 8-digit birth date inside it.

use std::path::{Path, PathBuf};

use halfsky_node::command::{execute, Options, Request};
use halfsky_node::exchange::export::Format;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::idcard::with_check_digit;
use halfsky_shared::{Kind, OrgCode};
use halfsky_tests::VILLAGE;

/// Every file below `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn no_byte_of_a_village_home_holds_a_full_id_number_or_its_birth_date() {
    let dir = tempfile::tempdir().unwrap();
    let home = NodeHome::new(dir.path().join("village"));
    let org = OrgCode::parse(VILLAGE).unwrap();
    home.init(org, "红星村", "pc", None).unwrap();
    let birth_date = "19870523";
    let number = with_check_digit(&format!("{}{birth_date}042", &VILLAGE[..6]));
    let mut ledger = Ledger::open(&home).unwrap();
    let fields = vec![
        ("name".to_string(), "王秀英".to_string()),
        ("birth_year".into(), "1987".into()),
        ("labor_capacity".into(), "full".into()),
        ("id_number".into(), number.clone()),
    ];
    ledger.add(Kind::Woman, &fields).unwrap();
    let exports = home.dir().join("exports");
    std::fs::create_dir(&exports).unwrap();
    for (format, name) in [
        (Format::Csv, "women.csv"),
        (Format::Xlsx, "women.xlsx"),
        (Format::Parquet, "women.parquet"),
    ] {
        let request = Request::Export {
            kind: Kind::Woman,
            format,
            out: exports.join(name),
            org_prefix: String::new(),
            lang: halfsky_shared::lang::Lang::En,
        };
        execute(&mut ledger, request, Options::default()).unwrap();
    }
    let backup = home.dir().join("village.backup");
    halfsky_node::backup::backup(&mut ledger, &backup).unwrap();
    // The document as it is, without its column compression.
    let plain_doc = ledger.with_automerge(org, |d| d.save_nocompress()).unwrap();
    drop(ledger);

    let mut blobs: Vec<(String, Vec<u8>)> = files(home.dir())
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    let packed = std::fs::read(&backup).unwrap();
    blobs.push((
        "backup, decompressed".into(),
        zstd::decode_all(&packed[8..]).unwrap(),
    ));
    blobs.push(("document, uncompressed".into(), plain_doc));
    let csv = std::fs::read_to_string(exports.join("women.csv")).unwrap();
    assert!(
        csv.contains("王秀英"),
        "the grep sees exported values: {csv}"
    );
    assert!(
        blobs.iter().any(|(_, b)| holds(b, "王秀英")),
        "the grep sees stored values"
    );
    for (what, bytes) in &blobs {
        assert!(!holds(bytes, &number), "{what} holds the full ID number");
        assert!(!holds(bytes, birth_date), "{what} holds the birth date");
    }
}

/// The sealed number: a village writes it and cannot open it (its home holds only the
/// public half of the deployment's ID key, and the mask shows the last four digits
/// alone); the county, holding the private half, opens it as it arrives.
#[test]
fn a_village_seals_the_number_and_only_an_office_opens_it() {
    use halfsky_shared::idcard::IdSecret;
    use halfsky_shared::session::{Delivery, Replica};
    use halfsky_tests::deploy::{Deployment, NodeSpec};

    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("pc", None, false));
    let county_home = d.home("230129000000", "县", &NodeSpec::new("k1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    let number = with_check_digit(&format!("{}19870523042", &VILLAGE[..6]));
    let fields = vec![
        ("name".to_string(), "王秀英".to_string()),
        ("birth_year".into(), "1987".into()),
        ("labor_capacity".into(), "full".into()),
        ("id_number".into(), number.clone()),
    ];
    let id = village.add(Kind::Woman, &fields).unwrap();
    let record = village.show(&id).unwrap().indexed.record;
    assert_eq!(
        record.text("id_number"),
        Some(format!("**************{}", &number[14..]).as_str()),
        "the mask keeps neither region nor birth date"
    );
    let sealed = record.meta.id_sealed.clone().expect("the number is sealed");

    // The operator's own `--json` gives neither the seal nor the matching key.
    for args in [
        ["show", &id.to_string(), "--json"],
        ["list", "women", "--json"],
    ] {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let out = halfsky_node::cli::execute_args(&mut village, Path::new("/"), &args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.contains("王秀英"), "{}", out.stdout);
        assert!(!out.stdout.contains(&sealed), "{}", out.stdout);
        assert!(!out.stdout.contains("id_sealed") && !out.stdout.contains("id_hash"));
    }

    // Nothing in the village's home opens it.
    let config = village_home.config().unwrap();
    assert!(config.ids.opener.is_none());
    assert!(!village_home.id_key_path().exists());
    let secret = IdSecret::from_seed(&[42; 32]).to_hex();
    for path in files(village_home.dir()) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !holds(&bytes, &secret),
            "{} holds the private half",
            path.display()
        );
    }
    assert!(IdSecret::generate().open(&sealed).is_none());

    // The county opens it as it arrives and matches on the full number.
    let mut county = Ledger::open(&county_home).unwrap();
    let org = OrgCode::parse(VILLAGE).unwrap();
    let changes = Replica::changes_since(&mut village, &org, &[])
        .unwrap()
        .unwrap();
    Replica::apply_changes(
        &mut county,
        "230129100201/pc",
        &org,
        changes,
        Delivery::CatchUp,
    )
    .unwrap();
    let opener = county_home
        .config()
        .unwrap()
        .ids
        .opener
        .expect("the county holds it");
    assert_eq!(
        opener.secret.open(&sealed).map(|n| n.as_str().to_string()),
        Some(number)
    );
    let at_county = county.show(&id).unwrap().indexed.record;
    assert!(at_county.meta.id_hash.is_some(), "indexed by its hash");
}
