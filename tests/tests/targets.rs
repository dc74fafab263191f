//! Targets belong to a level: a county's yearly training target (its record, else the
//! seed's 300) is the county's; the city sees how many counties reached theirs rather
//! than its own sum against a made-up city figure; a target record for the city shows
//! on the city's overview, with the city's own figure; a county's target never shows as
//! the city's.

use halfsky_node::dashboard::targets::{level_targets, TargetSource};
use halfsky_node::Ledger;
use halfsky_shared::session::{Delivery, Replica};
use halfsky_shared::synthetic::Generator;
use halfsky_shared::{Kind, OrgCode};
use halfsky_tests::deploy::{Deployment, NodeSpec};

const CITY: &str = "230100000000";
const COUNTY_A: &str = "230129000000";
const VILLAGE_A: &str = "230129100201";
const COUNTY_B: &str = "230183000000";
const VILLAGE_B: &str = "230183100201";

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

fn deliver(from: &mut Ledger, to: &mut Ledger, sender: &str) {
    let doc = from.config().org;
    let changes = Replica::changes_since(from, &doc, &[]).unwrap().unwrap();
    Replica::apply_changes(to, sender, &doc, changes, Delivery::CatchUp).unwrap();
}

fn target(ledger: &mut Ledger, unit: &str, metric: &str, period: &str, value: &str) {
    let inputs: Vec<(String, String)> = [
        ("org", unit),
        ("metric", metric),
        ("period", period),
        ("value", value),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    ledger.add(Kind::Target, &inputs).unwrap();
}

#[test]
fn the_city_counts_counties_that_reached_their_own_target() {
    let d = Deployment::new();
    let home = |unit: &str, device: &str| d.home(unit, unit, &NodeSpec::new(device, None, false));
    let mut villages = Vec::new();
    for (code, device, seed) in [(VILLAGE_A, "va", 1), (VILLAGE_B, "vb", 2)] {
        let mut v = Ledger::open(&home(code, device)).unwrap();
        let mut g = Generator::new(seed, v.today());
        for _ in 0..3 {
            let training = g.training(&[]);
            v.add(Kind::Training, &training).unwrap();
        }
        villages.push(v);
    }
    let year = villages[0]
        .reader()
        .stats(org(VILLAGE_A))
        .unwrap()
        .trainings
        .year;
    let done_a = villages[0]
        .reader()
        .stats(org(VILLAGE_A))
        .unwrap()
        .trainings
        .person_times_this_year;
    assert!(done_a > 0, "the generator's trainings have people");

    // County A sets its own yearly target at what its village did; county B sets none.
    let mut county_a = Ledger::open(&home(COUNTY_A, "ka")).unwrap();
    target(
        &mut county_a,
        COUNTY_A,
        "training_person_times",
        &year.to_string(),
        &done_a.to_string(),
    );
    let mut county_b = Ledger::open(&home(COUNTY_B, "kb")).unwrap();
    // The city's own plan, as the demo loads it.
    let mut city = Ledger::open(&home(CITY, "c1")).unwrap();
    target(&mut city, CITY, "insured", "2016-2020", "60000");
    deliver(&mut villages[0], &mut county_a, "230129100201/va");
    deliver(&mut villages[1], &mut county_b, "230183100201/vb");
    deliver(&mut county_a, &mut city, "230129000000/ka");
    deliver(&mut villages[0], &mut city, "230129000000/ka");
    deliver(&mut county_b, &mut city, "230183000000/kb");
    deliver(&mut villages[1], &mut city, "230183000000/kb");

    let reader = city.reader();
    let stats = reader.stats(org(CITY)).unwrap();
    let t = level_targets(&reader, &stats).unwrap();
    let counties = t.counties.expect("the city counts its counties");
    assert_eq!((counties.reached, counties.of), (1, 2), "{counties:?}");
    assert!(counties.counties.contains(&(org(COUNTY_A), done_a, done_a)));
    assert!(counties
        .counties
        .iter()
        .any(|(c, target, _)| *c == org(COUNTY_B) && *target == 300));
    // The city's own targets are its records only: no county figure made into a city one.
    assert_eq!(t.own.len(), 1, "{:?}", t.own);
    assert_eq!(t.own[0].metric, "insured");
    assert!(!t.own[0].actual_is_this_year);
    assert!(t.share_of_county.is_none());

    // Each county's own: its record (A) or the seed's defaults (B), and the 40 % share.
    let a = level_targets(&reader, &reader.stats(org(COUNTY_A)).unwrap()).unwrap();
    let training = a
        .own
        .iter()
        .find(|l| l.metric == "training_person_times")
        .unwrap();
    assert!(matches!(training.source, TargetSource::Record { .. }));
    assert_eq!(training.reached(), Some(true));
    let b = level_targets(&reader, &reader.stats(org(COUNTY_B)).unwrap()).unwrap();
    assert!(b.own.iter().all(|l| l.is_default()), "{:?}", b.own);
    assert!(b
        .own
        .iter()
        .any(|l| l.metric == "poor_share_percent" && l.value == 40));

    // A village seen from the city: its share of county A's target, with the county's
    // whole figure (the city holds the county).
    let v = level_targets(&reader, &reader.stats(org(VILLAGE_A)).unwrap()).unwrap();
    let share = v.share_of_county.expect("a village has a county");
    assert_eq!((share.county, share.target.value), (org(COUNTY_A), done_a));
    assert_eq!((share.own, share.county_total), (done_a, Some(done_a)));
    assert!(v.own.is_empty());
}
