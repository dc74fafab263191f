//! Which path each unacknowledged change is on (`halfsky status`, item 6 of issue 4):
//! waiting for the direct link to the parent, sealed into a bundle left at the relay,
//! or exported into a bundle file carried by hand. A change counts on the first path
//! that carries it in this order: relay, bundle, direct.

use std::collections::HashSet;

use automerge::ChangeHash;

use crate::ledger::Ledger;
use crate::sync::status::{PendingPaths, StatusError, StatusStore};

/// Counts the changes of `ledger`'s subtree the parent has not acknowledged, by path.
/// A record that cannot be read fails the count: a wrong number is worse than none.
pub fn pending_paths(
    ledger: &mut Ledger,
    status: &StatusStore,
) -> Result<PendingPaths, StatusError> {
    let me = ledger.config().org;
    let mut out = PendingPaths::default();
    let mut oldest = None::<i64>;
    for org in ledger.documents()? {
        if !org.is_in_subtree_of(&me) {
            continue;
        }
        let acked = status.acked(&org)?;
        let mut heads = ledger.stored_heads(&org)?;
        let mut sorted_acked = acked.clone();
        heads.sort();
        sorted_acked.sort();
        if heads == sorted_acked {
            continue;
        }
        let relayed = status.relayed(&org)?;
        let bundled = status.bundled(&org)?;
        let (direct, relay, bundle, min) = ledger.with_automerge(org, |doc| {
            // Hashes of changes NOT covered by `heads` (None: heads unknown here).
            let mut uncovered = |heads: &[ChangeHash]| -> Option<HashSet<ChangeHash>> {
                if heads.is_empty() || heads.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
                    return None;
                }
                Some(doc.get_changes(heads).iter().map(|c| c.hash()).collect())
            };
            let not_relayed = uncovered(&relayed);
            let not_bundled = uncovered(&bundled);
            let known = acked.iter().all(|h| doc.get_change_by_hash(h).is_some());
            let since: &[ChangeHash] = if known { &acked } else { &[] };
            let mut counts = (0u64, 0u64, 0u64, None::<i64>);
            for change in doc.get_changes(since) {
                let hash = change.hash();
                if not_relayed.as_ref().is_some_and(|s| !s.contains(&hash)) {
                    counts.1 += 1;
                } else if not_bundled.as_ref().is_some_and(|s| !s.contains(&hash)) {
                    counts.2 += 1;
                } else {
                    counts.0 += 1;
                }
                let t = change.timestamp();
                if t > 0 {
                    counts.3 = Some(counts.3.map_or(t, |o: i64| o.min(t)));
                }
            }
            counts
        })?;
        if direct + relay + bundle == 0 {
            continue;
        }
        out.documents += 1;
        out.direct += direct;
        out.relay += relay;
        out.bundle += bundle;
        oldest = match (oldest, min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    out.oldest = oldest.map(halfsky_shared::ledger_doc::time_text);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use halfsky_shared::Kind;

    use super::*;
    use crate::ledger::testing::{self, Village};
    use crate::store::{Storage, Table};

    #[test]
    fn counts_each_change_on_the_path_that_carries_it() {
        let v = Village::new();
        let mut ledger = v.open();
        let status = StatusStore::new(ledger.store().clone());
        let org = ledger.config().org;
        // The unit's name, written on first open, waits for the direct link.
        let first = pending_paths(&mut ledger, &status).unwrap();
        assert!(first.direct > 0, "{first:?}");
        assert_eq!((first.relay, first.bundle, first.documents), (0, 0, 1));

        status
            .set_relayed(&org, &ledger.stored_heads(&org).unwrap())
            .unwrap();
        let inputs = testing::woman(&mut testing::generator());
        ledger.add(Kind::Woman, &inputs).unwrap();
        let paths = pending_paths(&mut ledger, &status).unwrap();
        assert_eq!(paths.relay, first.direct, "sealed for the relay");
        assert_eq!(paths.direct, 1, "the woman added since");
        assert_eq!(paths.total(), first.direct + 1);

        status
            .set_acked(&org, &ledger.stored_heads(&org).unwrap())
            .unwrap();
        assert_eq!(
            pending_paths(&mut ledger, &status).unwrap(),
            PendingPaths::default()
        );
    }

    #[test]
    fn an_unreadable_acknowledgement_fails_the_count() {
        let v = Village::new();
        let mut ledger = v.open();
        let status = StatusStore::new(ledger.store().clone());
        let key = format!("acked/{}", ledger.config().org);
        v.store
            .insert(Table::Status, key.as_bytes(), b"torn")
            .unwrap();
        assert!(matches!(
            pending_paths(&mut ledger, &status),
            Err(StatusError::Corrupt { .. })
        ));
    }
}
