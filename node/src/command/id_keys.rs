//! `halfsky id-key add | replace | show` as requests: adding private halves of the
//! deployment's ID key to an office, recording the CA's notice of a replaced pair at
//! the CA unit's node, and saying which key this node seals to. The CLI does the file
//! work (the CA directory, the passphrase-sealed key file); like every request, the
//! same code runs whether the node is stopped or `halfsky run` holds the store.

use halfsky_shared::ca_signed::CaSigned;
use halfsky_shared::idcard::IdSecret;
use serde::{Deserialize, Serialize};

use crate::ledger::{Ledger, ReindexReport};
use crate::pki::id_key_pair::{self, fingerprint, IdKeyPairError};

/// Private halves as they cross the local API (hex); never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets(pub Vec<String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets(<{} private halves>)", self.0.len())
    }
}

impl Secrets {
    /// The hex forms of `secrets`.
    pub fn of(secrets: &[IdSecret]) -> Self {
        Secrets(secrets.iter().map(IdSecret::to_hex).collect())
    }

    fn parse(&self) -> Result<Vec<IdSecret>, IdKeyPairError> {
        self.0
            .iter()
            .map(|hex| {
                IdSecret::from_hex(hex).map_err(|e| {
                    IdKeyPairError::Notice(halfsky_shared::ca_signed::CaSignedError::Malformed(
                        format!("a private half: {e}"),
                    ))
                })
            })
            .collect()
    }
}

/// An ID key request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdKeyRequest {
    /// Add these private halves to this office's `id.key` and match the numbers they
    /// open.
    Add(Secrets),
    /// At the CA unit's node, after a replacement: add the private halves, then record
    /// the CA's signed notice (text form) of the new public half in its document.
    Publish {
        /// Every private half of the deployment.
        secrets: Secrets,
        /// The CA's notice.
        notice: String,
    },
    /// Which key this node seals to, and which it opens.
    Show,
}

/// What an ID key request did, and where the node stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdKeyReport {
    /// Private halves that were new here.
    pub added: usize,
    /// Records indexed by the rebuild that followed (when any was new).
    pub reindexed: Option<usize>,
    /// The notice was recorded (goes down the tree with the CA unit's document).
    pub published: bool,
    /// Fingerprint of the public half numbers typed here are sealed to.
    pub sealing_to: String,
    /// At an office: fingerprints of the private halves it holds.
    pub holds: Option<Vec<String>>,
    /// At an office: whether it opens the numbers sealed to the key in use.
    pub opens_current: Option<bool>,
}

/// Executes an ID key request.
pub fn execute(ledger: &mut Ledger, request: IdKeyRequest) -> Result<IdKeyReport, IdKeyPairError> {
    let (mut added, mut reindexed, mut published) = (0, None, false);
    match request {
        IdKeyRequest::Add(secrets) => {
            let (new, report) = ledger.add_id_secrets(&secrets.parse()?)?;
            added = new;
            reindexed = report.map(|r: ReindexReport| r.records);
        }
        IdKeyRequest::Publish { secrets, notice } => {
            // The notice is checked before anything changes.
            let signed = CaSigned::from_text(&notice)?;
            id_key_pair::check_notice(ledger.home(), &signed)?;
            let (new, report) = ledger.add_id_secrets(&secrets.parse()?)?;
            added = new;
            reindexed = report.map(|r| r.records);
            id_key_pair::publish(ledger, &signed)?;
            published = true;
        }
        IdKeyRequest::Show => {}
    }
    let ids = &ledger.config().ids;
    Ok(IdKeyReport {
        added,
        reindexed,
        published,
        sealing_to: fingerprint(&ids.public),
        holds: ids
            .opener
            .as_ref()
            .map(|o| o.secrets().map(|s| fingerprint(&s.public())).collect()),
        opens_current: ids.opener.as_ref().map(|o| o.opens(&ids.public)),
    })
}
