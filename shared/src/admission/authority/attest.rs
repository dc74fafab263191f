//! Signed authorship at admission: which changes of a batch an attestation by a
//! device of the document's unit covers (see [`crate::attestation`]).

use std::collections::{BTreeSet, HashMap};

use automerge::{Change, ChangeHash, ObjType, ReadDoc, ScalarValue, ROOT};

use super::{Refusal, Rule, Verdicts};
use crate::attestation::{
    Attestation, DeviceKeys, DEVICE_PREFIX, MAX_ATTESTATION_CHARS, MAX_CERT_CHARS, SIGNED_PREFIX,
};
use crate::org::OrgCode;

/// Longest device name kept in a `meta` key.
const MAX_DEVICE_CHARS: usize = 64;

/// The attestation and certificate puts of one change into `meta`, and whether it
/// wrote anything else.
#[derive(Debug, Default)]
pub(super) struct MetaPuts {
    /// `(device, attestation text)`.
    signed: Vec<(String, String)>,
    /// `(device, certificate hex)`.
    certs: Vec<(String, String)>,
    /// The change writes something other than these puts.
    pub(super) other: bool,
}

impl MetaPuts {
    /// Keeps a well-shaped attestation or certificate put into `meta`; `false` for
    /// anything else (then the ordinary `meta` rules judge it).
    pub(super) fn take(&mut self, key: &str, action: &automerge::legacy::OpType) -> bool {
        let automerge::legacy::OpType::Put(ScalarValue::Str(value)) = action else {
            return false;
        };
        let hex = value.chars().all(|c| c.is_ascii_hexdigit());
        let named = |prefix: &str| {
            key.strip_prefix(prefix)
                .filter(|d| !d.is_empty() && d.len() <= MAX_DEVICE_CHARS)
                .map(str::to_string)
        };
        if let Some(device) = named(SIGNED_PREFIX) {
            if hex && value.len() <= MAX_ATTESTATION_CHARS {
                self.signed.push((device, value.to_string()));
                return true;
            }
        }
        if let Some(device) = named(DEVICE_PREFIX) {
            if hex && value.len() <= MAX_CERT_CHARS {
                self.certs.push((device, value.to_string()));
                return true;
            }
        }
        false
    }
}

/// Certificates (hex) of `device` that `doc` already holds in `meta`.
fn held_certs(doc: &impl ReadDoc, device: &str) -> Vec<String> {
    let Ok(Some((automerge::Value::Object(ObjType::Map), meta))) = doc.get(ROOT, "meta") else {
        return Vec::new();
    };
    doc.get_all(&meta, format!("{DEVICE_PREFIX}{device}").as_str())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(v, _)| v.as_str().map(str::to_string))
        .collect()
}

/// Whether `change` (with its `meta` puts) is a valid attestation of `org`'s
/// document; `Err` says why not, for the refusal.
fn valid(
    doc: &impl ReadDoc,
    org: OrgCode,
    change: &Change,
    puts: &MetaPuts,
    batch_certs: &[(String, String)],
    keys: &dyn DeviceKeys,
) -> Result<(), String> {
    let [(device, text)] = puts.signed.as_slice() else {
        return Err("an attestation change holds more than one signature".into());
    };
    if puts.other || puts.certs.iter().any(|(d, _)| d != device) {
        return Err(format!(
            "the attestation of {org}/{device} comes with other writes, which no signature covers"
        ));
    }
    let attestation = Attestation::from_text(text).map_err(|e| e.to_string())?;
    let mut certs: Vec<String> = batch_certs
        .iter()
        .filter(|(d, _)| d == device)
        .map(|(_, c)| c.clone())
        .collect();
    certs.extend(held_certs(doc, device));
    if certs.is_empty() {
        return Err(format!(
            "the certificate of device {org}/{device} is neither in the batch nor in the document"
        ));
    }
    let mut why = String::new();
    for cert in certs {
        let Ok(der) = hex::decode(&cert) else {
            continue;
        };
        match keys.device_key(org, device, &der, attestation.at) {
            Ok(public) => {
                match attestation.verify(&public, org, device, change.actor_id(), change.deps()) {
                    Ok(()) => return Ok(()),
                    Err(e) => why = e.to_string(),
                }
            }
            Err(e) => why = e,
        }
    }
    Err(why)
}

/// Refuses, as [`Rule::Unattested`], every admitted change of `out` that no valid
/// attestation of the batch covers (the genesis change excepted), holding its dependents.
pub(super) fn require(
    doc: &impl ReadDoc,
    org: OrgCode,
    genesis: &[ChangeHash],
    puts: &HashMap<ChangeHash, MetaPuts>,
    keys: &dyn DeviceKeys,
    out: &mut Verdicts,
    bad: &mut BTreeSet<ChangeHash>,
) {
    let batch_certs: Vec<(String, String)> = puts
        .values()
        .flat_map(|p| p.certs.iter().cloned())
        .collect();
    let deps: HashMap<ChangeHash, &[ChangeHash]> =
        out.admitted.iter().map(|c| (c.hash(), c.deps())).collect();
    let mut covered: BTreeSet<ChangeHash> = genesis.iter().copied().collect();
    let mut why: Option<String> = None;
    for change in &out.admitted {
        let Some(p) = puts.get(&change.hash()).filter(|p| !p.signed.is_empty()) else {
            continue;
        };
        match valid(doc, org, change, p, &batch_certs, keys) {
            Ok(()) => {
                let mut stack = vec![change.hash()];
                while let Some(h) = stack.pop() {
                    if covered.insert(h) {
                        stack.extend(deps.get(&h).into_iter().flat_map(|d| d.iter().copied()));
                    }
                }
            }
            Err(e) => {
                why.get_or_insert(e);
            }
        }
    }
    for change in std::mem::take(&mut out.admitted) {
        let hash = change.hash();
        if change.deps().iter().any(|d| bad.contains(d)) {
            bad.insert(hash);
            out.held.push(change);
        } else if covered.contains(&hash) {
            out.admitted.push(change);
        } else {
            bad.insert(hash);
            let reason = match &why {
                Some(e) => format!("no device certificate of unit {org} attested it ({e})"),
                None => format!(
                    "no device certificate of unit {org} attested it: a node may not write into another unit's document"
                ),
            };
            out.refused.push(Refusal {
                change: hash,
                rule: Rule::Unattested,
                reason,
            });
            out.held.push(change);
        }
    }
}
