//! Women registered twice across units: the same ID number at two villages is found at
//! their township and at the city (the unit that sees both named as where they meet),
//! never at either village alone, and two different numbers that share a mask are not
//! taken for one. `halfsky duplicates` prints the same, and nothing of it gives out a
//! number or its hash.

use halfsky_node::Ledger;
use halfsky_shared::idcard::with_check_digit;
use halfsky_shared::session::{Delivery, Replica};
use halfsky_shared::{Kind, OrgCode, RecordId};
use halfsky_tests::deploy::{Deployment, NodeSpec};
use halfsky_tests::{add_woman_numbered, cli};

const VILLAGE_A: &str = "230129100201";
const VILLAGE_B: &str = "230129100202";
const TOWNSHIP: &str = "230129100000";
const CITY: &str = "230100000000";

fn org(code: &str) -> OrgCode {
    OrgCode::parse(code).unwrap()
}

/// Everything `from` holds of its own document, delivered to `to` as from `sender`.
fn deliver(from: &mut Ledger, to: &mut Ledger, sender: &str) {
    let doc = from.config().org;
    let changes = Replica::changes_since(from, &doc, &[]).unwrap().unwrap();
    Replica::apply_changes(to, sender, &doc, changes, Delivery::CatchUp).unwrap();
}

/// A valid number of someone born on `date` (YYYYMMDD) with sequence `seq`.
fn number(date: &str, seq: &str) -> String {
    with_check_digit(&format!("230129{date}{seq}"))
}

/// Two different numbers with the same mask (first six and last four characters).
fn two_numbers_one_mask() -> (String, String) {
    let first = number("19800101", "123");
    for day in 2..=28 {
        let other = number(&format!("198001{day:02}"), "123");
        if other[14..] == first[14..] {
            return (first, other);
        }
    }
    unreachable!("some day of January 1980 gives the same check digit")
}

#[test]
fn the_same_number_at_two_villages_is_found_where_they_meet() {
    let d = Deployment::new();
    let home = |unit: &str, device: &str| d.home(unit, unit, &NodeSpec::new(device, None, false));
    let mut a = Ledger::open(&home(VILLAGE_A, "va")).unwrap();
    let mut b = Ledger::open(&home(VILLAGE_B, "vb")).unwrap();
    let shared = number("19750612", "045");
    let (masked_alike, other) = two_numbers_one_mask();
    assert_ne!(masked_alike, other);

    let at_a = add_woman_numbered(&mut a, 1, &shared);
    let at_b = add_woman_numbered(&mut b, 2, &shared);
    add_woman_numbered(&mut a, 3, &masked_alike);
    add_woman_numbered(&mut b, 4, &other);

    // Neither village sees the other's card.
    assert!(a.reader().duplicates(org(VILLAGE_A)).unwrap().is_empty());
    assert!(b.reader().duplicates(org(VILLAGE_B)).unwrap().is_empty());

    let mut township = Ledger::open(&home(TOWNSHIP, "t1")).unwrap();
    deliver(&mut a, &mut township, "230129100201/va");
    deliver(&mut b, &mut township, "230129100202/vb");
    let mut city = Ledger::open(&home(CITY, "c1")).unwrap();
    deliver(&mut a, &mut city, "230129000000/k1");
    deliver(&mut b, &mut city, "230129000000/k1");

    for (holder, at) in [(&township, TOWNSHIP), (&city, CITY)] {
        let found = holder.reader().duplicates(org(at)).unwrap();
        assert_eq!(
            found.len(),
            1,
            "{at}: one number twice, not the shared mask: {found:?}"
        );
        let group = &found[0];
        assert_eq!(group.lowest_common_unit, org(TOWNSHIP), "{at}");
        let ids: Vec<RecordId> = group.cards.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids, vec![at_a.clone(), at_b.clone()], "{at}");
        assert_eq!(group.cards[0].unit, org(VILLAGE_A));
        assert_eq!(group.cards[1].unit, org(VILLAGE_B));
        assert!(group.cards.iter().all(|c| !c.created_at.is_empty()));
        // One village's part of the tree has nothing twice.
        assert!(holder
            .reader()
            .duplicates(org(VILLAGE_A))
            .unwrap()
            .is_empty());
    }

    // The command: JSON for programs, text for a clerk; neither number nor hash.
    let json = cli(&mut township, &["duplicates", "--json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let groups: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(groups.as_array().map(Vec::len), Some(1), "{}", json.stdout);
    assert_eq!(groups[0]["lowest_common_unit"], TOWNSHIP);
    let text = cli(&mut township, &["duplicates"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains(&at_a.to_string()), "{}", text.stdout);
    assert!(text.stdout.contains(&at_b.to_string()), "{}", text.stdout);
    let hash = township
        .show(&at_a)
        .unwrap()
        .indexed
        .record
        .meta
        .id_hash
        .unwrap();
    for out in [&json.stdout, &text.stdout] {
        assert!(!out.contains(&shared), "{out}");
        assert!(!out.contains(&hash), "{out}");
    }
    let below = cli(&mut township, &["duplicates", "--org", CITY]);
    assert_ne!(below.code, 0, "a unit above this node is refused");

    // The city's page shows the same group, and neither number nor hash.
    let page = halfsky_tests::dashboard_page(city, &format!("/org/{CITY}/duplicates"));
    assert!(page.contains("id=\"duplicate-count\">1<"), "{page}");
    assert!(page.contains(&at_a.to_string()) && page.contains(&at_b.to_string()));
    assert!(!page.contains(&shared) && !page.contains(&hash), "{page}");

    // Rotating the township's hash key re-hashes every number from its sealed form:
    // the same pair is found, under a new hash. A village has no key to rotate.
    let rotated = cli(&mut township, &["id-key", "rotate"]);
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let found = township.reader().duplicates(org(TOWNSHIP)).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let ids: Vec<RecordId> = found[0].cards.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, vec![at_a.clone(), at_b.clone()]);
    let new_hash = township.show(&at_a).unwrap().indexed.record.meta.id_hash;
    assert!(new_hash.is_some() && new_hash.as_deref() != Some(hash.as_str()));
    let refused = cli(&mut a, &["id-key", "rotate"]);
    assert_ne!(refused.code, 0, "a village has no ID key");
    assert!(
        refused.stderr.contains("holds no ID key to rotate")
            && refused.stderr.contains("only township, county and city")
            && !refused.stderr.contains("not a valid node config"),
        "{}",
        refused.stderr
    );

    // Retiring one card settles it.
    b.retire(&at_b, Some(Kind::Woman), "registered twice; kept at 红星村")
        .unwrap();
    deliver(&mut b, &mut township, "230129100202/vb");
    assert!(township
        .reader()
        .duplicates(org(TOWNSHIP))
        .unwrap()
        .is_empty());
    let text = cli(&mut township, &["duplicates"]);
    assert!(
        text.stdout.contains("no woman is registered twice"),
        "{}",
        text.stdout
    );
}
