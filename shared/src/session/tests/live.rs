//! Live mode: local changes go as pushes once the peer's heads are known, the sync
//! protocol takes over when histories diverge, and peers before pushes still sync.

use automerge::transaction::Transactable;

use super::*;

/// A session pair brought live over `village` and `township` (far behind: catch-up).
fn live_pair(village: &mut MemReplica, township: &mut MemReplica) -> (Session, Session) {
    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let (up, down) = (c.start(village), p.start(township));
    exchange((&mut c, village), (&mut p, township), up, down, &mut keep);
    assert!(same(village, township, VILLAGE), "caught up");
    c.take_events();
    p.take_events();
    (c, p)
}

/// One local edit of `org`'s document in `replica`.
fn edit(replica: &mut MemReplica, org: &str, key: &str) {
    let doc = replica.doc(&code(org));
    doc.put(automerge::ROOT, key, "edited").unwrap();
    doc.commit();
}

fn village_replica(seed: u64) -> MemReplica {
    let mut village = MemReplica::default();
    village
        .docs
        .insert(code(VILLAGE), village_doc(code(VILLAGE), 5, seed));
    village
}

/// How many changes a push carries, unpacked with the dictionary `replica` makes
/// (0 for any other frame).
fn pushed(frame: &Frame, replica: &mut MemReplica) -> usize {
    let Frame::Push { org, base, packed } = frame else {
        return 0;
    };
    let dict = crate::session::pack::dictionary(replica, org, &hashes(base))
        .unwrap()
        .expect("the sender holds the base");
    crate::session::pack::unpack(packed, &dict).unwrap().len()
}

fn names(traffic: &Traffic) -> Vec<&'static str> {
    traffic.frames.iter().map(Frame::name).collect()
}

#[test]
fn a_live_change_goes_as_one_push_and_is_acknowledged_with_heads() {
    let (mut village, mut township) = (village_replica(21), MemReplica::default());
    let (mut c, mut p) = live_pair(&mut village, &mut township);
    // Three edits in quick succession, sent once: one frame carries them.
    for key in ["a", "b", "c"] {
        edit(&mut village, VILLAGE, key);
    }
    let out = c.local_change(&code(VILLAGE), &mut village);
    assert!(matches!(&out[..], [Frame::Push { .. }]), "{out:?}");
    assert_eq!(pushed(&out[0], &mut village), 3);
    let t = exchange(
        (&mut c, &mut village),
        (&mut p, &mut township),
        out,
        Vec::new(),
        &mut keep,
    );
    assert_eq!(
        names(&t),
        ["Push", "Synced"],
        "no sync round after the push"
    );
    assert!(same(&mut village, &mut township, VILLAGE));
    let heads = village.heads(&code(VILLAGE)).unwrap();
    let acked = c.take_events().into_iter().any(
        |e| matches!(e, SessionEvent::PeerHeads(org, h) if org == code(VILLAGE) && h == heads),
    );
    assert!(acked, "the parent's heads acknowledge the push");
    assert!(p
        .take_events()
        .contains(&SessionEvent::DocChanged(code(VILLAGE))));
    // The township's own copy moves on (another device): it goes down as a push too.
    edit(&mut township, VILLAGE, "d");
    let down = p.local_change(&code(VILLAGE), &mut township);
    let t = exchange(
        (&mut c, &mut village),
        (&mut p, &mut township),
        Vec::new(),
        down,
        &mut keep,
    );
    assert_eq!(names(&t), ["Push", "Synced"]);
    assert!(same(&mut village, &mut township, VILLAGE));
    // Nothing new: nothing sent.
    assert!(c.local_change(&code(VILLAGE), &mut village).is_empty());
}

