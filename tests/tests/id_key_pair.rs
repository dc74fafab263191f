//! Replacing the deployment's ID key pair (`halfsky id-key replace`): the CA's notice
//! of the new public half goes down the tree in the city's document and villages seal
//! to it from then on; an office finds duplicates across the old and the new pair once
//! it has added the file from the CA holder (`id-key add`), and not before; a notice
//! the CA did not sign is ignored; a wrong passphrase adds nothing.

use std::path::Path;

use halfsky_node::command::{self, IdKeyRequest, Request, Response, Secrets};
use halfsky_node::pki::deployment::Deployment as Settings;
use halfsky_node::pki::id_key_pair;
use halfsky_node::Ledger;
use halfsky_shared::idcard::with_check_digit;
use halfsky_shared::session::{Delivery, Replica};
use halfsky_shared::{OrgCode, RecordId};
use halfsky_tests::deploy::{Deployment, NodeSpec};
use halfsky_tests::{add_woman_numbered, cli};

const VILLAGE_A: &str = "230129100201";
const VILLAGE_B: &str = "230129100202";
const TOWNSHIP: &str = "230129100000";
const CITY: &str = "230100000000";
const PASS: &str = "plum-river-42";

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

/// Everything `from` holds of `doc`, delivered to `to`.
fn deliver(from: &mut Ledger, to: &mut Ledger, doc: &str) {
    let changes = Replica::changes_since(from, &org(doc), &[])
        .unwrap()
        .unwrap();
    Replica::apply_changes(to, "peer", &org(doc), changes, Delivery::CatchUp).unwrap();
}

fn duplicate_ids(holder: &Ledger, at: &str) -> Vec<Vec<RecordId>> {
    holder
        .reader()
        .duplicates(org(at))
        .unwrap()
        .iter()
        .map(|g| g.cards.iter().map(|c| c.id.clone()).collect())
        .collect()
}

