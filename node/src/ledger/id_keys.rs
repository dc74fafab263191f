//! Rotating this office's ID hash key: the index finds duplicates by a keyed hash of
//! each opened number, and a hash key that may have leaked (a copied store with its
//! `id.key`) is replaced by a fresh one, every number then hashed anew from its sealed
//! form, so the duplicates found before are found again.

use super::{Ledger, LedgerError, ReindexReport};
use crate::store::id_match::IdMatcher;

impl Ledger {
    /// Replaces this node's ID hash key (the deployment's private half stays) and
    /// rebuilds the index with it. Refused at a village, which holds no ID key.
    pub fn rotate_id_hash_key(&mut self) -> Result<ReindexReport, LedgerError> {
        self.home.rotate_id_hash_key()?;
        self.config = self.home.config()?;
        self.index.set_id_matcher(IdMatcher::of(&self.config.ids));
        self.rebuild_index()
    }
}
