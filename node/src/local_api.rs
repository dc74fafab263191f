//! The local API: while `halfsky run` holds a node home (sled is single-process),
//! every other `halfsky -d DIR` command is sent to the running node over a Unix socket
//! in the node home (`node.sock`, owner-only permissions) as a typed
//! [`Request`] in JSON, executed there against the same ledger, and answered with the
//! typed [`Reply`]. One `Ledger` API underneath, two ways in; the command line renders
//! the reply, so this module knows nothing of argv or text.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

use crate::command::{self, Reply, Request, Response};
use crate::config::NodeHome;
use crate::exchange::import::{prepare, ImportOptions, IMPORT_CHUNK};
use crate::ledger::actor::LedgerHandle;

/// Socket file name inside a node home.
pub const SOCKET: &str = "node.sock";

fn socket_path(home: &NodeHome) -> PathBuf {
    home.dir().join(SOCKET)
}

/// Sends the request to a running node, if one holds this home. `Ok(None)`: no node
/// is running (the caller opens the store itself). `Err`: the socket and what failed.
pub fn try_forward(
    home: &NodeHome,
    request: &Request,
) -> Result<Option<Reply>, (PathBuf, std::io::Error)> {
    let path = socket_path(home);
    let mut stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(_) => return Ok(None),
    };
    let exchange = |stream: &mut UnixStream| -> std::io::Result<Reply> {
        stream.write_all(&serde_json::to_vec(request)?)?;
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::other(format!("the running node sent an unreadable reply: {e}"))
        })
    };
    exchange(&mut stream).map(Some).map_err(|e| (path, e))
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
    // The socket is born with the umask's mode and only then set to 0600: it must be
    // born inside an owner-only directory, so that nobody else can reach it even in
    // between ([`NodeHome::make_private`] runs first).
    let dir_mode = std::fs::metadata(home.dir())
        .map_err(|e| (path.clone(), e))?
        .permissions()
        .mode();
    if dir_mode & 0o077 != 0 {
        return Err((
            path,
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "the node home is open to other users (mode {:o}); run `chmod 700 {}`",
                    dir_mode & 0o777,
                    home.dir().display()
                ),
            ),
        ));
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
                Err(e) => Err(format!(
                    "the running node cannot read this request ({e}); are `halfsky` and the running node the same release?"
                )),
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

/// Executes a request on the running node: the link status from the live links,
/// everything else on the ledger actor.
async fn execute(request: Request, handle: &LedgerHandle) -> Reply {
    if request == Request::Status {
        return match handle.status().await {
            Ok(status) => Ok(Response::Status(Box::new(status))),
            Err(e) => Err(e.to_string()),
        };
    }
    if let Request::Import {
        file,
        kind,
        skip_bad,
        dry_run: false,
    } = request
    {
        return import_in_chunks(file, kind, skip_bad, handle).await;
    }
    let options = command::Options { progress: false };
    match handle
        .run(move |ledger| command::execute(ledger, request, options).map_err(|e| e.to_string()))
        .await
    {
        Ok(reply) => reply,
        Err(e) => Err(e.to_string()),
    }
}

/// An import on the running node: checked and planned in one job, then written
/// [`IMPORT_CHUNK`] records per job, so sync frames, status and pages are answered
/// between chunks however long the file. Each chunk is durable; if the node stops
/// midway, the records written so far stay and running the same import again writes
/// the rest (an import of rows already in the ledger changes nothing).
async fn import_in_chunks(
    file: std::path::PathBuf,
    kind: halfsky_shared::Kind,
    skip_bad: bool,
    handle: &LedgerHandle,
) -> Reply {
    let options = ImportOptions {
        skip_bad,
        dry_run: false,
        progress: false,
    };
    let path = file.clone();
    let prepared = handle
        .run(move |ledger| prepare(ledger, &path, kind, options))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| command::CommandError::from(e).to_string())?;
    let mut prepared = Some(prepared);
    loop {
        let mut job = prepared.take().expect("put back after each chunk");
        let (job, more) = handle
            .run(move |ledger| {
                let more = job.write_chunk(ledger, IMPORT_CHUNK);
                (job, more)
            })
            .await
            .map_err(|e| e.to_string())?;
        let more = more.map_err(|e| command::CommandError::from(e).to_string())?;
        prepared = Some(job);
        if !more {
            break;
        }
    }
    let report = prepared.expect("the last chunk put it back").finish();
    Ok(Response::Imported { kind, file, report })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::actor::LedgerActor;
    use crate::Ledger;
    use halfsky_shared::{Kind, OrgCode};

    fn women(ledger: &Ledger) -> usize {
        ledger.list(Kind::Woman, "", true).expect("list").len()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_import_lets_other_requests_in_between_its_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = NodeHome::new(dir.path().join("v"));
        home.init(
            OrgCode::parse("230129100201").expect("valid"),
            "红星村",
            "test",
            None,
        )
        .expect("init");
        let (_actor, handle) =
            LedgerActor::start(Ledger::open(&home).expect("open")).expect("actor");
        let rows = IMPORT_CHUNK * 3 + 17;
        let mut csv = String::from("姓名,出生年份,劳动能力,状态\n");
        for i in 0..rows {
            csv.push_str(&format!("妇女{i},{},有劳动能力,贫困\n", 1950 + i % 50));
        }
        let file = dir.path().join("women.csv");
        std::fs::write(&file, csv).expect("write");

        let import = {
            let handle = handle.clone();
            let request = Request::Import {
                file,
                kind: Kind::Woman,
                skip_bad: false,
                dry_run: false,
            };
            tokio::spawn(async move { execute(request, &handle).await })
        };
        // Another request (as a sync frame or a page would be) keeps asking while the
        // import runs: it is answered between chunks, seeing part of the import.
        let mut seen_midway = Vec::new();
        while !import.is_finished() {
            let n = handle.run(|l| women(l)).await.expect("the actor answers");
            if n > 0 && n < rows {
                seen_midway.push(n);
            }
        }
        let reply = import.await.expect("the import task").expect("imported");
        let Response::Imported { report, .. } = reply else {
            panic!("an import reply: {reply:?}");
        };
        assert_eq!(report.written, rows);
        assert_eq!(handle.run(|l| women(l)).await.expect("answers"), rows);
        assert!(
            !seen_midway.is_empty(),
            "no request was answered while the import wrote its chunks"
        );
        assert!(
            seen_midway.iter().all(|n| n % IMPORT_CHUNK == 0),
            "requests come between chunks, never inside one: {seen_midway:?}"
        );
    }
}
