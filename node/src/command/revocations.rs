//! `halfsky pki revoke | revoked` as requests: recording a CA-signed revocation in the
//! city's document, and listing the revocations a node holds. Like every request,
//! the same code runs whether the node is stopped or `halfsky run` holds the store.

use halfsky_shared::revocation::{Revocation, SignedRevocation};
use halfsky_shared::OrgCode;
use serde::{Deserialize, Serialize};

use crate::ledger::Ledger;
use crate::pki::revocation::{self, RevokeError};

/// A revocation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevocationRequest {
    /// Record this signed revocation (hex) in the city's document.
    Record {
        /// The signed revocation, text form.
        signed: String,
    },
    /// List the revocations this node holds.
    List,
}

/// One revocation as shown to people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationView {
    /// The device's unit.
    pub org: OrgCode,
    /// The device's name.
    pub device: String,
    /// Why.
    pub reason: String,
    /// When (UTC, RFC 3339).
    pub revoked_at: String,
}

impl From<&Revocation> for RevocationView {
    fn from(r: &Revocation) -> Self {
        RevocationView {
            org: r.org,
            device: r.device.clone(),
            reason: r.reason.clone(),
            revoked_at: halfsky_shared::ledger_doc::time_text(r.revoked_at),
        }
    }
}

/// What a revocation request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevocationReport {
    /// Recorded; goes down the tree with the city's document.
    Recorded(RevocationView),
    /// The revocations held here.
    Held(Vec<RevocationView>),
}

/// Executes a revocation request.
pub fn execute(
    ledger: &mut Ledger,
    request: RevocationRequest,
) -> Result<RevocationReport, RevokeError> {
    Ok(match request {
        RevocationRequest::Record { signed } => {
            let signed = SignedRevocation::from_text(&signed)?;
            RevocationReport::Recorded((&revocation::record(ledger, &signed)?).into())
        }
        RevocationRequest::List => RevocationReport::Held(
            revocation::held(ledger)?
                .iter()
                .map(|(r, _)| r.into())
                .collect(),
        ),
    })
}
