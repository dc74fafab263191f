//! Hostile changes, crafted outside the normal writer, at the doors where changes from
//! another node come in: a sync `Changes` batch (the catch-up door, through the
//! [`Replica`] the session applies with) and a sealed bundle file. An inflation bomb
//! (refused before it is inflated), garbage and truncated change bytes are each
//! refused with their rule; the township's copy is unchanged and still takes the
//! village's real changes, reindexes and exports.

use std::io::Write;
use std::path::Path;

use automerge::ChangeHash;
use halfsky_node::cli::Captured;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::bundle::{self, Contents, Sender};
use halfsky_shared::session::Replica;
use halfsky_shared::OrgCode;
use halfsky_tests::deploy::{Deployment, NodeSpec};
use halfsky_tests::{fill_village, VILLAGE};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

const TOWNSHIP: &str = "230129100000";

fn run(ledger: &mut Ledger, args: &[&str]) -> Captured {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    halfsky_node::cli::execute_args(ledger, Path::new("/"), &args)
}

fn heads(ledger: &Ledger, org: &OrgCode) -> Vec<ChangeHash> {
    let mut h = ledger.stored_heads(org).unwrap();
    h.sort();
    h
}

/// A compressed-change chunk (type 2) whose DEFLATE data inflates to `size` zero
/// bytes: a few KiB on the wire.
fn inflation_bomb(size: usize) -> Vec<u8> {
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1024 * 1024];
    for _ in 0..size / block.len() {
        deflate.write_all(&block).unwrap();
    }
    let data = deflate.finish().unwrap();
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = data.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            chunk.push(byte);
            break;
        }
        chunk.push(byte | 0x80);
    }
    chunk.extend(data);
    chunk
}

/// The village's real changes, as raw bytes.
fn real_changes(village: &mut Ledger, org: OrgCode) -> Vec<Vec<u8>> {
    Replica::changes_since(village, &org, &[])
        .unwrap()
        .expect("the village holds its document")
}

/// A sealed bundle of `docs` from the village at `from` to the township at `to`, as
/// the CLI would write it but with contents of our choosing.
fn hostile_bundle(from: &NodeHome, to: &NodeHome, docs: bundle::DocChanges) -> Vec<u8> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let key = PrivatePkcs8KeyDer::from_pem_file(from.dir().join("node.key"))
        .unwrap()
        .secret_pkcs8_der()
        .to_vec();
    let cert = CertificateDer::from_pem_file(from.dir().join("node.pem"))
        .unwrap()
        .to_vec();
    let to_cert = CertificateDer::from_pem_file(to.dir().join("node.pem")).unwrap();
    let (_, parsed) = X509Certificate::from_der(&to_cert).unwrap();
    let now = chrono::Utc::now().timestamp();
    bundle::seal(
        Sender {
            org: OrgCode::parse(VILLAGE).unwrap(),
            cert_der: &cert,
            key_pkcs8: &key,
        },
        OrgCode::parse(TOWNSHIP).unwrap(),
        &parsed.public_key().subject_public_key.data,
        &Contents::Changes { docs, held: vec![] },
        now,
        now + 3600,
        [9; 32],
    )
    .unwrap()
}

#[test]
fn hostile_changes_are_refused_at_the_sync_and_bundle_doors() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    let mut township = Ledger::open(&township_home).unwrap();
    fill_village(&mut village, 3, 5);
    let org = OrgCode::parse(VILLAGE).unwrap();
    let real = real_changes(&mut village, org);
    let first = real[0].clone();

    let bomb = inflation_bomb(64 * 1024 * 1024);
    assert!(bomb.len() < 256 * 1024, "the bomb is small on the wire");
    let hostile: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bomb", bomb, "change-too-large"),
        (
            "garbage",
            b"not an automerge change".to_vec(),
            "malformed-change",
        ),
        (
            "truncated",
            first[..first.len() - 3].to_vec(),
            "malformed-change",
        ),
    ];

    // The catch-up door: a `Changes` batch, valid changes first, the hostile one last.
    for (name, bytes, rule) in &hostile {
        let mut batch = real.clone();
        batch.push(bytes.clone());
        let err = Replica::apply_changes(&mut township, &org, batch)
            .expect_err(name)
            .to_string();
        assert!(err.contains(rule), "{name}: {err}");
        assert!(err.contains(VILLAGE), "{name}: {err}");
        assert!(heads(&township, &org).is_empty(), "{name}: nothing applied");
    }

    // The bundle door.
    let files = d.dir().join("usb");
    std::fs::create_dir_all(&files).unwrap();
    for (name, bytes, rule) in &hostile {
        let mut batch = real.clone();
        batch.push(bytes.clone());
        let file = files.join(format!("{name}.bundle"));
        std::fs::write(
            &file,
            hostile_bundle(&village_home, &township_home, vec![(org, batch)]),
        )
        .unwrap();
        let reply = run(&mut township, &["bundle", "import", file.to_str().unwrap()]);
        assert_ne!(reply.code, 0, "{name}");
        assert!(reply.stderr.contains(rule), "{name}: {}", reply.stderr);
        assert!(heads(&township, &org).is_empty(), "{name}: nothing applied");
    }

    // The township still works: it takes the real changes, reindexes and exports.
    assert!(Replica::apply_changes(&mut township, &org, real).unwrap());
    assert_eq!(heads(&township, &org), heads(&village, &org));
    reindexes_and_exports_three_households(&mut township, &d);
}

