//! `halfsky`: parses the command line and hands it to the library.

use std::io::IsTerminal;

use clap::Parser;

/// mimalloc instead of glibc's malloc: applying a catch-up makes many small,
/// short-lived allocations, and glibc's allocator was a quarter of that time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = halfsky_node::cli::Cli::parse();
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
    };
    // The demo's 28 nodes would write over its one-screen summary: their logs go to
    // a file the demo names.
    let demo_log = match &cli.command {
        halfsky_node::cli::Command::Demo(args) => halfsky_node::demo::open_log(args),
        _ => None,
    };
    match demo_log {
        Some(file) => tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .with_env_filter(filter())
            .init(),
        // Colour codes only for a person at a terminal: a log file or a service's
        // journal gets plain text.
        None => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_env_filter(filter())
            .init(),
    }
    match halfsky_node::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
