//! Catch-ups as bundles: smaller than raw batches, resumed where a dropped link cut
//! them, and refused with a reason when a piece or a bundle is wrong.

use automerge::transaction::{CommitOptions, Transactable};
use sha2::{Digest, Sha256};

use super::*;

/// A village document of `n` changes of ~300 bytes that do not compress away, attested
/// at the end (as a node attests before sending).
fn attested_village(n: u32) -> MemReplica {
    let org = code(VILLAGE);
    let mut doc = LedgerDoc::genesis(org);
    for i in 0..n {
        let value: String = (0..5u8)
            .map(|j| hex::encode(Sha256::digest([&i.to_be_bytes()[..], &[j]].concat())))
            .collect();
        doc.put(automerge::ROOT, format!("k{i}"), value).unwrap();
        doc.commit();
    }
    doc.put(automerge::ROOT, "attested", true).unwrap();
    doc.commit_with(CommitOptions::default().with_message(crate::attestation::note(org, "pc-1")));
    let mut replica = MemReplica::default();
    replica.docs.insert(org, doc);
    replica
}

fn pieces(traffic: &Traffic) -> Vec<(u64, usize)> {
    traffic
        .frames
        .iter()
        .filter_map(|f| match f {
            Frame::Piece { offset, bytes, .. } => Some((*offset, bytes.len())),
            _ => None,
        })
        .collect()
}

/// Both Hellos name the last version before bundles.
fn before_bundles(f: Frame) -> Option<Frame> {
    Some(match f {
        Frame::Hello { org, device, .. } => Frame::Hello {
            version: crate::wire::BUNDLE_SINCE_VERSION - 1,
            org,
            device,
        },
        other => other,
    })
}

/// A parent session past the Hellos, ready for frames from the village.
fn live_parent(township: &mut MemReplica) -> (Session, Session) {
    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let mut empty = MemReplica::default();
    let (up, down) = (c.start(&mut empty), p.start(township));
    exchange(
        (&mut c, &mut empty),
        (&mut p, township),
        up,
        down,
        &mut keep,
    );
    p.take_events();
    (c, p)
}

