//! Women registered twice: two cards, not retired, whose ID numbers have the same keyed
//! hash, in one village or in two. Every level that holds both cards finds them from
//! its index; the lowest such unit (their lowest common ancestor) is where the pair is
//! first seen and where a clerk can sort it out. Neither the number nor its hash is
//! given out: a card is shown by its id, name, masked number, unit and when and by which
//! device it was written.

use halfsky_shared::{OrgCode, RecordId};
use serde::{Deserialize, Serialize};

use crate::ledger::reader::LedgerReader;
use crate::ledger::LedgerError;

/// One card of a woman registered twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateCard {
    /// The card's record id.
    pub id: RecordId,
    /// The unit whose ledger holds it.
    pub unit: OrgCode,
    /// That unit's name, if known here.
    pub unit_name: Option<String>,
    /// The woman's name on this card.
    pub name: String,
    /// The masked ID number, as every reader sees it.
    pub id_number_masked: String,
    /// When the card was written (RFC 3339, as stored).
    pub created_at: String,
    /// The device that wrote it (`<org>/<device>`).
    pub created_by: String,
}

/// Cards carrying one ID number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Duplicate {
    /// The lowest unit that holds every card of the group.
    pub lowest_common_unit: OrgCode,
    /// The cards, in id order.
    pub cards: Vec<DuplicateCard>,
}

impl LedgerReader {
    /// Women registered more than once under `org` (its whole subtree), the groups
    /// whose cards lie in different units first.
    pub fn duplicates(&self, org: OrgCode) -> Result<Vec<Duplicate>, LedgerError> {
        let index = self.index();
        let mut out = Vec::new();
        for ids in index.duplicate_women(org.subtree_prefix())? {
            let mut cards = Vec::with_capacity(ids.len());
            for id in ids {
                let Some(row) = index.get(&id)? else {
                    continue;
                };
                let fields = &row.record.fields;
                let text = |name: &str| {
                    fields
                        .get(name)
                        .and_then(|v| v.as_text())
                        .unwrap_or_default()
                        .to_string()
                };
                cards.push(DuplicateCard {
                    unit: id.org(),
                    unit_name: index.name(&id.org())?,
                    name: text("name"),
                    id_number_masked: text("id_number"),
                    created_at: row.record.meta.created_at.clone(),
                    created_by: row.record.meta.created_by.clone(),
                    id,
                });
            }
            let Some(first) = cards.first().map(|c| c.unit) else {
                continue;
            };
            let lowest_common_unit = cards
                .iter()
                .fold(first, |lca, c| lca.lowest_common_ancestor(&c.unit));
            if cards.len() > 1 {
                out.push(Duplicate {
                    lowest_common_unit,
                    cards,
                });
            }
        }
        // Across units first (a clerk's work), then by the unit that sees them.
        out.sort_by_key(|d| {
            (
                d.lowest_common_unit.level(),
                d.lowest_common_unit,
                d.cards[0].id.clone(),
            )
        });
        Ok(out)
    }
}
