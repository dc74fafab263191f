//! Catch-ups as bundles between two real ledgers (sled stores, signed authorship,
//! admission): a catch-up cut off mid-bundle keeps its pieces across a restart of the
//! receiving node and goes on from the next byte; nothing half-received is applied.

use halfsky_node::ledger::Ledger;
use halfsky_shared::session::{Replica, Role, Session};
use halfsky_shared::synthetic::Generator;
use halfsky_shared::wire::Frame;
use halfsky_shared::{Kind, OrgCode};
use halfsky_tests::deploy::{Deployment, NodeSpec};

const VILLAGE: &str = "230129100201";
const TOWNSHIP: &str = "230129100000";

fn code(s: &str) -> OrgCode {
    OrgCode::parse(s).unwrap()
}

/// Frames that crossed, in order.
#[derive(Default)]
struct Crossed {
    frames: Vec<Frame>,
}

/// Carries frames between a village ledger (child) and a township ledger (parent) until
/// both are quiet, or until `cut_after` bundle pieces have crossed (the link drops).
fn session(village: &mut Ledger, township: &mut Ledger, cut_after: Option<usize>) -> Crossed {
    let mut child = Session::new(Role::Child, code(VILLAGE), "v", code(TOWNSHIP), "t").unwrap();
    let mut parent = Session::new(Role::Parent, code(TOWNSHIP), "t", code(VILLAGE), "v").unwrap();
    let mut crossed = Crossed::default();
    let mut to_parent = child.start(village);
    let mut to_child = parent.start(township);
    while !to_parent.is_empty() || !to_child.is_empty() {
        for f in std::mem::take(&mut to_parent) {
            if cut_after.is_some_and(|n| pieces(&crossed).len() >= n) {
                return crossed;
            }
            crossed.frames.push(f.clone());
            to_child.extend(parent.handle(f, township));
        }
        for f in std::mem::take(&mut to_child) {
            if cut_after.is_some_and(|n| pieces(&crossed).len() >= n) {
                return crossed;
            }
            crossed.frames.push(f.clone());
            to_parent.extend(child.handle(f, village));
        }
    }
    crossed
}

fn pieces(crossed: &Crossed) -> Vec<(u64, u64, usize)> {
    crossed
        .frames
        .iter()
        .filter_map(|f| match f {
            Frame::Piece {
                offset,
                total,
                bytes,
                ..
            } => Some((*offset, *total, bytes.len())),
            _ => None,
        })
        .collect()
}

fn women(ledger: &Ledger) -> usize {
    ledger
        .stats(Some(code(VILLAGE)))
        .map(|s| s.women.total as usize)
        .unwrap_or(0)
}

#[test]
fn a_catch_up_cut_off_mid_bundle_goes_on_after_a_restart_from_the_next_byte() {
    let d = Deployment::new();
    let village_home = d.home(VILLAGE, "红星村", &NodeSpec::new("v", None, false));
    let township_home = d.home(TOWNSHIP, "加信镇", &NodeSpec::new("t", None, false));
    let mut village = Ledger::open(&village_home).unwrap();
    let mut generator = Generator::new(7, village.today());
    let mut pending = std::collections::HashSet::new();
    let org = code(VILLAGE);
    let prepared: Vec<_> = (0..3000)
        .map(|_| {
            village
                .prepare(Kind::Woman, &generator.woman(&org, None), &mut pending)
                .unwrap()
        })
        .collect();
    village.add_prepared(prepared, |_| {}).unwrap();

    // The link drops after three pieces of the bundle.
    let mut township = Ledger::open(&township_home).unwrap();
    let first = session(&mut village, &mut township, Some(3));
    let first_pieces = pieces(&first);
    assert_eq!(first_pieces.len(), 3, "three pieces crossed");
    let (_, total, _) = first_pieces[0];
    assert!(total > first_pieces.iter().map(|p| p.2 as u64).sum::<u64>());
    assert_eq!(women(&township), 0, "nothing of half a bundle is applied");

    // The township restarts; what it held survived.
    drop(township);
    let mut township = Ledger::open(&township_home).unwrap();
    let held: u64 = first_pieces.iter().map(|p| p.2 as u64).sum();
    let partial =
        halfsky_shared::session::partial_bundles(&mut township, &format!("{VILLAGE}/v")).unwrap();
    assert_eq!(partial.len(), 1);
    assert_eq!(partial[0].2, held, "the pieces are durable");

    let rest = session(&mut village, &mut township, None);
    assert!(rest
        .frames
        .iter()
        .any(|f| matches!(f, Frame::Resume { .. })));
    let rest_pieces = pieces(&rest);
    assert_eq!(rest_pieces[0].0, held, "goes on from the next byte");
    let sent: u64 = first_pieces
        .iter()
        .chain(&rest_pieces)
        .map(|p| p.2 as u64)
        .sum();
    assert_eq!(sent, total, "no byte sent twice");
    assert_eq!(women(&township), 3000, "every card arrived");
    let mut mine = village.heads(&org).unwrap();
    let mut theirs = township.heads(&org).unwrap();
    mine.sort();
    theirs.sort();
    assert_eq!(mine, theirs);
    assert!(
        halfsky_shared::session::partial_bundles(&mut township, &format!("{VILLAGE}/v"))
            .unwrap()
            .is_empty(),
        "nothing left half-received"
    );
}
