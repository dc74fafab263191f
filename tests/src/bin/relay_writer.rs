//! Deposits bundles into a relay store until killed, printing each id once the store
//! has acknowledged it (flushed): the relay store's SIGKILL test reads them back.
//!
//! `relay_writer STORE_DIR VILLAGE_HOME TOWNSHIP_CERT ROUND`

use std::io::Write;
use std::path::PathBuf;

use halfsky_node::sync::bundle::{self, Keys};
use halfsky_node::{Ledger, NodeHome};
use halfsky_relay::store::{Quota, RelayStore};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store_dir, village, cert, round] = args.as_slice() else {
        anyhow::bail!("usage: relay_writer STORE_DIR VILLAGE_HOME TOWNSHIP_CERT ROUND");
    };
    let round: u64 = round.parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = RelayStore::open(&PathBuf::from(store_dir))?;
    let home = NodeHome::new(village);
    let mut ledger = Ledger::open(&home)?;
    ledger.set_today(halfsky_tests::today());
    let keys = Keys::load(home.dir())?;
    let cert = bundle::read_cert_file(&PathBuf::from(cert))?;
    let township = ledger
        .config()
        .org
        .parent()
        .expect("a village has a parent");
    let quota = Quota {
        bytes: u64::MAX / 2,
        count: u64::MAX / 2,
    };
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        halfsky_tests::fill_village(&mut ledger, 1, round * 10_000 + i);
        let sealed = bundle::seal_changes(&mut ledger, &keys, township, &cert, 3600)?
            .expect("new records to send");
        let now = chrono::Utc::now().timestamp();
        let id =
            runtime.block_on(store.deposit(keys.org, township, false, sealed.bytes, now, quota))?;
        writeln!(out, "{}", hex::encode(id))?;
        out.flush()?;
    }
    Ok(())
}
