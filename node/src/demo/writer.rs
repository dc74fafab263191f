//! The villages' writers: realistic records (visits, pairings, measures, loans,
//! trainings, exits, new households) added at a gentle rate while the demo runs.

use halfsky_shared::synthetic::Generator;
use halfsky_shared::{Kind, RecordId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::error::Result;
use crate::ledger::Ledger;

/// A village writer's memory between records.
pub(super) struct WriterState {
    generator: Option<Generator>,
    rng: StdRng,
    women: Vec<RecordId>,
    loaded: bool,
}

impl WriterState {
    pub(super) fn new(seed: u64) -> Self {
        WriterState {
            generator: None,
            rng: StdRng::seed_from_u64(seed),
            women: Vec::new(),
            loaded: false,
        }
    }

    /// Writes one realistic record into the village's ledger.
    pub(super) fn write_one(&mut self, ledger: &mut Ledger) -> Result<()> {
        let org = ledger.config().org;
        if !self.loaded {
            self.women = ledger
                .list(Kind::Woman, "", true)?
                .into_iter()
                .map(|r| r.record.id)
                .collect();
            self.loaded = true;
        }
        let today = ledger.today();
        let seed = self.rng.random();
        let generator = self
            .generator
            .get_or_insert_with(|| Generator::new(seed, today));
        let roll = self.rng.random_range(0..100);
        let woman = (!self.women.is_empty())
            .then(|| self.women[self.rng.random_range(0..self.women.len())].clone());
        match (roll, woman) {
            (0..=39, Some(w)) => {
                ledger.add(Kind::Visit, &generator.visit(&w, 3))?;
            }
            (40..=49, Some(w)) => {
                ledger.add(Kind::Pairing, &generator.pairing(&w))?;
            }
            (50..=59, Some(w)) => {
                ledger.add(Kind::Measure, &generator.measure(&w))?;
            }
            (60..=64, Some(w)) => {
                ledger.add(Kind::Loan, &generator.loan(&w))?;
            }
            (65..=69, Some(_)) => {
                let attendees: Vec<_> = self.women.iter().take(12).cloned().collect();
                ledger.add(Kind::Training, &generator.training(&attendees))?;
            }
            (70..=74, Some(w)) => {
                let exit = vec![("status".to_string(), "exited".to_string())];
                ledger.update(&w, Some(Kind::Woman), &exit)?;
            }
            _ => {
                let household = ledger.add(Kind::Household, &generator.household())?;
                let w = ledger.add(Kind::Woman, &generator.woman(&org, Some(&household)))?;
                self.women.push(w);
            }
        }
        Ok(())
    }
}