#[test]
fn changes_made_while_a_push_is_unanswered_leave_together_with_its_answer() {
    let (mut village, mut township) = (village_replica(26), MemReplica::default());
    let (mut c, mut p) = live_pair(&mut village, &mut township);
    edit(&mut village, VILLAGE, "first");
    let first = c.local_change(&code(VILLAGE), &mut village);
    assert!(matches!(&first[..], [Frame::Push { .. }]), "{first:?}");
    for key in ["second", "third"] {
        edit(&mut village, VILLAGE, key);
        let out = c.local_change(&code(VILLAGE), &mut village);
        assert!(
            out.is_empty(),
            "held while the first is unanswered: {out:?}"
        );
    }
    let t = exchange(
        (&mut c, &mut village),
        (&mut p, &mut township),
        first,
        Vec::new(),
        &mut keep,
    );
    assert_eq!(names(&t), ["Push", "Synced", "Push", "Synced"]);
    assert_eq!(
        pushed(&t.frames[2], &mut village),
        2,
        "the held changes leave in one frame"
    );
    assert!(same(&mut village, &mut township, VILLAGE));
}

#[test]
fn pushes_follow_a_reconnect_that_found_nothing_to_do() {
    let (mut village, mut township) = (village_replica(22), MemReplica::default());
    live_pair(&mut village, &mut township);
    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let (up, down) = (c.start(&mut village), p.start(&mut township));
    let t = exchange(
        (&mut c, &mut village),
        (&mut p, &mut township),
        up,
        down,
        &mut keep,
    );
    assert!(t.frames.contains(&Frame::InventoryMatch));
    edit(&mut village, VILLAGE, "a");
    let out = c.local_change(&code(VILLAGE), &mut village);
    assert!(matches!(&out[..], [Frame::Push { .. }]), "{out:?}");
    edit(&mut township, VILLAGE, "b");
    let down = p.local_change(&code(VILLAGE), &mut township);
    assert!(matches!(&down[..], [Frame::Push { .. }]), "{down:?}");
    // The two pushes cross; each side applies the other's and both converge.
    exchange(
        (&mut c, &mut village),
        (&mut p, &mut township),
        out,
        down,
        &mut keep,
    );
    assert!(same(&mut village, &mut township, VILLAGE));
    assert_eq!(village.heads(&code(VILLAGE)).unwrap().len(), 2);
}

#[test]
fn diverged_histories_fall_back_to_sync_and_converge() {
    let (mut village, mut township) = (village_replica(23), MemReplica::default());
    let (mut c, mut p) = live_pair(&mut village, &mut township);
    // The township holds a change the village lacks, and its session was not told.
    edit(&mut township, VILLAGE, "theirs");
    edit(&mut village, VILLAGE, "ours");
    let out = c.local_change(&code(VILLAGE), &mut village);
    assert!(matches!(&out[..], [Frame::Push { .. }]), "{out:?}");
    let t = exchange(
        (&mut c, &mut village),
        (&mut p, &mut township),
        out,
        Vec::new(),
        &mut keep,
    );
    assert!(names(&t).contains(&"Sync"), "{:?}", names(&t));
    assert!(
        same(&mut village, &mut township, VILLAGE),
        "{:?}",
        names(&t)
    );
    assert_eq!(village.heads(&code(VILLAGE)).unwrap().len(), 2);
    assert!(!c.is_closed() && !p.is_closed());
    // Once converged, the next change is a push again.
    edit(&mut village, VILLAGE, "after");
    let out = c.local_change(&code(VILLAGE), &mut village);
    assert!(matches!(&out[..], [Frame::Push { .. }]), "{out:?}");
}

#[test]
fn a_lost_push_is_recovered_by_a_sync_round() {
    let (mut village, mut township) = (village_replica(24), MemReplica::default());
    let (mut c, mut p) = live_pair(&mut village, &mut township);
    edit(&mut village, VILLAGE, "lost");
    let lost = c.local_change(&code(VILLAGE), &mut village);
    assert!(matches!(&lost[..], [Frame::Push { .. }]));
    // The next change waits for an answer that never comes, until the node releases
    // it; that push depends on the lost one: the township cannot apply it, and asks.
    edit(&mut village, VILLAGE, "next");
    assert!(c.local_change(&code(VILLAGE), &mut village).is_empty());
    let out = c.release_held(&mut village);
    assert!(matches!(&out[..], [Frame::Push { .. }]), "{out:?}");
    assert_eq!(
        pushed(&out[0], &mut village),
        1,
        "only the new change: the lost one counts as sent"
    );
    let t = exchange(
        (&mut c, &mut village),
        (&mut p, &mut township),
        out,
        Vec::new(),
        &mut keep,
    );
    assert_eq!(t.frames.get(1).map(Frame::name), Some("Sync"), "{t:?}");
    assert!(
        same(&mut village, &mut township, VILLAGE),
        "{:?}",
        names(&t)
    );
    assert!(
        !p.take_events()
            .iter()
            .any(|e| matches!(e, SessionEvent::Refused { .. })),
        "missing dependencies are not a refusal"
    );
}

