//! Hostile changes, crafted outside the normal writer, through every door where
//! changes from another node come in: a live sync message (the session between two
//! real ledgers, and the [`Replica::receive`] it calls), a catch-up `Changes` batch,
//! a sealed bundle file and a relay item (the same sealed bundle, given to the receive
//! path the relay client calls; `hostile_relay.rs` sends it through a running relay
//! server to a running township).
//!
//! Bytes that are no change at all (an inflation bomb, garbage, a truncation) are
//! refused with their rule and quarantine nothing. A change that breaks record-level
//! authority (a record under a sibling's id, a deleted kind map, a deleted meta, an
//! enumeration value from the future) is refused with its rule, recorded with the
//! sender, and quarantines its document: the township's totals stay, later changes
//! to that document are held, and the township still adds, reindexes, exports and
//! takes its other documents; `quarantine release` applies what was held, `drop`
//! forgets it. A change with a missing dependency is refused without quarantine.

use std::path::Path;

use automerge::ChangeHash;
use halfsky_node::cli::Captured;
use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::bundle;
use halfsky_shared::session::{Delivery, Replica};
use halfsky_shared::OrgCode;
use halfsky_tests::deploy::{Deployment, NodeSpec};
use halfsky_tests::hostile_input::{
    foreign_record_change, hostile_copy, inflation_bomb, sealed_bundle,
};
use halfsky_tests::{fill_village, VILLAGE};

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

/// The village's real changes, as raw bytes.
fn real_changes(village: &mut Ledger, org: OrgCode) -> Vec<Vec<u8>> {
    Replica::changes_since(village, &org, &[])
        .unwrap()
        .expect("the village holds its document")
}

/// A sealed bundle of `docs` from the village at `from` to the township at `to`, as
/// the CLI would write it but with contents of our choosing.
fn hostile_bundle(from: &NodeHome, to: &NodeHome, docs: bundle::DocChanges) -> Vec<u8> {
    sealed_bundle(
        from,
        OrgCode::parse(VILLAGE).unwrap(),
        to,
        OrgCode::parse(TOWNSHIP).unwrap(),
        docs,
    )
}

/// The sender's name as the township's certificate checks see it.
const SENDER: &str = "230129100201/v1";

/// A sync message carrying `changes`, as a peer could send it.
fn sync_message(changes: Vec<Vec<u8>>) -> automerge::sync::Message {
    automerge::sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: changes.into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
}

/// The doors a test drives directly (the live session is driven in its own test).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Door {
    Sync,
    Catchup,
    Push,
    Bundle,
    Relay,
}

const DOORS: [Door; 5] = [
    Door::Sync,
    Door::Catchup,
    Door::Push,
    Door::Bundle,
    Door::Relay,
];

/// Everything a test needs: a village (the sender) and a township (the receiver).
struct Pair {
    d: Deployment,
    village_home: NodeHome,
    township_home: NodeHome,
    village: Ledger,
    township: Ledger,
    org: OrgCode,
}

