//! The embedded spool: one SQLite database file in the data directory, in
//! WAL mode with `synchronous = FULL`, so a commit (and so a 202) survives a
//! crash or a power cut.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Accepted, AttemptRecord, AttemptView, Claimed, Millis, NewEvent, Next, RunDetail, RunFilter,
    RunState, RunSummary, Spool, SpoolError, SpoolStats, rfc3339,
};

/// The database file's name in the data directory.
pub const FILE_NAME: &str = "spool.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    -- The delivery (see NewEvent::delivery); Hoop's event id is hoop_event_id
    -- (spools from before firings were told apart keyed by it, and have none).
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    sid TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    script_sha256 TEXT,
    hoop_event_id TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events(id),
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_note TEXT,
    replay_of TEXT
);
CREATE INDEX IF NOT EXISTS runs_due ON runs (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS runs_event ON runs (event_id);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL REFERENCES runs(id),
    number INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    note TEXT NOT NULL,
    outcome TEXT,
    PRIMARY KEY (run_id, number)
);
";

/// A spool in one SQLite file.
pub struct SqliteSpool {
    connection: Mutex<Connection>,
}

fn db(error: rusqlite::Error) -> SpoolError {
    SpoolError::Database(error.to_string())
}

impl SqliteSpool {
    /// Opens (creating if needed) the spool in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<SqliteSpool, SpoolError> {
        let path = data_dir.join(FILE_NAME);
        let fail = |reason: String| SpoolError::Open {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| fail(e.to_string()))?;
        let connection = Connection::open(&path).map_err(|e| fail(e.to_string()))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 5000;",
            )
            .map_err(|e| fail(e.to_string()))?;
        connection
            .execute_batch(SCHEMA)
            .map_err(|e| fail(e.to_string()))?;
        add_columns(&connection).map_err(|e| fail(e.to_string()))?;
        Ok(SqliteSpool {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Spools made before events kept the drop-in's script digest and Hoop's
/// event id apart from the delivery gain those columns (empty for the
/// events they hold, whose key is Hoop's event id).
fn add_columns(connection: &Connection) -> rusqlite::Result<()> {
    for column in ["script_sha256", "hoop_event_id"] {
        let has: bool = connection.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = ?1",
            params![column],
            |row| row.get(0),
        )?;
        if !has {
            connection.execute_batch(&format!("ALTER TABLE events ADD COLUMN {column} TEXT"))?;
        }
    }
    Ok(())
}

const SUMMARY_COLUMNS: &str = "r.id, COALESCE(e.hoop_event_id, e.id), e.event, e.sid, r.state, r.attempts, r.created_at, r.updated_at, r.next_attempt_at, r.last_note, r.replay_of, e.id";

fn summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunSummary> {
    let state: String = row.get(4)?;
    let state = RunState::parse(&state).unwrap_or(RunState::Pending);
    let next: Millis = row.get(8)?;
    Ok(RunSummary {
        id: row.get(0)?,
        event_id: row.get(1)?,
        event: row.get(2)?,
        sid: row.get(3)?,
        state,
        attempts: row.get(5)?,
        created_at: rfc3339(row.get(6)?),
        updated_at: rfc3339(row.get(7)?),
        next_attempt_at: (state == RunState::Pending).then(|| rfc3339(next)),
        last_note: row.get(9)?,
        replay_of: row.get(10)?,
        delivery: row.get(11)?,
    })
}

fn new_run_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Spool for SqliteSpool {
    fn accept(&self, event: &NewEvent, now: Millis) -> Result<Accepted, SpoolError> {
        let mut connection = self.lock();
        let tx = connection.transaction().map_err(db)?;
        let inserted = tx
            .execute(
                "INSERT INTO events (id, event, sid, payload, received_at, script_sha256, hoop_event_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO NOTHING",
                params![
                    event.delivery,
                    event.event,
                    event.sid,
                    event.payload,
                    now,
                    event.script_sha256,
                    event.id
                ],
            )
            .map_err(db)?;
        let accepted = if inserted == 1 {
            let run_id = new_run_id();
            tx.execute(
                "INSERT INTO runs (id, event_id, state, next_attempt_at, created_at, updated_at)
                 VALUES (?1, ?2, 'pending', ?3, ?3, ?3)",
                params![run_id, event.delivery, now],
            )
            .map_err(db)?;
            Accepted {
                run_id,
                event_id: event.id.clone(),
                duplicate: false,
            }
        } else {
            let run_id: String = tx
                .query_row(
                    "SELECT id FROM runs WHERE event_id = ?1 ORDER BY created_at LIMIT 1",
                    params![event.delivery],
                    |row| row.get(0),
                )
                .map_err(db)?;
            Accepted {
                run_id,
                event_id: event.id.clone(),
                duplicate: true,
            }
        };
        tx.commit().map_err(db)?;
        Ok(accepted)
    }

    fn claim(&self, now: Millis) -> Result<Option<Claimed>, SpoolError> {
        let connection = self.lock();
        connection
            .query_row(
                "UPDATE runs SET state = 'running', attempts = attempts + 1, updated_at = ?1
                 WHERE id = (SELECT id FROM runs WHERE state = 'pending' AND next_attempt_at <= ?1
                             ORDER BY next_attempt_at, created_at LIMIT 1)
                 RETURNING id, event_id, attempts, created_at",
                params![now],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, u32>(2)?,
                        row.get::<_, Millis>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(db)?
            .map(|(run_id, delivery, attempt, created_at)| {
                let (event_id, event, payload, script_sha256) = connection
                    .query_row(
                        "SELECT COALESCE(hoop_event_id, id), event, payload, script_sha256
                         FROM events WHERE id = ?1",
                        params![delivery],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                    )
                    .map_err(db)?;
                Ok(Claimed {
                    run_id,
                    event_id,
                    event,
                    payload,
                    script_sha256,
                    attempt,
                    created_at,
                })
            })
            .transpose()
    }

    fn finish(
        &self,
        run_id: &str,
        attempt: &AttemptRecord,
        next: Next,
        now: Millis,
    ) -> Result<(), SpoolError> {
        let outcome = attempt
            .outcome
            .as_ref()
            .map(|o| serde_json::to_string(o).unwrap_or_default());
        let (state, due) = match next {
            Next::Succeeded => (RunState::Succeeded, now),
            Next::Skipped => (RunState::Skipped, now),
            Next::RetryAt(at) => (RunState::Pending, at),
            Next::Dead => (RunState::Dead, now),
        };
        let mut connection = self.lock();
        let tx = connection.transaction().map_err(db)?;
        tx.execute(
            "INSERT INTO attempts (run_id, number, started_at, finished_at, note, outcome)
             SELECT ?1, attempts, ?2, ?3, ?4, ?5 FROM runs WHERE id = ?1",
            params![
                run_id,
                attempt.started_at,
                attempt.finished_at,
                attempt.note,
                outcome
            ],
        )
        .map_err(db)?;
        tx.execute(
            "UPDATE runs SET state = ?2, next_attempt_at = ?3, updated_at = ?4, last_note = ?5 WHERE id = ?1",
            params![run_id, state.as_str(), due, now, attempt.note],
        )
        .map_err(db)?;
        tx.commit().map_err(db)
    }

    fn release_running(&self, now: Millis) -> Result<u64, SpoolError> {
        // The attempt that was cut short does not count against the run.
        let released = self
            .lock()
            .execute(
                "UPDATE runs SET state = 'pending', attempts = MAX(attempts - 1, 0),
                 next_attempt_at = ?1, updated_at = ?1 WHERE state = 'running'",
                params![now],
            )
            .map_err(db)?;
        Ok(released as u64)
    }

    fn next_due(&self) -> Result<Option<Millis>, SpoolError> {
        self.lock()
            .query_row(
                "SELECT MIN(next_attempt_at) FROM runs WHERE state = 'pending'",
                [],
                |row| row.get(0),
            )
            .map_err(db)
    }

    fn list(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, SpoolError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM runs r JOIN events e ON e.id = r.event_id
                 WHERE (?1 IS NULL OR r.state = ?1) AND (?2 IS NULL OR e.event = ?2)
                   AND (?4 IS NULL OR e.sid = ?4) AND (?5 IS NULL OR instr(e.payload, ?5) > 0)
                   AND (?6 IS NULL OR r.created_at >= ?6)
                   AND (?7 IS NULL OR COALESCE(e.hoop_event_id, e.id) = ?7)
                 ORDER BY r.created_at DESC, r.id LIMIT ?3"
            ))
            .map_err(db)?;
        let rows = statement
            .query_map(
                params![
                    filter.state.map(RunState::as_str),
                    filter.event,
                    filter.limit as i64,
                    filter.sid,
                    filter.contains,
                    filter.since,
                    filter.event_id
                ],
                summary,
            )
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
    }

    fn show(&self, run_id: &str) -> Result<Option<RunDetail>, SpoolError> {
        let connection = self.lock();
        let found = connection
            .query_row(
                &format!(
                    "SELECT {SUMMARY_COLUMNS}, e.payload, e.script_sha256 FROM runs r JOIN events e ON e.id = r.event_id WHERE r.id = ?1"
                ),
                params![run_id],
                |row| Ok((summary(row)?, row.get::<_, String>(12)?, row.get(13)?)),
            )
            .optional()
            .map_err(db)?;
        let Some((run, payload, script_sha256)) = found else {
            return Ok(None);
        };
        let mut statement = connection
            .prepare(
                "SELECT number, started_at, finished_at, note, outcome FROM attempts
                 WHERE run_id = ?1 ORDER BY number",
            )
            .map_err(db)?;
        let attempt_log = statement
            .query_map(params![run_id], |row| {
                let outcome: Option<String> = row.get(4)?;
                Ok(AttemptView {
                    number: row.get(0)?,
                    started_at: rfc3339(row.get(1)?),
                    finished_at: rfc3339(row.get(2)?),
                    note: row.get(3)?,
                    outcome: outcome.and_then(|text| serde_json::from_str(&text).ok()),
                })
            })
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?;
        Ok(Some(RunDetail {
            run,
            payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
            script_sha256,
            attempt_log,
        }))
    }

    fn replay(&self, run_id: &str, now: Millis) -> Result<Option<String>, SpoolError> {
        let connection = self.lock();
        let event_id: Option<String> = connection
            .query_row(
                "SELECT event_id FROM runs WHERE id = ?1",
                params![run_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(db)?;
        let Some(event_id) = event_id else {
            return Ok(None);
        };
        let new_id = new_run_id();
        connection
            .execute(
                "INSERT INTO runs (id, event_id, state, next_attempt_at, created_at, updated_at, replay_of)
                 VALUES (?1, ?2, 'pending', ?3, ?3, ?3, ?4)",
                params![new_id, event_id, now, run_id],
            )
            .map_err(db)?;
        Ok(Some(new_id))
    }

    fn stats(&self, now: Millis) -> Result<SpoolStats, SpoolError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare("SELECT state, COUNT(*) FROM runs GROUP BY state ORDER BY state")
            .map_err(db)?;
        let by_state: Vec<(String, u64)> = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?;
        let (depth, oldest): (u64, Option<Millis>) = connection
            .query_row(
                "SELECT COUNT(*), MIN(created_at) FROM runs WHERE state IN ('pending', 'running')",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(db)?;
        Ok(SpoolStats {
            depth,
            oldest_pending_age_seconds: oldest.map(|at| (now - at).max(0) as f64 / 1000.0),
            by_state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> NewEvent {
        NewEvent {
            delivery: id.into(),
            id: id.into(),
            event: "session-open".into(),
            sid: "s".into(),
            payload: "{}".into(),
            script_sha256: None,
        }
    }

    #[test]
    fn a_spool_from_before_firings_and_digests_opens_and_keeps_its_runs() {
        let dir = tempfile::tempdir().unwrap();
        let old = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        let before = SCHEMA.replace(",\n    script_sha256 TEXT,\n    hoop_event_id TEXT", "");
        assert_ne!(before, SCHEMA);
        old.execute_batch(&before).unwrap();
        old.execute_batch(
            "INSERT INTO events (id, event, sid, payload, received_at)
               VALUES ('e1', 'session-open', 's', '{}', 1);
             INSERT INTO runs (id, event_id, state, next_attempt_at, created_at, updated_at)
               VALUES ('r1', 'e1', 'pending', 1, 1, 1);",
        )
        .unwrap();
        drop(old);
        let spool = SqliteSpool::open(dir.path()).unwrap();
        let claimed = spool.claim(2).unwrap().unwrap();
        assert_eq!(
            (claimed.run_id.as_str(), claimed.event_id.as_str()),
            ("r1", "e1")
        );
        assert_eq!(claimed.script_sha256, None);
        let shown = spool.show("r1").unwrap().unwrap().run;
        assert_eq!(
            (shown.event_id.as_str(), shown.delivery.as_str()),
            ("e1", "e1")
        );

        let digest = "ab".repeat(32);
        let first = NewEvent {
            script_sha256: Some(digest.clone()),
            delivery: "webhook-id:first".into(),
            ..event("e2")
        };
        let run = spool.accept(&first, 3).unwrap().run_id;
        let detail = spool.show(&run).unwrap().unwrap();
        assert_eq!(detail.script_sha256, Some(digest));
        assert_eq!(detail.run.event_id, "e2");
        // The same delivery again is one run; another firing is another.
        assert!(spool.accept(&first, 4).unwrap().duplicate);
        let second = NewEvent {
            delivery: "webhook-id:second".into(),
            ..first
        };
        let again = spool.accept(&second, 5).unwrap();
        assert!(!again.duplicate);
        assert_ne!(again.run_id, run);
        assert_eq!(again.event_id, "e2");
        // Both firings, and only they, are listed together by the event id.
        let firings = spool
            .list(&RunFilter {
                event_id: Some("e2".into()),
                limit: 10,
                ..RunFilter::default()
            })
            .unwrap();
        let mut deliveries: Vec<&str> = firings.iter().map(|r| r.delivery.as_str()).collect();
        deliveries.sort_unstable();
        assert_eq!(deliveries, ["webhook-id:first", "webhook-id:second"]);
    }

    fn record(note: &str) -> AttemptRecord {
        AttemptRecord {
            started_at: 1,
            finished_at: 2,
            outcome: None,
            note: note.into(),
        }
    }

    #[test]
    fn a_duplicate_event_makes_no_second_run() {
        let dir = tempfile::tempdir().unwrap();
        let spool = SqliteSpool::open(dir.path()).unwrap();
        let first = spool.accept(&event("e1"), 10).unwrap();
        let again = spool.accept(&event("e1"), 11).unwrap();
        assert!(!first.duplicate);
        assert!(again.duplicate);
        assert_eq!(first.run_id, again.run_id);
        assert_eq!(spool.stats(12).unwrap().depth, 1);
    }

    #[test]
    fn runs_are_claimed_when_due_retried_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let run_id = {
            let spool = SqliteSpool::open(dir.path()).unwrap();
            let run_id = spool.accept(&event("e1"), 10).unwrap().run_id;
            let claimed = spool.claim(10).unwrap().unwrap();
            assert_eq!(
                (claimed.run_id.as_str(), claimed.attempt),
                (run_id.as_str(), 1)
            );
            assert!(spool.claim(10).unwrap().is_none(), "claimed once");
            spool
                .finish(&run_id, &record("failed"), Next::RetryAt(100), 20)
                .unwrap();
            assert!(spool.claim(99).unwrap().is_none(), "not due yet");
            assert_eq!(spool.next_due().unwrap(), Some(100));
            let second = spool.claim(100).unwrap().unwrap();
            assert_eq!(second.attempt, 2);
            run_id
            // Dropped while running, as a crash would leave it.
        };
        let spool = SqliteSpool::open(dir.path()).unwrap();
        assert_eq!(spool.release_running(200).unwrap(), 1);
        let again = spool.claim(200).unwrap().unwrap();
        assert_eq!((again.run_id.as_str(), again.attempt), (run_id.as_str(), 2));
        spool
            .finish(&run_id, &record("ok"), Next::Succeeded, 210)
            .unwrap();
        let detail = spool.show(&run_id).unwrap().unwrap();
        assert_eq!(detail.run.state, RunState::Succeeded);
        let notes: Vec<&str> = detail.attempt_log.iter().map(|a| a.note.as_str()).collect();
        assert_eq!(notes, ["failed", "ok"]);
    }

    #[test]
    fn a_replay_is_a_new_pending_run_of_the_same_event() {
        let dir = tempfile::tempdir().unwrap();
        let spool = SqliteSpool::open(dir.path()).unwrap();
        let run_id = spool.accept(&event("e1"), 10).unwrap().run_id;
        spool.claim(10).unwrap();
        spool
            .finish(&run_id, &record("dead"), Next::Dead, 20)
            .unwrap();
        let replay = spool.replay(&run_id, 30).unwrap().unwrap();
        assert_ne!(replay, run_id);
        let listed = spool
            .list(&RunFilter {
                state: Some(RunState::Pending),
                limit: 10,
                ..RunFilter::default()
            })
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].replay_of.as_deref(), Some(run_id.as_str()));
        assert!(spool.replay("nope", 30).unwrap().is_none());
    }
}
