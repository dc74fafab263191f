//! When this device signs its unit's document: before anything of it leaves the node
//! and after every [`ATTEST_EVERY_EDITS`] writes (see [`crate::pki::attest`] for what an
//! attestation is and `Ledger::edit` for where the count is kept).

use std::sync::Arc;

use halfsky_shared::ledger_doc::Touched;
use halfsky_shared::OrgCode;

use super::{Ledger, LedgerError};

/// How many local writes may go unattested before one is signed anyway (a catch-up
/// batch can only end where everything before it is attested).
pub const ATTEST_EVERY_EDITS: u32 = 32;

impl Ledger {
    /// This device's signer if `org` is its unit's document (the only one it signs).
    pub(super) fn signer_of(&self, org: OrgCode) -> Option<Arc<crate::pki::attest::Authorship>> {
        self.authorship.clone().filter(|_| org == self.config.org)
    }

    /// Signs this unit's heads if local writes since the last attestation are not yet
    /// covered. Called before anything of this node's own document leaves it (sync
    /// messages, catch-up batches, bundles), so every change sent is admissible above.
    pub fn attest_before_sending(&mut self) -> Result<(), LedgerError> {
        if self.authorship.is_none() || self.unattested_edits == 0 {
            return Ok(());
        }
        self.attest_next = true;
        let org = self.config.org;
        self.edit(org, Some(Touched::default()), |_| Ok(()))
    }
}
