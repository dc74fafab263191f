//! The ledger actor's tests: sessions, back-pressure, shutdown.
use std::future::Future;
use std::sync::{Arc, Mutex};

use halfsky_shared::Kind;

use super::*;
use crate::ledger::testing::{self, Village, VILLAGE};
use crate::store::{Storage, Table};

/// Polls `f` once, so the request it makes is queued, without waiting for it.
async fn queue<F: Future + Unpin>(f: &mut F) {
    tokio::select! {
        biased;
        _ = f => panic!("answered while the actor is held"),
        _ = std::future::ready(()) => {}
    }
}

#[test]
fn the_rule_is_read_from_a_refusal() {
    let reason = "changes could not be applied: change ab to document 230129100201 refused (foreign-record): it writes (a) record";
    assert_eq!(rule_in(reason), "foreign-record");
    assert_eq!(rule_in("document 1 is outside (the link)"), "refused");
}

#[tokio::test]
async fn requests_are_served_in_the_order_they_were_sent() {
    let v = Village::new();
    let (_actor, handle) = LedgerActor::start(v.open()).unwrap();

    // Hold the actor in a job, queue requests of every sort behind it, release it.
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let mut held = Box::pin(handle.run(move |_| gate.recv().unwrap()));
    queue(&mut held).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut jobs = Vec::new();
    for i in 0..5 {
        let seen = seen.clone();
        let mut job = Box::pin(handle.run(move |_| seen.lock().unwrap().push(i)));
        queue(&mut job).await;
        jobs.push(job);
        handle.link_failed(format!("attempt {i}"));
    }
    let mut status = Box::pin(handle.status());
    queue(&mut status).await;
    assert!(seen.lock().unwrap().is_empty());
    release.send(()).unwrap();
    held.await.unwrap();
    for job in jobs {
        job.await.unwrap();
    }
    assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    let parent = status.await.unwrap().parent.unwrap();
    assert_eq!(parent.last_error.as_deref(), Some("attempt 4"));
    assert!(!parent.connected);
}

#[tokio::test]
async fn a_link_waits_when_the_mailbox_holds_enough_frames() {
    let v = Village::new();
    let (_actor, handle) = LedgerActor::start(v.open()).unwrap();
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let mut held = Box::pin(handle.run(move |_| gate.recv().unwrap()));
    queue(&mut held).await;
    for _ in 0..MAX_QUEUED_FRAMES {
        // Frames for no session: the actor drops them once it gets to them.
        handle.frame(99, Frame::InventoryMatch).await;
    }
    let mut next = Box::pin(handle.frame(99, Frame::InventoryMatch));
    queue(&mut next).await;
    release.send(()).unwrap();
    held.await.unwrap();
    next.await;
    handle.run(|_| ()).await.unwrap();
}

#[tokio::test]
async fn shutdown_leaves_everything_durable_and_the_handle_says_so() {
    let v = Village::new();
    let (actor, handle) = LedgerActor::start(v.open()).unwrap();
    let inputs = testing::woman(&mut testing::generator());
    let id = handle
        .run(move |ledger| ledger.add(Kind::Woman, &inputs))
        .await
        .unwrap()
        .unwrap();
    let running = handle.status().await.unwrap();
    assert!(running.running);
    assert!(running.parent.as_ref().unwrap().pending_changes > 0);
    handle.link_failed("the county server is unreachable".into());
    actor.shutdown();

    assert!(handle.run(|_| ()).await.is_err());
    assert!(matches!(
        handle.status().await,
        Err(StatusRequestError::Gone(_))
    ));
    let mut ledger = v.open();
    assert!(ledger.index().get(&id).unwrap().is_some());
    let offline = offline_status(&mut ledger).unwrap();
    assert!(!offline.running);
    let parent = offline.parent.unwrap();
    assert_eq!(
        parent.last_error.as_deref(),
        Some("the county server is unreachable")
    );
    assert_eq!(
        parent.pending_changes,
        running.parent.unwrap().pending_changes
    );
    assert_eq!(parent.pending.direct, parent.pending_changes);
}

#[tokio::test]
async fn status_reports_a_record_it_cannot_read() {
    let v = Village::new();
    let (actor, handle) = LedgerActor::start(v.open()).unwrap();
    v.store
        .insert(
            Table::Status,
            format!("acked/{VILLAGE}").as_bytes(),
            b"torn",
        )
        .unwrap();
    let err = handle.status().await.unwrap_err();
    assert!(
        matches!(err, StatusRequestError::Status(StatusError::Corrupt { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("acked/{VILLAGE}")),
        "{err}"
    );
    actor.shutdown();

    v.store.insert(Table::Status, b"status", b"{torn").unwrap();
    let mut ledger = v.open();
    assert!(offline_status(&mut ledger).is_err());
    assert!(
        LedgerActor::start(ledger).is_err(),
        "no node on a status it cannot read"
    );
}

#[tokio::test]
async fn a_panic_in_one_request_leaves_the_node_running_and_memory_equal_to_the_store() {
    let v = Village::new();
    let (_actor, handle) = LedgerActor::start(v.open()).unwrap();
    let inputs = testing::woman(&mut testing::generator());
    let id = handle
        .run(move |ledger| ledger.add(Kind::Woman, &inputs))
        .await
        .unwrap()
        .unwrap();
    let org: halfsky_shared::OrgCode = VILLAGE.parse().unwrap();
    let before = handle
        .run(move |ledger| ledger.stored_heads(&org).unwrap())
        .await
        .unwrap();

    // A request edits the document in memory, then fails before anything is stored.
    let failed = handle
        .run(move |ledger| {
            let _ = ledger.with_automerge(org, |doc| {
                use automerge::transaction::Transactable;
                doc.put(automerge::ROOT, "half-written", 1_i64).unwrap();
                panic!("a bug in the middle of an edit");
            });
        })
        .await;
    assert!(failed.is_err(), "its caller hears that it failed");

    let (half_written, heads, found) = handle
        .run(move |ledger| {
            let half_written = ledger
                .with_automerge(org, |doc| {
                    use automerge::ReadDoc;
                    doc.get(automerge::ROOT, "half-written").unwrap().is_some()
                })
                .unwrap();
            let heads = ledger.stored_heads(&org).unwrap();
            (half_written, heads, ledger.show(&id).is_ok())
        })
        .await
        .expect("the node still answers");
    assert!(!half_written, "the half-written edit is gone from memory");
    assert_eq!(heads, before, "and it never reached the store");
    assert!(found, "the record written before is still there");
    assert!(handle.status().await.unwrap().running);
}
