//! Live-mode byte benchmarks: what a record written while the link is up costs on the
//! wire, with pushes (protocol 4) against the Automerge sync round per change that a
//! peer before pushes still gets, measured in the same run. Two sessions over a village
//! and a township ledger, in-process: frames are counted as `Frame::encode` lengths (the
//! bytes a QUIC stream carries, without QUIC's own headers), so the figures are exact
//! and the same on every run.

use halfsky_node::Ledger;
use halfsky_shared::session::{Role, Session};
use halfsky_shared::synthetic::Generator;
use halfsky_shared::wire::{Frame, PUSH_SINCE_VERSION};
use halfsky_shared::{Kind, RecordId};

use crate::bench_sync::SyncFigure;
use crate::deploy::{Deployment, NodeSpec};

/// A village ledger live with its township's over two sessions; `pushes` false makes
/// both Hellos name the last version without pushes (the baseline).
struct Link {
    village: Ledger,
    township: Ledger,
    child: Session,
    parent: Session,
    pushes: bool,
    /// Frame bytes both ways since the link went live.
    bytes: usize,
}

impl Link {
    fn new(d: &Deployment, name: &str, pushes: bool) -> Link {
        let village = Ledger::open(&d.home(
            crate::VILLAGE,
            "村",
            &NodeSpec::new(&format!("v-{name}"), None, false),
        ))
        .expect("village ledger");
        let township = Ledger::open(&d.home(
            "230129100000",
            "镇",
            &NodeSpec::new(&format!("t-{name}"), None, true),
        ))
        .expect("township ledger");
        let (c, p) = (village.config(), township.config());
        let child = Session::new(Role::Child, c.org, &c.device, p.org, &p.device)
            .expect("village below township");
        let parent = Session::new(Role::Parent, p.org, &p.device, c.org, &c.device)
            .expect("village below township");
        let mut link = Link {
            village,
            township,
            child,
            parent,
            pushes,
            bytes: 0,
        };
        let up = link.child.start(&mut link.village);
        let down = link.parent.start(&mut link.township);
        link.carry(up, down);
        assert!(
            link.child.is_live() && link.parent.is_live(),
            "link is live"
        );
        link.bytes = 0;
        link
    }

    /// Carries frames both ways until both sides are quiet, counting their bytes.
    fn carry(&mut self, mut up: Vec<Frame>, mut down: Vec<Frame>) {
        let pushes = self.pushes;
        let tamper = |f: Frame| match f {
            Frame::Hello { org, device, .. } if !pushes => Frame::Hello {
                version: PUSH_SINCE_VERSION - 1,
                org,
                device,
            },
            other => other,
        };
        while !up.is_empty() || !down.is_empty() {
            for f in up.drain(..).map(tamper) {
                self.bytes += f.encode().expect("encodes").len();
                down.extend(self.parent.handle(f, &mut self.township));
            }
            for f in down.drain(..).map(tamper) {
                self.bytes += f.encode().expect("encodes").len();
                up.extend(self.child.handle(f, &mut self.village));
            }
        }
    }

    /// The village's document changed: what its node does after a write.
    fn village_changed(&mut self) {
        let org = self.village.config().org;
        let up = self.child.local_change(&org, &mut self.village);
        self.carry(up, Vec::new());
    }
}

/// `women` women added one by one at a live village, then `edits` single edits of one
/// of them, then `women` more written together: bytes both ways per record, and in
/// total for the edits, with pushes and with one Automerge sync round per change.
pub fn live_bytes(women: usize, edits: usize) -> Vec<SyncFigure> {
    let d = Deployment::new();
    let run = |pushes: bool| {
        let mut link = Link::new(&d, if pushes { "push" } else { "sync" }, pushes);
        let org = link.village.config().org;
        let mut generator = Generator::new(11, link.village.today());
        let mut first: Option<RecordId> = None;
        for _ in 0..women {
            let id = link
                .village
                .add(Kind::Woman, &generator.woman(&org, None))
                .expect("added");
            first.get_or_insert(id);
            link.village_changed();
        }
        let adds = link.bytes;
        link.bytes = 0;
        let id = first.expect("at least one woman");
        for i in 0..edits {
            let status = if i % 2 == 0 { "at_risk" } else { "exited" };
            link.village
                .update(&id, None, &[("status".into(), status.into())])
                .expect("edited");
            link.village_changed();
        }
        let edits_bytes = link.bytes;
        link.bytes = 0;
        // The same number of women written within one coalescing window (an import, a
        // fast cadre): the node sends them once.
        for _ in 0..women {
            link.village
                .add(Kind::Woman, &generator.woman(&org, None))
                .expect("added");
        }
        link.village_changed();
        let (mut a, mut b) = (
            link.village.stored_heads(&org).expect("heads"),
            link.township.stored_heads(&org).expect("heads"),
        );
        a.sort();
        b.sort();
        assert_eq!(a, b, "the township holds what the village wrote");
        (adds, edits_bytes, link.bytes)
    };
    let (push_adds, push_edits, push_burst) = run(true);
    let (sync_adds, sync_edits, sync_burst) = run(false);
    let n = women as f64;
    vec![
        SyncFigure {
            name: format!(
                "live adds: {women} women added one by one while the link is up, bytes per record both ways"
            ),
            value: push_adds as f64 / n,
            unit: "B/record",
            baseline_name: "an Automerge sync round per change (a peer before pushes)".into(),
            baseline: sync_adds as f64 / n,
            goal: "≤ 250 B/record".into(),
        },
        SyncFigure {
            name: format!("{edits} single edits, bytes in total"),
            value: push_edits as f64,
            unit: "B",
            baseline_name: "an Automerge sync round per change".into(),
            baseline: sync_edits as f64,
            goal: "≤ 2 KB".into(),
        },
        SyncFigure {
            name: format!(
                "live adds: {women} women written within one coalescing window, bytes per record both ways"
            ),
            value: push_burst as f64 / n,
            unit: "B/record",
            baseline_name: "one Automerge sync round for them all".into(),
            baseline: sync_burst as f64 / n,
            goal: "≤ 250 B/record".into(),
        },
    ]
}
