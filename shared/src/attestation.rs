//! Signed authorship: a device of unit D attests the changes of D's document it wrote.
//!
//! After its own writes, the writing device commits one more change to D, an
//! **attestation**: it depends on the document's heads right after those writes and
//! puts, in `meta`, its signature over them (and, the first time, its certificate).
//! Because a change's hash covers its dependencies, a signature over the heads covers
//! the whole history below them: every change an attestation descends from is vouched
//! for by a device certificate of D. The attestation lives in the document, so it
//! travels with the changes through every door (live sync, catch-up batches, bundles,
//! the relay) and is stored wherever the document is.
//!
//! ```text
//! meta["signed/<device>"]  = hex(postcard(Attestation { at, signature }))
//! meta["devices/<device>"] = hex(the device's certificate, DER)   (once per device)
//! signature = ECDSA P-256 / SHA-256 by the device key over
//!             CONTEXT | postcard((org, device, actor, at, sorted deps))
//! ```
//!
//! The signature names the change's actor and its dependencies, so it cannot be
//! lifted onto another change; an attestation change holds nothing but those two
//! puts, so it cannot smuggle a record in. Pure: keys, certificates and the CA check
//! come from the caller ([`DeviceKeys`]).

use automerge::{ActorId, Change, ChangeHash};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey;
use serde::{Deserialize, Serialize};

use crate::ledger_doc::ChangeNote;
use crate::org::OrgCode;

/// Domain separation: a device signature over an attestation is valid for nothing else.
const CONTEXT: &[u8] = b"halfsky attestation v1";
/// Key prefix, in `meta`, of a device's latest attestation.
pub const SIGNED_PREFIX: &str = "signed/";
/// Key prefix, in `meta`, of a device's certificate (hex DER).
pub const DEVICE_PREFIX: &str = "devices/";
/// Most hex characters of one attestation value.
pub const MAX_ATTESTATION_CHARS: usize = 400;
/// Most hex characters of one certificate value.
pub const MAX_CERT_CHARS: usize = 8192;
/// The `op` of an attestation change's note (lets a sender find them without decoding
/// operations; receivers never trust it).
pub const NOTE_OP: &str = "attest";

/// Why an attestation cannot be made or does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// The key is not a P-256 key.
    #[error("key problem: {0}")]
    Key(String),
    /// Bytes that are not an attestation.
    #[error("not a halfsky attestation ({0})")]
    Malformed(String),
    /// The signature is not the device's.
    #[error("the signature is not device {device}'s")]
    BadSignature {
        /// The device named.
        device: String,
    },
}

/// One device's signature over a change's dependencies, as kept in `meta`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// When the device signed (Unix seconds, its clock): what a revocation is compared with.
    pub at: i64,
    /// ECDSA P-256 signature (64 bytes, fixed form).
    pub signature: Vec<u8>,
}

/// What exactly is signed.
fn signed_bytes(
    org: OrgCode,
    device: &str,
    actor: &ActorId,
    at: i64,
    deps: &[ChangeHash],
) -> Vec<u8> {
    let mut deps: Vec<[u8; 32]> = deps.iter().map(|h| h.0).collect();
    deps.sort_unstable();
    let body = postcard::to_stdvec(&(org.as_str(), device, actor.to_bytes(), at, deps))
        .expect("plain values serialize");
    let mut m = Vec::with_capacity(CONTEXT.len() + body.len());
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(&body);
    m
}

impl Attestation {
    /// Signs `deps` (the heads the attestation change will depend on) for device
    /// `device` of `org` writing as `actor`, with its private key (PKCS#8 DER, P-256).
    pub fn sign(
        key_pkcs8: &[u8],
        org: OrgCode,
        device: &str,
        actor: &ActorId,
        at: i64,
        deps: &[ChangeHash],
    ) -> Result<Self, AttestationError> {
        let key = SigningKey::from_pkcs8_der(key_pkcs8)
            .map_err(|e| AttestationError::Key(format!("the device key is not P-256: {e}")))?;
        let signature: Signature = key.sign(&signed_bytes(org, device, actor, at, deps));
        Ok(Attestation {
            at,
            signature: signature.to_vec(),
        })
    }

