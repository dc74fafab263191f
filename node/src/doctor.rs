//! `halfsky doctor -d DIR`: looks a node home over the way a county's IT clerk would
//! want it looked over, and says in plain words what is wrong and what to do: the
//! config, the certificate (chain to the CA, expiry, unit and device the same as the
//! config's), the CA, whether the parent answers (a real mutual-TLS handshake, as the
//! node makes), how far the parent's clock and this one are apart (told by the parent
//! after the Hellos), the free disk space and the permissions of the secret files. Each
//! check gives one [`Finding`]; a failed one is something the node cannot run or sync
//! with, a warning something that will become one.

use std::path::Path;
use std::time::{Duration, SystemTime};

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::{NodeConfig, NodeHome, CONFIG_FILE, ID_KEY_FILE};
use crate::pki::{self, agree, NodeIdentity, CA_CERT_FILE, NODE_CERT_FILE, NODE_KEY_FILE};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Nothing to do.
    Ok,
    /// Works today; needs attention soon.
    Warn,
    /// The node cannot run or sync until this is fixed.
    Fail,
}

/// One check's outcome, in words for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked (`config`, `certificate`, `CA`, `parent`, `disk`, `files`).
    pub check: &'static str,
    /// How serious.
    pub severity: Severity,
    /// What was found and, unless all is well, what to do.
    pub message: String,
}

/// What the checks compare against: the clock, how long to wait for the parent, how
/// much free disk is enough.
#[derive(Debug, Clone)]
pub struct Limits {
    /// "Now" for expiry dates.
    pub now: SystemTime,
    /// Longest wait for the parent's handshake.
    pub parent_timeout: Duration,
    /// Below this much free space in the node home, the store may stop taking writes.
    pub min_free_bytes: u64,
    /// A certificate ending sooner than this is a warning.
    pub renew_before: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            now: SystemTime::now(),
            parent_timeout: Duration::from_secs(10),
            min_free_bytes: 1024 * 1024 * 1024,
            renew_before: Duration::from_secs(60 * 24 * 3600),
        }
    }
}

fn finding(check: &'static str, severity: Severity, message: impl Into<String>) -> Finding {
    Finding {
        check,
        severity,
        message: message.into(),
    }
}

/// Runs every check on the node home `home`.
pub async fn examine(home: &NodeHome, limits: &Limits) -> Vec<Finding> {
    let mut out = Vec::new();
    let config = match home.config() {
        Ok(c) => {
            out.push(finding(
                "config",
                Severity::Ok,
                format!(
                    "{} {} ({}), device {}",
                    c.org.level().zh(),
                    c.name,
                    c.org,
                    c.device
                ),
            ));
            Some(c)
        }
        Err(e) => {
            out.push(finding("config", Severity::Fail, e.to_string()));
            None
        }
    };
    out.extend(file_modes(home.dir()));
    let identity = certificate(home, config.as_ref(), limits, &mut out);
    out.push(disk(home.dir(), limits.min_free_bytes));
    if let (Some(config), Some(identity)) = (&config, &identity) {
        out.extend(parent(config, identity, limits.parent_timeout).await);
    }
    out
}

/// The certificate and the CA: chain, key, validity, expiry soon, agreement with the
/// config. Returns the identity when it is usable.
fn certificate(
    home: &NodeHome,
    config: Option<&NodeConfig>,
    limits: &Limits,
    out: &mut Vec<Finding>,
) -> Option<NodeIdentity> {
    let identity = match pki::load_node_identity(home.dir()) {
        Ok(identity) => identity,
        Err(e) => {
            out.push(finding("certificate", Severity::Fail, e.to_string()));
            return None;
        }
    };
    let mut ok = true;
    if let Some(config) = config {
        if let Err(e) = agree::check(config, &identity.identity, home.dir()) {
            out.push(finding("certificate", Severity::Fail, e.to_string()));
            ok = false;
        }
    }
    for (check, der, file, fix) in [
        (
            "certificate",
            identity.chain[0].as_ref(),
            NODE_CERT_FILE,
            "ask the CA holder for a new enrollment file (`halfsky pki enroll`) or certificate (`halfsky pki issue`)",
        ),
        (
            "CA",
            identity.ca.as_ref(),
            CA_CERT_FILE,
            "the deployment needs a new CA before then: tell the city's IT office",
        ),
    ] {
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            continue;
        };
        let end = pki::files::system_time(cert.validity().not_after.timestamp());
        let date = pki::date(end);
        match end.duration_since(limits.now) {
            Err(_) => {
                out.push(finding(
                    check,
                    Severity::Fail,
                    format!("{file} expired on {date}; {fix}"),
                ));
                ok = false;
            }
            Ok(left) if left < limits.renew_before => {
                out.push(finding(
                    check,
                    Severity::Warn,
                    format!("{file} expires on {date} ({} days left); {fix}", left.as_secs() / 86_400),
                ));
            }
            Ok(_) if check == "CA" => {
                out.push(finding(check, Severity::Ok, format!("{file} valid until {date}")));
            }
            Ok(_) => {
                out.push(finding(
                    check,
                    Severity::Ok,
                    format!(
                        "{file} is {} from the deployment's CA, valid until {date}",
                        identity.identity
                    ),
                ));
            }
        }
    }
    ok.then_some(identity)
}

