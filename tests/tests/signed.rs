//! Signed authorship: every change in unit D's document that reaches another node
//! must be attested by a device certificate of D (checked against the CA and the
//! revocation list), so a township cannot forge or alter a village's record, a parent
//! cannot write into its child's document, a revoked device's later changes are
//! refused while its earlier ones stay, and `history` names the verified device.

use std::path::Path;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ChangeHash, ObjType, ReadDoc, ROOT};
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::attestation::{Attestation, DEVICE_PREFIX, SIGNED_PREFIX};
use halfsky_shared::revocation::Revocation;
use halfsky_shared::session::{Delivery, Replica};
use halfsky_shared::{Kind, OrgCode};
use halfsky_tests::deploy::{Deployment, NodeSpec};
use halfsky_tests::{fill_village, VILLAGE};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

const TOWNSHIP: &str = "230129100000";
const COUNTY: &str = "230129000000";
const CITY: &str = "230100000000";

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

fn heads(ledger: &Ledger, org: &OrgCode) -> Vec<ChangeHash> {
    let mut h = ledger.stored_heads(org).unwrap();
    h.sort();
    h
}

/// What `from` holds of `doc` beyond `theirs`, as raw changes.
fn changes(from: &mut Ledger, doc: &str, theirs: &[ChangeHash]) -> Vec<Vec<u8>> {
    Replica::changes_since(from, &org(doc), theirs)
        .unwrap()
        .expect("the sender holds the document")
}

/// Delivers `batch` of `doc` to `to` as a catch-up batch from `sender`; the refusal's
/// text, or `None` if everything was taken.
fn catch_up(to: &mut Ledger, sender: &str, doc: &str, batch: Vec<Vec<u8>>) -> Option<String> {
    Replica::apply_changes(to, sender, &org(doc), batch, Delivery::CatchUp)
        .err()
        .map(|e| e.to_string())
}

/// The same through a live sync message.
fn sync(to: &mut Ledger, sender: &str, doc: &str, batch: Vec<Vec<u8>>) -> Option<String> {
    let message = automerge::sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: batch.into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    let mut state = automerge::sync::State::new();
    Replica::receive(to, sender, &org(doc), &mut state, message)
        .err()
        .map(|e| e.to_string())
}

/// Every record `ledger` counts, and its rollups.
fn totals(ledger: &Ledger) -> String {
    let mut out = String::new();
    for kind in Kind::ALL {
        let ids: Vec<String> = ledger
            .list(kind, "", true)
            .unwrap()
            .into_iter()
            .filter(|r| !r.record.meta.retired)
            .map(|r| r.record.id.to_string())
            .collect();
        out.push_str(&format!("{kind:?}: {ids:?}\n"));
    }
    out.push_str(&format!("{:?}", ledger.index().rollups("").unwrap()));
    out
}

/// The last refusal `ledger` recorded: (rule, reason).
fn last_refusal(ledger: &Ledger) -> (String, String) {
    let r = ledger.trust().refusals().unwrap();
    let r = r.last().expect("a refusal is recorded");
    (r.rule.clone(), r.reason.clone())
}

