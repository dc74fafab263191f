//! Sneakernet with no network at all: a village exports a sealed bundle, its township
//! imports it and writes an acknowledgement, the village applies the acknowledgement.
//! Tampered, truncated, wrong-recipient, expired and foreign-CA bundles are refused
//! with a reason and change nothing; a bundle applied twice changes nothing.

use std::path::Path;

use automerge::ChangeHash;
use halfsky_node::cli::Captured;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::bundle::{self, Contents, Sender};
use halfsky_shared::OrgCode;
use halfsky_tests::deploy::{Deployment, NodeSpec};
use halfsky_tests::{fill_village, VILLAGE};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

const TOWNSHIP: &str = "230129100000";

fn run(ledger: &mut Ledger, args: &[impl AsRef<str>]) -> Captured {
    let args: Vec<String> = args.iter().map(|s| s.as_ref().to_string()).collect();
    halfsky_node::cli::execute_args(ledger, Path::new("/"), &args)
}

/// Panics with stderr unless the command succeeded.
fn ok(reply: Captured) -> Captured {
    assert_eq!(reply.code, 0, "{}", reply.stderr);
    reply
}

fn text(path: &Path) -> String {
    path.to_str().expect("temp paths are UTF-8").to_string()
}

/// `bundle export` of the village's changes for the township whose home is `to`,
/// into `out`.
fn export_args(out: &Path, to: &NodeHome) -> Vec<String> {
    let cert = to.dir().join("node.pem");
    ["bundle", "export", "--to", TOWNSHIP, "--out"]
        .map(String::from)
        .into_iter()
        .chain([text(out), "--to-cert".into(), text(&cert)])
        .collect()
}

/// `bundle import FILE`, writing the acknowledgement to `ack` if given.
fn import_args(file: &Path, ack: Option<&Path>) -> Vec<String> {
    let mut args = vec!["bundle".into(), "import".into(), text(file)];
    if let Some(ack) = ack {
        args.extend(["--ack-out".into(), text(ack)]);
    }
    args
}

fn heads(ledger: &Ledger, org: &str) -> Vec<ChangeHash> {
    let mut h = ledger.stored_heads(&OrgCode::parse(org).unwrap()).unwrap();
    h.sort();
    h
}

fn status(ledger: &mut Ledger) -> serde_json::Value {
    let reply = run(ledger, &["status", "--json"]);
    assert_eq!(reply.code, 0, "{}", reply.stderr);
    serde_json::from_str(&reply.stdout).unwrap()
}

fn key_der(home: &NodeHome) -> Vec<u8> {
    PrivatePkcs8KeyDer::from_pem_file(home.dir().join("node.key"))
        .unwrap()
        .secret_pkcs8_der()
        .to_vec()
}

fn cert_der(home: &NodeHome) -> Vec<u8> {
    CertificateDer::from_pem_file(home.dir().join("node.pem"))
        .unwrap()
        .to_vec()
}

fn public_sec1(home: &NodeHome) -> Vec<u8> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let der = cert_der(home);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    cert.public_key().subject_public_key.data.to_vec()
}

/// A bundle sealed by hand (to forge what the CLI never writes): from `from` (unit
/// `from_org`) to `to` (unit `to_org`), valid from `created` until `expires`.
fn seal(
    (from, from_org): (&NodeHome, &str),
    (to, to_org): (&NodeHome, &str),
    contents: &Contents,
    created: i64,
    expires: i64,
) -> Vec<u8> {
    let key = key_der(from);
    let cert = cert_der(from);
    bundle::seal(
        Sender {
            org: OrgCode::parse(from_org).unwrap(),
            cert_der: &cert,
            key_pkcs8: &key,
        },
        OrgCode::parse(to_org).unwrap(),
        &public_sec1(to),
        contents,
        created,
        expires,
        [7; 32],
    )
    .unwrap()
}

/// An empty bundle of changes from the village at `from` to the township at `to`.
fn changes_bundle(from: &NodeHome, to: &NodeHome, created: i64, expires: i64) -> Vec<u8> {
    let empty = Contents::Changes {
        docs: vec![],
        held: vec![],
    };
    seal((from, VILLAGE), (to, TOWNSHIP), &empty, created, expires)
}

