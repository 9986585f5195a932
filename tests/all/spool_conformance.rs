//! What every spool backend guarantees, written once and run against each:
//! the embedded SQLite spool here, the PostgreSQL one in `pg_spool.rs`
//! against a server the test starts.

use hookbox::record::{RunOutcome, RunStatus};
use hookbox::service::spool::sqlite::SqliteSpool;
use hookbox::service::spool::{
    AttemptEnd, AttemptRecord, Millis, NewEvent, Next, Retention, RunFilter, RunState, Spool,
};

/// A `session-open` event of delivery `delivery` and Hoop id `id`.
pub(crate) fn event(delivery: &str, id: &str) -> NewEvent {
    NewEvent {
        delivery: delivery.into(),
        id: id.into(),
        event: "session-open".into(),
        sid: format!("sid-{id}"),
        payload: format!(r#"{{"id": "{id}", "user": "alice@example.com"}}"#),
        script_sha256: None,
    }
}

/// An attempt with no outcome and `note`.
pub(crate) fn record(note: &str) -> AttemptRecord {
    AttemptRecord {
        started_at: 1,
        finished_at: 2,
        outcome: None,
        note: note.into(),
    }
}

/// One run per delivery, retries in due order, a run with its attempts,
/// listing by filter, replay, counts, and retention.
pub(crate) async fn keeps_the_spools_guarantees(spool: &dyn Spool) {
    // One run per delivery; another firing of the event is another run.
    let first = spool.accept(&event("d1", "e1"), 10).await.unwrap();
    assert!(!first.duplicate);
    let again = spool.accept(&event("d1", "e1"), 11).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.run_id, first.run_id);
    let second_firing = spool.accept(&event("d2", "e1"), 12).await.unwrap();
    assert!(!second_firing.duplicate);
    assert_eq!(spool.depth().await.unwrap(), 2);

    // Claimed in due order, retried, then done.
    let claimed = spool.claim(20).await.unwrap().unwrap();
    assert_eq!(
        (claimed.run_id.as_str(), claimed.attempt),
        (first.run_id.as_str(), 1)
    );
    assert_eq!(claimed.event_id, "e1");
    spool
        .finish(&claimed.run_id, &record("failed"), Next::RetryAt(50), 21)
        .await
        .unwrap();
    let other = spool.claim(30).await.unwrap().unwrap();
    assert_eq!(other.run_id, second_firing.run_id);
    assert!(
        spool.claim(30).await.unwrap().is_none(),
        "the retry is not due yet"
    );
    assert_eq!(spool.next_due().await.unwrap(), Some(50));
    spool
        .finish(&other.run_id, &record("ok"), Next::Succeeded, 31)
        .await
        .unwrap();
    let retried = spool.claim(50).await.unwrap().unwrap();
    assert_eq!(
        (retried.run_id.as_str(), retried.attempt),
        (first.run_id.as_str(), 2)
    );
    spool
        .finish(&retried.run_id, &record("gave up"), Next::Dead, 51)
        .await
        .unwrap();

    // Shown with its attempts, listed by filter, replayed.
    let detail = spool.show(&first.run_id).await.unwrap().unwrap();
    assert_eq!(detail.run.state, RunState::Dead);
    let notes: Vec<&str> = detail.attempt_log.iter().map(|a| a.note.as_str()).collect();
    assert_eq!(notes, ["failed", "gave up"]);
    assert_eq!(detail.payload["user"], "alice@example.com");
    let listed = async |filter: RunFilter| -> Vec<String> {
        spool
            .list(&RunFilter {
                limit: 10,
                ..filter
            })
            .await
            .unwrap()
            .into_iter()
            .map(|run| run.id)
            .collect()
    };
    assert_eq!(
        listed(RunFilter {
            state: Some(RunState::Dead),
            ..RunFilter::default()
        })
        .await,
        std::slice::from_ref(&first.run_id)
    );
    assert_eq!(
        listed(RunFilter {
            event_id: Some("e1".into()),
            ..RunFilter::default()
        })
        .await
        .len(),
        2
    );
    assert_eq!(
        listed(RunFilter {
            contains: Some("alice@".into()),
            sid: Some("sid-e1".into()),
            ..RunFilter::default()
        })
        .await
        .len(),
        2
    );
    let replay = spool.replay(&first.run_id, 60).await.unwrap().unwrap();
    assert!(spool.replay("no-such-run", 60).await.unwrap().is_none());
    let shown = spool.show(&replay).await.unwrap().unwrap().run;
    assert_eq!(shown.replay_of.as_deref(), Some(first.run_id.as_str()));
    let stats = spool.stats(60).await.unwrap();
    assert_eq!(stats.depth, 1);
    assert_eq!(
        stats.by_state,
        [
            ("dead".to_owned(), 1),
            ("pending".to_owned(), 1),
            ("succeeded".to_owned(), 1)
        ]
    );

    // Retention: the finished run and the replayed dead one go; the
    // replay stays, and so does the event it needs.
    const DAY: Millis = 24 * 3600 * 1000;
    assert_eq!(
        spool
            .prune(60 + 8 * DAY, &Retention::default())
            .await
            .unwrap(),
        2
    );
    assert!(spool.show(&first.run_id).await.unwrap().is_none());
    assert!(spool.show(&replay).await.unwrap().is_some());
    assert!(
        spool
            .accept(&event("d1", "e1"), 70)
            .await
            .unwrap()
            .duplicate
    );
    assert!(
        !spool
            .accept(&event("d2", "e1"), 70)
            .await
            .unwrap()
            .duplicate
    );
    assert_eq!(spool.depth().await.unwrap(), 2);
}