/// Owner-only permissions on the home (which keeps the store and the local socket
/// from other users), the config and the key.
fn file_modes(dir: &Path) -> Vec<Finding> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let checks = [
        (dir.to_path_buf(), 0o700, "chmod 700"),
        (dir.join(CONFIG_FILE), 0o600, "chmod 600"),
        (dir.join(NODE_KEY_FILE), 0o600, "chmod 600"),
        (dir.join(ID_KEY_FILE), 0o600, "chmod 600"),
    ];
    for (path, wanted, fix) in checks {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            out.push(finding(
                "files",
                Severity::Fail,
                format!(
                    "{} can be read by other users of this computer (mode {mode:o}; it holds the ledger or its keys): run `{fix} {}`",
                    path.display(),
                    path.display()
                ),
            ));
        } else if mode & wanted != wanted && meta.is_dir() {
            out.push(finding(
                "files",
                Severity::Fail,
                format!(
                    "{} cannot be used by its owner (mode {mode:o}): run `{fix} {}`",
                    path.display(),
                    path.display()
                ),
            ));
        }
    }
    if out.is_empty() {
        out.push(finding(
            "files",
            Severity::Ok,
            "secret files are owner-only",
        ));
    }
    out
}

/// Free space where the store lives.
fn disk(dir: &Path, min_free: u64) -> Finding {
    match rustix::fs::statvfs(dir) {
        Ok(s) => {
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            let mib = free / (1024 * 1024);
            if free < min_free {
                finding(
                    "disk",
                    Severity::Fail,
                    format!(
                        "only {mib} MiB free where the ledger is kept ({}); free some space (at least {} MiB) or move the node home to a larger disk, or new records cannot be saved",
                        dir.display(),
                        min_free / (1024 * 1024)
                    ),
                )
            } else {
                finding("disk", Severity::Ok, format!("{mib} MiB free"))
            }
        }
        Err(e) => finding(
            "disk",
            Severity::Warn,
            format!("cannot tell the free space of {}: {e}", dir.display()),
        ),
    }
}

/// Dials the parent as `halfsky run` does (mutual TLS), says Hello, and reports who
/// answered and how far apart the two clocks are.
async fn parent(config: &NodeConfig, identity: &NodeIdentity, timeout: Duration) -> Vec<Finding> {
    let Some(parent) = config.sync.parent.clone() else {
        return vec![finding(
            "parent",
            Severity::Ok,
            "no parent (this is the top node)",
        )];
    };
    let answer = match dial(&parent, config, identity, timeout).await {
        Ok(answer) => answer,
        Err(reason) => {
            return vec![finding(
                "parent",
                Severity::Fail,
                format!("cannot reach the parent {parent}: {reason}"),
            )]
        }
    };
    let peer = &answer.peer;
    if !(config.org.is_in_subtree_of(&peer.org) && config.org != peer.org) {
        return vec![finding(
            "parent",
            Severity::Fail,
            format!("{parent} answered as {peer}, which is not a unit above {}: check [sync] parent in halfsky.toml", config.org),
        )];
    }
    let reached = finding(
        "parent",
        Severity::Ok,
        format!(
            "{parent} answered as {peer} (round trip {} ms)",
            answer.rtt.as_millis()
        ),
    );
    let clock = match answer.clock {
        Ok(skew_ms) => {
            let severity = match crate::sync::clock::level(skew_ms) {
                crate::sync::clock::SkewLevel::Fine => Severity::Ok,
                crate::sync::clock::SkewLevel::Warn => Severity::Warn,
                crate::sync::clock::SkewLevel::Fail => Severity::Fail,
            };
            let name = format!("the parent {}", peer.org);
            finding(
                "clock",
                severity,
                crate::sync::clock::describe(skew_ms, &name),
            )
        }
        Err(why) => finding("clock", Severity::Warn, why),
    };
    vec![reached, clock]
}

/// What the parent answered.
struct Answer {
    /// Who it is, by its certificate.
    peer: pki::PeerIdentity,
    /// The handshake's round trip.
    rtt: Duration,
    /// Its clock minus ours (ms), or why it was not told.
    clock: Result<i64, String>,
}