#[test]
fn a_village_and_its_township_converge_through_bundle_files() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    let mut township = Ledger::open(&township_home).unwrap();
    fill_village(&mut village, 4, 11);

    let files = d.dir().join("usb");
    std::fs::create_dir_all(&files).unwrap();
    let file = files.join("village.bundle");
    let ack = files.join("village.ack");

    // Without the township's certificate the export says what to do.
    let reply = run(
        &mut village,
        &[
            "bundle",
            "export",
            "--to",
            TOWNSHIP,
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert_ne!(reply.code, 0);
    assert!(reply.stderr.contains("--to-cert"), "{}", reply.stderr);
    assert!(!file.exists());

    ok(run(&mut village, &export_args(&file, &township_home)));
    let good = std::fs::read(&file).unwrap();
    let before = heads(&township, VILLAGE);
    assert!(before.is_empty());

    // Refusals: each says why and changes nothing.
    let try_import = |township: &mut Ledger, bytes: &[u8], name: &str| -> Captured {
        let path = files.join(name);
        std::fs::write(&path, bytes).unwrap();
        run(township, &import_args(&path, None))
    };
    let mut tampered = good.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    let reply = try_import(&mut township, &tampered, "tampered.bundle");
    assert_ne!(reply.code, 0);
    assert!(reply.stderr.contains("altered"), "{}", reply.stderr);
    let reply = try_import(&mut township, &good[..good.len() - 10], "short.bundle");
    assert_ne!(reply.code, 0);
    assert!(reply.stderr.contains("truncated"), "{}", reply.stderr);
    let now = chrono::Utc::now().timestamp();
    let expired = changes_bundle(&village_home, &township_home, now - 100, now - 10);
    let reply = try_import(&mut township, &expired, "expired.bundle");
    assert!(reply.stderr.contains("expired"), "{}", reply.stderr);
    // A device of another deployment (its own CA) cannot write here.
    let foreign = Deployment::new();
    let intruder = foreign.home(VILLAGE, "假村", &NodeSpec::new("x1", None, false));
    let forged = changes_bundle(&intruder, &township_home, now, now + 100);
    let reply = try_import(&mut township, &forged, "forged.bundle");
    assert_ne!(reply.code, 0);
    assert!(reply.stderr.contains("CA"), "{}", reply.stderr);
    // Another township cannot open it.
    let other_home = d.home("230129101000", "别镇", &NodeSpec::new("o1", None, false));
    let mut other = Ledger::open(&other_home).unwrap();
    let reply = run(&mut other, &import_args(&file, None));
    assert_ne!(reply.code, 0);
    assert!(
        reply.stderr.contains("addressed to unit"),
        "{}",
        reply.stderr
    );
    assert!(heads(&other, VILLAGE).is_empty());
    assert_eq!(
        heads(&township, VILLAGE),
        before,
        "refused bundles changed nothing"
    );

    // The real one: applied, acknowledged; again: nothing changes.
    ok(run(&mut township, &import_args(&file, Some(&ack))));
    assert_eq!(heads(&township, VILLAGE), heads(&village, VILLAGE));
    assert_eq!(
        township.stats(None).unwrap().women,
        village.stats(None).unwrap().women
    );
    let once = heads(&township, VILLAGE);
    let reply = ok(run(&mut township, &import_args(&file, None)));
    assert!(reply.stderr.contains("applied before"), "{}", reply.stderr);
    assert_eq!(heads(&township, VILLAGE), once);

    // An acknowledgement is not a bundle of changes, and the reverse.
    let reply = run(&mut village, &["bundle", "ack", file.to_str().unwrap()]);
    assert_ne!(reply.code, 0);
    let reply = run(&mut village, &["bundle", "ack", ack.to_str().unwrap()]);
    assert_eq!(reply.code, 0, "{}", reply.stderr);
    let status = halfsky_node::sync::status::StatusStore::new(village.store().clone());
    let mut acked = status.acked(&OrgCode::parse(VILLAGE).unwrap()).unwrap();
    acked.sort();
    assert_eq!(
        acked,
        heads(&village, VILLAGE),
        "the village knows the township has it all"
    );
    // The acknowledgement brought the township's own document down.
    assert!(!heads(&township, TOWNSHIP).is_empty());
    assert_eq!(heads(&village, TOWNSHIP), heads(&township, TOWNSHIP));

    // Nothing left to send.
    let reply = run(
        &mut village,
        &export_args(&files.join("again.bundle"), &township_home),
    );
    assert_ne!(reply.code, 0);
    assert!(reply.stderr.contains("nothing to send"), "{}", reply.stderr);
}

#[test]
fn status_shows_which_path_pending_changes_are_on() {
    let d = Deployment::new();
    let spec = NodeSpec {
        device: "v1".into(),
        parent: Some("127.0.0.1:9".parse().unwrap()),
        ..NodeSpec::default()
    };
    let village_home = d.home(VILLAGE, "红星村", &spec);
    let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::default());
    let mut village = Ledger::open(&village_home).unwrap();
    fill_village(&mut village, 2, 3);
    let s = status(&mut village);
    let total = s["parent"]["pending_changes"].as_u64().unwrap();
    assert!(total > 0);
    assert_eq!(
        s["parent"]["pending"]["direct"].as_u64(),
        Some(total),
        "{s}"
    );
    assert!(s["parent"]["pending"]["oldest"].is_string(), "{s}");

    let file = d.dir().join("v.bundle");
    ok(run(&mut village, &export_args(&file, &township_home)));
    // Sending signs the writes: the bundle carries them and one attestation.
    let in_bundle = total + 1;
    let s = status(&mut village);
    assert_eq!(
        s["parent"]["pending"]["bundle"].as_u64(),
        Some(in_bundle),
        "{s}"
    );
    assert_eq!(s["parent"]["pending"]["direct"].as_u64(), Some(0), "{s}");

    // A change made after the export waits for the direct link (or the next bundle).
    fill_village(&mut village, 1, 4);
    let s = status(&mut village);
    assert_eq!(
        s["parent"]["pending"]["bundle"].as_u64(),
        Some(in_bundle),
        "{s}"
    );
    assert!(
        s["parent"]["pending"]["direct"].as_u64().unwrap() > 0,
        "{s}"
    );
    let text = run(&mut village, &["status"]).stdout;
    assert!(text.contains("in bundle files"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundle_commands_work_while_the_nodes_run() {
    use halfsky_tests::deploy::{start, with};
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let town_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
    {
        let mut ledger = Ledger::open(&village_home).unwrap();
        fill_village(&mut ledger, 2, 5);
    }
    let village = start(&village_home).await;
    let town = start(&town_home).await;
    // The running node holds the store: the commands go over its local API.
    let forward = |home: &NodeHome, args: Vec<String>| {
        let home = home.clone();
        tokio::task::spawn_blocking(move || {
            let argv = std::iter::once("halfsky".to_string()).chain(args);
            let cli = <halfsky_node::cli::Cli as clap::Parser>::try_parse_from(argv).unwrap();
            let halfsky_node::cli::Command::Bundle { cmd } = cli.command else {
                panic!("a bundle command")
            };
            let request = halfsky_node::command::Request::Bundle(
                halfsky_node::cli::bundle_request(cmd, Path::new("/")).unwrap(),
            );
            halfsky_node::local_api::try_forward(&home, &request)
                .unwrap()
                .expect("the node is running")
        })
    };
    let file = d.dir().join("v.bundle");
    let ack = d.dir().join("v.ack");
    let steps = [
        (&village_home, export_args(&file, &town_home)),
        (&town_home, import_args(&file, Some(&ack))),
        (
            &village_home,
            vec!["bundle".into(), "ack".into(), text(&ack)],
        ),
    ];
    for (home, args) in steps {
        let reply = forward(home, args).await.unwrap();
        assert!(reply.is_ok(), "{reply:?}");
    }
    let v = with(&village, |l| heads(l, VILLAGE)).await;
    let t = with(&town, |l| heads(l, VILLAGE)).await;
    assert_eq!(v, t);
    town.shutdown().await;
    village.shutdown().await;
}

#[test]
fn an_older_acknowledgement_never_undoes_a_newer_one() {
    let d = Deployment::new();
    let parent = Some("127.0.0.1:9".parse().unwrap());
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", parent, false));
    let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::default());
    let mut village = Ledger::open(&village_home).unwrap();
    let mut township = Ledger::open(&township_home).unwrap();
    let path = |name: &str| d.dir().join(name);
    fill_village(&mut village, 1, 1);
    ok(run(
        &mut village,
        &export_args(&path("1.bundle"), &township_home),
    ));
    fill_village(&mut village, 1, 2);
    ok(run(
        &mut village,
        &export_args(&path("2.bundle"), &township_home),
    ));
    for n in ["1", "2"] {
        let (file, ack) = (path(&format!("{n}.bundle")), path(&format!("{n}.ack")));
        ok(run(&mut township, &import_args(&file, Some(&ack))));
    }
    for ack in ["2.ack", "1.ack"] {
        ok(run(&mut village, &["bundle", "ack", &text(&path(ack))]));
    }
    let s = status(&mut village);
    assert_eq!(s["parent"]["pending_changes"], 0, "{s}");
}

#[test]
fn an_acknowledgement_may_carry_only_the_ancestors_documents() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::default());
    let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::default());
    let mut village = Ledger::open(&village_home).unwrap();
    // Another village's document, smuggled into an acknowledgement.
    let neighbour = d.home("230129100202", "邻村", &NodeSpec::default());
    let raw: Vec<Vec<u8>> = {
        let mut n = Ledger::open(&neighbour).unwrap();
        fill_village(&mut n, 1, 9);
        let org = OrgCode::parse("230129100202").unwrap();
        n.with_automerge(org, |doc| {
            doc.get_changes(&[])
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect()
        })
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let smuggled = Contents::Ack {
        heads: vec![],
        changes: vec![(OrgCode::parse("230129100202").unwrap(), raw)],
    };
    let bytes = seal(
        (&township_home, TOWNSHIP),
        (&village_home, VILLAGE),
        &smuggled,
        now,
        now + 100,
    );
    let file = d.dir().join("smuggled.ack");
    std::fs::write(&file, bytes).unwrap();
    let reply = run(&mut village, &["bundle", "ack", file.to_str().unwrap()]);
    assert_ne!(reply.code, 0);
    assert!(reply.stderr.contains("ancestors"), "{}", reply.stderr);
    assert!(heads(&village, "230129100202").is_empty());
}

