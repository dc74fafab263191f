//! The ID keys at work in the ledger:
//! - rotating this office's ID hash key: the index finds duplicates by a keyed hash of
//!   each opened number, and a hash key that may have leaked (a copied store with its
//!   `id.key`) is replaced by a fresh one, every number then hashed anew from its sealed
//!   form, so the duplicates found before are found again;
//! - adding the private halves of a replaced ID key pair (`id-key add`), after which
//!   numbers sealed to the new pair are opened and matched too;
//! - following the CA's notice of a replaced pair (`crate::pki::id_key_pair`): numbers
//!   typed here are sealed to the newest public half the CA announced.

use halfsky_shared::idcard::IdSecret;

use super::{Ledger, LedgerError, ReindexReport};
use crate::config::IdKeys;
use crate::pki::id_key_pair::{fingerprint, newest_notice};
use crate::store::id_match::IdMatcher;

impl Ledger {
    /// Replaces this node's ID hash key (the deployment's private half stays) and
    /// rebuilds the index with it. Refused at a village, which holds no ID key.
    pub fn rotate_id_hash_key(&mut self) -> Result<ReindexReport, LedgerError> {
        self.home.rotate_id_hash_key()?;
        self.reload_id_keys()?;
        self.rebuild_index()
    }

    /// Adds private halves of the deployment's ID key to this office's `id.key` and,
    /// if any was new, rebuilds the index so the numbers they open are matched.
    /// Returns how many were new. Refused at a village.
    pub fn add_id_secrets(
        &mut self,
        secrets: &[IdSecret],
    ) -> Result<(usize, Option<ReindexReport>), LedgerError> {
        let added = self.home.add_id_secrets(secrets)?;
        if added == 0 {
            return Ok((0, None));
        }
        self.reload_id_keys()?;
        Ok((added, Some(self.rebuild_index()?)))
    }

    /// Reads `id.key` and the config again after they changed; the public half sealed
    /// to stays the one the CA announced.
    fn reload_id_keys(&mut self) -> Result<(), LedgerError> {
        self.config = self.home.config()?;
        self.follow_id_key_notice();
        self.index.set_id_matcher(IdMatcher::of(&self.config.ids));
        Ok(())
    }

    /// Seals to the newest public half the CA announced in its unit's document, if
    /// this node holds such a notice and it names another key than the one in use.
    pub(crate) fn follow_id_key_notice(&mut self) {
        let Some(ca) = self.ca.clone() else {
            return;
        };
        let notice = match newest_notice(self, &ca) {
            Ok(Some(notice)) => notice,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the CA's ID key notices");
                return;
            }
        };
        let Ok(public) = notice.public() else {
            return;
        };
        if public == self.config.ids.public {
            return;
        }
        let opener = self.config.ids.opener.clone();
        if opener.as_ref().is_some_and(|o| !o.opens(&public)) {
            tracing::warn!(
                key = %fingerprint(&public),
                "the deployment's ID key was replaced and this office does not hold the new \
                 private half yet: numbers sealed to it are not matched here until \
                 `halfsky id-key add FILE` with the file from the CA holder"
            );
        }
        tracing::info!(key = %fingerprint(&public), since = notice.since, "ID numbers are now sealed to the deployment's new ID key");
        self.config.ids = IdKeys::new(public, opener);
    }
}
