//! The embedded spool: one SQLite database file in the data directory, in
//! WAL mode with `synchronous = FULL`, so a commit (and so a 202) survives a
//! crash or a power cut.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    ATTEMPT_COUNTS_SQL, ATTEMPTS_SINCE_SQL, Accepted, AttemptCount, AttemptEnd, AttemptRecord,
    AttemptSample, AttemptView, Claimed, DatabaseFailure, Millis, NewEvent, Next, PRUNE_BATCH,
    Retention, RunDetail, RunFilter, RunState, RunSummary, Spool, SpoolError, SpoolStats,
    duration_millis, new_run_id, rfc3339, stored_summary,
};

/// How long a connection waits for another's lock before it fails.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The database file's name in the data directory.
pub const FILE_NAME: &str = "spool.sqlite3";

/// The schema this hookbox writes, kept in the database's `user_version`.
pub const SCHEMA_VERSION: u32 = 4;

/// The steps from each schema version to the next: `MIGRATIONS[n]` takes a
/// spool at version `n` to `n + 1`. Only ever appended to.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    // 1: events, runs and attempts.
    "
    CREATE TABLE events (
        -- The delivery (see NewEvent::delivery); Hoop's event id is
        -- hoop_event_id (from 2; events stored before are keyed by it).
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        sid TEXT NOT NULL,
        payload TEXT NOT NULL,
        received_at INTEGER NOT NULL
    );
    CREATE TABLE runs (
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
    CREATE INDEX runs_due ON runs (state, next_attempt_at);
    CREATE INDEX runs_event ON runs (event_id);
    CREATE TABLE attempts (
        run_id TEXT NOT NULL REFERENCES runs(id),
        number INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL,
        note TEXT NOT NULL,
        outcome TEXT,
        PRIMARY KEY (run_id, number)
    );
    ",
    // 2: firings told apart (the delivery is the key), the drop-in's digest.
    "
    ALTER TABLE events ADD COLUMN script_sha256 TEXT;
    ALTER TABLE events ADD COLUMN hoop_event_id TEXT;
    ",
    // 3: runs counted by state as they change (the depth intake checks on
    // every event is one row, not a scan), and indexes for retention.
    "
    CREATE TABLE run_counts (state TEXT PRIMARY KEY, count INTEGER NOT NULL);
    INSERT INTO run_counts (state, count) SELECT state, COUNT(*) FROM runs GROUP BY state;
    CREATE TRIGGER runs_counted_in AFTER INSERT ON runs BEGIN
        INSERT INTO run_counts (state, count) VALUES (NEW.state, 1)
            ON CONFLICT (state) DO UPDATE SET count = count + 1;
    END;
    CREATE TRIGGER runs_counted_out AFTER DELETE ON runs BEGIN
        UPDATE run_counts SET count = count - 1 WHERE state = OLD.state;
    END;
    CREATE TRIGGER runs_counted_moved AFTER UPDATE OF state ON runs
        WHEN OLD.state <> NEW.state BEGIN
        UPDATE run_counts SET count = count - 1 WHERE state = OLD.state;
        INSERT INTO run_counts (state, count) VALUES (NEW.state, 1)
            ON CONFLICT (state) DO UPDATE SET count = count + 1;
    END;
    CREATE INDEX runs_waiting ON runs (state, created_at);
    CREATE INDEX runs_finished ON runs (state, updated_at);
    CREATE INDEX runs_replays ON runs (replay_of);
    ",
    // 4: attempts by time, with a summary, for the dashboard's activity page.
    "
    ALTER TABLE attempts ADD COLUMN summary TEXT;
    CREATE INDEX attempts_started ON attempts (started_at);
    ",
];

/// A spool in one SQLite file. Its calls wait for the disk, so each runs on
/// one of tokio's blocking threads.
#[derive(Clone)]
pub struct SqliteSpool(Arc<Database>);

/// The SQLite file, through two connections: one that writes (intake,
/// workers, retention), and one that only reads (listing, a run, counts,
/// the dashboard's pictures). In WAL mode a reader never blocks the writer,
/// so a slow text search over stored payloads never holds up intake.
struct Database {
    connection: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn db(error: rusqlite::Error) -> SpoolError {
    SpoolError::database(failure_of(&error), error.to_string())
}

/// What kind of failure a SQLite error is.
fn failure_of(error: &rusqlite::Error) -> DatabaseFailure {
    use rusqlite::ErrorCode;
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DatabaseFailure::Busy,
            ErrorCode::ConstraintViolation => DatabaseFailure::Constraint,
            ErrorCode::CannotOpen => DatabaseFailure::Connection,
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => DatabaseFailure::Unreadable,
            _ => DatabaseFailure::Other,
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => DatabaseFailure::Unreadable,
        _ => DatabaseFailure::Other,
    }
}