    /// Checks the signature against the device's public key (SEC1), for a change by
    /// `actor` depending on `deps`.
    pub fn verify(
        &self,
        public_sec1: &[u8],
        org: OrgCode,
        device: &str,
        actor: &ActorId,
        deps: &[ChangeHash],
    ) -> Result<(), AttestationError> {
        let bad = || AttestationError::BadSignature {
            device: format!("{org}/{device}"),
        };
        let key = VerifyingKey::from_sec1_bytes(public_sec1)
            .map_err(|e| AttestationError::Key(format!("unusable public key: {e}")))?;
        let signature = Signature::from_slice(&self.signature).map_err(|_| bad())?;
        key.verify(&signed_bytes(org, device, actor, self.at, deps), &signature)
            .map_err(|_| bad())
    }

    /// The text form kept in `meta` (hex of postcard).
    pub fn to_text(&self) -> String {
        hex::encode(postcard::to_stdvec(self).expect("plain values serialize"))
    }

    /// Reads the text form; never panics.
    pub fn from_text(text: &str) -> Result<Self, AttestationError> {
        if text.len() > MAX_ATTESTATION_CHARS {
            return Err(AttestationError::Malformed("too long".into()));
        }
        let bytes = hex::decode(text).map_err(|e| AttestationError::Malformed(e.to_string()))?;
        let (a, rest) = postcard::take_from_bytes::<Attestation>(&bytes)
            .map_err(|e| AttestationError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(AttestationError::Malformed("trailing bytes".into()));
        }
        Ok(a)
    }
}

/// The note an attestation change carries (`by` = `org/device`).
pub fn note(org: OrgCode, device: &str) -> String {
    serde_json::to_string(&ChangeNote {
        op: NOTE_OP.into(),
        id: None,
        by: format!("{org}/{device}"),
        fields: vec![],
        note: None,
    })
    .expect("a note serializes")
}

/// Whether `change` says it is an attestation (its note). A hint for senders and for
/// deciding when to attest; admission checks the signature itself.
pub fn looks_like_attestation(change: &Change) -> bool {
    change
        .message()
        .and_then(|m| serde_json::from_str::<ChangeNote>(m).ok())
        .is_some_and(|n| n.op == NOTE_OP)
}

/// The CA side of a check, which `shared` cannot do (no X.509 here): the node
/// answers whether a certificate is one of unit `org`'s device `device`, issued by the
/// deployment's CA, valid and not revoked at `at`, and gives its public key (SEC1).
pub trait DeviceKeys {
    /// The device's public key, or why the certificate does not count (for a person).
    fn device_key(
        &self,
        org: OrgCode,
        device: &str,
        cert_der: &[u8],
        at: i64,
    ) -> Result<Vec<u8>, String>;
}

/// Where raw changes (in dependency order) may be cut into catch-up batches so that
/// each batch is attested on its own: `true` at `i` when every change up to `i` is
/// below an attestation change up to `i` (by the notes; the receiver checks the
/// signatures). Changes that do not parse never open a cut.
pub fn attested_cuts(changes: &[Vec<u8>]) -> Vec<bool> {
    let parsed: Vec<Option<Change>> = changes
        .iter()
        .map(|raw| Change::from_bytes(raw.clone()).ok())
        .collect();
    cuts(parsed.iter().map(Option::as_ref))
}

/// [`attested_cuts`] of changes already parsed.
pub fn attested_cuts_of(changes: &[Change]) -> Vec<bool> {
    cuts(changes.iter().map(Some))
}