#[test]
fn a_bundle_file_carries_each_document_as_one_automerge_bundle() {
    use halfsky_shared::session::Replica;
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    let mut township = Ledger::open(&township_home).unwrap();
    fill_village(&mut village, 60, 5);
    let files = d.dir().join("usb");
    std::fs::create_dir_all(&files).unwrap();
    let file = files.join("village.bundle");
    ok(run(&mut village, &export_args(&file, &township_home)));
    let packed = std::fs::read(&file).unwrap();
    assert_eq!(packed[bundle::MAGIC.len()], bundle::PACKED_FORMAT);

    // The same changes sealed raw, as the format before packing carried them.
    let org = OrgCode::parse(VILLAGE).unwrap();
    let raw = village.changes_since(&org, &[]).unwrap().unwrap();
    let now = chrono::Utc::now().timestamp();
    let unpacked = seal(
        (&village_home, VILLAGE),
        (&township_home, TOWNSHIP),
        &Contents::Changes {
            docs: vec![(org, raw)],
            held: vec![],
        },
        now,
        now + 3600,
    );
    assert!(
        packed.len() * 2 < unpacked.len(),
        "packed {} B against {} B raw",
        packed.len(),
        unpacked.len()
    );

    // It imports whole; a packed document that is not a bundle is refused, nothing changed.
    let garbage = seal(
        (&village_home, VILLAGE),
        (&township_home, TOWNSHIP),
        &Contents::Packed {
            docs: vec![(org, b"not an automerge bundle".to_vec())],
            held: vec![],
        },
        now,
        now + 3600,
    );
    let bad = files.join("garbage.bundle");
    std::fs::write(&bad, garbage).unwrap();
    let reply = run(&mut township, &import_args(&bad, None));
    assert_ne!(reply.code, 0);
    assert!(reply.stderr.contains("malformed"), "{}", reply.stderr);
    assert!(heads(&township, VILLAGE).is_empty());
    ok(run(&mut township, &import_args(&file, None)));
    assert_eq!(heads(&township, VILLAGE), heads(&village, VILLAGE));
}