#[test]
fn a_push_the_peer_may_not_write_is_refused_with_a_reason() {
    let mut township = MemReplica::default();
    let mut county = MemReplica::default();
    let (mut c, mut p) = pair(TOWNSHIP, COUNTY);
    run((&mut c, &mut township), (&mut p, &mut county), None);
    p.take_events();
    for target in ["230129200000", COUNTY] {
        let org = code(target);
        let mut forged = village_doc(org, 1, 9);
        let changes: Vec<Vec<u8>> = forged
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        let dict = crate::session::pack::dictionary(&mut county, &org, &[])
            .unwrap()
            .unwrap();
        let packed = crate::session::pack::pack(&changes, &dict).unwrap();
        let push = Frame::Push {
            org,
            base: Vec::new(),
            packed,
        };
        let out = p.handle(push, &mut county);
        assert!(
            matches!(&out[..], [Frame::Refused { reason, .. }] if reason.contains("may not change")),
            "{target}: {out:?}"
        );
        let held = county
            .docs
            .get_mut(&org)
            .map(|d| d.get_changes(&[]).len())
            .unwrap_or(0);
        assert!(held <= 1, "{target} was changed: {held} changes");
    }
    assert!(p
        .take_events()
        .iter()
        .any(|e| matches!(e, SessionEvent::Refused { by_peer: false, .. })));
    assert!(!p.is_closed());
}

#[test]
fn a_peer_before_pushes_still_syncs_by_sync_messages() {
    let (mut village, mut township) = (village_replica(25), MemReplica::default());
    // Both Hellos say the last version without pushes.
    let mut old = |f: Frame| {
        Some(match f {
            Frame::Hello { org, device, .. } => Frame::Hello {
                version: crate::wire::PUSH_SINCE_VERSION - 1,
                org,
                device,
            },
            other => other,
        })
    };
    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let (up, down) = (c.start(&mut village), p.start(&mut township));
    exchange(
        (&mut c, &mut village),
        (&mut p, &mut township),
        up,
        down,
        &mut old,
    );
    assert!(same(&mut village, &mut township, VILLAGE));
    edit(&mut village, VILLAGE, "a");
    let out = c.local_change(&code(VILLAGE), &mut village);
    assert!(matches!(&out[..], [Frame::Sync { .. }]), "{out:?}");
    edit(&mut township, VILLAGE, "b");
    let down = p.local_change(&code(VILLAGE), &mut township);
    assert!(matches!(&down[..], [Frame::Sync { .. }]), "{down:?}");
    let t = exchange(
        (&mut c, &mut village),
        (&mut p, &mut township),
        out,
        down,
        &mut old,
    );
    assert!(!names(&t).contains(&"Push"), "{:?}", names(&t));
    assert!(same(&mut village, &mut township, VILLAGE));
}

#[test]
fn a_push_that_does_not_unpack_starts_a_sync_round_and_is_not_applied() {
    let (mut village, mut township) = (village_replica(27), MemReplica::default());
    let (mut c, mut p) = live_pair(&mut village, &mut township);
    let before = township.heads(&code(VILLAGE)).unwrap();
    let garbage = Frame::Push {
        org: code(VILLAGE),
        base: raw_heads(&before),
        packed: vec![0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3],
    };
    let out = p.handle(garbage, &mut township);
    assert!(matches!(&out[..], [Frame::Sync { .. }]), "{out:?}");
    assert_eq!(township.heads(&code(VILLAGE)).unwrap(), before);
    let t = exchange(
        (&mut c, &mut village),
        (&mut p, &mut township),
        Vec::new(),
        out,
        &mut keep,
    );
    assert!(
        same(&mut village, &mut township, VILLAGE),
        "{:?}",
        names(&t)
    );
    assert!(!p.is_closed() && !c.is_closed());
}