impl Pair {
    fn new() -> Pair {
        let d = Deployment::new();
        let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false));
        let township_home = d.home(TOWNSHIP, "兴隆镇", &NodeSpec::new("t1", None, false));
        let village = Ledger::open(&village_home).unwrap();
        let township = Ledger::open(&township_home).unwrap();
        Pair {
            d,
            village_home,
            township_home,
            village,
            township,
            org: OrgCode::parse(VILLAGE).unwrap(),
        }
    }

    /// Delivers `batch` for `org` to the township through `door`; the error text of
    /// a refusal, or `None` if everything was taken.
    fn deliver(&mut self, door: Door, org: OrgCode, batch: Vec<Vec<u8>>) -> Option<String> {
        match door {
            Door::Sync => {
                let mut state = automerge::sync::State::new();
                Replica::receive(
                    &mut self.township,
                    SENDER,
                    &org,
                    &mut state,
                    sync_message(batch),
                )
                .err()
                .map(|e| e.to_string())
            }
            Door::Catchup => {
                Replica::apply_changes(&mut self.township, SENDER, &org, batch, Delivery::CatchUp)
                    .err()
                    .map(|e| e.to_string())
            }
            Door::Push => {
                Replica::apply_changes(&mut self.township, SENDER, &org, batch, Delivery::Push)
                    .err()
                    .map(|e| e.to_string())
            }
            Door::Bundle => {
                let file = self.d.dir().join(format!("{}.bundle", rand_name()));
                std::fs::write(
                    &file,
                    hostile_bundle(&self.village_home, &self.township_home, vec![(org, batch)]),
                )
                .unwrap();
                let reply = run(
                    &mut self.township,
                    &["bundle", "import", file.to_str().unwrap()],
                );
                (reply.code != 0).then_some(reply.stderr)
            }
            Door::Relay => {
                let bytes =
                    hostile_bundle(&self.village_home, &self.township_home, vec![(org, batch)]);
                let keys = bundle_keys(&self.township_home);
                match halfsky_node::sync::bundle::receive(
                    &mut self.township,
                    &keys,
                    &bytes,
                    None,
                    "relay item",
                    halfsky_node::sync::freshness::ArrivalPath::Relay,
                ) {
                    Ok(halfsky_node::sync::bundle::Received::Changes { refused, .. })
                        if refused.is_empty() =>
                    {
                        None
                    }
                    Ok(halfsky_node::sync::bundle::Received::Changes { refused, .. }) => {
                        Some(refused.join("\n"))
                    }
                    other => panic!("a bundle of changes: {other:?}"),
                }
            }
        }
    }

    /// What the township counts: every record of every kind, and the rollups.
    fn totals(&self) -> String {
        let mut out = String::new();
        for kind in halfsky_shared::Kind::ALL {
            let ids: Vec<String> = self
                .township
                .list(kind, "", true)
                .unwrap()
                .into_iter()
                .map(|r| r.record.id.to_string())
                .collect();
            out.push_str(&format!("{kind:?}: {ids:?}\n"));
        }
        out.push_str(&format!("{:?}", self.township.index().rollups("").unwrap()));
        out
    }
}

fn bundle_keys(home: &NodeHome) -> halfsky_node::sync::bundle::Keys {
    halfsky_node::sync::bundle::Keys::load(home.dir()).unwrap()
}

/// A file name no other delivery of the same test uses.
fn rand_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("delivery-{}", N.fetch_add(1, Ordering::Relaxed))
}

