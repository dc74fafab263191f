//! Crash safety of the ledger: a writer process is killed with SIGKILL at random
//! moments; every id it printed (acknowledged as durable) must survive, the store must
//! open, and a rebuilt index must equal the incrementally maintained one.

use std::path::Path;
use std::time::Duration;

use halfsky_shared::{Kind, RecordId};
use halfsky_tests::procs::printed_until_killed;
use halfsky_tests::{new_home, open, village};
use rand::{Rng, SeedableRng};

#[test]
fn sigkill_never_loses_an_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let home = new_home(dir.path(), village(), "红星村");
    drop(open(&home));
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261122);
    let mut acknowledged: Vec<RecordId> = Vec::new();
    for round in 0..20 {
        // Let it write for a random while (it needs to open the store first).
        let run_for = Duration::from_millis(rng.random_range(150..900));
        let round_arg = round.to_string();
        let lines = printed_until_killed(
            Path::new(env!("CARGO_BIN_EXE_crash_writer")),
            &[home.dir().as_os_str(), round_arg.as_ref()],
            run_for,
        );
        for line in lines {
            acknowledged.push(RecordId::parse(&line).expect("writer prints ids"));
        }
        // The store must open and hold every acknowledged record.
        let ledger = open(&home);
        for id in &acknowledged {
            assert!(
                ledger.index().get(id).unwrap().is_some(),
                "round {round}: acknowledged record {id} lost"
            );
        }
    }
    assert!(
        acknowledged.len() > 20,
        "the writer wrote too little to test anything"
    );
    let mut ledger = open(&home);
    let stats_before = ledger.stats(None).unwrap();
    let women_before = ledger.list(Kind::Woman, "", true).unwrap();
    let total = ledger.reindex().unwrap();
    assert_eq!(ledger.stats(None).unwrap(), stats_before);
    assert_eq!(ledger.list(Kind::Woman, "", true).unwrap(), women_before);
    assert!(total >= acknowledged.len());
    // Ids are never reused, even across crashes.
    let mut unique = acknowledged.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), acknowledged.len());
}
