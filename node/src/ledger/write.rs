//! Writing records: new ids, reference checks, and the `add`, `update` and `retire`
//! operations of the [`Ledger`], each one Automerge change, durable and indexed before
//! it returns.

use std::collections::HashSet;

use halfsky_shared::ledger_doc::Touched;
use halfsky_shared::record::{complete, parse_fields, Fields, ParsedFields};
use halfsky_shared::schema::{FieldError, FieldType};
use halfsky_shared::{Kind, OrgCode, RecordId, Value};

use super::{scopeguard_log, Ledger, LedgerError};
use crate::store::index::IndexedRecord;

/// A record validated and ready to insert.
#[derive(Debug, Clone)]
pub struct Prepared {
    kind: Kind,
    fields: Fields,
    /// The ID number given, sealed to the deployment's ID key.
    id_sealed: Option<String>,
    /// The id to insert it under (an import restoring this unit's exported record);
    /// `None`: a new id from this device.
    id: Option<RecordId>,
}

impl Prepared {
    /// The record's validated fields (defaults filled in).
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Whether an ID number was given.
    pub fn has_id_number(&self) -> bool {
        self.id_sealed.is_some()
    }

    /// Inserts it under `id` instead of a new one (see [`Ledger::add_prepared`]).
    pub fn with_id(mut self, id: RecordId) -> Self {
        self.id = Some(id);
        self
    }
}

/// A change to one of this unit's records, validated and ready to write.
#[derive(Debug, Clone)]
pub struct PreparedUpdate {
    id: RecordId,
    /// Values to put (all given, plus what the rules filled in).
    fields: Fields,
    cleared: Vec<String>,
    /// A new ID number, sealed.
    id_sealed: Option<String>,
    /// The fields whose value would differ from the record's (an import reports these;
    /// empty: the record already says all this).
    changes: Vec<String>,
}

impl PreparedUpdate {
    /// The record it changes.
    pub fn id(&self) -> &RecordId {
        &self.id
    }

    /// The fields whose values it would change (empty: nothing would change).
    pub fn changes(&self) -> &[String] {
        &self.changes
    }
}

impl Ledger {
    fn next_id(&mut self, kind: Kind) -> Result<RecordId, LedgerError> {
        let org = self.config.org;
        if !self.next_seq.contains_key(&org) {
            let tag = self.config.device_tag.clone();
            let cached = self.doc(org)?;
            let mut max = 0;
            for k in Kind::ALL {
                for id in cached.doc.ids(k)? {
                    if id.device() == tag {
                        max = max.max(id.seq());
                    }
                }
            }
            self.next_seq.insert(org, max + 1);
        }
        let seq = self.next_seq.get_mut(&org).expect("just set");
        let id = RecordId::new(org, kind, &self.config.device_tag, *seq);
        *seq += 1;
        Ok(id)
    }

    /// Parses `inputs`; when some do not parse, every problem is reported at once (a
    /// form shows each beside its field): the values that do not parse, and what the
    /// record would still miss (required fields) with the values that did, over `base`
    /// (the record as it is, for an update).
    fn parse_all(
        &self,
        kind: Kind,
        inputs: &[(String, String)],
        base: Option<&Fields>,
    ) -> Result<ParsedFields, Vec<FieldError>> {
        let today = self.today();
        let mut errors = match parse_fields(kind, inputs, today) {
            Ok(parsed) => return Ok(parsed),
            Err(errors) => errors,
        };
        let failed: HashSet<String> = errors.iter().map(|e| e.field.clone()).collect();
        let good: Vec<(String, String)> = inputs
            .iter()
            .filter(|(k, _)| !failed.contains(k))
            .cloned()
            .collect();
        if let Ok(parsed) = parse_fields(kind, &good, today) {
            let mut fields = base.cloned().unwrap_or_default();
            for key in &parsed.cleared {
                fields.remove(key);
            }
            fields.extend(parsed.fields);
            errors.extend(
                complete(kind, &mut fields, today)
                    .into_iter()
                    .filter(|e| !failed.contains(&e.field)),
            );
        }
        Err(errors)
    }