/// The township still reindexes, and exports the village's three households.
fn reindexes_and_exports_three_households(township: &mut Ledger, d: &Deployment) {
    let reply = run(township, &["reindex"]);
    assert_eq!(reply.code, 0, "{}", reply.stderr);
    let out = d.dir().join("households.csv");
    let reply = run(
        township,
        &[
            "export",
            "--kind",
            "household",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(reply.code, 0, "{}", reply.stderr);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "a header and three households");
}

/// The village's document rebuilt from `real`, to write into as a hostile device
/// (actor bytes all `actor`) outside the normal writer.
fn hostile_copy(real: &[Vec<u8>], actor: u8) -> automerge::AutoCommit {
    let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::from([actor; 16]));
    let changes = real
        .iter()
        .map(|r| automerge::Change::from_bytes(r.clone()).unwrap())
        .collect::<Vec<_>>();
    doc.apply_changes(changes).unwrap();
    doc
}

/// A change made outside the normal writer, on top of `real`: it deletes the root
/// map named `key` (a kind map, or `meta`).
fn deleting_change(real: &[Vec<u8>], key: &str) -> Vec<u8> {
    use automerge::transaction::Transactable;
    let mut doc = hostile_copy(real, 7);
    doc.delete(automerge::ROOT, key).unwrap();
    let hash = doc.commit().expect("the deletion is a change");
    doc.get_change_by_hash(&hash).unwrap().raw_bytes().to_vec()
}

#[test]
fn a_deleted_kind_map_never_bricks_the_township() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::default());
    let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::default());
    let mut village = Ledger::open(&village_home).unwrap();
    let mut township = Ledger::open(&township_home).unwrap();
    fill_village(&mut village, 3, 6);
    let org = OrgCode::parse(VILLAGE).unwrap();
    let mut batch = real_changes(&mut village, org);
    let deletion = deleting_change(&batch, "visits");
    batch.push(deletion);
    Replica::apply_changes(&mut township, &org, batch).unwrap();

    // Reading, reindexing, listing and exporting keep working; the other kinds are intact.
    reindexes_and_exports_three_households(&mut township, &d);
    drop(township);
    let mut township = Ledger::open(&township_home).unwrap();
    let reply = run(&mut township, &["reindex"]);
    assert_eq!(reply.code, 0, "{}", reply.stderr);
}

/// A change made outside the normal writer, on top of `real`: it writes a woman
/// under `id` (another unit's id) into the village's `women` map.
fn foreign_record_change(real: &[Vec<u8>], id: &str) -> Vec<u8> {
    use automerge::transaction::Transactable;
    use automerge::ReadDoc;
    let mut doc = hostile_copy(real, 8);
    let (_, women) = doc.get(automerge::ROOT, "women").unwrap().unwrap();
    let obj = doc.put_object(&women, id, automerge::ObjType::Map).unwrap();
    doc.put(&obj, "_fields", r#"{"name":"假名","birth_year":1980}"#)
        .unwrap();
    doc.put(&obj, "_created_at", "2026-01-01T00:00:00Z")
        .unwrap();
    let hash = doc.commit().expect("the write is a change");
    doc.get_change_by_hash(&hash).unwrap().raw_bytes().to_vec()
}

#[test]
fn a_record_under_a_siblings_id_is_not_filed_under_the_sibling() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::default());
    let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::default());
    let mut village = Ledger::open(&village_home).unwrap();
    let mut township = Ledger::open(&township_home).unwrap();
    let ids = fill_village(&mut village, 2, 7);
    let woman = ids
        .iter()
        .find(|id| id.kind() == halfsky_shared::Kind::Woman)
        .expect("a village has women");
    let sibling = "230129100202";
    let forged = woman.to_string().replacen(VILLAGE, sibling, 1);
    assert_ne!(forged, woman.to_string());
    let org = OrgCode::parse(VILLAGE).unwrap();
    let mut batch = real_changes(&mut village, org);
    batch.push(foreign_record_change(&batch, &forged));
    Replica::apply_changes(&mut township, &org, batch).unwrap();
    for args in [
        &["show", forged.as_str()][..],
        &["reindex"],
        &["show", forged.as_str()],
    ] {
        let reply = run(&mut township, args);
        if args[0] == "show" {
            assert_ne!(
                reply.code, 0,
                "{forged} must not be indexed: {}",
                reply.stdout
            );
        } else {
            assert_eq!(reply.code, 0, "{}", reply.stderr);
        }
    }
    let reply = run(&mut township, &["show", &woman.to_string()]);
    assert_eq!(reply.code, 0, "{}", reply.stderr);
}
