//! The `halfsky-relay` command line.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::RelayHome;
use crate::store::{Mailbox, RelayStore};

/// halfsky-relay — a store-and-forward mailbox for halfsky offices whose links are
/// never up at the same time. It keeps sealed bundles it cannot read.
#[derive(Debug, Parser)]
#[command(name = "halfsky-relay", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// Relay home directory (relay.toml, store, certificate files).
    #[arg(
        short = 'd',
        long = "dir",
        global = true,
        env = "HALFSKY_RELAY_HOME",
        default_value = "halfsky-relay-data"
    )]
    pub dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a relay home with a commented relay.toml. Then give it a certificate:
    /// `halfsky pki issue --ca CA_DIR --role relay --device relay --name HOST -d DIR`
    /// (a relay certificate: mailboxes only, no unit's powers).
    Init {
        /// Address nodes dial, ip:port.
        #[arg(long, default_value = "0.0.0.0:7420")]
        listen: String,
    },
    /// Run the relay until Ctrl-C or SIGTERM (logs on stderr, RUST_LOG respected).
    Run,
    /// The mailboxes: recipient unit, bundles waiting, bytes, oldest.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Snapshot of the mailboxes the running relay writes, read by `status` while the
/// relay holds the store.
const STATUS_FILE: &str = "status.json";

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let home = RelayHome::new(&cli.dir);
    match cli.command {
        Command::Init { listen } => {
            let config = home.init(&listen)?;
            eprintln!(
                "created relay home {} (listening on {}); next: `halfsky pki issue --ca CA_DIR --role relay --device relay --name <host> -d {}` (a relay certificate: it serves mailboxes and nothing else), then `halfsky-relay run -d {}`",
                home.dir().display(),
                config.listen,
                home.dir().display(),
                home.dir().display()
            );
        }
        Command::Run => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let relay = crate::Relay::start(&home).await?;
                eprintln!(
                    "halfsky relay listening on {}; Ctrl-C to stop",
                    relay.addr()
                );
                let status_path = home.dir().join(STATUS_FILE);
                let store_view = relay.store();
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
                loop {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => break,
                        _ = term.recv() => break,
                        _ = every.tick() => {
                            if let Ok(boxes) = store_view.mailboxes() {
                                write_snapshot(&status_path, &boxes);
                            }
                        }
                    }
                }
                relay.shutdown().await;
                let _ = std::fs::remove_file(&status_path);
                eprintln!("relay stopped");
                Ok::<_, anyhow::Error>(())
            })?;
        }
        Command::Status { json } => {
            home.config()?;
            let (boxes, note) = match RelayStore::open(&home.store_path()) {
                Ok(store) => (store.mailboxes()?, "not running".to_string()),
                Err(open_error) => {
                    // The running relay holds the store: read its snapshot.
                    let path = home.dir().join(STATUS_FILE);
                    let text = std::fs::read_to_string(&path).map_err(|_| open_error)?;
                    let boxes: Vec<Mailbox> = serde_json::from_str(&text)?;
                    (
                        boxes,
                        "running (as of its last 5-second snapshot)".to_string(),
                    )
                }
            };
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &boxes)?;
                writeln!(out)?;
            } else {
                writeln!(out, "relay {}: {note}", home.dir().display())?;
                if boxes.is_empty() {
                    writeln!(out, "no bundles waiting")?;
                }
                for b in &boxes {
                    writeln!(
                        out,
                        "{}: {} bundles, {} bytes, oldest from {}",
                        b.recipient, b.count, b.bytes, b.oldest
                    )?;
                }
            }
        }
    }
    Ok(())
}

fn write_snapshot(path: &std::path::Path, boxes: &[Mailbox]) {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(boxes).expect("mailboxes serialize");
    if std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .is_err()
    {
        tracing::warn!(path = %path.display(), "cannot write the status snapshot");
    }
}
