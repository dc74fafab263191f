//! Adds records to a node home in a loop, printing each id on stdout only after the
//! ledger acknowledged it (durable). The crash test kills it with SIGKILL at random
//! moments and checks that every printed id survived.

use std::io::Write;

use halfsky_node::{Ledger, NodeHome};
use halfsky_shared::synthetic::Generator;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: crash_writer NODE_HOME [SEED]"))?;
    let seed: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let home = NodeHome::new(dir);
    let mut ledger = Ledger::open(&home)?;
    let org = ledger.config().org;
    let mut generator = Generator::new(seed, ledger.today());
    let mut stdout = std::io::stdout().lock();
    loop {
        let household = ledger.add(halfsky_shared::Kind::Household, &generator.household())?;
        writeln!(stdout, "{household}")?;
        stdout.flush()?;
        let woman = ledger.add(
            halfsky_shared::Kind::Woman,
            &generator.woman(&org, Some(&household)),
        )?;
        writeln!(stdout, "{woman}")?;
        stdout.flush()?;
        let visit = ledger.add(halfsky_shared::Kind::Visit, &generator.visit(&woman, 90))?;
        writeln!(stdout, "{visit}")?;
        stdout.flush()?;
    }
}