/// Retires the first household of the village's document in `doc` (what a forger
/// wants: one record fewer in the village's totals) and commits.
fn retire_first_household(doc: &mut AutoCommit) {
    let Ok(Some((_, households))) = doc.get(ROOT, Kind::Household.spec().plural) else {
        panic!("households map")
    };
    let first = doc.keys(&households).next().expect("a household");
    let Ok(Some((_, record))) = doc.get(&households, first.as_str()) else {
        panic!("household record")
    };
    doc.put(&record, "_retired", true).unwrap();
    doc.commit_with(
        CommitOptions::default()
            .with_message(r#"{"op":"retire","by":"230129100201/v1"}"#.to_string()),
    );
}

/// Puts into `doc` an attestation signed with the key and certificate in `home`,
/// naming device `device`, dated `at`, over the document's heads.
fn attest_with(doc: &mut AutoCommit, home: &NodeHome, of: &str, device: &str, at: i64) {
    let key = PrivatePkcs8KeyDer::from_pem_file(home.dir().join("node.key"))
        .unwrap()
        .secret_pkcs8_der()
        .to_vec();
    let cert = CertificateDer::from_pem_file(home.dir().join("node.pem")).unwrap();
    let Ok(Some((automerge::Value::Object(ObjType::Map), meta))) = doc.get(ROOT, "meta") else {
        panic!("meta")
    };
    let heads = doc.get_heads();
    let actor = doc.get_actor().clone();
    let signed = Attestation::sign(&key, org(of), device, &actor, at, &heads).unwrap();
    doc.put(
        &meta,
        format!("{DEVICE_PREFIX}{device}"),
        hex::encode(cert.as_ref()),
    )
    .unwrap();
    doc.put(&meta, format!("{SIGNED_PREFIX}{device}"), signed.to_text())
        .unwrap();
    doc.commit_with(
        CommitOptions::default()
            .with_message(halfsky_shared::attestation::note(org(of), device))
            .with_time(at),
    );
}

/// A node `device` of `unit` that holds the village's honest history (from `from`).
fn holder(d: &Deployment, unit: &str, device: &str, from: &mut Ledger, sender: &str) -> Ledger {
    let home = d.home(unit, unit, &NodeSpec::new(device, None, false));
    let mut ledger = Ledger::open(&home).unwrap();
    let batch = changes(from, VILLAGE, &[]);
    assert_eq!(
        catch_up(&mut ledger, sender, VILLAGE, batch),
        None,
        "honest history"
    );
    ledger
}

#[test]
fn a_township_cannot_forge_or_alter_a_village_record() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    fill_village(&mut village, 3, 11);
    let mut township = Ledger::open(&township_home).unwrap();
    let batch = changes(&mut village, VILLAGE, &[]);
    assert_eq!(
        catch_up(&mut township, "230129100201/v1", VILLAGE, batch),
        None
    );

    // Three counties hold the honest history; each meets one forgery.
    let mut counties: Vec<Ledger> = (1..=3)
        .map(|i| {
            holder(
                &d,
                COUNTY,
                &format!("c{i}"),
                &mut township,
                "230129100000/t1",
            )
        })
        .collect();
    let before = totals(&counties[0]);
    assert!(before.contains(VILLAGE), "{before}");
    let honest = heads(&counties[0], &org(VILLAGE));

    // 1. The township alters a village record in its copy, unsigned.
    township
        .with_automerge(org(VILLAGE), retire_first_household)
        .unwrap();
    let forged = changes(&mut township, VILLAGE, &honest);
    let err = catch_up(&mut counties[0], "230129100000/t1", VILLAGE, forged.clone())
        .expect("the county refuses an unattested change");
    assert!(err.contains("unattested"), "{err}");
    assert_eq!(totals(&counties[0]), before, "totals unchanged");
    assert_eq!(heads(&counties[0], &org(VILLAGE)), honest);
    assert_eq!(last_refusal(&counties[0]).0, "unattested");
    // Refused and recorded, not quarantined: the village's own signed changes still flow.
    assert!(counties[0].trust().quarantined().unwrap().is_empty());

    // The same through a live sync message.
    let err = sync(&mut counties[1], "230129100000/t1", VILLAGE, forged).expect("refused");
    assert!(err.contains("unattested"), "{err}");
    assert_eq!(totals(&counties[1]), before);

    // 2. The township signs the altered heads with its own certificate, in its own
    //    name and then claiming the village device's name: neither is unit D's.
    for claimed in ["t1", "v1"] {
        township
            .with_automerge(org(VILLAGE), |doc| {
                attest_with(
                    doc,
                    &township_home,
                    VILLAGE,
                    claimed,
                    chrono::Utc::now().timestamp(),
                )
            })
            .unwrap();
    }
    let forged = changes(&mut township, VILLAGE, &honest);
    let err = catch_up(&mut counties[2], "230129100000/t1", VILLAGE, forged).expect("refused");
    assert!(err.contains("unattested"), "{err}");
    let (rule, reason) = last_refusal(&counties[2]);
    assert_eq!(rule, "unattested");
    assert!(
        reason.contains("230129100000/t1"),
        "names the real signer: {reason}"
    );
    assert_eq!(totals(&counties[2]), before);
}

#[test]
fn a_parent_cannot_write_into_its_childs_document() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    fill_village(&mut village, 3, 11);
    let mut township = holder(&d, TOWNSHIP, "t1", &mut village, "230129100201/v1");
    let before = totals(&village);
    let own = heads(&village, &org(VILLAGE));

    township
        .with_automerge(org(VILLAGE), retire_first_household)
        .unwrap();
    let down = changes(&mut township, VILLAGE, &own);
    let err = catch_up(&mut village, "230129100000/t1", VILLAGE, down).expect("refused");
    assert!(err.contains("unattested"), "{err}");
    assert_eq!(
        totals(&village),
        before,
        "the village's records are its own"
    );
    assert_eq!(heads(&village, &org(VILLAGE)), own);
}

