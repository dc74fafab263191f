//! `halfsky service install | uninstall`: runs a node home as a systemd service, so an
//! office PC starts its node at boot and restarts it after a crash without anyone
//! typing `halfsky run`. The unit runs `halfsky -d HOME run` as the home's owner,
//! restarts it on failure, and sends its log to the journal (which rotates it by size;
//! `journalctl -u halfsky-<org>` reads it). `--unit-dir` and `--no-enable` write the
//! unit without touching systemd (for packaging, and for tests without root);
//! `--user` installs a user unit instead of a system one.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{ConfigError, NodeHome};

/// Where a service goes and whether systemd is told.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Directory of the unit file (default: the system's or the user's unit directory).
    pub unit_dir: Option<PathBuf>,
    /// A user unit (`systemctl --user`) instead of a system one.
    pub user: bool,
    /// Write (or remove) the file only; do not run `systemctl`.
    pub no_enable: bool,
}

/// Why a service could not be installed or removed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The node home is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file could not be written or removed.
    #[error("cannot {op} {}: {source}{}", .path.display(), if .source.kind() == std::io::ErrorKind::PermissionDenied { " (system units need root: run with sudo, or use --user)" } else { "" })]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `systemctl` failed.
    #[error("`systemctl {args}` failed: {reason}; the unit file is {}; fix the problem and run the command yourself, or install with --no-enable", .unit.display())]
    Systemctl {
        /// Its arguments.
        args: String,
        /// What it said.
        reason: String,
        /// The unit file.
        unit: PathBuf,
    },
}

/// The unit's name for a node home: one service per unit code.
pub fn unit_name(home: &NodeHome) -> Result<String, ConfigError> {
    Ok(format!("halfsky-{}.service", home.config()?.org))
}

/// The unit file's text for `home`, run by `exe` as user `uid` (system units only).
pub fn unit_text(home: &NodeHome, exe: &Path, uid: Option<u32>) -> Result<String, ConfigError> {
    let config = home.config()?;
    let dir = absolute(home.dir());
    let user = uid.map(|u| format!("User={u}\n")).unwrap_or_default();
    let wanted_by = if uid.is_some() {
        "multi-user.target"
    } else {
        "default.target"
    };
    Ok(format!(
        "# Written by `halfsky service install`; remove with `halfsky service uninstall -d {dir}`.\n\
         [Unit]\n\
         Description=halfsky node {name} ({org})\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart=\"{exe}\" -d \"{dir}\" run\n\
         {user}\
         Restart=on-failure\n\
         RestartSec=5\n\
         # SIGTERM lets the node finish its writes and close its links.\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec=30\n\
         Environment=RUST_LOG=info\n\
         StandardOutput=journal\n\
         StandardError=journal\n\
         SyslogIdentifier=halfsky-{org}\n\
         UMask=0077\n\
         NoNewPrivileges=yes\n\
         \n\
         [Install]\n\
         WantedBy={wanted_by}\n",
        name = config.name,
        org = config.org,
        exe = exe.display(),
        dir = dir.display(),
    ))
}

/// Writes the unit for `home` and (unless `no_enable`) enables and starts it.
/// Returns the unit file.
pub fn install(home: &NodeHome, options: &ServiceOptions) -> Result<PathBuf, ServiceError> {
    use std::os::unix::fs::MetadataExt;
    let exe = std::env::current_exe().map_err(|source| ServiceError::Io {
        op: "find",
        path: PathBuf::from("the halfsky program"),
        source,
    })?;
    let uid = if options.user {
        None
    } else {
        let meta = std::fs::metadata(home.dir()).map_err(|source| ServiceError::Io {
            op: "read",
            path: home.dir().to_path_buf(),
            source,
        })?;
        Some(meta.uid())
    };
    let text = unit_text(home, &exe, uid)?;
    let name = unit_name(home)?;
    let dir = unit_dir(options)?;
    let path = dir.join(&name);
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ServiceError::Io { op, path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    std::fs::write(&path, text).map_err(io("write", &path))?;
    if !options.no_enable {
        systemctl(options.user, &["daemon-reload"], &path)?;
        systemctl(options.user, &["enable", "--now", &name], &path)?;
    }
    Ok(path)
}

/// Stops and disables the unit of `home` (unless `no_enable`) and removes its file.
pub fn uninstall(home: &NodeHome, options: &ServiceOptions) -> Result<PathBuf, ServiceError> {
    let name = unit_name(home)?;
    let path = unit_dir(options)?.join(&name);
    if !options.no_enable {
        systemctl(options.user, &["disable", "--now", &name], &path)?;
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ServiceError::Io {
                op: "remove",
                path,
                source,
            })
        }
    }
    if !options.no_enable {
        systemctl(options.user, &["daemon-reload"], &path)?;
    }
    Ok(path)
}

fn unit_dir(options: &ServiceOptions) -> Result<PathBuf, ServiceError> {
    if let Some(dir) = &options.unit_dir {
        return Ok(dir.clone());
    }
    if !options.user {
        return Ok(PathBuf::from("/etc/systemd/system"));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| ServiceError::Io {
            op: "find",
            path: PathBuf::from("~/.config/systemd/user"),
            source: std::io::Error::other("neither XDG_CONFIG_HOME nor HOME is set"),
        })?;
    Ok(base.join("systemd/user"))
}

fn systemctl(user: bool, args: &[&str], unit: &Path) -> Result<(), ServiceError> {
    let mut cmd = Command::new("systemctl");
    if user {
        cmd.arg("--user");
    }
    cmd.args(args);
    let shown = args.join(" ");
    let failed = |reason: String| ServiceError::Systemctl {
        args: shown.clone(),
        reason,
        unit: unit.to_path_buf(),
    };
    let out = cmd.output().map_err(|e| {
        failed(format!(
            "cannot run systemctl ({e}); is this a systemd system?"
        ))
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    })
}

#[cfg(test)]
mod tests {
    use halfsky_shared::OrgCode;

    use super::*;

    #[test]
    fn install_writes_a_restarting_journald_unit_and_uninstall_removes_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = NodeHome::new(dir.path().join("hx"));
        let org = OrgCode::parse("230129100201").expect("code");
        home.init(org, "红星村", "laptop", None).expect("home");
        let options = ServiceOptions {
            unit_dir: Some(dir.path().join("units")),
            user: false,
            no_enable: true,
        };
        let path = install(&home, &options).expect("installed");
        assert!(path.ends_with("halfsky-230129100201.service"));
        let text = std::fs::read_to_string(&path).expect("unit");
        let home_dir = std::fs::canonicalize(home.dir()).expect("absolute");
        for line in [
            format!("-d \"{}\" run", home_dir.display()),
            "Restart=on-failure".into(),
            "StandardError=journal".into(),
            "WantedBy=multi-user.target".into(),
        ] {
            assert!(text.contains(&line), "{line} missing from:\n{text}");
        }
        assert!(text.contains("\nUser="), "runs as the home's owner");
        let removed = uninstall(&home, &options).expect("removed");
        assert!(!removed.exists());
        let user = ServiceOptions {
            user: true,
            ..options
        };
        let text =
            std::fs::read_to_string(install(&home, &user).expect("user unit")).expect("unit");
        assert!(!text.contains("\nUser=") && text.contains("WantedBy=default.target"));
    }
}
