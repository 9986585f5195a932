//! The shared spool: one PostgreSQL database that any number of `hookbox
//! serve` instances use at once.
//!
//! Runs are claimed with `SELECT … FOR UPDATE SKIP LOCKED` and a lease (the
//! instance's id and an expiry) that the instance renews while the hook runs;
//! a run whose instance died is taken by another once its lease expires, and
//! an attempt is recorded only by the instance that still holds the lease.
//! Intake's commit `NOTIFY`s every instance, which `LISTEN`s, so idle workers
//! wake at once instead of polling. Deliveries are unique by key, so one
//! posted to two instances at once is stored once.
//!
//! The client is async (`tokio-postgres` with a `deadpool` pool), as the
//! [`Spool`] trait is: it runs on the caller's tokio runtime.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{
    ATTEMPT_COUNTS_SQL, ATTEMPTS_SINCE_SQL, Accepted, AttemptCount, AttemptEnd, AttemptRecord,
    AttemptSample, AttemptView, Claimed, DatabaseFailure, Millis, NewEvent, Next, PRUNE_BATCH,
    Retention, RunDetail, RunFilter, RunState, RunSummary, Spool, SpoolError, SpoolStats,
    duration_millis, new_run_id, rfc3339, stored_summary,
};

/// The schema this hookbox writes, kept in `hookbox_schema`.
pub const SCHEMA_VERSION: i32 = 2;

/// The advisory lock that lets one instance at a time migrate.
/// ("hookbox" in ASCII.)
const MIGRATION_LOCK: i64 = 0x0068_6f6f_6b62_6f78;

/// The channel intake's commits notify.
const CHANNEL: &str = "hookbox_runs";

/// `MIGRATIONS[n]` takes the database from version `n` to `n + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    // 1: events, runs (with leases), attempts, and runs counted by state in
    // 16 shards per state, so intake on many instances updates different
    // rows instead of queueing on one.
    "
    CREATE TABLE events (
        id text PRIMARY KEY,
        hoop_event_id text NOT NULL,
        event text NOT NULL,
        sid text NOT NULL,
        payload text NOT NULL,
        script_sha256 text,
        received_at bigint NOT NULL
    );
    CREATE TABLE runs (
        id text PRIMARY KEY,
        event_id text NOT NULL REFERENCES events(id),
        state text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at bigint NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        last_note text,
        replay_of text,
        lease_owner text,
        lease_until bigint
    );
    CREATE INDEX runs_due ON runs (next_attempt_at) WHERE state = 'pending';
    CREATE INDEX runs_leased ON runs (lease_until) WHERE state = 'running';
    CREATE INDEX runs_event ON runs (event_id);
    CREATE INDEX runs_created ON runs (created_at);
    CREATE INDEX runs_finished ON runs (state, updated_at);
    CREATE INDEX runs_replays ON runs (replay_of);
    CREATE TABLE attempts (
        run_id text NOT NULL REFERENCES runs(id),
        number integer NOT NULL,
        started_at bigint NOT NULL,
        finished_at bigint NOT NULL,
        note text NOT NULL,
        outcome text,
        instance text,
        PRIMARY KEY (run_id, number)
    );
    CREATE TABLE run_counts (
        state text NOT NULL,
        shard integer NOT NULL,
        count bigint NOT NULL,
        PRIMARY KEY (state, shard)
    );
    CREATE FUNCTION hookbox_count_runs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE run_counts SET count = count - 1
             WHERE state = OLD.state AND shard = abs(hashtext(OLD.id)) % 16;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO run_counts (state, shard, count)
                 VALUES (NEW.state, abs(hashtext(NEW.id)) % 16, 1)
            ON CONFLICT (state, shard) DO UPDATE SET count = run_counts.count + 1;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER runs_counted AFTER INSERT OR DELETE ON runs
        FOR EACH ROW EXECUTE FUNCTION hookbox_count_runs();
    CREATE TRIGGER runs_counted_moved AFTER UPDATE OF state ON runs
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
        EXECUTE FUNCTION hookbox_count_runs();
    ",
    // 2: attempts by time, with a summary, for the dashboard's activity page.
    "
    ALTER TABLE attempts ADD COLUMN summary TEXT;
    CREATE INDEX attempts_started ON attempts (started_at);
    ",
];

