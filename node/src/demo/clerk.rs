//! The demo's clerks: every unit checks a few records of its subtree now and then (a
//! random sample of its queue), mostly confirming them, sometimes sending one back for
//! a fix or rejecting it, so the overview's verification progress moves as the demo
//! runs.

use rand::rngs::StdRng;
use rand::Rng;

use crate::ledger::verification::{self, Outcome, QueueFilter};
use crate::ledger::Ledger;

/// Records checked per round at most.
const PER_ROUND: usize = 3;

/// Checks up to [`PER_ROUND`] records of a 5 % sample of this unit's queue; a failure
/// is logged (the demo goes on).
pub(super) fn check_some(ledger: &mut Ledger, rng: &mut StdRng) {
    let me = ledger.config().org;
    let filter = QueueFilter {
        sample_percent: Some(5),
        seed: rng.random(),
        ..QueueFilter::default()
    };
    let queue = match verification::queue(&ledger.reader(), me, &filter) {
        Ok(q) => q,
        Err(e) => {
            tracing::warn!(error = %e, "demo clerk: cannot read the verification queue");
            return;
        }
    };
    let verifier = format!("{}核查员", me.level().zh());
    for row in queue.into_iter().take(PER_ROUND) {
        let (outcome, note) = match rng.random_range(0..100) {
            0..=84 => (Outcome::Confirmed, ""),
            85..=94 => (Outcome::NeedsFix, "信息与入户核实不符，请更正"),
            _ => (Outcome::Rejected, "重复登记"),
        };
        if let Err(e) = verification::mark(ledger, &[row.id], outcome, note, &verifier) {
            tracing::warn!(error = %e, "demo clerk: a check was refused");
        }
    }
}
