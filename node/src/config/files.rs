//! The names of what a node home holds.

/// Name of the config file inside a node home.
pub const CONFIG_FILE: &str = "halfsky.toml";
/// Name of the deployment's ID key file inside a node home (hex, 0600).
pub const ID_KEY_FILE: &str = "id.key";
/// Name of the store directory inside a node home.
pub const STORE_DIR: &str = "store";