#[test]
fn after_a_replaced_pair_villages_seal_to_the_new_key_and_offices_that_add_it_find_duplicates() {
    let d = Deployment::new();
    let home = |unit: &str, device: &str| d.home(unit, unit, &NodeSpec::new(device, None, false));
    let city_home = home(CITY, "c1");
    // The CA holder's settings hold the key every home of this deployment was made with.
    Settings::of_home(&city_home).unwrap().save(d.ca()).unwrap();
    let mut city = Ledger::open(&city_home).unwrap();
    let mut township = Ledger::open(&home(TOWNSHIP, "t1")).unwrap();
    let mut a = Ledger::open(&home(VILLAGE_A, "va")).unwrap();
    let b_home = home(VILLAGE_B, "vb");
    let mut b = Ledger::open(&b_home).unwrap();
    let old_public = b.config().ids.public.clone();
    let number = with_check_digit("23012919750612045");
    let at_a = add_woman_numbered(&mut a, 1, &number);

    // A notice a city device wrote but the CA did not sign is ignored below.
    let forged = {
        use p256::pkcs8::EncodePrivateKey;
        let key = p256::SecretKey::from_slice(&[5; 32]).unwrap();
        let pkcs8 = key.to_pkcs8_der().unwrap().as_bytes().to_vec();
        let fake = halfsky_shared::idcard::IdSecret::generate().public();
        halfsky_shared::id_key_notice::IdKeyNotice::new(&fake, 1)
            .sign(&pkcs8)
            .unwrap()
    };
    let note = halfsky_shared::ledger_doc::ChangeNote {
        op: "id-key".into(),
        id: None,
        by: format!("{CITY}/c1"),
        fields: Vec::new(),
        note: None,
    };
    assert!(halfsky_node::pki::ca_meta::put(
        &mut city,
        org(CITY),
        ("id_key/1", &forged.to_text()),
        &note,
        1
    )
    .unwrap());
    deliver(&mut city, &mut b, CITY);
    assert_eq!(
        b.config().ids.public,
        old_public,
        "an unsigned notice is not followed"
    );

    // The CA holder replaces the pair at the city's node.
    let file = d.dir().join("id-key.hsk");
    let replaced = id_key_pair::replace(d.ca(), &city_home, &file, PASS).unwrap();
    assert_ne!(replaced.public, old_public);
    assert_eq!(
        replaced.secrets.len(),
        2,
        "the old private half and the new"
    );
    let published = command::execute(
        &mut city,
        Request::IdKeys(IdKeyRequest::Publish {
            secrets: Secrets::of(&replaced.secrets),
            notice: replaced.notice.to_text(),
        }),
        Default::default(),
    )
    .unwrap();
    let Response::IdKeys(report) = published else {
        panic!("{published:?}")
    };
    assert!(report.published && report.opens_current == Some(true));
    assert_eq!(city.config().ids.public, replaced.public);
    let (settings, _) = Settings::load_or_create(d.ca()).unwrap();
    assert_eq!(
        settings.retired_id_keys().len(),
        1,
        "kept for offices made later"
    );

    // The city's document reaches village B: numbers typed there are sealed to the new key.
    deliver(&mut city, &mut b, CITY);
    assert_eq!(b.config().ids.public, replaced.public);
    let at_b = add_woman_numbered(&mut b, 2, &number);
    let sealed = b
        .show(&at_b)
        .unwrap()
        .indexed
        .record
        .meta
        .id_sealed
        .unwrap();
    let [old_secret, new_secret] = [&replaced.secrets[0], &replaced.secrets[1]];
    assert!(old_secret.open(&sealed).is_none(), "not to the old pair");
    assert_eq!(new_secret.open(&sealed).unwrap().as_str(), number);
    // Reopened, the village still follows the notice it holds.
    drop(b);
    let mut b = Ledger::open(&b_home).unwrap();
    assert_eq!(b.config().ids.public, replaced.public);

    // The township has not added the file yet: the new seal does not open there, and
    // it says so.
    for doc in [VILLAGE_A, CITY] {
        let from = if doc == CITY { &mut city } else { &mut a };
        deliver(from, &mut township, doc);
    }
    deliver(&mut b, &mut township, VILLAGE_B);
    assert!(duplicate_ids(&township, TOWNSHIP).is_empty());
    let show = cli(&mut township, &["--lang", "en", "id-key", "show"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains("opens the numbers sealed to it: NO"),
        "{}",
        show.stdout
    );

    // A wrong passphrase adds nothing.
    let wrong = d.dir().join("wrong.pass");
    std::fs::write(&wrong, "not-the-passphrase\n").unwrap();
    let file_arg = file.to_str().unwrap();
    let refused = cli(
        &mut township,
        &[
            "--lang",
            "en",
            "id-key",
            "add",
            file_arg,
            "--passphrase-file",
            wrong.to_str().unwrap(),
        ],
    );
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("passphrase is wrong"),
        "{}",
        refused.stderr
    );
    assert!(duplicate_ids(&township, TOWNSHIP).is_empty());

    // With the file, the same woman at both villages is found, across both pairs.
    let right = d.dir().join("right.pass");
    std::fs::write(&right, format!("{PASS}\n")).unwrap();
    let pass_arg = right.to_str().unwrap();
    let added = cli(
        &mut township,
        &[
            "--lang",
            "en",
            "id-key",
            "add",
            file_arg,
            "--passphrase-file",
            pass_arg,
        ],
    );
    assert_eq!(added.code, 0, "{}", added.stderr);
    assert!(
        added
            .stderr
            .contains("private halves of the deployment's ID key added: 1"),
        "{}",
        added.stderr
    );
    assert!(
        added.stdout.contains("opens the numbers sealed to it: yes"),
        "{}",
        added.stdout
    );
    assert_eq!(
        duplicate_ids(&township, TOWNSHIP),
        vec![vec![at_a.clone(), at_b.clone()]]
    );
    let again = cli(
        &mut township,
        &[
            "--lang",
            "en",
            "id-key",
            "add",
            file_arg,
            "--passphrase-file",
            pass_arg,
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("no private half was new"),
        "{}",
        again.stderr
    );

    // The city holds both pairs since the replacement.
    deliver(&mut a, &mut city, VILLAGE_A);
    deliver(&mut b, &mut city, VILLAGE_B);
    assert_eq!(duplicate_ids(&city, CITY), vec![vec![at_a, at_b]]);

    // A village never takes a private half.
    let village = cli(
        &mut a,
        &[
            "--lang",
            "en",
            "id-key",
            "add",
            file_arg,
            "--passphrase-file",
            pass_arg,
        ],
    );
    assert_ne!(village.code, 0);
    assert!(
        village.stderr.contains("holds no ID key"),
        "{}",
        village.stderr
    );
    let json = cli(&mut a, &["--lang", "en", "id-key", "show", "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(shown["holds"], serde_json::Value::Null);
}

#[test]
fn replacing_is_refused_away_from_the_ca_unit_and_without_settings() {
    let d = Deployment::new();
    let township = d.home(TOWNSHIP, TOWNSHIP, &NodeSpec::new("t1", None, false));
    let city = d.home(CITY, CITY, &NodeSpec::new("c1", None, false));
    let file = d.dir().join("id-key.hsk");
    let err = id_key_pair::replace(d.ca(), &township, &file, PASS).unwrap_err();
    assert!(
        err.to_string()
            .contains("run `halfsky id-key replace` with -d"),
        "{err}"
    );
    let err = id_key_pair::replace(d.ca(), &city, &file, PASS).unwrap_err();
    assert!(err.to_string().contains("deployment.toml"), "{err}");
    let err = id_key_pair::replace(d.ca(), &city, &file, "short").unwrap_err();
    assert!(err.to_string().contains("at least"), "{err}");
    assert!(!file.exists(), "nothing written");
}

/// The real binary, as the CA holder types it: a city enrolled from a file, then
/// `id-key replace` (in Chinese, the default) and `id-key show --json`.
#[test]
fn the_ca_holder_replaces_the_pair_with_the_command_line() {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;
    let halfsky = halfsky_tests::procs::binary("halfsky-node", "halfsky");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (ca, pass, city, file) = (path("ca"), path("pass"), path("city"), path("id-key.hsk"));
    let enrollment = path("city.enroll");
    std::fs::write(&pass, format!("{PASS}\n")).unwrap();
    let run = |args: &[&str]| {
        let (code, out, err) =
            halfsky_tests::procs::output(&halfsky, args, Duration::from_secs(60));
        (code == Some(0), out, err)
    };
    let must = |args: &[&str]| {
        let (ok, out, err) = run(args);
        assert!(ok, "halfsky {args:?}: {err}");
        out
    };
    must(&["pki", "init", "--org", CITY, "--out", &ca]);
    must(&[
        "pki",
        "enroll",
        "--ca",
        &ca,
        "--org",
        CITY,
        "--device",
        "city-pc",
        "--unit-name",
        "市",
        "--out",
        &enrollment,
        "--passphrase-file",
        &pass,
    ]);
    must(&[
        "-d",
        &city,
        "init",
        "--enroll",
        &enrollment,
        "--passphrase-file",
        &pass,
    ]);
    let show = |home: &str| -> serde_json::Value {
        let out = must(&["-d", home, "--lang", "en", "id-key", "show", "--json"]);
        serde_json::from_str(&out).unwrap()
    };
    let before = show(&city);
    assert_eq!(before["opens_current"], true);

    // Away from the CA's unit nothing is replaced.
    let village = path("village");
    must(&[
        "-d",
        &village,
        "init",
        "--org",
        VILLAGE_A,
        "--name",
        "红星村",
        "--device",
        "pc",
    ]);
    let replace = |home: &str| {
        run(&[
            "-d",
            home,
            "--lang",
            "zh",
            "id-key",
            "replace",
            "--ca",
            &ca,
            "--out",
            &file,
            "--passphrase-file",
            &pass,
        ])
    };
    let (ok, _, err) = replace(&village);
    assert!(!ok && !err.is_empty());
    assert!(!Path::new(&file).exists(), "nothing written");

    let (ok, _, err) = replace(&city);
    assert!(ok, "{err}");
    assert!(
        err.contains("id-key add") && err.contains("已记入本节点的文档"),
        "{err}"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the file holds private halves");
    let after = show(&city);
    assert_ne!(after["sealing_to"], before["sealing_to"]);
    assert_eq!(after["opens_current"], true);
    assert_eq!(after["holds"].as_array().map(Vec::len), Some(2));
}
