//! What an import would do with each row, decided before anything is written: add a
//! record, change one already here, leave one unchanged, or refuse the row.
//!
//! The rules that make a re-import harmless (a cadre re-sends her spreadsheet every
//! month):
//! - a row carrying an `id` (编号, as exports write it) is that record: its values
//!   update it, and a row that says what the record already says changes nothing. An
//!   id of this unit that is not here (a file from another device of the unit, or a
//!   restore) is added under that same id, so importing it twice adds it once; an id of
//!   another unit that this ledger does not hold is refused.
//! - a row whose full ID number is already registered is that woman: it updates her
//!   card (the same woman never gets a second card). A card of another unit is refused
//!   unless the row says what the card says.
//! - a row with neither, identical in every field to a record of this unit, is that
//!   record (a corrected sheet imported again after `--skip-bad`).
//! - a masked ID number (`**************123X`, as exports write it) is recognised as a
//!   mask: equal to the card's mask it changes nothing; different, it is refused (a mask
//!   cannot be checked); on a new record it is left out and counted.
//!
//! An update takes the row's blank cells as "empty": a column the sheet has is the
//! sheet's to say; columns it does not have are left alone.

use std::collections::{HashMap, HashSet};

use halfsky_shared::record::{parse_fields, Fields, Record};
use halfsky_shared::{RecordId, Value};

use super::{BadRow, Row, Table};
use crate::ledger::{Ledger, LedgerError, Prepared, PreparedUpdate};
use crate::store::index::IndexedRecord;

/// An import's rows sorted by what they would do.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// New records, with their row numbers.
    pub adds: Vec<(usize, Prepared)>,
    /// Changes to records already here, with their row numbers (none empty).
    pub updates: Vec<(usize, PreparedUpdate)>,
    /// Rows that say what a record here already says.
    pub unchanged: usize,
    /// Rows marked retired in the file (not imported).
    pub retired_skipped: usize,
    /// New records whose masked ID number was left out.
    pub masked_ids_dropped: usize,
    /// Data rows, retired ones not counted.
    pub total: usize,
    /// One entry per problem of a refused row.
    pub bad: Vec<BadRow>,
}

/// Which record a row is about.
enum Target {
    /// A record this ledger holds.
    Existing(Box<IndexedRecord>),
    /// A record of this unit that is not here yet: added under its own id.
    Restore(RecordId),
    /// A new record.
    New,
}

/// Decides what every row of `table` would do in `ledger`. `tick` is called once per row.
pub(super) fn plan(
    ledger: &Ledger,
    table: &Table,
    mut tick: impl FnMut(),
) -> Result<Plan, LedgerError> {
    let mut planner = Planner {
        ledger,
        table,
        plan: Plan::default(),
        pending_hashes: HashSet::new(),
        seen: HashMap::new(),
        own_records: None,
    };
    for row in &table.rows {
        tick();
        if table.is_retired(row) {
            planner.plan.retired_skipped += 1;
            continue;
        }
        planner.plan.total += 1;
        planner.row(row)?;
    }
    Ok(planner.plan)
}

struct Planner<'a> {
    ledger: &'a Ledger,
    table: &'a Table,
    plan: Plan,
    /// ID-number hashes given by rows planned so far (one woman, one row).
    pending_hashes: HashSet<String>,
    /// Record ids rows planned so far are about, with their row numbers.
    seen: HashMap<RecordId, usize>,
    /// Canonical field values of this unit's records of the kind (built when first needed).
    own_records: Option<HashSet<String>>,
}

