//! Real processes for crash and chaos tests: the workspace's binaries (built on first
//! use next to the test binary, a no-op when up to date), child processes that are
//! SIGKILLed and reaped when their guard drops, and bounded waits.
//! Waiting on a condition is [`crate::eventually_blocking`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A workspace binary of this build profile (`package`, `bin`), built if missing or
/// stale.
pub fn binary(package: &str, bin: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().expect("no panic while building");
    if let Some((_, path)) = built.iter().find(|(b, _)| b == bin) {
        return path.clone();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    // Test binaries live in target/<profile>/deps, the bench binary in target/<profile>.
    let parent = exe
        .parent()
        .expect("the binary lives in a target directory");
    let profile_dir = if parent.file_name().is_some_and(|n| n == "deps") {
        parent.parent().expect("target/<profile>/deps has a parent")
    } else {
        parent
    };
    let path = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "-p", package, "--bin", bin])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // Drop what cargo set for this test run: build scripts watching them would rerun.
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                key,
                "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            )
        {
            build.env_remove(key);
        }
    }
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(profile) => {
            build.args(["--profile", profile]);
        }
    }
    let status = build.status().expect("cargo can be started");
    assert!(status.success(), "building {bin} failed");
    assert!(path.exists(), "cargo built no {}", path.display());
    built.push((bin.to_string(), path.clone()));
    path
}

/// Runs a program to completion within `limit`; returns (exit code, stdout, stderr).
pub fn output(program: &Path, args: &[&str], limit: Duration) -> (Option<i32>, String, String) {
    let scratch = tempfile::tempdir().expect("temp dir");
    let (out_path, err_path) = (scratch.path().join("out"), scratch.path().join("err"));
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("scratch file"))
        .stderr(std::fs::File::create(&err_path).expect("scratch file"))
        .spawn()
        .expect("the program starts");
    let mut guard = Proc::new(child, err_path.clone());
    let status = guard.wait(limit).unwrap_or_else(|| {
        panic!(
            "{} {args:?} did not finish within {limit:?}",
            program.display()
        )
    });
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status.code(), read(&out_path), read(&err_path))
}

/// A child process, SIGKILLed and reaped when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Guards `child`, whose stderr goes to `log`.
    pub fn new(child: Child, log: PathBuf) -> Proc {
        Proc {
            child: Some(child),
            log,
        }
    }

    /// Starts `program args…` with stdout and stderr appended to `log`.
    pub fn spawn(program: &Path, args: &[&str], log: &Path) -> Proc {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("the program starts");
        Proc::new(child, log.to_path_buf())
    }

    /// The process id while it runs (to read its `/proc/<pid>/status`).
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits for the exit, at most `limit`; `None` if still running.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("waitpid works") {
                self.child = None;
                return Some(status);
            }
            if started.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL: no chance to flush or close anything.
    pub fn sigkill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits (at most `limit`) for the exit.
    pub fn sigterm(&mut self, limit: Duration) -> ExitStatus {
        let child = self.child.as_ref().expect("the process is running");
        // kill(1) by pid: the workspace denies `unsafe`, so no libc::kill.
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(sent.success(), "kill -TERM failed");
        self.wait(limit)
            .unwrap_or_else(|| panic!("no exit within {limit:?} of SIGTERM"))
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&mut self, what: &str) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("{what} exited ({status}):\n{log}");
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.sigkill();
            if std::thread::panicking() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: String = log
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                eprintln!("--- {} (last lines) ---\n{tail}", self.log.display());
            }
        }
    }
}

/// Runs `program args…` for `run_for`, then SIGKILLs it (no chance to flush or clean
/// up) and returns the lines it printed on stdout before it died: for the crash tests'
/// writers, what they acknowledged as durable.
pub fn printed_until_killed(
    program: &Path,
    args: &[&std::ffi::OsStr],
    run_for: Duration,
) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the program starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(run_for);
    child.kill().expect("the child can be killed");
    child.wait().expect("the child is reaped");
    reader.join().expect("the reader thread does not panic")
}
