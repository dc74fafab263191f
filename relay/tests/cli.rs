//! The `halfsky-relay` command line: init writes a valid commented config, run without
//! a certificate says how to get one, status lists mailboxes (text and JSON).

use std::process::Command;

fn relay(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_halfsky-relay"))
        .arg("-d")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn init_status_and_a_clear_error_without_a_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("relay");
    let out = relay(&dir, &["init", "--listen", "127.0.0.1:0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(dir.join("relay.toml")).unwrap();
    assert!(config.contains("listen = \"127.0.0.1:0\""));
    assert!(config.contains("# Bytes of bundles one sender unit may have waiting"));

    let out = relay(&dir, &["status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no bundles waiting"));
    let out = relay(&dir, &["status", "--json"]);
    let boxes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(boxes, serde_json::json!([]));

    let out = relay(&dir, &["run"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pki issue"), "{err}");

    let out = relay(&tmp.path().join("nowhere"), &["status"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("halfsky-relay init"));
}
