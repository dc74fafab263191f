//! The names of what a node home holds.

/// Name of the config file inside a node home.
pub const CONFIG_FILE: &str = "halfsky.toml";
/// Name of the store directory inside a node home.
pub const STORE_DIR: &str = "store";