async fn dial(
    parent: &str,
    config: &NodeConfig,
    identity: &NodeIdentity,
    timeout: Duration,
) -> Result<Answer, String> {
    let addr = tokio::net::lookup_host(parent)
        .await
        .map_err(|e| format!("the address does not resolve ({e}); check [sync] parent in halfsky.toml and the network"))?
        .next()
        .ok_or("the address resolves to nothing; check [sync] parent in halfsky.toml")?;
    let transport = crate::sync::link::transport(&config.sync);
    let client = crate::sync::tls::client_config(identity, transport).map_err(|e| e.to_string())?;
    let bind: std::net::SocketAddr = if addr.is_ipv6() {
        "[::]:0".parse().expect("valid")
    } else {
        "0.0.0.0:0".parse().expect("valid")
    };
    let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| e.to_string())?;
    endpoint.set_default_client_config(client);
    let started = std::time::Instant::now();
    let connecting = endpoint
        .connect(addr, &crate::sync::tls::server_name(parent))
        .map_err(|e| e.to_string())?;
    let result = match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(format!(
            "no answer within {} s: is the parent's node running, and is UDP port {} open between the two?",
            timeout.as_secs(),
            addr.port()
        )),
        Ok(Err(e)) => Err(crate::sync::tls::explain_handshake_failure(&e)),
        Ok(Ok(conn)) => {
            let rtt = started.elapsed();
            match crate::sync::tls::peer_identity(&conn) {
                Ok(peer) => {
                    let clock = tokio::time::timeout(timeout, ask_clock(&conn, config))
                        .await
                        .unwrap_or_else(|_| {
                            Err(format!(
                                "the parent did not tell its clock within {} s",
                                timeout.as_secs()
                            ))
                        });
                    conn.close(quinn::VarInt::from_u32(0), b"doctor done");
                    Ok(Answer { peer, rtt, clock })
                }
                Err(e) => {
                    conn.close(quinn::VarInt::from_u32(0), b"doctor done");
                    Err(e.to_string())
                }
            }
        }
    };
    endpoint.wait_idle().await;
    result
}

/// Says Hello as the node would and waits for the parent's `Clock`; ends the session
/// with an `Abort` naming the doctor, so the parent's log says what it was.
async fn ask_clock(conn: &quinn::Connection, config: &NodeConfig) -> Result<i64, String> {
    use halfsky_shared::wire::{Frame, CLOCK_SINCE_VERSION, PROTOCOL_VERSION};
    let send = |frame: Frame| frame.encode().map_err(|e| e.to_string());
    let mut out = conn.open_uni().await.map_err(|e| e.to_string())?;
    let hello = send(Frame::Hello {
        version: PROTOCOL_VERSION,
        org: config.org,
        device: config.device.clone(),
    })?;
    out.write_all(&hello).await.map_err(|e| e.to_string())?;
    let mut told = Err("the parent ended the session before telling its clock".to_string());
    // The parent answers on its own control stream: Hello, then Clock. A few frames
    // at most; anything else it sends first (its inventory) is read past.
    if let Ok(mut control) = conn.accept_uni().await {
        for _ in 0..16 {
            let body = match crate::sync::frames::read_body(&mut control, Frame::body_len).await {
                Ok(Some(body)) => body,
                _ => break,
            };
            match Frame::decode_body(&body) {
                Ok(Frame::Clock { unix_ms }) => {
                    told = Ok(unix_ms.saturating_sub(halfsky_shared::session::unix_ms_now()));
                    break;
                }
                Ok(Frame::Hello { version, .. }) if version < CLOCK_SINCE_VERSION => {
                    told = Err(format!(
                        "the parent runs an older halfsky (protocol {version}) that does not tell its clock: upgrade the parent"
                    ));
                    break;
                }
                Ok(Frame::Abort { reason }) => {
                    told = Err(format!("the parent ended the session: {reason}"));
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    told = Err(format!(
                        "the parent sent something this release cannot read: {e}"
                    ));
                    break;
                }
            }
        }
    }
    if let Ok(bye) = send(Frame::Abort {
        reason: "doctor: checks done (not a fault)".into(),
    }) {
        let _ = out.write_all(&bye).await;
        let _ = out.finish();
    }
    told
}

/// Prints findings for a person; returns whether any failed.
pub fn print(findings: &[Finding], out: &mut dyn std::io::Write) -> std::io::Result<bool> {
    for f in findings {
        let mark = match f.severity {
            Severity::Ok => "ok  ",
            Severity::Warn => "WARN",
            Severity::Fail => "FAIL",
        };
        writeln!(out, "{mark} {:<12} {}", f.check, f.message)?;
    }
    let failed = findings.iter().any(|f| f.severity == Severity::Fail);
    if failed {
        writeln!(
            out,
            "\nfix the FAIL lines above, then run `halfsky doctor` again"
        )?;
    }
    Ok(failed)
}
