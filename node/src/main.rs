//! `halfsky`: parses the command line and hands it to the library.

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = halfsky_node::cli::Cli::parse();
    let raw_args: Vec<String> = std::env::args().skip(1).collect();
    match halfsky_node::cli::run(cli, &raw_args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
