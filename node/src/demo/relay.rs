//! The demo's relay: a `halfsky-relay` child process found beside `halfsky`, for the
//! village that reaches its township only through a relay.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::{Context, DemoError, Result};

/// The `halfsky-relay` binary: `$HALFSKY_RELAY_BIN`, or beside this executable (or
/// one folder up, as for test binaries in `target/*/deps`).
fn relay_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HALFSKY_RELAY_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let name = format!("halfsky-relay{}", std::env::consts::EXE_SUFFIX);
    let dir = exe.parent()?;
    [dir.join(&name), dir.parent()?.join(&name)]
        .into_iter()
        .find(|p| p.is_file())
}

/// The demo's relay: a `halfsky-relay` child process on loopback (the relay is its
/// own program; the node cannot link it in).
pub(super) struct RelayProcess {
    child: std::process::Child,
    /// Where the relay listens.
    pub(super) addr: SocketAddr,
}

impl RelayProcess {
    pub(super) async fn start(dir: &Path, ca: &Path) -> Result<RelayProcess> {
        let bin = relay_binary().context(
            "halfsky-relay is not built beside halfsky (cargo build --release builds both)",
        )?;
        let home = dir.join("relay");
        let port = std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        if home.join("relay.toml").exists() {
            // A kept demo: the relay keeps its mailboxes, on a new port.
            let text = std::fs::read_to_string(home.join("relay.toml"))?;
            let mut table: toml::Table =
                toml::from_str(&text).context("reading the relay's relay.toml")?;
            if let Some(relay) = table.get_mut("relay").and_then(|r| r.as_table_mut()) {
                relay.insert("listen".into(), toml::Value::String(addr.to_string()));
            }
            let text = toml::to_string(&table).context("writing the relay's relay.toml")?;
            std::fs::write(home.join("relay.toml"), text)?;
        } else {
            let status = std::process::Command::new(&bin)
                .arg("-d")
                .arg(&home)
                .args(["init", "--listen", &addr.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .with_context(|| format!("running {}", bin.display()))?;
            if !status.success() {
                return Err(DemoError::Missing(format!(
                    "halfsky-relay init failed ({status})"
                )));
            }
            crate::pki::issue_relay(ca, "relay", &home, &[]).context("the relay's certificate")?;
        }
        let log = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(dir.join("relay.log"))?
        };
        let child = std::process::Command::new(&bin)
            .arg("-d")
            .arg(&home)
            .arg("run")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(RelayProcess { child, addr })
    }

    /// Stops the relay (SIGTERM, then waits; its store is durable either way).
    pub(super) fn stop(mut self) {
        #[cfg(unix)]
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