#[test]
fn a_revoked_devices_later_changes_are_refused_and_its_earlier_ones_stay() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let city_home = d.home(CITY, "哈尔滨市", &NodeSpec::new("m1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    let mut city = Ledger::open(&city_home).unwrap();
    fill_village(&mut village, 3, 11);
    let written = chrono::Utc::now().timestamp();
    let mut township = holder(&d, TOWNSHIP, "t1", &mut village, "230129100201/v1");
    let before = totals(&township);

    // The CA revokes the village's laptop, dated after everything it wrote so far.
    let revoked_at = written + 600;
    let ca_key = PrivatePkcs8KeyDer::from_pem_file(d.ca().join("ca.key"))
        .unwrap()
        .secret_pkcs8_der()
        .to_vec();
    let signed = Revocation {
        org: org(VILLAGE),
        device: "v1".into(),
        reason: "laptop stolen".into(),
        revoked_at,
    }
    .sign(&ca_key)
    .unwrap();
    halfsky_node::pki::revocation::record(&mut city, &signed).unwrap();
    let list = changes(&mut city, CITY, &[]);
    assert_eq!(
        catch_up(&mut township, "230100000000/m1", CITY, list.clone()),
        None
    );

    // The thief signs with the stolen key after the revocation: refused.
    let own = heads(&village, &org(VILLAGE));
    let mut stolen = village
        .with_automerge(org(VILLAGE), |doc| doc.fork())
        .unwrap();
    retire_first_household(&mut stolen);
    attest_with(&mut stolen, &village_home, VILLAGE, "v1", revoked_at + 60);
    let after: Vec<Vec<u8>> = stolen
        .get_changes(&own)
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let err = catch_up(&mut township, "230129100201/v1", VILLAGE, after).expect("refused");
    assert!(err.contains("unattested"), "{err}");
    let (_, reason) = last_refusal(&township);
    assert!(reason.contains("revoked"), "{reason}");
    assert_eq!(
        totals(&township),
        before,
        "earlier changes stay, later ones do not"
    );

    // A node that meets the whole history only now (revocation already held) still
    // takes what the device signed before its revocation.
    let county_home = d.home(COUNTY, "县", &NodeSpec::new("c1", None, false));
    let mut county = Ledger::open(&county_home).unwrap();
    assert_eq!(catch_up(&mut county, "230100000000/m1", CITY, list), None);
    let batch = changes(&mut township, VILLAGE, &[]);
    assert_eq!(
        catch_up(&mut county, "230129100000/t1", VILLAGE, batch),
        None
    );
    assert_eq!(
        heads(&county, &org(VILLAGE)),
        heads(&village, &org(VILLAGE))
    );
}

#[test]
fn history_shows_the_verified_device_of_each_change() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    let women = fill_village(&mut village, 2, 5);
    let mut township = holder(&d, TOWNSHIP, "t1", &mut village, "230129100201/v1");
    let history = township.history(&women[0]).unwrap();
    assert!(!history.is_empty());
    for e in &history {
        assert!(e.verified, "{e:?}");
        assert_eq!(e.by, "230129100201/v1");
    }
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_store_from_before_signed_authorship_is_attested_by_its_own_node_on_upgrade() {
    let d = Deployment::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let home = NodeHome::new(d.dir().join("old-village"));
    copy_tree(&fixtures.join("store-0.1.0"), home.dir());
    let raw = changes(&mut Ledger::open(&home).unwrap(), VILLAGE, &[]);
    // Its history as the previous release left it: no device attested it.
    let mut township = {
        let h = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
        Ledger::open(&h).unwrap()
    };
    let err = catch_up(&mut township, "230129100201/fixture-pc", VILLAGE, raw).expect("refused");
    assert!(err.contains("unattested"), "{err}");

    // The upgrade installs the node's certificate; opening attests its history.
    halfsky_node::pki::issue(d.ca(), org(VILLAGE), "fixture-pc", home.dir()).unwrap();
    let mut upgraded = Ledger::open(&home).unwrap();
    let batch = changes(&mut upgraded, VILLAGE, &[]);
    let mut county = {
        let h = d.home(COUNTY, "县", &NodeSpec::new("c1", None, false));
        Ledger::open(&h).unwrap()
    };
    assert_eq!(
        catch_up(&mut county, "230129100201/fixture-pc", VILLAGE, batch),
        None
    );
    assert_eq!(
        heads(&county, &org(VILLAGE)),
        heads(&upgraded, &org(VILLAGE))
    );
    let woman = county.list(Kind::Woman, VILLAGE, true).unwrap()[0]
        .record
        .id
        .clone();
    let history = county.history(&woman).unwrap();
    assert!(
        history
            .iter()
            .all(|e| e.verified && e.by == "230129100201/fixture-pc"),
        "{history:?}"
    );
}

/// How many of `raw` changes are attestations.
fn attestations_in(raw: &[Vec<u8>]) -> usize {
    raw.iter()
        .filter(|c| {
            automerge::Change::from_bytes((*c).clone())
                .ok()
                .and_then(|c| c.message().map(str::to_string))
                .is_some_and(|m| {
                    m.contains(&format!("\"{}\"", halfsky_shared::attestation::NOTE_OP))
                })
        })
        .count()
}

/// Writes are signed when they leave the node and every `ATTEST_EVERY_EDITS` writes
/// in between, not one by one: 100 offline writes carry a handful of attestations,
/// not 100, and the parent still takes every change, also in bounded catch-up batches.
#[test]
fn offline_writes_are_signed_when_sent_and_every_few_dozen_writes() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    let before = changes(&mut village, VILLAGE, &[]);
    let sent = heads(&village, &org(VILLAGE));
    let mut generator = halfsky_shared::synthetic::Generator::new(9, village.today());
    for _ in 0..100 {
        village
            .add(Kind::Household, &generator.household())
            .unwrap();
    }
    let raw = changes(&mut village, VILLAGE, &sent);
    let every = halfsky_node::ledger::ATTEST_EVERY_EDITS as usize;
    assert_eq!(
        attestations_in(&raw),
        100 / every + 1,
        "one after every {every} writes and one when sent"
    );
    // Sending again without new writes signs nothing more.
    let again = changes(&mut village, VILLAGE, &sent);
    assert_eq!(again.len(), raw.len());

    let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
    let mut township = Ledger::open(&township_home).unwrap();
    assert_eq!(
        catch_up(&mut township, "230129100201/v1", VILLAGE, before),
        None
    );
    for frame in halfsky_shared::session::batches(org(VILLAGE), raw) {
        let halfsky_shared::wire::Frame::Changes { changes, .. } = frame else {
            panic!("catch-up frames carry changes");
        };
        assert_eq!(
            catch_up(&mut township, "230129100201/v1", VILLAGE, changes),
            None
        );
    }
    assert_eq!(
        heads(&township, &org(VILLAGE)),
        heads(&village, &org(VILLAGE))
    );
    assert_eq!(totals(&township), totals(&village));
}

