//! Pairing rhythm (a paired helper phones monthly and visits every two months): which
//! active pairings are overdue for a contact or a visit in person, per helper and per
//! unit, visits by mode, at the village and at its township, by `halfsky rhythm` and on
//! `/org/CODE/rhythm`; periods from `[dashboard]`.

use std::path::Path;

use chrono::NaiveDate;
use halfsky_node::cli::Captured;
use halfsky_node::ledger::rhythm::Rhythm;
use halfsky_node::Ledger;
use halfsky_shared::session::{Delivery, Replica};
use halfsky_shared::synthetic::Generator;
use halfsky_shared::{Kind, OrgCode, RecordId};
use halfsky_tests::deploy::{Deployment, NodeSpec};

const VILLAGE: &str = "230129100201";
const TOWNSHIP: &str = "230129100000";

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn run(ledger: &mut Ledger, args: &[&str]) -> Captured {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    halfsky_node::cli::execute_args(ledger, Path::new("/"), &args)
}

fn add(ledger: &mut Ledger, kind: Kind, fields: &[(&str, &str)]) -> RecordId {
    let inputs: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ledger
        .add(kind, &inputs)
        .unwrap_or_else(|e| panic!("{kind:?} {fields:?}: {e}"))
}

#[test]
fn overdue_pairings_are_found_per_helper_and_unit() {
    let d = Deployment::new();
    let home = |unit: &str, device: &str| d.home(unit, unit, &NodeSpec::new(device, None, false));
    let mut village = Ledger::open(&home(VILLAGE, "v1")).unwrap();
    let mut g = Generator::new(3, village.today());
    let mut woman = |l: &mut Ledger| l.add(Kind::Woman, &g.woman(&org(VILLAGE), None)).unwrap();
    let (w1, w2, w3) = (
        woman(&mut village),
        woman(&mut village),
        woman(&mut village),
    );
    let pair = |l: &mut Ledger, w: &RecordId, helper: &str, since: &str, active: &str| {
        add(
            l,
            Kind::Pairing,
            &[
                ("woman_id", &w.to_string()),
                ("helper_name", helper),
                ("helper_kind", "cadre"),
                ("since", since),
                ("active", active),
            ],
        )
    };
    let long_ago = pair(&mut village, &w1, "张桂兰", "2026-08-01", "true");
    let recent = pair(&mut village, &w2, "李淑华", "2026-11-20", "true");
    pair(&mut village, &w3, "李淑华", "2026-01-01", "false");
    let visit = |l: &mut Ledger, w: &RecordId, date: &str, mode: &str| {
        add(
            l,
            Kind::Visit,
            &[
                ("woman_id", &w.to_string()),
                ("date", date),
                ("visitor", "张桂兰"),
                ("mode", mode),
            ],
        )
    };
    visit(&mut village, &w1, "2026-09-01", "home");
    visit(&mut village, &w1, "2026-11-10", "phone");
    village.set_today(day("2026-11-28"));

    let r = village
        .reader()
        .rhythm(org(VILLAGE), Rhythm::default())
        .unwrap();
    assert_eq!(r.total.pairings, 2, "the ended pairing is not counted");
    assert_eq!((r.total.contact_overdue, r.total.visit_overdue), (0, 1));
    let first = &r.pairings[0];
    assert_eq!(first.pairing, long_ago, "the most overdue first");
    assert_eq!(first.last_contact, Some(day("2026-11-10")));
    assert_eq!(first.last_in_person, Some(day("2026-09-01")));
    assert_eq!(first.contact_overdue_days, 0, "phoned 18 days ago");
    assert_eq!(
        first.visit_overdue_days, 28,
        "visited 88 days ago, every 60 days"
    );
    assert_eq!(r.pairings[1].pairing, recent);
    assert_eq!(r.pairings[1].visit_overdue_days, 0, "paired 8 days ago");
    assert_eq!(r.by_helper["张桂兰"].visit_overdue, 1);
    assert_eq!(r.by_helper["李淑华"].pairings, 1);
    assert_eq!(r.visits_by_mode.get("home"), Some(&1));
    assert_eq!(r.visits_by_mode.get("phone"), Some(&1));

    // A stricter rule: a contact every 14 days makes the phone call overdue too.
    let strict = Rhythm {
        phone_every_days: 14,
        visit_every_days: 60,
    };
    let r = village.reader().rhythm(org(VILLAGE), strict).unwrap();
    assert_eq!(r.pairings[0].contact_overdue_days, 4);

    // The command, in JSON and text.
    let json = run(&mut village, &["rhythm", "--json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["total"]["visit_overdue"], 1);
    let text = run(&mut village, &["rhythm"]);
    assert!(
        text.stdout.contains("1 for a visit in person"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&long_ago.to_string()),
        "{}",
        text.stdout
    );

    // The township counts its village's pairings under the village.
    let mut township = Ledger::open(&home(TOWNSHIP, "t1")).unwrap();
    let changes = Replica::changes_since(&mut village, &org(VILLAGE), &[])
        .unwrap()
        .unwrap();
    Replica::apply_changes(
        &mut township,
        "230129100201/v1",
        &org(VILLAGE),
        changes,
        Delivery::CatchUp,
    )
    .unwrap();
    township.set_today(day("2026-11-28"));
    let r = township
        .reader()
        .rhythm(org(TOWNSHIP), Rhythm::default())
        .unwrap();
    assert_eq!(r.by_unit[&org(VILLAGE)].visit_overdue, 1);
    let page = halfsky_tests::dashboard_page(township, &format!("/org/{TOWNSHIP}/rhythm"));
    assert!(page.contains("id=\"rhythm-overdue\""), "{page}");
    assert!(
        page.contains(&w1.to_string()),
        "the overdue woman is listed: {page}"
    );
    assert!(
        !page.contains(&w2.to_string()),
        "a pairing on time is not: {page}"
    );
}