/// A spool in a PostgreSQL database.
pub struct PostgresSpool {
    pool: Pool,
    /// For the listening connection.
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// The tasks listening for new runs, stopped when the spool is dropped.
    listeners: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
    /// This instance's lease owner id.
    instance: String,
    /// How long a claim holds a run without renewal.
    lease: Duration,
    /// Where the database is, for messages (without its password).
    target: String,
}

fn db(error: impl std::error::Error + 'static) -> SpoolError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    let mut failure = DatabaseFailure::Other;
    while let Some(error) = cause {
        if let Some(postgres) = error.downcast_ref::<tokio_postgres::Error>() {
            failure = failure_of(postgres);
            break;
        }
        cause = error.source();
    }
    SpoolError::database(failure, chain(&error))
}

/// What kind of failure a PostgreSQL error is, by its SQLSTATE class.
fn failure_of(error: &tokio_postgres::Error) -> DatabaseFailure {
    if error.is_closed() {
        return DatabaseFailure::Connection;
    }
    let Some(code) = error.code() else {
        // No answer from the server: the connection or TLS failed.
        return DatabaseFailure::Connection;
    };
    match &code.code()[..2] {
        "08" | "57" => DatabaseFailure::Connection,
        "23" => DatabaseFailure::Constraint,
        "40" | "55" => DatabaseFailure::Busy,
        "22" => DatabaseFailure::Unreadable,
        _ => DatabaseFailure::Other,
    }
}

/// An error with its causes: the client's own text is often only "db
/// error", the server's message (a refused password, a missing table) is in
/// its source.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Column `index` of `row`: a stored value that does not read as `T` (a
/// NULL where the schema has none, a type another writer left) is an error
/// naming the column, never a panic in the spool's task.
fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    index: usize,
) -> Result<T, SpoolError> {
    row.try_get(index).map_err(|error| {
        let name = row.columns().get(index).map_or("?", |c| c.name());
        SpoolError::database(
            DatabaseFailure::Unreadable,
            format!("column {name}: {error}"),
        )
    })
}

impl PostgresSpool {
    /// Connects to `url` (TLS as its `sslmode` asks, with `tls`'s trust),
    /// brings the schema up to date and returns the spool of instance
    /// `instance`, whose claims last `lease` unless renewed.
    pub async fn open(
        url: &str,
        tls: Arc<rustls::ClientConfig>,
        instance: String,
        lease: Duration,
    ) -> Result<PostgresSpool, SpoolError> {
        Self::open_shared(
            &super::SharedSpool {
                url: url.to_owned(),
                password: None,
                lease,
            },
            tls,
            instance,
        )
        .await
    }

    /// [`PostgresSpool::open`] with the password kept apart from the URL.
    pub async fn open_shared(
        shared: &super::SharedSpool,
        tls: Arc<rustls::ClientConfig>,
        instance: String,
    ) -> Result<PostgresSpool, SpoolError> {
        let mut config =
            tokio_postgres::Config::from_str(&shared.url).map_err(|error| SpoolError::Open {
                // The URL itself may hold a password: it is not repeated.
                path: "the --spool URL".into(),
                reason: format!("not a PostgreSQL URL: {error}"),
            })?;
        if let Some(password) = &shared.password {
            config.password(password);
        }
        Self::open_config(config, tls, instance, shared.lease).await
    }