impl Database {
    /// Opens (creating if needed) the spool in `data_dir`.
    fn open(data_dir: &Path) -> Result<Database, SpoolError> {
        let path = data_dir.join(FILE_NAME);
        let fail = |reason: String| SpoolError::Open {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| fail(e.to_string()))?;
        let connection = Connection::open(&path).map_err(|e| fail(e.to_string()))?;
        // Waiting for another connection's lock comes first: switching to
        // WAL takes one, and a service opening the spool while another
        // migrates it must wait, not fail with "database is locked".
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| fail(e.to_string()))?;
        use_wal(&connection).map_err(|e| fail(e.to_string()))?;
        connection
            .execute_batch(
                "PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(|e| fail(e.to_string()))?;
        migrate(&connection, &path)?;
        let reader = Connection::open(&path).map_err(|e| fail(e.to_string()))?;
        reader
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| fail(e.to_string()))?;
        reader
            .execute_batch("PRAGMA query_only = ON;")
            .map_err(|e| fail(e.to_string()))?;
        Ok(Database {
            connection: Mutex::new(connection),
            reader: Mutex::new(reader),
        })
    }

    /// The connection that writes.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection that only reads.
    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Switches the spool to write-ahead logging (a no-op once it is). Two
/// connections switching a new spool at once both read it, then both need
/// its exclusive lock: SQLite answers one of them "database is locked" at
/// once, without waiting in the busy handler, so that one tries again until
/// [`BUSY_TIMEOUT`].
fn use_wal(connection: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match connection.execute_batch("PRAGMA journal_mode = WAL;") {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            done => return done,
        }
    }
}

