//! By path, by cause and over time: exits by the paths of their measures (or "none"),
//! by cause, measures by path and cause, and the last twelve months of cards, exits,
//! returns to poverty (read from history), visits and training person-times; the same
//! numbers on `/org/CODE/trends`.

use chrono::Duration;
use halfsky_node::dashboard::trends::trends;
use halfsky_node::Ledger;
use halfsky_shared::synthetic::Generator;
use halfsky_shared::{Kind, OrgCode, RecordId};
use halfsky_tests::deploy::{Deployment, NodeSpec};

const VILLAGE: &str = "230129100201";

fn inputs(fields: &[(&str, String)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn exits_measures_and_months_are_counted_by_path_cause_and_month() {
    let d = Deployment::new();
    let mut v =
        Ledger::open(&d.home(VILLAGE, "红星村", &NodeSpec::new("v1", None, false))).unwrap();
    let org = OrgCode::parse(VILLAGE).unwrap();
    let today = v.today();
    let day = |back: i64| {
        (today - Duration::days(back))
            .format("%Y-%m-%d")
            .to_string()
    };
    let mut g = Generator::new(5, today);
    let mut woman = |v: &mut Ledger, status: &str, exit: Option<String>, cause: &str| -> RecordId {
        let mut fields = g.woman(&org, None);
        fields.retain(|(k, _)| !["status", "exit_date", "poverty_causes"].contains(&k.as_str()));
        fields.push(("status".into(), status.into()));
        fields.push(("poverty_causes".into(), cause.into()));
        if let Some(e) = exit {
            fields.push(("exit_date".into(), e));
        }
        v.add(Kind::Woman, &fields).unwrap()
    };
    let helped = woman(&mut v, "exited", Some(day(40)), "illness");
    let unhelped = woman(&mut v, "exited", Some(day(5)), "disability");
    let back = woman(&mut v, "exited", Some(day(100)), "illness");
    v.update(
        &back,
        Some(Kind::Woman),
        &inputs(&[("status", "poor".into()), ("exit_date", String::new())]),
    )
    .unwrap();
    for (w, path) in [(&helped, "skills"), (&back, "industry")] {
        v.add(
            Kind::Measure,
            &inputs(&[
                ("woman_id", w.to_string()),
                ("path", path.into()),
                ("date", day(30)),
            ]),
        )
        .unwrap();
    }
    v.add(
        Kind::Visit,
        &inputs(&[
            ("woman_id", unhelped.to_string()),
            ("date", day(1)),
            ("visitor", "李主席".into()),
            ("mode", "phone".into()),
        ]),
    )
    .unwrap();

    let t = trends(&v.reader(), org).unwrap();
    assert_eq!(t.months.len(), 12);
    assert_eq!(t.registered.iter().sum::<i64>(), 3, "{t:?}");
    assert_eq!(
        t.exits.iter().sum::<i64>(),
        2,
        "the returned woman is no exit now"
    );
    assert_eq!(t.returns.iter().sum::<i64>(), 1);
    assert_eq!(*t.returns.last().unwrap(), 1, "set back this month");
    assert_eq!(t.visits.iter().sum::<i64>(), 1);
    assert_eq!(t.exits_by_path.get("skills"), Some(&1));
    assert_eq!(
        t.exits_by_path.get("none"),
        Some(&1),
        "an exit with no measure"
    );
    assert_eq!(
        t.exits_by_path.get("industry"),
        None,
        "her measure did not keep her out"
    );
    assert_eq!(t.exits_by_cause.get("illness"), Some(&1));
    assert_eq!(t.exits_by_cause.get("disability"), Some(&1));
    assert_eq!(t.measures_by_path.values().sum::<i64>(), 2);
    assert_eq!(t.measures_by_cause.get("illness"), Some(&2));

    let page = halfsky_tests::dashboard_page(v, &format!("/org/{VILLAGE}/trends"));
    assert!(page.contains("id=\"exits-by-path\""), "{page}");
    assert!(page.contains("未记录措施"), "{page}");
    assert!(page.contains("id=\"series-returns\""), "{page}");
    assert!(page.contains("<svg"), "charts are drawn: {page}");
}