    /// [`PostgresSpool::open`] with the connection settings already parsed.
    pub async fn open_config(
        config: tokio_postgres::Config,
        tls: Arc<rustls::ClientConfig>,
        instance: String,
        lease: Duration,
    ) -> Result<PostgresSpool, SpoolError> {
        let target = describe(&config);
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new((*tls).clone());
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(db)?;
        let spool = PostgresSpool {
            pool,
            config,
            tls,
            listeners: Default::default(),
            instance,
            lease,
            target,
        };
        spool.migrate().await?;
        Ok(spool)
    }

    async fn migrate(&self) -> Result<(), SpoolError> {
        let pool = &self.pool;
        let target = &self.target;
        let open_error = |reason: String| SpoolError::Open {
            path: target.clone().into(),
            reason,
        };
        let mut client = pool
            .get()
            .await
            .map_err(|error| open_error(format!("cannot connect: {}", chain(&error))))?;
        let transaction = client.transaction().await.map_err(db)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db)?;
        transaction
            .batch_execute("CREATE TABLE IF NOT EXISTS hookbox_schema (version integer NOT NULL)")
            .await
            .map_err(db)?;
        let found: i32 = transaction
            .query_opt("SELECT version FROM hookbox_schema", &[])
            .await
            .map_err(db)?
            .map(|row| column::<i32>(&row, 0))
            .transpose()?
            .unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(SpoolError::SchemaTooNew {
                path: target.clone().into(),
                found: found as u32,
                known: SCHEMA_VERSION as u32,
            });
        }
        if found == 0 {
            tracing::info!(version = SCHEMA_VERSION, "creating the spool's schema");
        }
        for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            if found > 0 {
                tracing::info!(to = step + 1, "upgrading the spool's schema");
            }
            transaction.batch_execute(sql).await.map_err(|error| {
                open_error(format!(
                    "cannot bring its schema up to date: {}",
                    chain(&error)
                ))
            })?;
        }
        transaction
            .execute("DELETE FROM hookbox_schema", &[])
            .await
            .map_err(db)?;
        transaction
            .execute(
                "INSERT INTO hookbox_schema (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
            .await
            .map_err(db)?;
        transaction.commit().await.map_err(db)
    }

    /// One query's rows, on the pool.
    async fn rows(
        &self,
        sql: &'static str,
        params: Vec<Box<dyn ToSql + Send + Sync>>,
    ) -> Result<Vec<Row>, SpoolError> {
        let pool = &self.pool;
        let client = pool.get().await.map_err(db)?;
        let params: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        client.query(sql, &params).await.map_err(db)
    }
}

impl Drop for PostgresSpool {
    fn drop(&mut self) {
        let listeners = self.listeners.get_mut().unwrap_or_else(|e| e.into_inner());
        for listener in listeners.drain(..) {
            listener.abort();
        }
    }
}

/// `user@host:port/dbname`, for messages.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// The columns [`summary`] reads, in its order.
macro_rules! summary_columns {
    () => {
        "r.id, e.hoop_event_id, e.event, e.sid, r.state, r.attempts, r.created_at, \
         r.updated_at, r.next_attempt_at, r.last_note, r.replay_of, e.id"
    };
}

fn summary(row: &Row) -> Result<RunSummary, SpoolError> {
    let state = RunState::parse(column(row, 4)?).unwrap_or(RunState::Pending);
    let next: Millis = column(row, 8)?;
    Ok(RunSummary {
        id: column(row, 0)?,
        event_id: column(row, 1)?,
        event: column(row, 2)?,
        sid: column(row, 3)?,
        state,
        attempts: column::<i32>(row, 5)?.max(0) as u32,
        created_at: rfc3339(column(row, 6)?),
        updated_at: rfc3339(column(row, 7)?),
        next_attempt_at: (state == RunState::Pending).then(|| rfc3339(next)),
        last_note: column(row, 9)?,
        replay_of: column(row, 10)?,
        delivery: column(row, 11)?,
    })
}

fn boxed<T: ToSql + Send + Sync + 'static>(value: T) -> Box<dyn ToSql + Send + Sync> {
    Box::new(value)
}