fn cuts<'a>(changes: impl ExactSizeIterator<Item = Option<&'a Change>>) -> Vec<bool> {
    let n = changes.len();
    let mut index: std::collections::HashMap<ChangeHash, usize> = Default::default();
    let mut deps: Vec<Vec<ChangeHash>> = Vec::with_capacity(n);
    let mut uncovered: std::collections::BTreeSet<usize> = Default::default();
    let mut covered = vec![false; n];
    let mut out = Vec::with_capacity(n);
    for (i, change) in changes.enumerate() {
        let Some(change) = change else {
            deps.push(Vec::new());
            uncovered.insert(i);
            out.push(false);
            continue;
        };
        index.insert(change.hash(), i);
        deps.push(change.deps().to_vec());
        uncovered.insert(i);
        if looks_like_attestation(change) {
            let mut stack = vec![i];
            while let Some(j) = stack.pop() {
                if covered[j] {
                    continue;
                }
                covered[j] = true;
                uncovered.remove(&j);
                stack.extend(deps[j].iter().filter_map(|d| index.get(d).copied()));
            }
        }
        out.push(uncovered.is_empty());
    }
    out
}

/// For each actor, the sequence numbers of its attestation changes and the device
/// each names (read from the `signed/<device>` key it puts).
pub fn attesting_devices(
    changes: &[Change],
) -> std::collections::HashMap<ActorId, Vec<(u64, String)>> {
    let mut out: std::collections::HashMap<ActorId, Vec<(u64, String)>> = Default::default();
    for change in changes.iter().filter(|c| looks_like_attestation(c)) {
        let Ok(expanded) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| change.decode()))
        else {
            continue;
        };
        let device = expanded.operations.iter().find_map(|op| match &op.key {
            automerge::legacy::Key::Map(k) => k.strip_prefix(SIGNED_PREFIX).map(str::to_string),
            automerge::legacy::Key::Seq(_) => None,
        });
        if let Some(device) = device {
            out.entry(change.actor_id().clone())
                .or_default()
                .push((change.seq(), device));
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
    out
}

/// The device whose attestation covers `change`: the first attestation its own actor
/// made after it (the writer attests right after its writes, and an actor's later
/// change depends on its earlier ones).
pub fn verified_device<'a>(
    attested: &'a std::collections::HashMap<ActorId, Vec<(u64, String)>>,
    change: &Change,
) -> Option<&'a str> {
    attested
        .get(change.actor_id())?
        .iter()
        .find(|(seq, _)| *seq >= change.seq())
        .map(|(_, device)| device.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{transaction::Transactable, AutoCommit, ROOT};

    use crate::ca_signed::test_keys as keys;

    fn org() -> OrgCode {
        OrgCode::parse("230129100201").expect("valid")
    }

    #[test]
    fn a_signature_holds_only_for_its_device_actor_and_deps() {
        let (private, public) = keys(3);
        let (_, other) = keys(4);
        let actor = ActorId::from(vec![1u8; 16]);
        let deps = [ChangeHash([7; 32]), ChangeHash([2; 32])];
        let a = Attestation::sign(&private, org(), "pc-1", &actor, 100, &deps).unwrap();
        let back = Attestation::from_text(&a.to_text()).unwrap();
        let swapped = [deps[1], deps[0]];
        back.verify(&public, org(), "pc-1", &actor, &swapped)
            .unwrap();
        assert!(back.verify(&other, org(), "pc-1", &actor, &deps).is_err());
        assert!(back.verify(&public, org(), "pc-2", &actor, &deps).is_err());
        let actor2 = ActorId::from(vec![2u8; 16]);
        assert!(back.verify(&public, org(), "pc-1", &actor2, &deps).is_err());
        assert!(back
            .verify(&public, org(), "pc-1", &actor, &deps[..1])
            .is_err());
        assert!(Attestation::from_text("zz").is_err());
    }

    #[test]
    fn cuts_open_only_after_an_attestation_covers_everything_before() {
        let mut doc = AutoCommit::new();
        let mut raw = Vec::new();
        for (i, attest) in [false, true, false, false, true].into_iter().enumerate() {
            doc.put(ROOT, "k", i as i64).unwrap();
            let message = if attest {
                note(org(), "pc-1")
            } else {
                "{}".into()
            };
            doc.commit_with(automerge::transaction::CommitOptions::default().with_message(message));
            raw.push(doc.get_last_local_change().unwrap().raw_bytes().to_vec());
        }
        assert_eq!(attested_cuts(&raw), vec![false, true, false, false, true]);
    }
}
