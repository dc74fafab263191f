//! `halfsky user add`: dashboard users, stored in `halfsky.toml` with argon2 hashes.
//! The password is asked for on the terminal without echo, or read from stdin.

use std::io::Write;

use crate::cli::args::UserCommand;
use crate::cli::CliError;
use crate::config::NodeHome;

/// Runs one `halfsky user` command on a node home.
pub fn execute(home: &NodeHome, cmd: UserCommand) -> Result<(), CliError> {
    match cmd {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() || name.chars().any(|c| c.is_control() || c == '"') {
                return Err(CliError::usage(
                    "--name must be a non-empty name without quotes",
                ));
            }
            let role: crate::config::Role = role
                .parse()
                .map_err(|e: String| CliError::usage(format!("--role: {e}")))?;
            let password = read_password(password_stdin)?;
            if password.chars().count() < 8 {
                return Err(CliError::usage(
                    "the password must have at least 8 characters",
                ));
            }
            let hash = crate::dashboard::auth::hash_password(&password)
                .map_err(|e| CliError::usage(format!("cannot hash the password: {e}")))?;
            crate::config::set_dashboard_user(home, &name, role, &hash)?;
            eprintln!(
                "user {name} ({}) saved in {}; restart `halfsky run` for the dashboard to see it",
                role.as_str(),
                home.config_path().display()
            );
            Ok(())
        }
    }
}

/// A secret line from the terminal (without echo) or, with `from_stdin` or no
/// terminal, from standard input.
pub(crate) fn read_password(from_stdin: bool) -> std::io::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        eprint!("password: ");
        std::io::stderr().flush()?;
        let echo = set_echo(false);
        let mut line = String::new();
        let read = stdin.lock().read_line(&mut line);
        if echo {
            set_echo(true);
        }
        eprintln!();
        read?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Turns terminal echo on or off (for the password prompt); returns whether it changed.
fn set_echo(on: bool) -> bool {
    std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
}
