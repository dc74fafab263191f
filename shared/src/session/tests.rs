//! Two in-memory peers driven frame by frame: what crosses the link, how many round
//! trips, and that refusals change nothing.

use std::collections::BTreeMap;

use automerge::sync::SyncDoc;
use automerge::{ActorId, AutoCommit, Change, ChangeHash};

use super::*;
use crate::idcard::IdSecret;
use crate::ledger_doc::{Author, LedgerDoc};
use crate::record::{complete, parse_fields, RecordId};
use crate::synthetic::Generator;

#[derive(Default)]
struct MemReplica {
    docs: BTreeMap<OrgCode, AutoCommit>,
    states: BTreeMap<(String, OrgCode), Vec<u8>>,
    catch_up: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemReplica {
    fn doc(&mut self, org: &OrgCode) -> &mut AutoCommit {
        self.docs
            .entry(*org)
            .or_insert_with(|| LedgerDoc::genesis(*org))
    }
}

impl Replica for MemReplica {
    type Error = String;
    fn documents(
        &mut self,
        filter: &dyn Fn(&OrgCode) -> bool,
    ) -> Result<Vec<(OrgCode, Vec<ChangeHash>)>, String> {
        Ok(self
            .docs
            .iter_mut()
            .filter(|(o, _)| filter(o))
            .map(|(o, d)| (*o, d.get_heads()))
            .collect())
    }
    fn heads(&mut self, org: &OrgCode) -> Result<Vec<ChangeHash>, String> {
        Ok(self
            .docs
            .get_mut(org)
            .map(|d| d.get_heads())
            .unwrap_or_default())
    }
    fn load_state(&mut self, peer: &str, org: &OrgCode) -> Result<Option<Vec<u8>>, String> {
        Ok(self.states.get(&(peer.to_string(), *org)).cloned())
    }
    fn save_state(&mut self, peer: &str, org: &OrgCode, state: &[u8]) -> Result<(), String> {
        self.states.insert((peer.to_string(), *org), state.to_vec());
        Ok(())
    }
    fn generate(
        &mut self,
        org: &OrgCode,
        state: &mut sync::State,
    ) -> Result<Option<sync::Message>, String> {
        Ok(self.doc(org).sync().generate_sync_message(state))
    }
    fn receive(
        &mut self,
        _peer: &str,
        org: &OrgCode,
        state: &mut sync::State,
        message: sync::Message,
    ) -> Result<bool, String> {
        let doc = self.doc(org);
        let before = doc.get_heads();
        doc.sync()
            .receive_sync_message(state, message)
            .map_err(|e| e.to_string())?;
        Ok(doc.get_heads() != before)
    }
    fn changes_since(
        &mut self,
        org: &OrgCode,
        their_heads: &[ChangeHash],
    ) -> Result<Option<Vec<Vec<u8>>>, String> {
        let doc = self.doc(org);
        if their_heads
            .iter()
            .any(|h| doc.get_change_by_hash(h).is_none())
        {
            return Ok(None);
        }
        Ok(Some(
            doc.get_changes(their_heads)
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect(),
        ))
    }
    fn raw_changes(
        &mut self,
        org: &OrgCode,
        changes: &[ChangeHash],
    ) -> Result<Option<Vec<Vec<u8>>>, String> {
        let doc = self.doc(org);
        Ok(changes
            .iter()
            .map(|h| doc.get_change_by_hash(h).map(|c| c.raw_bytes().to_vec()))
            .collect())
    }
    fn holds(&mut self, org: &OrgCode, changes: &[ChangeHash]) -> Result<bool, String> {
        let doc = self.doc(org);
        Ok(changes.iter().all(|h| doc.get_change_by_hash(h).is_some()))
    }
    fn apply_changes(
        &mut self,
        _peer: &str,
        org: &OrgCode,
        changes: Vec<Vec<u8>>,
        _delivery: Delivery,
    ) -> Result<bool, String> {
        let doc = self.doc(org);
        let before = doc.get_heads();
        let changes: Result<Vec<Change>, _> = changes
            .iter()
            .map(|c| Change::from_bytes(c.clone()))
            .collect();
        doc.apply_changes(changes.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        Ok(doc.get_heads() != before)
    }
    fn bundles_since(
        &mut self,
        org: &OrgCode,
        their_heads: &[ChangeHash],
    ) -> Result<Option<Plan>, String> {
        Ok(plan(self.doc(org).document(), their_heads))
    }
    fn catch_up_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self.catch_up.get(key).cloned())
    }
    fn catch_up_scan(&mut self, prefix: &[u8]) -> Result<Vec<Record>, String> {
        Ok(self
            .catch_up
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn catch_up_write(&mut self, writes: Vec<Write>) -> Result<(), String> {
        for (k, v) in writes {
            match v {
                Some(v) => self.catch_up.insert(k, v),
                None => self.catch_up.remove(&k),
            };
        }
        Ok(())
    }
}

fn code(s: &str) -> OrgCode {
    OrgCode::parse(s).unwrap()
}

const VILLAGE: &str = "230129100201";
const TOWNSHIP: &str = "230129100000";
const COUNTY: &str = "230129000000";

/// A village document with `households` synthetic households.
fn village_doc(org: OrgCode, households: usize, seed: u64) -> AutoCommit {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    let seal_to = IdSecret::from_seed(&[1; 32]).public();
    let mut doc = LedgerDoc::create(org, ActorId::from([seed as u8 + 1; 16]));
    let mut seq = 0;
    Generator::new(seed, today)
        .village(&org, households, |kind, inputs| {
            let mut parsed = parse_fields(kind, &inputs, today).unwrap();
            let sealed = parsed.id_number.as_ref().map(|n| seal_to.seal(n));
            complete(kind, &mut parsed.fields, today);
            seq += 1;
            let id = RecordId::new(org, kind, "T", seq);
            let author = Author {
                device: "t".into(),
                time: seq as i64,
            };
            doc.insert(&id, &parsed.fields, sealed.as_deref(), &author)
                .unwrap();
            Ok::<_, ()>(id)
        })
        .unwrap();
    doc.automerge().clone()
}

/// Traffic of one run.
#[derive(Debug, Default)]
struct Traffic {
    bytes: usize,
    round_trips: usize,
    frames: Vec<Frame>,
}

/// Pumps frames until both sides are quiet; `drop_after` cuts the link after that many
/// frames have crossed (a dropped link).
fn run(
    child: (&mut Session, &mut MemReplica),
    parent: (&mut Session, &mut MemReplica),
    drop_after: Option<usize>,
) -> Traffic {
    let (cs, cr) = child;
    let (ps, pr) = parent;
    let mut traffic = Traffic::default();
    let mut to_parent = cs.start(cr);
    let mut to_child = ps.start(pr);
    while !to_parent.is_empty() || !to_child.is_empty() {
        // A batch of nothing but the child's Clock answers nothing and waits for
        // nothing: no round trip.
        if to_parent.iter().any(|f| !matches!(f, Frame::Clock { .. })) {
            traffic.round_trips += 1;
        }
        let mut next_to_child = Vec::new();
        for f in to_parent.drain(..) {
            if drop_after.is_some_and(|n| traffic.frames.len() >= n) {
                return traffic;
            }
            traffic.bytes += f.encode().unwrap().len();
            traffic.frames.push(f.clone());
            next_to_child.extend(ps.handle(f, pr));
        }
        to_child.extend(next_to_child);
        for f in to_child.drain(..) {
            if drop_after.is_some_and(|n| traffic.frames.len() >= n) {
                return traffic;
            }
            traffic.bytes += f.encode().unwrap().len();
            traffic.frames.push(f.clone());
            to_parent.extend(cs.handle(f, cr));
        }
    }
    traffic
}

/// What a test does to a frame in flight: keep it, change it, or lose it.
type Tamper<'a> = &'a mut dyn FnMut(Frame) -> Option<Frame>;

/// Carries frames both ways until both sides are quiet.
fn exchange(
    child: (&mut Session, &mut MemReplica),
    parent: (&mut Session, &mut MemReplica),
    mut to_parent: Vec<Frame>,
    mut to_child: Vec<Frame>,
    tamper: Tamper,
) -> Traffic {
    let (cs, cr) = child;
    let (ps, pr) = parent;
    let mut traffic = Traffic::default();
    while !to_parent.is_empty() || !to_child.is_empty() {
        let mut next_to_child = Vec::new();
        for f in to_parent.drain(..).filter_map(&mut *tamper) {
            traffic.bytes += f.encode().unwrap().len();
            traffic.frames.push(f.clone());
            next_to_child.extend(ps.handle(f, pr));
        }
        to_child.extend(next_to_child);
        for f in to_child.drain(..).filter_map(&mut *tamper) {
            traffic.bytes += f.encode().unwrap().len();
            traffic.frames.push(f.clone());
            to_parent.extend(cs.handle(f, cr));
        }
    }
    traffic
}

/// One session between `village` (child) and `township` (parent), from the Hellos
/// until both sides are quiet, each frame passed through `tamper`.
fn session(village: &mut MemReplica, township: &mut MemReplica, tamper: Tamper) -> Traffic {
    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let (up, down) = (c.start(village), p.start(township));
    exchange((&mut c, village), (&mut p, township), up, down, tamper)
}

fn keep(f: Frame) -> Option<Frame> {
    Some(f)
}

fn pair(child: &str, parent: &str) -> (Session, Session) {
    (
        Session::new(Role::Child, code(child), "c", code(parent), "p").unwrap(),
        Session::new(Role::Parent, code(parent), "p", code(child), "c").unwrap(),
    )
}

fn same(a: &mut MemReplica, b: &mut MemReplica, org: &str) -> bool {
    let org = code(org);
    let mut ha = a.heads(&org).unwrap();
    let mut hb = b.heads(&org).unwrap();
    ha.sort();
    hb.sort();
    !ha.is_empty() && ha == hb
}

#[test]
fn catch_up_then_noop_reconnect_costs_one_round_trip() {
    let mut village = MemReplica::default();
    village
        .docs
        .insert(code(VILLAGE), village_doc(code(VILLAGE), 40, 1));
    let mut township = MemReplica::default();
    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let first = run((&mut c, &mut village), (&mut p, &mut township), None);
    assert!(same(&mut village, &mut township, VILLAGE));
    assert!(c.take_events().contains(&SessionEvent::Synced));
    assert!(
        first
            .frames
            .iter()
            .any(|f| matches!(f, Frame::Changes { .. })),
        "far behind: batches"
    );

    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let again = run((&mut c, &mut village), (&mut p, &mut township), None);
    assert_eq!(again.round_trips, 1, "{:?}", again.frames);
    let acked = c
        .take_events()
        .into_iter()
        .any(|e| matches!(e, SessionEvent::PeerHeads(org, _) if org == code(VILLAGE)));
    assert!(
        acked,
        "a matching inventory acknowledges what the child holds"
    );
    assert!(again.bytes < 200, "{} bytes", again.bytes);
    assert!(again.frames.contains(&Frame::InventoryMatch));
}

#[test]
fn ancestors_flow_down_and_siblings_stay_out() {
    let mut township = MemReplica::default();
    let mut county = MemReplica::default();
    county
        .docs
        .insert(code(COUNTY), village_doc(code(COUNTY), 2, 3));
    county.docs.insert(
        code("230129200000"),
        village_doc(code("230129200000"), 2, 4),
    );
    let (mut c, mut p) = pair(TOWNSHIP, COUNTY);
    run((&mut c, &mut township), (&mut p, &mut county), None);
    assert!(
        same(&mut township, &mut county, COUNTY),
        "the county's document reached the township"
    );
    assert!(
        township.heads(&code("230129200000")).unwrap().is_empty(),
        "a sibling township's document did not"
    );
}

#[test]
fn pushes_outside_the_subtree_are_refused_and_change_nothing() {
    let mut township = MemReplica::default();
    let mut county = MemReplica::default();
    let (mut c, mut p) = pair(TOWNSHIP, COUNTY);
    run((&mut c, &mut township), (&mut p, &mut county), None);
    p.take_events();
    // A sibling's document, and the county's own document, pushed with changes.
    for target in ["230129200000", COUNTY] {
        let org = code(target);
        let mut forged = village_doc(org, 1, 9);
        let mut state = sync::State::new();
        let msg = forged.sync().generate_sync_message(&mut state).unwrap();
        let frames = p.handle(
            Frame::Sync {
                org,
                message: msg.encode(),
            },
            &mut county,
        );
        let changes = forged
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        let frames2 = p.handle(Frame::Changes { org, changes }, &mut county);
        let refused = frames
            .iter()
            .chain(&frames2)
            .any(|f| matches!(f, Frame::Refused { .. }));
        assert!(refused, "{target}: {frames:?} {frames2:?}");
        let held = county
            .docs
            .get_mut(&org)
            .map(|d| d.get_changes(&[]).len())
            .unwrap_or(0);
        assert!(
            held <= 1,
            "{target} was changed: {held} changes (only the shared genesis allowed)"
        );
    }
    assert!(p
        .take_events()
        .iter()
        .any(|e| matches!(e, SessionEvent::Refused { by_peer: false, .. })));
    assert!(
        !p.is_closed(),
        "a refused document does not end the session"
    );
}

#[test]
fn version_skew_names_the_office_to_upgrade() {
    let (village, town) = (code(VILLAGE), code(TOWNSHIP));
    assert_eq!(version_skew(PROTOCOL_VERSION, town, village), None);
    assert_eq!(version_skew(MIN_PROTOCOL_VERSION, town, village), None);
    // A village on a newer release than its township: the township upgrades.
    let newer = version_skew(PROTOCOL_VERSION + 1, town, village).expect("refused");
    assert!(
        newer.contains("upgrade the township 230129100000"),
        "{newer}"
    );
    // A village on a release older than any this township speaks: the village upgrades.
    let older = version_skew(MIN_PROTOCOL_VERSION - 1, town, village).expect("refused");
    assert!(
        older.contains("upgrade the village 230129100201"),
        "{older}"
    );
}

#[test]
fn bad_hello_aborts() {
    let (_, mut p) = pair(VILLAGE, TOWNSHIP);
    let mut r = MemReplica::default();
    let out = p.handle(
        Frame::Hello {
            version: 99,
            org: code(VILLAGE),
            device: "c".into(),
        },
        &mut r,
    );
    assert!(
        matches!(&out[..], [Frame::Abort { reason }] if reason.contains("unsupported protocol version 99"))
    );
    let (_, mut p) = pair(VILLAGE, TOWNSHIP);
    let out = p.handle(
        Frame::Hello {
            version: PROTOCOL_VERSION,
            org: code("230129100202"),
            device: "c".into(),
        },
        &mut r,
    );
    assert!(matches!(&out[..], [Frame::Abort { reason }] if reason.contains("certificate")));
    // A frame that overtook the Hello waits for it; one that makes no sense after it aborts.
    let (_, mut p) = pair(VILLAGE, TOWNSHIP);
    assert!(p.handle(Frame::InventoryMatch, &mut r).is_empty());
    let out = p.handle(
        Frame::Hello {
            version: PROTOCOL_VERSION,
            org: code(VILLAGE),
            device: "c".into(),
        },
        &mut r,
    );
    assert!(
        matches!(&out[..], [Frame::Clock { .. }, Frame::Abort { .. }]),
        "{out:?}"
    );
    assert!(Session::new(Role::Parent, code(TOWNSHIP), "p", code("230126100201"), "c").is_err());
}

#[test]
fn a_dropped_catch_up_resumes_without_resending() {
    let mut village = MemReplica::default();
    village
        .docs
        .insert(code(VILLAGE), village_doc(code(VILLAGE), 120, 5));
    let mut township = MemReplica::default();
    let full = {
        let mut v2 = MemReplica {
            docs: village.docs.clone(),
            ..Default::default()
        };
        let mut t2 = MemReplica::default();
        let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
        run((&mut c, &mut v2), (&mut p, &mut t2), None).bytes
    };
    // The link drops after the Hellos, the clocks, the inventory and two batches.
    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let cut = run((&mut c, &mut village), (&mut p, &mut township), Some(7));
    assert!(
        cut.frames
            .iter()
            .filter(|f| matches!(f, Frame::Changes { .. }))
            .count()
            >= 1
    );
    assert!(
        !township.heads(&code(VILLAGE)).unwrap().is_empty(),
        "the batches that arrived are kept"
    );
    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let rest = run((&mut c, &mut village), (&mut p, &mut township), None);
    assert!(same(&mut village, &mut township, VILLAGE));
    let total = cut.bytes + rest.bytes;
    assert!(
        (total as f64) < full as f64 * 1.3,
        "resumed total {total} B vs uninterrupted {full} B"
    );
}

#[test]
fn live_changes_flow_both_ways_and_devices_converge() {
    // Two devices of one village, each syncing with the township.
    let org = code(VILLAGE);
    let mut a = MemReplica::default();
    let mut b = MemReplica::default();
    a.docs.insert(org, village_doc(org, 5, 11));
    b.docs.insert(org, village_doc(org, 5, 12));
    let mut township = MemReplica::default();
    for _ in 0..2 {
        for dev in [&mut a, &mut b] {
            let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
            run((&mut c, dev), (&mut p, &mut township), None);
        }
    }
    assert!(same(&mut a, &mut township, VILLAGE));
    assert!(same(&mut b, &mut township, VILLAGE));
}

#[test]
fn contact_reports_go_up_only_and_only_about_the_childs_subtree() {
    let (mut c, mut p) = pair(TOWNSHIP, COUNTY);
    let (mut cr, mut pr) = (MemReplica::default(), MemReplica::default());
    let contact = |org: &str| crate::wire::Contact {
        org: code(org),
        at: 1_000,
        via: crate::wire::ContactPath::Relay,
        heard_by: code(TOWNSHIP),
    };
    // Nothing to say before the parent's Hello.
    assert!(c.report_heard(vec![contact(VILLAGE)]).is_empty());
    run((&mut c, &mut cr), (&mut p, &mut pr), None);
    p.take_events();
    // The child leaves out itself and units outside its subtree.
    let frames = c.report_heard(vec![
        contact(VILLAGE),
        contact(TOWNSHIP),
        contact("230129200201"),
    ]);
    assert_eq!(
        frames,
        vec![Frame::Heard {
            units: vec![contact(VILLAGE)]
        }]
    );
    // A hostile child's report about a neighbour, or claiming a neighbour heard its
    // village, is dropped, the rest kept.
    let claimed = crate::wire::Contact {
        heard_by: code("230129200000"),
        ..contact(VILLAGE)
    };
    let out = p.handle(
        Frame::Heard {
            units: vec![
                contact(VILLAGE),
                contact("230129200201"),
                contact(TOWNSHIP),
                claimed,
            ],
        },
        &mut pr,
    );
    assert!(out.is_empty());
    assert_eq!(
        p.take_events(),
        vec![SessionEvent::Heard {
            units: vec![contact(VILLAGE)],
            dropped: 3
        }]
    );
    // A parent does not report, and a parent's report ends the session.
    assert!(p.report_heard(vec![contact(VILLAGE)]).is_empty());
    let out = c.handle(
        Frame::Heard {
            units: vec![contact(VILLAGE)],
        },
        &mut cr,
    );
    assert!(matches!(&out[..], [Frame::Abort { .. }]), "{out:?}");
}

#[test]
fn a_parent_before_signed_authorship_is_refused_and_a_current_one_gets_contact_reports() {
    let (mut c, _) = pair(TOWNSHIP, COUNTY);
    let mut r = MemReplica::default();
    c.handle(
        Frame::Hello {
            version: MIN_PROTOCOL_VERSION - 1,
            org: code(COUNTY),
            device: "p".into(),
        },
        &mut r,
    );
    // A release before signed authorship refuses attestations and sends unattested
    // changes: the two do not sync (so the parents before `Heard` are gone too).
    assert!(
        c.is_closed(),
        "a protocol before signed authorship is refused"
    );
    let contact = crate::wire::Contact {
        org: code(VILLAGE),
        at: 1_000,
        via: crate::wire::ContactPath::Relay,
        heard_by: code(TOWNSHIP),
    };
    let (mut c, _) = pair(TOWNSHIP, COUNTY);
    c.handle(
        Frame::Hello {
            version: PROTOCOL_VERSION,
            org: code(COUNTY),
            device: "p".into(),
        },
        &mut r,
    );
    assert_eq!(c.report_heard(vec![contact]).len(), 1);
}

/// Catch-up batches end only where everything before is attested (by the notes), so
/// each batch passes signed-authorship admission on its own.
#[test]
fn catch_up_batches_are_cut_after_an_attestation() {
    use automerge::transaction::{CommitOptions, Transactable};
    let org = OrgCode::parse("230129100201").expect("valid");
    let mut doc = AutoCommit::new();
    let mut raw = Vec::new();
    let mut attested = std::collections::HashSet::new();
    for i in 0..400u32 {
        // 300-byte values, attested after every seventh change.
        doc.put(automerge::ROOT, format!("k{i}"), "x".repeat(300))
            .expect("put");
        let attest = i % 7 == 6 || i == 399;
        let note = if attest {
            crate::attestation::note(org, "pc-1")
        } else {
            "{}".into()
        };
        doc.commit_with(CommitOptions::default().with_message(note));
        let change = doc.get_last_local_change().expect("committed").clone();
        if attest {
            attested.insert(change.hash());
        }
        raw.push(change.raw_bytes().to_vec());
    }
    let frames = batches(org, raw.clone());
    assert!(frames.len() > 1, "more than one batch");
    let mut seen = 0;
    for frame in &frames {
        let Frame::Changes { changes, .. } = frame else {
            panic!("a Changes frame")
        };
        seen += changes.len();
        let last = Change::from_bytes(changes.last().expect("non-empty").clone()).expect("parses");
        assert!(
            attested.contains(&last.hash()),
            "batch ends on an attestation"
        );
        let size: usize = changes.iter().map(Vec::len).sum();
        assert!(size <= BATCH_BYTES, "{size} bytes");
    }
    assert_eq!(seen, raw.len(), "nothing lost or repeated");
}

#[test]
fn each_end_tells_its_clock_after_the_hellos() {
    let mut r = MemReplica::default();
    let (_, mut p) = pair(VILLAGE, TOWNSHIP);
    let out = p.handle(
        Frame::Hello {
            version: PROTOCOL_VERSION,
            org: code(VILLAGE),
            device: "c".into(),
        },
        &mut r,
    );
    let told = out.iter().find_map(|f| match f {
        Frame::Clock { unix_ms } => Some(*unix_ms),
        _ => None,
    });
    let now = crate::session::unix_ms_now();
    assert!(
        told.is_some_and(|t| (t - now).abs() < 60_000),
        "the parent answers a Hello with its clock: {out:?}"
    );
    // A clock 7 minutes ahead is reported as that skew.
    p.handle(
        Frame::Clock {
            unix_ms: crate::session::unix_ms_now() + 7 * 60_000,
        },
        &mut r,
    );
    let skew = p.take_events().into_iter().find_map(|e| match e {
        SessionEvent::PeerClock { skew_ms } => Some(skew_ms),
        _ => None,
    });
    assert!(
        skew.is_some_and(|s| (s - 7 * 60_000).abs() < 60_000),
        "{skew:?}"
    );
}

mod catch_up;
mod live;
