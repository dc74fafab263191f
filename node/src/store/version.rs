//! The store's format version and its migrations. `meta-1` holds one row,
//! `format` → u32 BE; a store without it was written by release 0.1.0, before the
//! format was recorded, whose layout is format 1. Opening a store runs every migration
//! from its format up to [`STORE_FORMAT`] (each named and re-runnable: a crash halfway
//! runs it again) and then records the new format; a store from a newer release is
//! refused, so an older halfsky never rewrites what it does not understand.
//!
//! Table names carry their own layout version (`index-1`, …): a migration that changes
//! a layout writes the new table beside the old one, then drops the old.

use std::path::Path;

use super::{Storage, StoreError, Table};

/// The format this release writes and reads.
pub const STORE_FORMAT: u32 = 1;
/// Key of the format row in [`Table::Meta`].
const FORMAT_KEY: &[u8] = b"format";

/// A named step from one format to the next.
struct Migration {
    /// The format it produces.
    to: u32,
    /// What it does, for the log.
    name: &'static str,
    /// The step; must be safe to run again after a crash.
    run: fn(&dyn Storage) -> Result<(), StoreError>,
}

/// Every migration, oldest first. Format 1 is release 0.1.0's layout, recorded as it
/// is: nothing to change.
const MIGRATIONS: &[Migration] = &[Migration {
    to: 1,
    name: "record the format of a store from release 0.1.0",
    run: |_| Ok(()),
}];

/// The format recorded in `store` (`None`: not recorded, release 0.1.0).
pub fn format(store: &dyn Storage) -> Result<Option<u32>, StoreError> {
    let Some(bytes) = store.get(Table::Meta, FORMAT_KEY)? else {
        return Ok(None);
    };
    let raw: [u8; 4] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt("the store's format record is not 4 bytes".into()))?;
    Ok(Some(u32::from_be_bytes(raw)))
}

/// Records `format` in `store` (durably).
pub fn set_format(store: &dyn Storage, format: u32) -> Result<(), StoreError> {
    store.insert(Table::Meta, FORMAT_KEY, &format.to_be_bytes())?;
    store.flush()
}

/// Brings `store` (kept in `path`, for messages) to [`STORE_FORMAT`]; refuses a store
/// of a newer format. Returns the format it found (0: not recorded).
pub fn migrate(store: &dyn Storage, path: &Path) -> Result<u32, StoreError> {
    let found = format(store)?.unwrap_or(0);
    if found > STORE_FORMAT {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: STORE_FORMAT,
        });
    }
    for step in MIGRATIONS.iter().filter(|m| m.to > found) {
        tracing::info!(store = %path.display(), to = step.to, step = step.name, "migrating the store");
        (step.run)(store)?;
        set_format(store, step.to)?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn an_unversioned_store_is_stamped_and_a_newer_one_refused() {
        let store = MemoryStore::new();
        let path = Path::new("/nowhere");
        assert_eq!(migrate(&store, path).expect("migrates"), 0);
        assert_eq!(format(&store).expect("read"), Some(STORE_FORMAT));
        assert_eq!(migrate(&store, path).expect("again"), STORE_FORMAT);
        set_format(&store, STORE_FORMAT + 1).expect("set");
        let err = migrate(&store, path).expect_err("too new");
        assert!(err.to_string().contains("newer halfsky"), "{err}");
    }
}