#[async_trait::async_trait]
impl Spool for PostgresSpool {
    async fn accept(&self, event: &NewEvent, now: Millis) -> Result<Accepted, SpoolError> {
        let pool = &self.pool;
        let mut client = pool.get().await.map_err(db)?;
        let transaction = client.transaction().await.map_err(db)?;
        let inserted = transaction
            .execute(
                "INSERT INTO events (id, hoop_event_id, event, sid, payload, script_sha256, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                &[
                    &event.delivery,
                    &event.id,
                    &event.event,
                    &event.sid,
                    &event.payload,
                    &event.script_sha256,
                    &now,
                ],
            )
            .await
            .map_err(db)?;
        let (run_id, duplicate) = if inserted == 1 {
            let run_id = new_run_id();
            transaction
                .execute(
                    "INSERT INTO runs (id, event_id, state, next_attempt_at, created_at, updated_at)
                     VALUES ($1, $2, 'pending', $3, $3, $3)",
                    &[&run_id, &event.delivery, &now],
                )
                .await
                .map_err(db)?;
            transaction
                .execute(&format!("NOTIFY {CHANNEL}"), &[])
                .await
                .map_err(db)?;
            (run_id, false)
        } else {
            // The first delivery's transaction has committed (the unique
            // key waited for it), so its run is there.
            let row = transaction
                .query_one(
                    "SELECT id FROM runs WHERE event_id = $1 ORDER BY created_at LIMIT 1",
                    &[&event.delivery],
                )
                .await
                .map_err(db)?;
            (column(&row, 0)?, true)
        };
        transaction.commit().await.map_err(db)?;
        Ok(Accepted {
            run_id,
            event_id: event.id.clone(),
            duplicate,
        })
    }

    async fn claim(&self, now: Millis) -> Result<Option<Claimed>, SpoolError> {
        let pool = &self.pool;
        let instance = &self.instance;
        let until = now.saturating_add(duration_millis(self.lease));
        let client = pool.get().await.map_err(db)?;
        // A pending run that is due, or a running one whose instance
        // stopped renewing its lease; rows another instance is taking
        // right now are skipped, not waited for.
        let row = client
            .query_opt(
                "WITH claimed AS (
                     UPDATE runs SET state = 'running', attempts = attempts + 1,
                            updated_at = $1, lease_owner = $2, lease_until = $3
                      WHERE id = (SELECT id FROM runs
                                   WHERE (state = 'pending' AND next_attempt_at <= $1)
                                      OR (state = 'running' AND lease_until < $1)
                                   ORDER BY next_attempt_at, created_at
                                   LIMIT 1 FOR UPDATE SKIP LOCKED)
                  RETURNING id, event_id, attempts, created_at)
                 SELECT c.id, c.attempts, c.created_at, e.hoop_event_id, e.event,
                        e.payload, e.script_sha256
                   FROM claimed c JOIN events e ON e.id = c.event_id",
                &[&now, &instance, &until],
            )
            .await
            .map_err(db)?;
        row.map(|row| {
            Ok(Claimed {
                run_id: column(&row, 0)?,
                attempt: column::<i32>(&row, 1)?.max(0) as u32,
                created_at: column(&row, 2)?,
                event_id: column(&row, 3)?,
                event: column(&row, 4)?,
                payload: column(&row, 5)?,
                script_sha256: column(&row, 6)?,
            })
        })
        .transpose()
    }

    async fn renew(&self, run_id: &str, now: Millis) -> Result<bool, SpoolError> {
        let rows = self
            .rows(
                "UPDATE runs SET lease_until = $3
              WHERE id = $1 AND state = 'running' AND lease_owner = $2 RETURNING id",
                vec![
                    boxed(run_id.to_owned()),
                    boxed(self.instance.clone()),
                    boxed(now.saturating_add(duration_millis(self.lease))),
                ],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.lease)
    }

    async fn finish(
        &self,
        run_id: &str,
        attempt: &AttemptRecord,
        next: Next,
        now: Millis,
    ) -> Result<(), SpoolError> {
        let outcome = attempt.outcome_json();
        let summary = attempt.summary_json();
        let (state, due) = next.state_and_due(now);
        let pool = &self.pool;
        let instance = &self.instance;
        let mut client = pool.get().await.map_err(db)?;
        let transaction = client.transaction().await.map_err(db)?;
        // Only the lease holder records: an instance that lost its run
        // to another (it stopped renewing for too long) leaves it be.
        let moved = transaction
            .query_opt(
                "UPDATE runs SET state = $3, next_attempt_at = $4, updated_at = $5,
                        last_note = $6, lease_owner = NULL, lease_until = NULL
                  WHERE id = $1 AND state = 'running' AND lease_owner = $2
              RETURNING attempts",
                &[
                    &run_id,
                    &instance,
                    &state.as_str(),
                    &due,
                    &now,
                    &attempt.note,
                ],
            )
            .await
            .map_err(db)?;
        let Some(moved) = moved else {
            return Err(SpoolError::LeaseLost {
                run_id: run_id.to_owned(),
            });
        };
        let number: i32 = column(&moved, 0)?;
        transaction
            .execute(
                "INSERT INTO attempts (run_id, number, started_at, finished_at, note, outcome, instance, summary)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &run_id,
                    &number,
                    &attempt.started_at,
                    &attempt.finished_at,
                    &attempt.note,
                    &outcome,
                    &instance,
                    &summary,
                ],
            )
            .await
            .map_err(db)?;
        if state == RunState::Pending {
            transaction
                .execute(&format!("NOTIFY {CHANNEL}"), &[])
                .await
                .map_err(db)?;
        }
        transaction.commit().await.map_err(db)
    }

    async fn release_running(&self, now: Millis) -> Result<u64, SpoolError> {
        // This instance's own runs only: the others are still working.
        let rows = self
            .rows(
                "UPDATE runs SET state = 'pending', attempts = GREATEST(attempts - 1, 0),
                    next_attempt_at = $1, updated_at = $1, lease_owner = NULL, lease_until = NULL
              WHERE state = 'running' AND lease_owner = $2 RETURNING id",
                vec![boxed(now), boxed(self.instance.clone())],
            )
            .await?;
        Ok(rows.len() as u64)
    }

    async fn next_due(&self) -> Result<Option<Millis>, SpoolError> {
        let rows = self
            .rows(
                "SELECT LEAST(
                 (SELECT MIN(next_attempt_at) FROM runs WHERE state = 'pending'),
                 (SELECT MIN(lease_until) FROM runs WHERE state = 'running'))",
                Vec::new(),
            )
            .await?;
        Ok(rows
            .first()
            .map(|row| column(row, 0))
            .transpose()?
            .flatten())
    }

    async fn list(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, SpoolError> {
        const SQL: &str = concat!(
            "SELECT ",
            summary_columns!(),
            " FROM runs r JOIN events e ON e.id = r.event_id \
             WHERE ($1::text IS NULL OR r.state = $1) AND ($2::text IS NULL OR e.event = $2) \
               AND ($4::text IS NULL OR e.sid = $4) \
               AND ($5::text IS NULL OR strpos(e.payload, $5) > 0) \
               AND ($6::bigint IS NULL OR r.created_at >= $6) \
               AND ($7::text IS NULL OR e.hoop_event_id = $7) \
             ORDER BY r.created_at DESC, r.id LIMIT $3"
        );
        let rows = self
            .rows(
                SQL,
                vec![
                    boxed(filter.state.map(|s| s.as_str().to_owned())),
                    boxed(filter.event.clone()),
                    boxed(filter.limit as i64),
                    boxed(filter.sid.clone()),
                    boxed(filter.contains.clone()),
                    boxed(filter.since),
                    boxed(filter.event_id.clone()),
                ],
            )
            .await?;
        rows.iter().map(summary).collect()
    }

    async fn show(&self, run_id: &str) -> Result<Option<RunDetail>, SpoolError> {
        const SQL: &str = concat!(
            "SELECT ",
            summary_columns!(),
            ", e.payload, e.script_sha256 FROM runs r JOIN events e ON e.id = r.event_id \
             WHERE r.id = $1"
        );
        let found = self.rows(SQL, vec![boxed(run_id.to_owned())]).await?;
        let Some(row) = found.first() else {
            return Ok(None);
        };
        let attempts = self
            .rows(
                "SELECT number, started_at, finished_at, note, outcome FROM attempts
              WHERE run_id = $1 ORDER BY number",
                vec![boxed(run_id.to_owned())],
            )
            .await?;
        let payload: String = column(row, 12)?;
        Ok(Some(RunDetail {
            run: summary(row)?,
            payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
            script_sha256: column(row, 13)?,
            attempt_log: attempts
                .iter()
                .map(|attempt| {
                    Ok(AttemptView {
                        number: column::<i32>(attempt, 0)?.max(0) as u32,
                        started_at: rfc3339(column(attempt, 1)?),
                        finished_at: rfc3339(column(attempt, 2)?),
                        note: column(attempt, 3)?,
                        outcome: column::<Option<String>>(attempt, 4)?
                            .and_then(|text| serde_json::from_str(&text).ok()),
                    })
                })
                .collect::<Result<_, SpoolError>>()?,
        }))
    }

    async fn replay(&self, run_id: &str, now: Millis) -> Result<Option<String>, SpoolError> {
        let new_id = new_run_id();
        let rows = self.rows(
            "WITH original AS (SELECT event_id FROM runs WHERE id = $2),
                  added AS (
                      INSERT INTO runs (id, event_id, state, next_attempt_at, created_at, updated_at, replay_of)
                      SELECT $1, event_id, 'pending', $3, $3, $3, $2 FROM original
                      RETURNING id)
             SELECT id, pg_notify($4, '') FROM added",
            vec![
                boxed(new_id),
                boxed(run_id.to_owned()),
                boxed(now),
                boxed(CHANNEL.to_owned()),
            ],
        ).await?;
        rows.first().map(|row| column(row, 0)).transpose()
    }

    async fn attempts_since(
        &self,
        since: Millis,
        limit: usize,
    ) -> Result<Vec<AttemptSample>, SpoolError> {
        let rows = self
            .rows(ATTEMPTS_SINCE_SQL, vec![boxed(since), boxed(limit as i64)])
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AttemptSample {
                    started_at: column(row, 0)?,
                    finished_at: column(row, 1)?,
                    summary: stored_summary(column(row, 2)?),
                })
            })
            .collect()
    }

    async fn attempt_counts(
        &self,
        since: Millis,
        interval: Millis,
    ) -> Result<Vec<AttemptCount>, SpoolError> {
        let rows = self
            .rows(
                ATTEMPT_COUNTS_SQL,
                vec![boxed(since), boxed(interval.max(1))],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AttemptCount {
                    interval: column(row, 0)?,
                    end: AttemptEnd::of(column(row, 1)?, column(row, 2)?),
                    count: column::<i64>(row, 3)?.max(0) as u64,
                })
            })
            .collect()
    }

    async fn stats(&self, now: Millis) -> Result<SpoolStats, SpoolError> {
        let counts = self
            .rows(
                "SELECT state, SUM(count)::bigint FROM run_counts GROUP BY state
              HAVING SUM(count) > 0 ORDER BY state",
                Vec::new(),
            )
            .await?;
        let by_state: Vec<(String, u64)> = counts
            .iter()
            .map(|row| Ok((column(row, 0)?, column::<i64>(row, 1)?.max(0) as u64)))
            .collect::<Result<_, SpoolError>>()?;
        let depth = by_state
            .iter()
            .filter(|(state, _)| state == "pending" || state == "running")
            .map(|(_, count)| count)
            .sum();
        let oldest = self
            .rows(
                "SELECT MIN(created_at) FROM runs WHERE state IN ('pending', 'running')",
                Vec::new(),
            )
            .await?;
        let oldest: Option<Millis> = oldest
            .first()
            .map(|row| column(row, 0))
            .transpose()?
            .flatten();
        Ok(SpoolStats {
            depth,
            oldest_pending_age_seconds: oldest.map(|at| (now - at).max(0) as f64 / 1000.0),
            by_state,
        })
    }

    async fn depth(&self) -> Result<u64, SpoolError> {
        let rows = self
            .rows(
                "SELECT COALESCE(SUM(count), 0)::bigint FROM run_counts
              WHERE state IN ('pending', 'running')",
                Vec::new(),
            )
            .await?;
        Ok(rows
            .first()
            .map(|row| column::<i64>(row, 0))
            .transpose()?
            .map_or(0, |count| count.max(0) as u64))
    }

    async fn prune(&self, now: Millis, retention: &Retention) -> Result<u64, SpoolError> {
        let finished_before = now.saturating_sub(duration_millis(retention.finished));
        let dead_before = now.saturating_sub(duration_millis(retention.dead));
        let mut pruned = 0;
        loop {
            // One batch per statement: the expired runs (skipping any another
            // instance is pruning), their attempts, then the runs.
            let gone = self.rows(
                "WITH expired AS (
                     SELECT id FROM runs
                      WHERE (state IN ('succeeded', 'skipped') AND updated_at < $1)
                         OR (state = 'dead' AND (updated_at < $2 OR (updated_at < $1
                             AND EXISTS (SELECT 1 FROM runs replay WHERE replay.replay_of = runs.id))))
                      LIMIT $3 FOR UPDATE SKIP LOCKED),
                 gone_attempts AS (
                     DELETE FROM attempts WHERE run_id IN (SELECT id FROM expired))
                 DELETE FROM runs WHERE id IN (SELECT id FROM expired) RETURNING event_id",
                vec![
                    boxed(finished_before),
                    boxed(dead_before),
                    boxed(PRUNE_BATCH as i64),
                ],
            ).await?;
            let mut events: Vec<String> = gone
                .iter()
                .map(|row| column(row, 0))
                .collect::<Result<_, _>>()?;
            events.sort_unstable();
            events.dedup();
            self.rows(
                "DELETE FROM events e WHERE e.id = ANY($1)
                   AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = e.id) RETURNING e.id",
                vec![boxed(events)],
            )
            .await?;
            pruned += gone.len() as u64;
            if (gone.len() as u64) < PRUNE_BATCH {
                return Ok(pruned);
            }
        }
    }

    fn on_new_runs(&self, wake: Arc<dyn Fn() + Send + Sync>) {
        let listener = tokio::spawn(listen(self.config.clone(), self.tls.clone(), wake));
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener.abort_handle());
    }
}

/// Keeps a connection that `LISTEN`s on [`CHANNEL`] and calls `wake` for
/// every notification (and once after each connect, for what arrived while it
/// was not listening), reconnecting with a growing pause while the database
/// is away.
async fn listen(
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    wake: Arc<dyn Fn() + Send + Sync>,
) {
    let mut pause = Duration::from_millis(200);
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let (notified, mut notifications) = tokio::sync::mpsc::unbounded_channel();
                let messages = tokio::spawn(async move {
                    while let Some(Ok(message)) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        if let tokio_postgres::AsyncMessage::Notification(_) = message
                            && notified.send(()).is_err()
                        {
                            return;
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {CHANNEL}"))
                    .await
                    .is_ok()
                {
                    pause = Duration::from_millis(200);
                    wake();
                    while notifications.recv().await.is_some() {
                        wake();
                    }
                }
                messages.abort();
                tracing::warn!("the spool's notification connection closed; reconnecting");
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for new runs; retrying");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}