impl Planner<'_> {
    fn row(&mut self, row: &Row) -> Result<(), LedgerError> {
        let table = self.table;
        let mut problems: Vec<BadRow> = row
            .problems
            .iter()
            .map(|(i, reason)| bad(row, &table.columns[*i].header, reason.clone()))
            .collect();
        let mut inputs = table.inputs_with_blanks(row);
        let mask = take_mask(&mut inputs);
        let target = match self.target(row, &inputs) {
            Ok(target) => target,
            Err(problem) => {
                problems.push(problem);
                self.plan.bad.extend(problems);
                return Ok(());
            }
        };
        if let Target::Existing(existing) = &target {
            if let Some(previous) = self.seen.insert(existing.record.id.clone(), row.number) {
                problems.push(bad(
                    row,
                    &self.id_column(),
                    format!(
                        "row {previous} is already about {}; keep one of the two rows",
                        existing.record.id
                    ),
                ));
            }
        }
        if !problems.is_empty() {
            // An unreadable cell is reported once, not again by the validation.
            self.plan.bad.extend(problems);
            return Ok(());
        }
        let result = match target {
            Target::Existing(existing) => self.update(row, &existing, mask.as_deref(), &inputs),
            Target::Restore(id) => self.add(row, Some(id), mask, inputs),
            Target::New => self.add(row, None, mask, inputs),
        };
        match result {
            Ok(()) => Ok(()),
            Err(LedgerError::Invalid { errors, .. }) => {
                self.plan.bad.extend(
                    errors
                        .into_iter()
                        .map(|e| bad(row, &table.header_of(&e.field), e.reason)),
                );
                Ok(())
            }
            Err(e @ (LedgerError::NotOurs { .. } | LedgerError::WrongKind { .. })) => {
                self.plan
                    .bad
                    .push(bad(row, &self.id_column(), e.to_string()));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The record a row is about, or the problem that makes it unusable.
    fn target(&self, row: &Row, inputs: &[(String, String)]) -> Result<Target, BadRow> {
        let ledger = self.ledger;
        let own = ledger.config().org;
        let index_err = |e: crate::store::index::IndexError| bad(row, "", e.to_string());
        if let Some((header, text)) = self.table.record_id(row) {
            let id = RecordId::parse(text).map_err(|e| bad(row, header, e.to_string()))?;
            if id.kind() != self.table.kind {
                return Err(bad(
                    row,
                    header,
                    format!(
                        "{id} is a {}, but this import is of {}",
                        id.kind(),
                        self.table.kind.spec().plural
                    ),
                ));
            }
            return match ledger.index().get(&id).map_err(index_err)? {
                Some(existing) => Ok(Target::Existing(Box::new(existing))),
                None if id.org() == own => Ok(Target::Restore(id)),
                None => Err(bad(
                    row,
                    header,
                    format!(
                        "{id} is a record of unit {}, which this ledger does not hold; \
                         to add the row as a new record of {own}, empty its {header} cell",
                        id.org()
                    ),
                )),
            };
        }
        if let Some(key) = self.number_key(inputs, None) {
            if let Some(id) = ledger.index().woman_with_id_hash(&key).map_err(index_err)? {
                if let Some(existing) = ledger.index().get(&id).map_err(index_err)? {
                    return Ok(Target::Existing(Box::new(existing)));
                }
            }
        }
        Ok(Target::New)
    }

    fn update(
        &mut self,
        row: &Row,
        existing: &IndexedRecord,
        mask: Option<&str>,
        inputs: &[(String, String)],
    ) -> Result<(), LedgerError> {
        let record = &existing.record;
        if let Some(mask) = mask {
            if record.text("id_number") != Some(mask) {
                self.plan.bad.push(bad(
                    row,
                    &self.table.header_of("id_number"),
                    format!(
                        "{mask} is a masked ID number and {} holds {}; a mask cannot be \
                         checked: type the full number, or leave the cell as exported",
                        record.id,
                        record.text("id_number").unwrap_or("none")
                    ),
                ));
                return Ok(());
            }
        }
        if record.meta.retired {
            self.plan.bad.push(bad(
                row,
                &self.id_column(),
                format!(
                    "{} is retired ({}); an import does not bring it back: remove the row",
                    record.id,
                    record
                        .meta
                        .retired_reason
                        .as_deref()
                        .unwrap_or("no reason given")
                ),
            ));
            return Ok(());
        }
        let own = self.ledger.config().org;
        if record.id.org() != own {
            if self.says_the_same(record, inputs) {
                self.plan.unchanged += 1;
            } else {
                let name = self
                    .ledger
                    .index()
                    .name(&record.id.org())?
                    .unwrap_or_default();
                self.plan.bad.push(bad(
                    row,
                    &self.id_column(),
                    format!(
                        "{} is kept by {name} ({}); only that unit changes it: enter the change there",
                        record.id,
                        record.id.org()
                    ),
                ));
            }
            return Ok(());
        }
        // The number the card already has (as far as this node can tell: in full at an
        // office, by its last digits, name and birth year at a village) is not written
        // again: re-importing a sheet changes nothing.
        let mut inputs = inputs.to_vec();
        if record.meta.id_hash.is_some()
            && self.number_key(&inputs, Some(&record.fields)) == record.meta.id_hash
        {
            inputs.retain(|(name, _)| name != "id_number");
        }
        let update = self
            .ledger
            .prepare_update(&record.id, Some(self.table.kind), &inputs)?;
        if let Some(hash) = record.meta.id_hash.clone() {
            self.pending_hashes.insert(hash);
        }
        if update.changes().is_empty() {
            self.plan.unchanged += 1;
        } else {
            self.plan.updates.push((row.number, update));
        }
        Ok(())
    }

    fn add(
        &mut self,
        row: &Row,
        id: Option<RecordId>,
        mask: Option<String>,
        mut inputs: Vec<(String, String)>,
    ) -> Result<(), LedgerError> {
        inputs.retain(|(_, text)| !text.trim().is_empty());
        let prepared = self
            .ledger
            .prepare(self.table.kind, &inputs, &mut self.pending_hashes)?;
        if id.is_none() && !prepared.has_id_number() {
            let mut fields = prepared.fields().clone();
            if let Some(mask) = &mask {
                fields.insert("id_number".into(), Value::Text(mask.clone()));
            }
            if self.own_records()?.contains(&canonical(&fields)) {
                self.plan.unchanged += 1;
                return Ok(());
            }
        }
        if mask.is_some() {
            self.plan.masked_ids_dropped += 1;
        }
        let prepared = match id {
            Some(id) => {
                if let Some(previous) = self.seen.insert(id.clone(), row.number) {
                    self.plan.bad.push(bad(
                        row,
                        &self.id_column(),
                        format!("row {previous} already gives {id}; keep one of the two rows"),
                    ));
                    return Ok(());
                }
                prepared.with_id(id)
            }
            None => prepared,
        };
        self.plan.adds.push((row.number, prepared));
        Ok(())
    }

    /// Whether the row's values are those of `record` (blank cells for absent fields).
    fn says_the_same(&self, record: &Record, inputs: &[(String, String)]) -> bool {
        let ledger = self.ledger;
        let Ok(parsed) = parse_fields(self.table.kind, inputs, ledger.today()) else {
            return false;
        };
        let fields_agree = parsed
            .fields
            .iter()
            .all(|(k, v)| match record.fields.get(k) {
                Some(have) => have == v,
                None => is_empty_list(v),
            });
        let cleared_agree = parsed
            .cleared
            .iter()
            .all(|k| !record.fields.contains_key(k));
        let hash_agrees = parsed.id_number.is_none()
            || self.number_key(inputs, Some(&record.fields)) == record.meta.id_hash;
        fields_agree && cleared_agree && hash_agrees
    }

    /// This node's matching key of the ID number a row gives (see
    /// [`crate::store::id_match`]), its name and birth year read over `base`.
    fn number_key(&self, inputs: &[(String, String)], base: Option<&Fields>) -> Option<String> {
        let ledger = self.ledger;
        let parsed = parse_fields(self.table.kind, inputs, ledger.today()).ok()?;
        let number = parsed.id_number?;
        let mut fields = base.cloned().unwrap_or_default();
        fields.extend(parsed.fields);
        Some(ledger.index().id_matcher().key_of_number(&number, &fields))
    }

    fn own_records(&mut self) -> Result<&HashSet<String>, LedgerError> {
        if self.own_records.is_none() {
            let own = self.ledger.config().org;
            let set = self
                .ledger
                .list(self.table.kind, own.as_str(), false)?
                .into_iter()
                .filter(|r| r.record.id.org() == own)
                .map(|r| canonical(&r.record.fields))
                .collect();
            self.own_records = Some(set);
        }
        Ok(self.own_records.as_ref().expect("just built"))
    }

    /// The header of the file's id column (`id` or `编号`).
    fn id_column(&self) -> String {
        self.table
            .columns
            .iter()
            .find(|c| c.field.is_none() && matches!(c.header.as_str(), "id" | "编号"))
            .map(|c| c.header.clone())
            .unwrap_or_else(|| self.table.header_of("id_number"))
    }
}

/// Takes a masked ID number out of a row's inputs, returning it.
fn take_mask(inputs: &mut Vec<(String, String)>) -> Option<String> {
    let at = inputs
        .iter()
        .position(|(name, text)| name == "id_number" && text.contains('*'))?;
    Some(inputs.remove(at).1.trim().to_string())
}

fn is_empty_list(value: &Value) -> bool {
    matches!(value, Value::List(items) if items.is_empty())
}

/// A record's values as one comparable text (an empty list reads as no list).
fn canonical(fields: &Fields) -> String {
    let mut fields = fields.clone();
    fields.retain(|_, v| !is_empty_list(v));
    serde_json::to_string(&fields).expect("field values serialize")
}

fn bad(row: &Row, column: &str, reason: String) -> BadRow {
    BadRow {
        row: row.number,
        column: column.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests;
