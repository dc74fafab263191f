//! Why a node home could not be created or read; each message names the file and
//! says what to do.

use std::path::PathBuf;

use super::files::CONFIG_FILE;

/// Why a node home could not be created or read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `halfsky.toml` in the directory.
    #[error("{} is not a halfsky node home (no {CONFIG_FILE}); create one with `halfsky init -d {} --org CODE --name NAME`", .0.display(), .0.display())]
    NotAHome(PathBuf),
    /// `init` on a directory that already has a node.
    #[error("{} already holds a halfsky node; choose another directory or use it as it is", .0.display())]
    AlreadyAHome(PathBuf),
    /// Reading or writing the file failed.
    #[error("cannot {op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `id-key rotate` at a node without an ID key: a village seals numbers with the
    /// public half and never hashes them.
    #[error("{org} holds no ID key to rotate or add to: only township, county and city nodes do (a village never opens or hashes ID numbers); run `halfsky id-key rotate` or `id-key add` on those offices' nodes")]
    NoIdKey {
        /// This node's unit.
        org: halfsky_shared::OrgCode,
    },
    /// The file is not valid TOML or has a bad value.
    #[error("{path} is not a valid node config: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line and column for syntax errors).
        reason: String,
    },
}