/// A delivery split before the attestation that covers it (a dropped link, or
/// Automerge's sync holding a change back a round) completes when the attestation
/// comes alone: the changes waited for it instead of being lost until a reconnect.
#[test]
fn changes_wait_for_the_attestation_that_covers_them() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    fill_village(&mut village, 2, 8);
    let raw = changes(&mut village, VILLAGE, &[]);
    let (body, attestation) = raw.split_at(raw.len() - 1);
    assert_eq!(
        attestations_in(attestation),
        1,
        "sending ends with a signature"
    );
    let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
    let mut township = Ledger::open(&township_home).unwrap();
    let err = catch_up(&mut township, "230129100201/v1", VILLAGE, body.to_vec())
        .expect("the unsigned tail is not taken yet");
    assert!(err.contains("unattested"), "{err}");
    assert_ne!(
        heads(&township, &org(VILLAGE)),
        heads(&village, &org(VILLAGE))
    );
    assert_eq!(
        catch_up(
            &mut township,
            "230129100201/v1",
            VILLAGE,
            attestation.to_vec()
        ),
        None,
        "the attestation alone completes the delivery"
    );
    assert_eq!(
        heads(&township, &org(VILLAGE)),
        heads(&village, &org(VILLAGE))
    );
    assert_eq!(totals(&township), totals(&village));
}