/// Attempts read back from a time on, newest first, at most a number, with
/// the skip told apart from the failures: what the dashboard's activity
/// page draws, the same on both backends.
pub(crate) async fn attempts_are_read_back_by_time(spool: &dyn Spool) {
    let attempt = |started_at: Millis, note: &str| AttemptRecord {
        started_at,
        finished_at: started_at + 10,
        ..record(note)
    };
    let failing = spool.accept(&event("t1", "t1"), 100).await.unwrap();
    let skipping = spool.accept(&event("t2", "t2"), 101).await.unwrap();
    let claimed = spool.claim(200).await.unwrap().unwrap();
    assert_eq!(claimed.run_id, failing.run_id);
    spool
        .finish(
            &claimed.run_id,
            &attempt(200, "failed"),
            Next::RetryAt(300),
            210,
        )
        .await
        .unwrap();
    let claimed = spool.claim(220).await.unwrap().unwrap();
    assert_eq!(claimed.run_id, skipping.run_id);
    spool
        .finish(
            &claimed.run_id,
            &attempt(220, "no hook"),
            Next::Skipped,
            230,
        )
        .await
        .unwrap();
    let claimed = spool.claim(300).await.unwrap().unwrap();
    let ran: RunOutcome = serde_json::from_value(serde_json::json!({
        "status": "failed", "exit_code": 3, "stdout": "x".repeat(10_000), "stderr": "",
        "stdout_truncated": false, "stderr_truncated": false, "duration_ms": 12.5,
        "fuel_consumed": 1, "peak_memory_bytes": 1,
        "egress": [{"time": "t", "scheme": "https", "host": "siem.example", "port": 443,
            "address": null, "method": "POST", "url": null, "allowed": true, "rule": null,
            "reason": null, "status": 200, "bytes_out": 42, "bytes_in": 0, "duration_ms": 1.0}]
    }))
    .unwrap();
    let gave_up = AttemptRecord {
        outcome: Some(ran),
        ..attempt(300, "gave up")
    };
    spool
        .finish(&claimed.run_id, &gave_up, Next::Dead, 310)
        .await
        .unwrap();
    // A fourth run succeeds with no summary, as an attempt stored before
    // summaries were: its run's state still says how it ended.
    let succeeding = spool.accept(&event("t3", "t3"), 320).await.unwrap();
    let claimed = spool.claim(330).await.unwrap().unwrap();
    assert_eq!(claimed.run_id, succeeding.run_id);
    spool
        .finish(&claimed.run_id, &attempt(330, "ok"), Next::Succeeded, 340)
        .await
        .unwrap();
    let read = async |since: Millis, limit: usize| -> Vec<(Millis, Millis)> {
        spool
            .attempts_since(since, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.started_at, a.finished_at))
            .collect()
    };
    // Attempts that ran a hook, newest first; the skip is only counted.
    assert_eq!(read(0, 10).await, [(330, 340), (300, 310), (200, 210)]);
    assert_eq!(read(210, 10).await, [(330, 340), (300, 310)]);
    assert_eq!(read(0, 1).await, [(330, 340)]);
    // What a hook did comes back as its summary, without its output.
    let gave_up = spool.attempts_since(300, 2).await.unwrap().remove(1);
    let summary = gave_up.summary.expect("the attempt's summary");
    assert_eq!(
        (summary.status, summary.duration_ms),
        (RunStatus::Failed, 12.5)
    );
    assert_eq!(summary.egress.len(), 1);
    assert_eq!(
        (
            summary.egress[0].destination.as_str(),
            summary.egress[0].allowed,
            summary.egress[0].bytes_out
        ),
        ("https://siem.example:443", 1, 42)
    );
    assert!(
        spool.attempts_since(200, 10).await.unwrap()[2]
            .summary
            .is_none(),
        "no outcome, no summary"
    );
    // Counted by interval (100 ms from 150 on) and by how each ended.
    let mut counts: Vec<(i64, AttemptEnd, u64)> = spool
        .attempt_counts(150, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.interval, c.end, c.count))
        .collect();
    counts.sort_by_key(|(interval, end, _)| (*interval, format!("{end:?}")));
    assert_eq!(
        counts,
        [
            (0, AttemptEnd::Failed, 1),
            (0, AttemptEnd::Skipped, 1),
            (1, AttemptEnd::Failed, 1),
            (1, AttemptEnd::Succeeded, 1),
        ]
    );
}

#[tokio::test]
async fn the_embedded_spool_keeps_the_spools_guarantees() {
    let data = tempfile::tempdir().unwrap();
    keeps_the_spools_guarantees(&SqliteSpool::open(data.path()).unwrap()).await;
    let data = tempfile::tempdir().unwrap();
    attempts_are_read_back_by_time(&SqliteSpool::open(data.path()).unwrap()).await;
}