fn refusals(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Refused { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_far_behind_document_goes_as_bundle_pieces_in_fewer_bytes_than_batches() {
    let org = code(VILLAGE);
    let mut village = MemReplica::default();
    village.docs.insert(org, village_doc(org, 40, 3));
    let doc = village.doc(&org);
    doc.put(automerge::ROOT, "attested", true).unwrap();
    doc.commit_with(CommitOptions::default().with_message(crate::attestation::note(org, "pc-1")));
    let mut old_village = MemReplica {
        docs: village.docs.clone(),
        ..Default::default()
    };

    let mut township = MemReplica::default();
    let bundled = session(&mut village, &mut township, &mut keep);
    assert!(same(&mut village, &mut township, VILLAGE));
    assert!(!pieces(&bundled).is_empty(), "the catch-up went as pieces");
    assert!(!bundled
        .frames
        .iter()
        .any(|f| matches!(f, Frame::Changes { .. })));
    assert!(
        !township.catch_up.keys().any(|k| k[0] == b'i'),
        "nothing left half-received"
    );

    let mut old_township = MemReplica::default();
    let batched = session(&mut old_village, &mut old_township, &mut before_bundles);
    assert!(same(&mut old_village, &mut old_township, VILLAGE));
    assert!(pieces(&batched).is_empty(), "an older peer gets batches");
    assert!(batched
        .frames
        .iter()
        .any(|f| matches!(f, Frame::Changes { .. })));
    assert!(
        bundled.bytes * 10 < batched.bytes * 8,
        "bundled {} B against {} B in batches",
        bundled.bytes,
        batched.bytes
    );
}

#[test]
fn a_dropped_bundle_goes_on_from_the_last_piece_held() {
    let mut village = attested_village(800);
    let mut township = MemReplica::default();
    // The link drops after the Hellos, the clocks, the inventory and two pieces.
    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let cut = run((&mut c, &mut village), (&mut p, &mut township), Some(8));
    let first = pieces(&cut);
    let names: Vec<_> = cut.frames.iter().map(Frame::name).collect();
    assert_eq!(first.len(), 2, "{names:?}");
    assert!(
        township.heads(&code(VILLAGE)).unwrap().len() <= 1,
        "nothing applied from half a bundle"
    );
    assert_eq!(
        crate::session::catch_up::partial_bundles(&mut township, "230129100201/c")
            .unwrap()
            .into_iter()
            .map(|(_, _, have)| have)
            .collect::<Vec<_>>(),
        vec![first.iter().map(|(_, n)| *n as u64).sum::<u64>()],
        "the pieces that arrived are held"
    );

    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let rest = run((&mut c, &mut village), (&mut p, &mut township), None);
    assert!(same(&mut village, &mut township, VILLAGE));
    assert!(rest
        .frames
        .iter()
        .any(|f| matches!(f, Frame::Resume { .. })));
    let second = pieces(&rest);
    let held: u64 = first.iter().map(|(_, n)| *n as u64).sum();
    assert_eq!(second[0].0, held, "goes on from the next byte");
    let Some(Frame::Piece { total, .. }) = rest
        .frames
        .iter()
        .find(|f| matches!(f, Frame::Piece { .. }))
    else {
        unreachable!()
    };
    let sent: u64 = first.iter().chain(&second).map(|(_, n)| *n as u64).sum();
    assert_eq!(sent, *total, "no byte of the bundle sent twice");
    assert!(
        crate::session::catch_up::partial_bundles(&mut township, "230129100201/c")
            .unwrap()
            .is_empty(),
        "the pieces are gone once applied"
    );
}

#[test]
fn a_damaged_bundle_is_refused_with_its_reason_and_nothing_applied() {
    let mut village = attested_village(200);
    let mut township = MemReplica::default();
    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    let (up, down) = (c.start(&mut village), p.start(&mut township));
    let mut flip = |f: Frame| {
        Some(match f {
            Frame::Piece {
                org,
                id,
                total,
                offset,
                target,
                mut bytes,
            } => {
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x55;
                Frame::Piece {
                    org,
                    id,
                    total,
                    offset,
                    target,
                    bytes,
                }
            }
            // The sync round would bring the changes anyway: keep only the pieces.
            Frame::Sync { .. } => return None,
            other => other,
        })
    };
    let traffic = exchange(
        (&mut c, &mut village),
        (&mut p, &mut township),
        up,
        down,
        &mut flip,
    );
    let reasons = refusals(&traffic.frames);
    assert!(
        reasons.iter().any(|r| r.contains("do not hash to its id")),
        "{reasons:?}"
    );
    assert!(c.take_events().iter().any(|e| matches!(
        e,
        SessionEvent::Refused { by_peer: true, reason, .. } if reason.contains("hash")
    )));
    assert!(township.heads(&code(VILLAGE)).unwrap().len() <= 1);
    assert!(
        crate::session::catch_up::partial_bundles(&mut township, "230129100201/c")
            .unwrap()
            .is_empty()
    );
    // The next session brings it whole.
    let (mut c, mut p) = pair(VILLAGE, TOWNSHIP);
    run((&mut c, &mut village), (&mut p, &mut township), None);
    assert!(same(&mut village, &mut township, VILLAGE));
}

#[test]
fn pieces_that_do_not_fit_are_refused_and_leave_nothing() {
    let mut township = MemReplica::default();
    let (_, mut p) = live_parent(&mut township);
    let piece = |org: &str, total: u64, offset: u64, bytes: Vec<u8>| Frame::Piece {
        org: code(org),
        id: Sha256::digest(&bytes).into(),
        total,
        offset,
        target: vec![],
        bytes,
    };
    let cases = [
        (
            piece(
                VILLAGE,
                crate::session::catch_up::MAX_BUNDLE_BYTES + 1,
                0,
                vec![1; 10],
            ),
            "out of bounds",
        ),
        (piece(VILLAGE, 5, 0, vec![1; 10]), "out of bounds"),
        (piece(VILLAGE, 10, 0, vec![]), "out of bounds"),
        (piece(VILLAGE, 100, 50, vec![1; 10]), "holds none of"),
        (piece("230129100202", 10, 0, vec![1; 10]), "230129100202"),
        (
            piece(VILLAGE, 7, 0, b"garbage".to_vec()),
            "cannot be admitted",
        ),
    ];
    for (frame, why) in cases {
        let out = p.handle(frame, &mut township);
        let reasons = refusals(&out);
        assert!(
            reasons.len() == 1 && reasons[0].contains(why),
            "{why}: {reasons:?}"
        );
        assert!(!p.is_closed(), "one bad piece does not end the session");
    }
    assert!(township.catch_up.is_empty(), "nothing kept");
    assert!(township.heads(&code(VILLAGE)).unwrap().len() <= 1);
}