#[test]
fn bytes_that_are_no_change_are_refused_at_every_door_without_quarantine() {
    let mut p = Pair::new();
    fill_village(&mut p.village, 3, 5);
    let org = p.org;
    let real = real_changes(&mut p.village, org);
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
    let mut refusals = 0;
    for door in DOORS {
        for (name, bytes, rule) in &hostile {
            let mut batch = real.clone();
            batch.push(bytes.clone());
            let err = p
                .deliver(door, org, batch)
                .unwrap_or_else(|| panic!("{door:?} {name}: taken"));
            assert!(err.contains(rule), "{door:?} {name}: {err}");
            assert!(err.contains(VILLAGE), "{door:?} {name}: {err}");
            assert!(
                heads(&p.township, &org).is_empty(),
                "{door:?} {name}: nothing applied"
            );
            refusals += 1;
        }
    }
    let recorded = p.township.trust().refusals().unwrap();
    assert_eq!(recorded.len(), refusals, "every refusal is recorded");
    for door in ["sync", "catch-up", "push", "bundle", "relay"] {
        let through = recorded.iter().filter(|r| r.door == door).count();
        assert_eq!(
            through,
            hostile.len(),
            "recorded under the door it came through: {door}"
        );
    }
    assert!(recorded.iter().all(|r| r.sender == SENDER && r.org == org));
    assert!(p.township.trust().quarantined().unwrap().is_empty());

    // An oversized frame never gets as far as a door: its length prefix is refused.
    let too_large = (halfsky_shared::wire::MAX_FRAME as u32 + 1).to_be_bytes();
    assert!(halfsky_shared::wire::Frame::body_len(too_large).is_err());

    // The township still works: it takes the real changes, reindexes and exports.
    assert_eq!(p.deliver(Door::Catchup, org, real), None);
    assert_eq!(heads(&p.township, &org), heads(&p.village, &org));
    reindexes_and_exports_three_households(&mut p.township, &p.d);
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

/// A change made outside the normal writer, on top of `real`: it deletes the root
/// map named `key` (a kind map, or `meta`).
fn deleting_change(real: &[Vec<u8>], key: &str) -> Vec<u8> {
    use automerge::transaction::Transactable;
    let mut doc = hostile_copy(real, 7);
    doc.delete(automerge::ROOT, key).unwrap();
    let hash = doc.commit().expect("the deletion is a change");
    doc.get_change_by_hash(&hash).unwrap().raw_bytes().to_vec()
}

/// A change made outside the normal writer, on top of `real`: it sets the first
/// woman's status to a code no release of today knows.
fn future_enum_change(real: &[Vec<u8>]) -> Vec<u8> {
    use automerge::transaction::Transactable;
    use automerge::ReadDoc;
    let mut doc = hostile_copy(real, 9);
    let (_, women) = doc.get(automerge::ROOT, "women").unwrap().unwrap();
    let first = doc.keys(&women).next().expect("the village has women");
    let (_, woman) = doc.get(&women, first.as_str()).unwrap().unwrap();
    doc.put(&woman, "status", "graduated").unwrap();
    let hash = doc.commit().expect("the write is a change");
    doc.get_change_by_hash(&hash).unwrap().raw_bytes().to_vec()
}

/// One authority case: a name, the hostile change on top of the village's history,
/// and the rule that refuses it.
type Case = (&'static str, fn(&[Vec<u8>]) -> Vec<u8>, &'static str);

fn sibling_record(real: &[Vec<u8>]) -> Vec<u8> {
    foreign_record_change(real, "230129100202-W-ABCD-1")
}

fn deleted_kind_map(real: &[Vec<u8>]) -> Vec<u8> {
    deleting_change(real, "visits")
}

fn deleted_meta(real: &[Vec<u8>]) -> Vec<u8> {
    deleting_change(real, "meta")
}

const CASES: [Case; 4] = [
    (
        "a record under a sibling's id",
        sibling_record,
        "foreign-record",
    ),
    ("a deleted kind map", deleted_kind_map, "protected-layout"),
    ("a deleted meta", deleted_meta, "protected-layout"),
    (
        "an enum value from the future",
        future_enum_change,
        "unknown-value",
    ),
];

/// The village takes `hostile` as a bad device would have written it, then writes
/// one more household on top (a later change that depends on it). Returns the
/// changes the township lacks.
fn poisoned_history(p: &mut Pair, hostile: Vec<u8>) -> Vec<Vec<u8>> {
    let org = p.org;
    p.village
        .apply_changes(org, vec![automerge::Change::from_bytes(hostile).unwrap()])
        .unwrap();
    let mut generator = halfsky_shared::synthetic::Generator::new(77, p.village.today());
    p.village
        .add(halfsky_shared::Kind::Household, &generator.household())
        .unwrap();
    let theirs = heads(&p.township, &org);
    Replica::changes_since(&mut p.village, &org, &theirs)
        .unwrap()
        .expect("the township's heads are the village's")
}

/// The township still adds its own records, reindexes, exports the three
/// households it counted, and takes a sibling village's document.
fn still_works(p: &mut Pair, door: Door) {
    let mut generator = halfsky_shared::synthetic::Generator::new(3, p.township.today());
    p.township
        .add(halfsky_shared::Kind::Training, &generator.training(&[]))
        .unwrap();
    reindexes_and_exports_three_households(&mut p.township, &p.d);
    let sibling_home =
        p.d.home("230129100202", "前进村", &NodeSpec::new("s1", None, false));
    let mut sibling = Ledger::open(&sibling_home).unwrap();
    fill_village(&mut sibling, 2, 8);
    let sibling_org = OrgCode::parse("230129100202").unwrap();
    let batch = real_changes(&mut sibling, sibling_org);
    // The bundle doors check the signer: the sibling's documents come through the
    // direct doors (its own bundles are refused as from the wrong sender, as they should).
    let door = if matches!(door, Door::Bundle | Door::Relay) {
        Door::Catchup
    } else {
        door
    };
    assert_eq!(p.deliver(door, sibling_org, batch), None);
    assert_eq!(
        heads(&p.township, &sibling_org),
        heads(&sibling, &sibling_org)
    );
}

/// Whether the case deletes `meta` (then the village cannot attest on top of it).
fn rule_deletes_meta(name: &str) -> bool {
    name == "a deleted meta"
}

#[test]
fn authority_violations_are_refused_and_quarantined_at_every_door() {
    for door in DOORS {
        for (i, (name, make, rule)) in CASES.iter().enumerate() {
            let mut p = Pair::new();
            fill_village(&mut p.village, 3, 11);
            let org = p.org;
            let real = real_changes(&mut p.village, org);
            assert_eq!(
                p.deliver(door, org, real.clone()),
                None,
                "{door:?}: honest history"
            );
            let totals = p.totals();

            let batch = poisoned_history(&mut p, make(&real));
            let err = p
                .deliver(door, org, batch.clone())
                .unwrap_or_else(|| panic!("{door:?} {name}: taken"));
            assert!(err.contains(rule), "{door:?} {name}: {err}");
            assert_eq!(p.totals(), totals, "{door:?} {name}: totals unchanged");
            let refusals = p.township.trust().refusals().unwrap();
            let refusal = refusals.last().expect("recorded");
            assert_eq!(
                (refusal.rule.as_str(), refusal.sender.as_str(), refusal.org),
                (*rule, SENDER, org),
                "{door:?} {name}"
            );
            let quarantined = p.township.trust().quarantined().unwrap();
            assert_eq!(quarantined.len(), 1, "{door:?} {name}");
            // The village's device attests its document's heads once, before sending:
            // one attestation depends on the bad change as well (none once meta, where
            // attestations live, is deleted).
            let held = if rule_deletes_meta(name) { 2 } else { 3 };
            assert_eq!(
                quarantined[0].held, held,
                "{door:?} {name}: the change, its dependent and the attestation"
            );

            // Later changes wait: the same batch again is held, not counted.
            let again = p.deliver(door, org, batch).expect("held");
            assert!(again.contains("quarantined"), "{door:?} {name}: {again}");
            assert_eq!(p.township.trust().quarantined().unwrap()[0].held, held);
            assert_eq!(p.totals(), totals);
            let reply = run(&mut p.township, &["status"]);
            assert!(reply.stdout.contains("QUARANTINED"), "{}", reply.stdout);
            assert!(reply.stdout.contains(rule), "{}", reply.stdout);

            still_works(&mut p, door);

            // Decide: release the enum case (an upgrade would read it), drop the rest;
            // alternate for the others so both decisions run at every door.
            let release = *rule == "unknown-value" || i % 2 == 1;
            let verb = if release { "release" } else { "drop" };
            let reply = run(&mut p.township, &["quarantine", verb, VILLAGE]);
            assert_eq!(reply.code, 0, "{}", reply.stderr);
            assert!(p.township.trust().quarantined().unwrap().is_empty());
            let village_heads = heads(&p.village, &org);
            if release {
                assert_eq!(heads(&p.township, &org), village_heads, "{door:?} {name}");
            } else {
                assert_ne!(heads(&p.township, &org), village_heads, "{door:?} {name}");
                assert_eq!(
                    p.township
                        .list(halfsky_shared::Kind::Household, VILLAGE, true)
                        .unwrap()
                        .len(),
                    3,
                    "{door:?} {name}: dropped changes are not counted"
                );
            }
            let reply = run(&mut p.township, &["reindex"]);
            assert_eq!(reply.code, 0, "{}", reply.stderr);
        }
    }
}

/// What a village sent once (attested), then all of it after one more household
/// and the attestation that covers it; that attestation alone lacks its dependency.
struct Gap {
    early: Vec<Vec<u8>>,
    real: Vec<Vec<u8>>,
    last: Vec<u8>,
}

/// A pair whose village holds a [`Gap`] for the township.
fn a_gap() -> (Pair, Gap) {
    let mut p = Pair::new();
    fill_village(&mut p.village, 3, 12);
    let org = p.org;
    let early = real_changes(&mut p.village, org);
    let mut generator = halfsky_shared::synthetic::Generator::new(5, p.village.today());
    p.village
        .add(halfsky_shared::Kind::Household, &generator.household())
        .unwrap();
    let real = real_changes(&mut p.village, org);
    let last = real.last().expect("the attestation").clone();
    (p, Gap { early, real, last })
}

#[test]
fn a_change_with_a_missing_dependency_is_refused_without_quarantine() {
    let (mut p, Gap { early, real, last }) = a_gap();
    let org = p.org;
    assert_eq!(p.deliver(Door::Catchup, org, early), None);
    let err = p.deliver(Door::Catchup, org, vec![last]).expect("refused");
    assert!(err.contains("missing-dependency"), "{err}");
    assert!(p.township.trust().quarantined().unwrap().is_empty());
    assert_eq!(p.deliver(Door::Catchup, org, real), None, "complete later");
    assert_eq!(heads(&p.township, &org), heads(&p.village, &org));
}

#[test]
fn a_sync_message_ahead_of_its_dependency_waits_and_asks_for_it() {
    let (mut p, Gap { early, real, last }) = a_gap();
    let org = p.org;
    let missing: Vec<_> = real[early.len()..real.len() - 1]
        .iter()
        .map(|c| automerge::Change::from_bytes(c.clone()).unwrap().hash())
        .collect();
    assert_eq!(p.deliver(Door::Sync, org, early), None);
    let refusals_before = p.township.trust().refusals().unwrap().len();
    // Automerge's bloom filter can take a dependency for held: the change waits, is
    // not refused, and the township's next message asks for what it lacks.
    assert_eq!(p.deliver(Door::Sync, org, vec![last]), None, "waits");
    assert_eq!(
        p.township.trust().refusals().unwrap().len(),
        refusals_before,
        "no refusal"
    );
    let mut state = automerge::sync::State::new();
    let ask = Replica::generate(&mut p.township, &org, &mut state)
        .unwrap()
        .expect("a message");
    assert!(
        missing.iter().any(|h| ask.need.contains(h)),
        "asks for the missing change: {:?}",
        ask.need
    );
    assert_eq!(p.deliver(Door::Sync, org, real), None, "complete later");
    assert_eq!(heads(&p.township, &org), heads(&p.village, &org));
}

/// Runs a sync session between the village (child) and the township (parent), both
/// real ledgers, passing frames in memory until both are quiet; returns the
/// village's events. (The session sends what a far-behind parent lacks as catch-up
/// batches, then finishes with sync messages.)
fn sync_in_memory(p: &mut Pair) -> Vec<halfsky_shared::session::SessionEvent> {
    use halfsky_shared::session::{Role, Session};
    let township_org = OrgCode::parse(TOWNSHIP).unwrap();
    let mut child = Session::new(Role::Child, p.org, "v1", township_org, "t1").unwrap();
    let mut parent = Session::new(Role::Parent, township_org, "t1", p.org, "v1").unwrap();
    let mut to_parent = child.start(&mut p.village);
    let mut to_child = parent.start(&mut p.township);
    let mut events = Vec::new();
    for _ in 0..200 {
        if to_parent.is_empty() && to_child.is_empty() {
            break;
        }
        let mut next_child = Vec::new();
        for f in to_parent.drain(..) {
            next_child.extend(parent.handle(f, &mut p.township));
        }
        let mut next_parent = Vec::new();
        for f in to_child.drain(..) {
            next_parent.extend(child.handle(f, &mut p.village));
        }
        events.extend(child.take_events());
        to_parent = next_parent;
        to_child = next_child;
    }
    events
}

#[test]
fn a_live_session_refuses_a_foreign_record_and_the_sender_hears_why() {
    use halfsky_shared::session::SessionEvent;
    let mut p = Pair::new();
    fill_village(&mut p.village, 3, 13);
    let events = sync_in_memory(&mut p);
    assert!(events.contains(&SessionEvent::Synced), "{events:?}");
    assert_eq!(heads(&p.township, &p.org), heads(&p.village, &p.org));
    let totals = p.totals();

    let org = p.org;
    let real = real_changes(&mut p.village, org);
    poisoned_history(&mut p, sibling_record(&real));
    let events = sync_in_memory(&mut p);
    let heard = events.iter().find_map(|e| match e {
        SessionEvent::Refused {
            reason,
            by_peer: true,
            ..
        } => Some(reason.clone()),
        _ => None,
    });
    let heard = heard.unwrap_or_else(|| panic!("the village hears of the refusal: {events:?}"));
    assert!(heard.contains("foreign-record"), "{heard}");
    assert_eq!(p.totals(), totals, "nothing of it is counted");
    let refusals = p.township.trust().refusals().unwrap();
    assert!(
        refusals
            .iter()
            .any(|r| r.rule == "foreign-record" && r.sender == SENDER && r.door == "catch-up"),
        "{refusals:?}"
    );
    assert_eq!(p.township.trust().quarantined().unwrap().len(), 1);
}

#[test]
fn refusals_of_a_bundle_file_reach_the_village_with_the_acknowledgement() {
    let mut p = Pair::new();
    fill_village(&mut p.village, 3, 14);
    let org = p.org;
    let real = real_changes(&mut p.village, org);
    let hostile = sibling_record(&real);
    let hostile_hash = automerge::Change::from_bytes(hostile.clone())
        .unwrap()
        .hash()
        .to_string();
    let by_peer = |village: &Ledger| -> Vec<halfsky_node::ledger::trust::RefusalRecord> {
        let all = village.trust().refusals().unwrap();
        all.into_iter().filter(|r| r.by_peer).collect()
    };

    // Imports `batch` at the township as a file with --ack-out, applies the
    // acknowledgement at the village; returns both replies.
    let exchange = |p: &mut Pair, batch: Vec<Vec<u8>>| {
        let name = rand_name();
        let file = p.d.dir().join(format!("{name}.bundle"));
        let ack = p.d.dir().join(format!("{name}.ack"));
        let bytes = hostile_bundle(&p.village_home, &p.township_home, vec![(org, batch)]);
        std::fs::write(&file, bytes).unwrap();
        let import = run(
            &mut p.township,
            &[
                "bundle",
                "import",
                file.to_str().unwrap(),
                "--ack-out",
                ack.to_str().unwrap(),
            ],
        );
        let acked = run(&mut p.village, &["bundle", "ack", ack.to_str().unwrap()]);
        assert_eq!(acked.code, 0, "{}", acked.stderr);
        (import, acked)
    };

    // An honest bundle: a plain acknowledgement, nothing recorded at the village.
    let (import, acked) = exchange(&mut p, real);
    assert_eq!(import.code, 0, "{}", import.stderr);
    assert!(!acked.stderr.contains("refused"), "{}", acked.stderr);
    assert!(by_peer(&p.village).is_empty());

    // A record under a sibling's id: refused at the township, and the village learns
    // the document, change, rule and reason from the acknowledgement.
    let (import, acked) = exchange(&mut p, vec![hostile]);
    assert_ne!(import.code, 0, "refused at the township");
    assert!(
        import.stderr.contains("foreign-record"),
        "{}",
        import.stderr
    );
    assert!(acked.stderr.contains("refused 1"), "{}", acked.stderr);
    let heard = by_peer(&p.village);
    assert_eq!(heard.len(), 1, "{heard:?}");
    let r = &heard[0];
    assert_eq!(
        (
            r.org,
            r.change.as_deref(),
            r.rule.as_str(),
            r.sender.as_str(),
            r.door.as_str()
        ),
        (
            org,
            Some(hostile_hash.as_str()),
            "foreign-record",
            "230129100000/t1",
            "bundle"
        ),
    );
    assert!(r.reason.contains("230129100202-W-ABCD-1"), "{}", r.reason);
    let status = run(&mut p.village, &["status"]);
    assert!(
        status.stdout.contains("refused by 230129100000/t1")
            && status.stdout.contains("foreign-record"),
        "{}",
        status.stdout
    );
}
