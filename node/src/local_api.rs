//! The local API: while `halfsky run` holds a node home (sled is single-process),
//! every other `halfsky -d DIR` command is sent to the running node over a Unix socket
//! in the node home (`node.sock`, owner-only permissions) and executed there, against
//! the same ledger. One `Ledger` API underneath, two ways in.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

use crate::config::NodeHome;
use crate::ledger::actor::LedgerHandle;

/// Socket file name inside a node home.
pub const SOCKET: &str = "node.sock";

/// A command line to run at the node.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// The caller's working directory (relative paths are resolved against it).
    pub cwd: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<String>,
}

/// What the command printed, and its exit code.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit code (0 = success).
    pub code: i32,
}

fn socket_path(home: &NodeHome) -> PathBuf {
    home.dir().join(SOCKET)
}

/// Sends the command to a running node, if one holds this home. `Ok(None)`: no node
/// is running (the caller opens the store itself).
pub fn try_forward(home: &NodeHome, args: &[String]) -> std::io::Result<Option<Reply>> {
    let path = socket_path(home);
    let mut stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(_) => return Ok(None),
    };
    let request = Request {
        cwd: std::env::current_dir()?,
        args: args.to_vec(),
    };
    stream.write_all(&serde_json::to_vec(&request)?)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    let reply = serde_json::from_slice(&bytes).map_err(|e| {
        std::io::Error::other(format!("the running node sent an unreadable reply: {e}"))
    })?;
    Ok(Some(reply))
}

/// Binds the socket (replacing a stale one left by a crash), owner-only.
pub fn bind(home: &NodeHome) -> Result<UnixListener, (PathBuf, std::io::Error)> {
    let path = socket_path(home);
    if path.exists() {
        if UnixStream::connect(&path).is_ok() {
            return Err((
                path,
                std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another node is already running on this directory",
                ),
            ));
        }
        let _ = std::fs::remove_file(&path);
    }
    let listener = UnixListener::bind(&path).map_err(|e| (path.clone(), e))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| (path.clone(), e))?;
    Ok(listener)
}

/// Serves requests until cancelled; removes the socket on the way out.
pub async fn serve(listener: UnixListener, handle: LedgerHandle, cancel: CancellationToken) {
    let path = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(|p| p.to_path_buf()));
    let mut clients = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            s = listener.accept() => match s { Ok((s, _)) => s, Err(_) => continue },
            _ = cancel.cancelled() => break,
            Some(_) = clients.join_next() => continue,
        };
        let handle = handle.clone();
        clients.spawn(async move {
            let mut stream = stream;
            let mut bytes = Vec::new();
            if stream.read_to_end(&mut bytes).await.is_err() {
                return;
            }
            let reply = match serde_json::from_slice::<Request>(&bytes) {
                Ok(request) => execute(request, &handle).await,
                Err(e) => Reply {
                    stderr: format!("error: unreadable request: {e}\n"),
                    code: 2,
                    ..Reply::default()
                },
            };
            let _ = stream
                .write_all(&serde_json::to_vec(&reply).expect("reply serializes"))
                .await;
            let _ = stream.shutdown().await;
        });
    }
    clients.shutdown().await;
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
}

async fn execute(request: Request, handle: &LedgerHandle) -> Reply {
    if crate::cli::is_status(&request.args) {
        return match handle.status().await {
            Ok(status) => crate::cli::render_status(&request.args, &status),
            Err(e) => Reply {
                stderr: format!("error: {e}\n"),
                code: 1,
                ..Reply::default()
            },
        };
    }
    handle
        .run(move |ledger| crate::cli::execute_args(ledger, &request.cwd, &request.args))
        .await
        .unwrap_or_else(|e| Reply {
            stderr: format!("error: {e}\n"),
            code: 1,
            ..Reply::default()
        })
}