    /// Checks references: every id a field names must exist here and not be retired.
    fn check_refs(
        &self,
        kind: Kind,
        fields: &Fields,
        errors: &mut Vec<FieldError>,
    ) -> Result<(), LedgerError> {
        for field in kind.spec().fields {
            let Some(value) = fields.get(field.name) else {
                continue;
            };
            let ids: Vec<&str> = match (&field.ty, value) {
                (FieldType::Ref(_) | FieldType::RecordRef, Value::Text(id)) => vec![id],
                (FieldType::RefList(_), Value::List(ids)) => {
                    ids.iter().map(String::as_str).collect()
                }
                _ => continue,
            };
            for raw in ids {
                let id = match RecordId::parse(raw) {
                    Ok(id) => id,
                    Err(e) => {
                        errors.push(FieldError::new(field.name, e.to_string()));
                        continue;
                    }
                };
                if let Some(problem) = self.not_our_subject(field, &id)? {
                    errors.push(FieldError::new(field.name, problem));
                    continue;
                }
                match self.index.get(&id)? {
                    None => errors.push(FieldError::new(
                        field.name,
                        format!(
                            "{id} does not exist in this ledger (add it first, or check the id)"
                        ),
                    )),
                    Some(row) if row.record.meta.retired => errors.push(FieldError::new(
                        field.name,
                        format!("{id} is retired and cannot be referenced"),
                    )),
                    Some(_) => {}
                }
            }
        }
        if kind == Kind::Target {
            if let Some(Value::Text(code)) = fields.get("org") {
                let own = self.config.org;
                if OrgCode::parse(code).is_ok_and(|c| !c.is_in_subtree_of(&own)) {
                    errors.push(FieldError::new(
                        "org",
                        format!("{code} is not {own} or a unit below it"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Who writes where: a record about one woman or household (her visit, pairing,
    /// measure, loan; a woman's household) is kept in the ledger of the unit that keeps
    /// her card, never in a township's, county's or city's own ledger, where it would
    /// count twice and leave the village's figures short. `Some(reason)` when `id`, given
    /// in `field`, is another unit's.
    fn not_our_subject(
        &self,
        field: &halfsky_shared::schema::FieldSpec,
        id: &RecordId,
    ) -> Result<Option<String>, LedgerError> {
        let subject = matches!(field.ty, FieldType::Ref(Kind::Woman | Kind::Household));
        let own = self.config.org;
        if !subject || id.org() == own {
            return Ok(None);
        }
        let unit = id.org();
        let name = self.index.name(&unit)?.unwrap_or_default();
        Ok(Some(format!(
            "{id} is kept by {name} ({unit}); a record about her belongs in that unit's ledger: enter it at {unit}'s node, not at {own}"
        )))
    }

    /// Validates a new record without writing it. `pending_hashes` holds the ID-number
    /// keys (and, in memory only, the numbers) of records prepared earlier in the same
    /// batch: duplicates within a file.
    pub fn prepare(
        &self,
        kind: Kind,
        inputs: &[(String, String)],
        pending_hashes: &mut HashSet<String>,
    ) -> Result<Prepared, LedgerError> {
        let today = self.today();
        let invalid = |errors| LedgerError::Invalid { kind, errors };
        let ParsedFields {
            mut fields,
            id_number,
            cleared: _,
        } = self.parse_all(kind, inputs, None).map_err(invalid)?;
        let mut errors = complete(kind, &mut fields, today);
        self.check_refs(kind, &fields, &mut errors)?;
        let matcher = self.index.id_matcher();
        let id_match = id_number
            .as_ref()
            .map(|n| matcher.key_of_number(n, &fields));
        if let (Some(key), Some(number)) = (&id_match, &id_number) {
            // Within one input the full numbers are at hand (in memory, never kept).
            let typed = format!("n{}", number.as_str());
            if let Some(existing) = self.index.woman_with_id_hash(key)? {
                let what = if matcher.is_exact() {
                    "this ID number"
                } else {
                    "a card with this name, birth year and the same last four ID digits"
                };
                errors.push(FieldError::new(
                    "id_number",
                    format!("{what} is already registered as {existing}; update that card instead"),
                ));
            } else if !pending_hashes.insert(key.clone()) | !pending_hashes.insert(typed) {
                errors.push(FieldError::new(
                    "id_number",
                    "this ID number appears twice in this input",
                ));
            }
        }
        if errors.is_empty() {
            Ok(Prepared {
                kind,
                fields,
                id_sealed: id_number.map(|n| self.config.ids.sealer.seal(&n)),
                id: None,
            })
        } else {
            Err(invalid(errors))
        }
    }

    /// Adds one record; returns its id once it is durable.
    pub fn add(
        &mut self,
        kind: Kind,
        inputs: &[(String, String)],
    ) -> Result<RecordId, LedgerError> {
        let prepared = self.prepare(kind, inputs, &mut HashSet::new())?;
        Ok(self.add_prepared(vec![prepared], |_| {})?.remove(0))
    }

    /// Adds prepared records as one durable chunk (all or nothing), one change each.
    /// `progress` is called with the number written so far.
    pub fn add_prepared(
        &mut self,
        records: Vec<Prepared>,
        progress: impl FnMut(usize),
    ) -> Result<Vec<RecordId>, LedgerError> {
        self.write_prepared(records, Vec::new(), progress)
    }

    /// Adds `records` and applies `updates` as one durable chunk (all or nothing), one
    /// change each; returns the ids of the added records. A record prepared
    /// [`Prepared::with_id`] keeps that id (it must be this unit's and not yet here).
    /// `progress` is called with the number written so far.
    pub fn write_prepared(
        &mut self,
        records: Vec<Prepared>,
        updates: Vec<PreparedUpdate>,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<RecordId>, LedgerError> {
        let org = self.config.org;
        for given in records.iter().filter_map(|p| p.id.as_ref()) {
            if given.org() != org {
                return Err(LedgerError::NotOurs {
                    id: given.clone(),
                    own: org,
                });
            }
            self.reserve_seq(given)?;
        }
        let mut ids = Vec::with_capacity(records.len());
        for p in &records {
            ids.push(match &p.id {
                Some(id) => id.clone(),
                None => self.next_id(p.kind)?,
            });
        }
        let author = self.author();
        let written = ids.clone();
        let total = records.len() + updates.len();
        let started = std::time::Instant::now();
        let _guard = scopeguard_log(started, total);
        let known = Touched {
            records: ids
                .iter()
                .cloned()
                .chain(updates.iter().map(|u| u.id.clone()))
                .collect(),
            meta: false,
        };
        // A long chunk is signed every few dozen records too, so that catch-up can cut
        // it into batches a dropping link can carry (a batch ends only where
        // everything before it is attested).
        let signer = self.signer_of(org);
        let every = super::ATTEST_EVERY_EDITS as usize;
        self.edit(org, Some(known), |doc| {
            for (n, (id, p)) in written.iter().zip(&records).enumerate() {
                doc.insert(id, &p.fields, p.id_sealed.as_deref(), &author)?;
                if n % 256 == 255 {
                    progress(n + 1);
                }
                if n % every == every - 1 {
                    if let Some(a) = &signer {
                        a.attest(org, doc.automerge())?;
                    }
                }
            }
            for (n, u) in updates.iter().enumerate() {
                doc.update(
                    &u.id,
                    &u.fields,
                    &u.cleared,
                    u.id_sealed.as_deref(),
                    &author,
                )?;
                if (records.len() + n) % 256 == 255 {
                    progress(records.len() + n + 1);
                }
                if (records.len() + n) % every == every - 1 {
                    if let Some(a) = &signer {
                        a.attest(org, doc.automerge())?;
                    }
                }
            }
            progress(total);
            Ok(())
        })?;
        Ok(ids)
    }

    /// Makes sure this device's next new id comes after `id` (a record restored under
    /// an id this device once gave).
    fn reserve_seq(&mut self, id: &RecordId) -> Result<(), LedgerError> {
        if id.device() != self.config.device_tag {
            return Ok(());
        }
        let probe = self.next_id(id.kind())?;
        let next = self.next_seq.get_mut(&id.org()).expect("next_id filled it");
        *next = (*next).max(probe.seq()).max(id.seq() + 1);
        Ok(())
    }

    fn own_record(&self, id: &RecordId, kind: Option<Kind>) -> Result<IndexedRecord, LedgerError> {
        if let Some(expected) = kind.filter(|k| *k != id.kind()) {
            return Err(LedgerError::WrongKind {
                id: id.clone(),
                expected,
            });
        }
        if id.org() != self.config.org {
            return Err(LedgerError::NotOurs {
                id: id.clone(),
                own: self.config.org,
            });
        }
        self.index
            .get(id)?
            .ok_or_else(|| LedgerError::NotFound(id.clone()))
    }

    /// Changes fields of one of this unit's records. Returns false if nothing changed.
    pub fn update(
        &mut self,
        id: &RecordId,
        kind: Option<Kind>,
        inputs: &[(String, String)],
    ) -> Result<bool, LedgerError> {
        let prepared = self.prepare_update(id, kind, inputs)?;
        let author = self.author();
        let id = id.clone();
        let known = Touched {
            records: [id.clone()].into(),
            meta: false,
        };
        let changed = self.edit(id.org(), Some(known), |doc| {
            doc.update(
                &id,
                &prepared.fields,
                &prepared.cleared,
                prepared.id_sealed.as_deref(),
                &author,
            )
        })?;
        Ok(changed.is_some())
    }

    /// Validates a change to one of this unit's records without writing it: the same
    /// checks as [`Ledger::update`] (which writes it), on the record as it would become.
    pub fn prepare_update(
        &self,
        id: &RecordId,
        kind: Option<Kind>,
        inputs: &[(String, String)],
    ) -> Result<PreparedUpdate, LedgerError> {
        let existing = self.own_record(id, kind)?;
        let kind = id.kind();
        let today = self.today();
        let invalid = |errors| LedgerError::Invalid { kind, errors };
        let parsed = self
            .parse_all(kind, inputs, Some(&existing.record.fields))
            .map_err(invalid)?;
        let mut merged = existing.record.fields.clone();
        for key in &parsed.cleared {
            merged.remove(key);
        }
        merged.extend(parsed.fields.clone());
        let mut errors = complete(kind, &mut merged, today);
        self.check_refs(kind, &parsed.fields, &mut errors)?;
        let matcher = self.index.id_matcher();
        let id_match = parsed
            .id_number
            .as_ref()
            .map(|n| matcher.key_of_number(n, &merged));
        if let Some(key) = &id_match {
            let others = self.index.women_with_id_hash(key)?;
            if let Some(other) = others.into_iter().find(|o| o != id) {
                errors.push(FieldError::new(
                    "id_number",
                    format!("this ID number is already registered as {other}"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        // Write what was given, plus what the rules filled in (defaults).
        let old = &existing.record.fields;
        let mut to_write = parsed.fields;
        for (k, v) in &merged {
            if old.get(k) != Some(v) {
                to_write.insert(k.clone(), v.clone());
            }
        }
        let empty_list = |v: &Value| matches!(v, Value::List(items) if items.is_empty());
        let mut changes: Vec<String> = to_write
            .iter()
            .filter(|(k, v)| match old.get(k.as_str()) {
                Some(before) => before != *v,
                // An empty list is what an absent list field reads as.
                None => !empty_list(v),
            })
            .map(|(k, _)| k.clone())
            .collect();
        changes.extend(
            parsed
                .cleared
                .iter()
                .filter(|k| old.contains_key(k.as_str()))
                .cloned(),
        );
        // An office compares the full numbers; a village cannot, so a number typed
        // into an update is written (an import leaves out one the card already shows).
        let new_number =
            id_match.is_some() && (!matcher.is_exact() || id_match != existing.record.meta.id_hash);
        if new_number && !changes.iter().any(|c| c == "id_number") {
            changes.push("id_number".into());
        }
        Ok(PreparedUpdate {
            id: id.clone(),
            fields: to_write,
            cleared: parsed.cleared,
            id_sealed: parsed
                .id_number
                .filter(|_| new_number)
                .map(|n| self.config.ids.sealer.seal(&n)),
            changes,
        })
    }

    /// Retires one of this unit's records, with a reason; it stays in history.
    pub fn retire(
        &mut self,
        id: &RecordId,
        kind: Option<Kind>,
        reason: &str,
    ) -> Result<(), LedgerError> {
        self.own_record(id, kind)?;
        if reason.trim().is_empty() {
            return Err(LedgerError::Invalid {
                kind: id.kind(),
                errors: vec![FieldError::new(
                    "reason",
                    "say why the record is retired (--reason)",
                )],
            });
        }
        let author = self.author();
        let id = id.clone();
        let known = Touched {
            records: [id.clone()].into(),
            meta: false,
        };
        self.edit(id.org(), Some(known), |doc| {
            doc.retire(&id, reason.trim(), &author)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