/// Brings the spool to [`SCHEMA_VERSION`], one step at a time, under the
/// database's write lock, so two services opening one spool at once migrate
/// it once. A spool from a newer hookbox is refused, untouched.
fn migrate(connection: &Connection, path: &Path) -> Result<(), SpoolError> {
    let fail = |error: rusqlite::Error| SpoolError::Open {
        path: path.to_path_buf(),
        reason: format!("cannot bring its schema up to date: {error}"),
    };
    connection.execute_batch("BEGIN IMMEDIATE").map_err(fail)?;
    let migrated = (|| {
        let found = stored_version(connection).map_err(fail)?;
        if found > SCHEMA_VERSION {
            return Err(SpoolError::SchemaTooNew {
                path: path.to_path_buf(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        if found == 0 {
            tracing::info!(path = %path.display(), version = SCHEMA_VERSION, "creating the spool's schema");
        }
        for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            if found > 0 {
                tracing::info!(path = %path.display(), to = step + 1, "upgrading the spool's schema");
            }
            connection.execute_batch(sql).map_err(fail)?;
        }
        connection
            .execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(fail)
    })();
    match migrated {
        Ok(()) => connection.execute_batch("COMMIT").map_err(fail),
        Err(error) => {
            let _ = connection.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}

/// The schema version of the spool: `user_version`, or for spools made before
/// it was kept, what their tables show (none: a new file).
fn stored_version(connection: &Connection) -> rusqlite::Result<u32> {
    let version: u32 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > 0 {
        return Ok(version);
    }
    let has_column = |column: &str| -> rusqlite::Result<bool> {
        connection.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = ?1",
            params![column],
            |row| row.get(0),
        )
    };
    Ok(if !has_column("id")? {
        0
    } else if has_column("hoop_event_id")? {
        2
    } else {
        1
    })
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

impl SqliteSpool {
    /// Opens (creating if needed) the spool in `data_dir`, bringing its
    /// schema up to date. It waits for the disk: call it where blocking is
    /// allowed (at start-up, or on a blocking thread).
    pub fn open(data_dir: &Path) -> Result<SqliteSpool, SpoolError> {
        Database::open(data_dir).map(|database| SqliteSpool(Arc::new(database)))
    }

    /// Runs `call` on the database on one of tokio's blocking threads.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Database) -> Result<T, SpoolError> + Send + 'static,
    ) -> Result<T, SpoolError> {
        let database = self.0.clone();
        tokio::task::spawn_blocking(move || call(&database))
            .await
            .map_err(|error| {
                SpoolError::database(
                    DatabaseFailure::Other,
                    format!("the spool's call stopped: {error}"),
                )
            })?
    }
}

#[async_trait::async_trait]
impl Spool for SqliteSpool {
    async fn accept(&self, event: &NewEvent, now: Millis) -> Result<Accepted, SpoolError> {
        let event = event.clone();
        self.blocking(move |database| database.accept(&event, now))
            .await
    }

    async fn claim(&self, now: Millis) -> Result<Option<Claimed>, SpoolError> {
        self.blocking(move |database| database.claim(now)).await
    }

    async fn finish(
        &self,
        run_id: &str,
        attempt: &AttemptRecord,
        next: Next,
        now: Millis,
    ) -> Result<(), SpoolError> {
        let (run_id, attempt) = (run_id.to_owned(), attempt.clone());
        self.blocking(move |database| database.finish(&run_id, &attempt, next, now))
            .await
    }

    async fn release_running(&self, now: Millis) -> Result<u64, SpoolError> {
        self.blocking(move |database| database.release_running(now))
            .await
    }

    async fn next_due(&self) -> Result<Option<Millis>, SpoolError> {
        self.blocking(|database| database.next_due()).await
    }

    async fn list(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, SpoolError> {
        let filter = filter.clone();
        self.blocking(move |database| database.list(&filter)).await
    }

    async fn show(&self, run_id: &str) -> Result<Option<RunDetail>, SpoolError> {
        let run_id = run_id.to_owned();
        self.blocking(move |database| database.show(&run_id)).await
    }

    async fn replay(&self, run_id: &str, now: Millis) -> Result<Option<String>, SpoolError> {
        let run_id = run_id.to_owned();
        self.blocking(move |database| database.replay(&run_id, now))
            .await
    }

    async fn stats(&self, now: Millis) -> Result<SpoolStats, SpoolError> {
        self.blocking(move |database| database.stats(now)).await
    }

    async fn attempt_counts(
        &self,
        since: Millis,
        interval: Millis,
    ) -> Result<Vec<AttemptCount>, SpoolError> {
        self.blocking(move |database| database.attempt_counts(since, interval))
            .await
    }

    async fn attempts_since(
        &self,
        since: Millis,
        limit: usize,
    ) -> Result<Vec<AttemptSample>, SpoolError> {
        self.blocking(move |database| database.attempts_since(since, limit))
            .await
    }

    async fn depth(&self) -> Result<u64, SpoolError> {
        self.blocking(|database| database.depth()).await
    }

    async fn prune(&self, now: Millis, retention: &Retention) -> Result<u64, SpoolError> {
        let retention = *retention;
        self.blocking(move |database| database.prune(now, &retention))
            .await
    }
}

/// The spool's calls, each waiting for the disk on the calling thread.
impl Database {
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
        let outcome = attempt.outcome_json();
        let summary = attempt.summary_json();
        let (state, due) = next.state_and_due(now);
        let mut connection = self.lock();
        let tx = connection.transaction().map_err(db)?;
        tx.execute(
            "INSERT INTO attempts (run_id, number, started_at, finished_at, note, outcome, summary)
             SELECT ?1, attempts, ?2, ?3, ?4, ?5, ?6 FROM runs WHERE id = ?1",
            params![
                run_id,
                attempt.started_at,
                attempt.finished_at,
                attempt.note,
                outcome,
                summary
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
        let connection = self.read();
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
        let reader = self.read();
        // The run and its attempts from one snapshot: a finish or a prune
        // between the two reads would show a running run with its finished
        // attempt, or a run without its log.
        let connection = reader.unchecked_transaction().map_err(db)?;
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
        drop(statement);
        connection.commit().map_err(db)?;
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

    fn attempts_since(
        &self,
        since: Millis,
        limit: usize,
    ) -> Result<Vec<AttemptSample>, SpoolError> {
        let connection = self.read();
        let mut statement = connection.prepare(ATTEMPTS_SINCE_SQL).map_err(db)?;
        let rows = statement
            .query_map(params![since, limit as i64], |row| {
                Ok(AttemptSample {
                    started_at: row.get(0)?,
                    finished_at: row.get(1)?,
                    summary: stored_summary(row.get(2)?),
                })
            })
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
    }

    fn attempt_counts(
        &self,
        since: Millis,
        interval: Millis,
    ) -> Result<Vec<AttemptCount>, SpoolError> {
        let connection = self.read();
        let mut statement = connection.prepare(ATTEMPT_COUNTS_SQL).map_err(db)?;
        let rows = statement
            .query_map(params![since, interval.max(1)], |row| {
                let state: String = row.get(1)?;
                Ok(AttemptCount {
                    interval: row.get(0)?,
                    end: AttemptEnd::of(&state, row.get(2)?),
                    count: row.get(3)?,
                })
            })
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
    }

    // Health and metrics read counts on the writer's connection, so a long
    // dashboard read never holds them up.
    fn stats(&self, now: Millis) -> Result<SpoolStats, SpoolError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare("SELECT state, count FROM run_counts WHERE count > 0 ORDER BY state")
            .map_err(db)?;
        let by_state: Vec<(String, u64)> = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?;
        let depth = by_state
            .iter()
            .filter(|(state, _)| state == "pending" || state == "running")
            .map(|(_, count)| count)
            .sum();
        // Each MIN is one look into the (state, created_at) index.
        let oldest: Option<Millis> = connection
            .query_row(
                "SELECT MIN(oldest) FROM (
                    SELECT MIN(created_at) AS oldest FROM runs WHERE state = 'pending'
                    UNION ALL
                    SELECT MIN(created_at) FROM runs WHERE state = 'running')",
                [],
                |row| row.get(0),
            )
            .map_err(db)?;
        Ok(SpoolStats {
            depth,
            oldest_pending_age_seconds: oldest.map(|at| (now - at).max(0) as f64 / 1000.0),
            by_state,
        })
    }

    fn depth(&self) -> Result<u64, SpoolError> {
        self.lock()
            .query_row(
                "SELECT COALESCE(SUM(count), 0) FROM run_counts WHERE state IN ('pending', 'running')",
                [],
                |row| row.get(0),
            )
            .map_err(db)
    }

    fn prune(&self, now: Millis, retention: &Retention) -> Result<u64, SpoolError> {
        let finished_before = now.saturating_sub(duration_millis(retention.finished));
        let dead_before = now.saturating_sub(duration_millis(retention.dead));
        let mut pruned = 0;
        loop {
            // In batches, so intake and workers wait for one short
            // transaction at a time, never for the whole sweep.
            let removed = self.prune_batch(finished_before, dead_before)?;
            pruned += removed;
            if removed < PRUNE_BATCH {
                return Ok(pruned);
            }
        }
    }
}

impl Database {
    /// Removes up to [`PRUNE_BATCH`] runs past their retention, with their
    /// attempts and the events no run refers to any more.
    fn prune_batch(&self, finished_before: Millis, dead_before: Millis) -> Result<u64, SpoolError> {
        let mut connection = self.lock();
        let transaction = connection.transaction().map_err(db)?;
        let expired: Vec<(String, String)> = {
            let mut statement = transaction
                .prepare(
                    "SELECT id, event_id FROM runs
                      WHERE (state IN ('succeeded', 'skipped') AND updated_at < ?1)
                         OR (state = 'dead' AND (updated_at < ?2 OR (updated_at < ?1
                             AND EXISTS (SELECT 1 FROM runs replay WHERE replay.replay_of = runs.id))))
                      LIMIT ?3",
                )
                .map_err(db)?;
            statement
                .query_map(
                    params![finished_before, dead_before, PRUNE_BATCH as i64],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?
        };
        for (run_id, event_id) in &expired {
            transaction
                .execute("DELETE FROM attempts WHERE run_id = ?1", params![run_id])
                .map_err(db)?;
            transaction
                .execute("DELETE FROM runs WHERE id = ?1", params![run_id])
                .map_err(db)?;
            transaction
                .execute(
                    "DELETE FROM events WHERE id = ?1
                       AND NOT EXISTS (SELECT 1 FROM runs WHERE event_id = ?1)",
                    params![event_id],
                )
                .map_err(db)?;
        }
        transaction.commit().map_err(db)?;
        Ok(expired.len() as u64)
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
    fn intake_and_workers_go_on_while_a_long_read_holds_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let spool = std::sync::Arc::new(Database::open(dir.path()).unwrap());
        spool.accept(&event("before"), 1).unwrap();
        // What a slow dashboard search does: the reader busy, inside a read
        // transaction that sees the spool as it was.
        let reading = spool.read();
        reading.execute_batch("BEGIN").unwrap();
        let seen: i64 = reading
            .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
            .unwrap();
        assert_eq!(seen, 1);
        let (done, finished) = std::sync::mpsc::channel();
        let writer = spool.clone();
        std::thread::spawn(move || {
            let accepted = writer.accept(&event("during"), 2).map(|a| a.run_id);
            let claimed = writer.claim(3).map(|c| c.is_some());
            let _ = done.send((accepted, claimed, writer.depth()));
        });
        let (accepted, claimed, depth) = finished
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("intake waited for the reader");
        assert!(accepted.is_ok() && claimed.unwrap());
        assert_eq!(depth.unwrap(), 2);
        reading.execute_batch("COMMIT").unwrap();
        drop(reading);
        assert_eq!(
            spool
                .list(&RunFilter {
                    limit: 10,
                    ..RunFilter::default()
                })
                .unwrap()
                .len(),
            2
        );
        // The reader cannot write, whatever it is asked.
        assert!(spool.read().execute_batch("DELETE FROM runs").is_err());
        // And reads need nothing of the writer.
        let writing = spool.lock();
        let (done, finished) = std::sync::mpsc::channel();
        let reader = spool.clone();
        std::thread::spawn(move || {
            let listed = reader.list(&RunFilter {
                contains: Some("x".into()),
                limit: 10,
                ..RunFilter::default()
            });
            let _ = done.send((
                listed.is_ok(),
                reader.attempt_counts(0, 1000).is_ok(),
                reader.attempts_since(0, 10).is_ok(),
            ));
        });
        let read = finished
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a read waited for the writer");
        assert_eq!(read, (true, true, true));
        drop(writing);
    }

    #[test]
    fn a_spool_from_before_firings_and_digests_opens_and_keeps_its_runs() {
        let dir = tempfile::tempdir().unwrap();
        let old = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        // The first schema, from before `user_version` was kept.
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.execute_batch(
            "INSERT INTO events (id, event, sid, payload, received_at)
               VALUES ('e1', 'session-open', 's', '{}', 1);
             INSERT INTO runs (id, event_id, state, next_attempt_at, created_at, updated_at)
               VALUES ('r1', 'e1', 'pending', 1, 1, 1);",
        )
        .unwrap();
        drop(old);
        let spool = Database::open(dir.path()).unwrap();
        assert_eq!(spool.schema_version(), SCHEMA_VERSION);
        assert_eq!(spool.depth().unwrap(), 1, "its run is counted");
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
        let spool = Database::open(dir.path()).unwrap();
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
            let spool = Database::open(dir.path()).unwrap();
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
        let spool = Database::open(dir.path()).unwrap();
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
        let spool = Database::open(dir.path()).unwrap();
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

    impl Database {
        fn schema_version(&self) -> u32 {
            self.lock()
                .query_row("PRAGMA user_version", [], |row| row.get(0))
                .unwrap()
        }
    }

    #[test]
    fn services_opening_a_new_spool_at_once_all_open_it() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let opened: Vec<Result<Database, SpoolError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..4)
                    .map(|_| scope.spawn(|| Database::open(dir.path())))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for spool in opened {
                assert_eq!(spool.unwrap().schema_version(), SCHEMA_VERSION);
            }
        }
    }

    #[test]
    fn a_spool_of_the_last_release_without_a_version_is_upgraded_once() {
        let dir = tempfile::tempdir().unwrap();
        let old = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.execute_batch(MIGRATIONS[1]).unwrap();
        old.execute_batch(
            "INSERT INTO events (id, event, sid, payload, received_at, hoop_event_id)
               VALUES ('d1', 'session-open', 's', '{}', 1, 'e1');
             INSERT INTO runs (id, event_id, state, next_attempt_at, created_at, updated_at)
               VALUES ('r1', 'd1', 'dead', 1, 1, 1), ('r2', 'd1', 'pending', 1, 2, 2);",
        )
        .unwrap();
        drop(old);
        // Two services opening it at once: one migrates, the other waits and
        // finds it done.
        let opened: Vec<Database> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| scope.spawn(|| Database::open(dir.path()).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for spool in &opened {
            assert_eq!(spool.schema_version(), SCHEMA_VERSION);
        }
        let stats = opened[0].stats(3).unwrap();
        assert_eq!(stats.depth, 1);
        assert_eq!(
            stats.by_state,
            [("dead".to_owned(), 1), ("pending".to_owned(), 1)]
        );
    }

    #[test]
    fn a_spool_from_a_newer_hookbox_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        drop(Database::open(dir.path()).unwrap());
        let newer = SCHEMA_VERSION + 1;
        let file = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        file.execute_batch(&format!("PRAGMA user_version = {newer}"))
            .unwrap();
        drop(file);
        match Database::open(dir.path()) {
            Err(SpoolError::SchemaTooNew { found, known, .. }) => {
                assert_eq!((found, known), (newer, SCHEMA_VERSION));
            }
            other => panic!("expected SchemaTooNew, got {:?}", other.map(|_| ())),
        }
        let file = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        let kept: u32 = file
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(kept, newer);
    }

    #[test]
    fn runs_past_their_retention_go_and_waiting_runs_stay() {
        const DAY: Millis = 24 * 3600 * 1000;
        let dir = tempfile::tempdir().unwrap();
        let spool = Database::open(dir.path()).unwrap();
        let retention = Retention::default();
        // Each event's one run ends as named, at day `ended`.
        let finish = |id: &str, next: Next, ended: Millis| {
            let run = spool.accept(&event(id), ended).unwrap().run_id;
            let claimed = spool.claim(ended).unwrap().unwrap();
            assert_eq!(claimed.run_id, run);
            spool.finish(&run, &record(id), next, ended).unwrap();
            run
        };
        let old_ok = finish("old-ok", Next::Succeeded, DAY);
        let old_skip = finish("old-skip", Next::Skipped, DAY);
        let new_ok = finish("new-ok", Next::Succeeded, 9 * DAY);
        let old_dead = finish("old-dead", Next::Dead, DAY);
        let dead_replayed = finish("dead-replayed", Next::Dead, 2 * DAY);
        let replay = spool.replay(&dead_replayed, 2 * DAY).unwrap().unwrap();
        let ancient_dead = finish("ancient-dead", Next::Dead, -40 * DAY);
        let waiting = spool.accept(&event("waiting"), -50 * DAY).unwrap().run_id;

        let now = 10 * DAY;
        assert_eq!(spool.prune(now, &retention).unwrap(), 4);
        let left: Vec<String> = spool
            .list(&RunFilter {
                limit: 100,
                ..RunFilter::default()
            })
            .unwrap()
            .into_iter()
            .map(|run| run.id)
            .collect();
        for gone in [&old_ok, &old_skip, &dead_replayed, &ancient_dead] {
            assert!(!left.contains(gone), "{gone} is past its retention");
            assert!(spool.show(gone).unwrap().is_none());
        }
        for kept in [&new_ok, &old_dead, &replay, &waiting] {
            assert!(left.contains(kept), "{kept} is kept");
        }
        // The replay's event is the replayed run's, so it stays; the others'
        // events went with their runs, so a new delivery of one is new.
        assert!(
            spool
                .accept(&event("old-ok"), now)
                .map(|a| !a.duplicate)
                .unwrap()
        );
        assert!(
            spool
                .accept(&event("dead-replayed"), now)
                .unwrap()
                .duplicate
        );
        // The counts followed every change.
        let connection = spool.lock();
        let scanned: u64 = connection
            .query_row(
                "SELECT COUNT(*) FROM runs WHERE state IN ('pending', 'running')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        drop(connection);
        assert_eq!(spool.depth().unwrap(), scanned);
        assert_eq!(
            scanned, 3,
            "the waiting run, the replay and the new delivery"
        );
        assert_eq!(
            spool.prune(now, &retention).unwrap(),
            0,
            "nothing more to do"
        );
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;

    fn sqlite_error(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn sqlite_errors_say_what_kind_of_failure_they_are() {
        for (code, failure) in [
            (rusqlite::ffi::SQLITE_BUSY, DatabaseFailure::Busy),
            (rusqlite::ffi::SQLITE_LOCKED, DatabaseFailure::Busy),
            (
                rusqlite::ffi::SQLITE_CONSTRAINT,
                DatabaseFailure::Constraint,
            ),
            (rusqlite::ffi::SQLITE_CANTOPEN, DatabaseFailure::Connection),
            (rusqlite::ffi::SQLITE_CORRUPT, DatabaseFailure::Unreadable),
            (rusqlite::ffi::SQLITE_IOERR, DatabaseFailure::Other),
        ] {
            match db(sqlite_error(code)) {
                SpoolError::Database { failure: found, .. } => assert_eq!(found, failure, "{code}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_second_writer_past_the_wait_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Database::open(dir.path()).unwrap();
        let other = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let writer = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        writer.busy_timeout(std::time::Duration::ZERO).unwrap();
        let refused = writer.execute_batch("BEGIN IMMEDIATE").map_err(db);
        assert!(
            matches!(
                refused,
                Err(SpoolError::Database {
                    failure: DatabaseFailure::Busy,
                    ..
                })
            ),
            "{refused:?}"
        );
        drop(spool);
    }
}
