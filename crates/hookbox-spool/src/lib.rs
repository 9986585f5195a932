//! hookbox's durable spool: every accepted event and every run of it, behind one
//! small interface ([`Spool`]) so a shared server database can stand in for
//! the embedded one ([`sqlite`]) in a multi-instance deployment.
//!
//! A run moves `pending` -> `running` -> `succeeded` | `skipped` | `dead`, or
//! back to `pending` with a later due time when it is retried. An event is
//! stored once per `id`; a duplicate delivery creates no run.

#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

use serde::Serialize;

use hookbox_record::RunOutcome;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// `duration` in [`Millis`], saturating.
pub fn duration_millis(duration: std::time::Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
}

/// A fresh run id.
fn new_run_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Waiting for a worker (first try or a retry).
    Pending,
    /// A worker is running it.
    Running,
    /// The hook ran and exited 0.
    Succeeded,
    /// The repository has no hook for the event (as Hoop, nothing to run).
    Skipped,
    /// Every attempt failed; it will not be tried again unless replayed.
    Dead,
}

impl RunState {
    /// The state as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Skipped => "skipped",
            RunState::Dead => "dead",
        }
    }

    /// Every state, in the order a run goes through them.
    pub const ALL: [RunState; 5] = [
        RunState::Pending,
        RunState::Running,
        RunState::Succeeded,
        RunState::Skipped,
        RunState::Dead,
    ];

    /// Parses a stored state.
    pub fn parse(text: &str) -> Option<RunState> {
        RunState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// An event to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// What makes one delivery: the sender's `webhook-id`, else Hoop's event
    /// id and the payload's digest. A delivery stored before is not stored
    /// again (its first run is answered); another firing of the same event
    /// is a delivery of its own, with a run of its own.
    pub delivery: String,
    /// Hoop's event id (the same for every firing of one event).
    pub id: String,
    /// `session-open` or `session-close`.
    pub event: String,
    /// The session id.
    pub sid: String,
    /// The payload as the hook will see it (secrets already redacted).
    pub payload: String,
    /// The SHA-256 of the script the drop-in was given, when it sent one.
    pub script_sha256: Option<String>,
}

/// What storing an event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// The run created for the event, or the first run of an event already
    /// stored.
    pub run_id: String,
    /// The event id.
    pub event_id: String,
    /// Whether this delivery had been stored before (no new run).
    pub duplicate: bool,
}

/// A run a worker took.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The run.
    pub run_id: String,
    /// The event's id.
    pub event_id: String,
    /// `session-open` or `session-close`.
    pub event: String,
    /// The payload.
    pub payload: String,
    /// The SHA-256 of the script the drop-in was given, if it sent one.
    pub script_sha256: Option<String>,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// When the run was created.
    pub created_at: Millis,
}

/// What becomes of a run after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// It succeeded.
    Succeeded,
    /// There was nothing to run.
    Skipped,
    /// Try again at this time.
    RetryAt(Millis),
    /// Give up.
    Dead,
}

impl Next {
    /// The state the run moves to and when it is next due.
    pub fn state_and_due(self, now: Millis) -> (RunState, Millis) {
        match self {
            Next::Succeeded => (RunState::Succeeded, now),
            Next::Skipped => (RunState::Skipped, now),
            Next::RetryAt(at) => (RunState::Pending, at),
            Next::Dead => (RunState::Dead, now),
        }
    }
}

/// One finished attempt, as stored.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// When it started.
    pub started_at: Millis,
    /// When it ended.
    pub finished_at: Millis,
    /// The run's outcome (absent when there was no hook to run).
    pub outcome: Option<RunOutcome>,
    /// A one-line summary of why it ended the way it did.
    pub note: String,
}

impl AttemptRecord {
    /// The outcome as stored (JSON, with its record version), when there
    /// is one.
    pub fn outcome_json(&self) -> Option<String> {
        self.outcome
            .as_ref()
            .map(|outcome| hookbox_record::stored::to_stored(outcome).to_string())
    }

    /// The attempt's summary as stored (JSON), when a hook ran.
    pub fn summary_json(&self) -> Option<String> {
        self.outcome
            .as_ref()
            .map(|outcome| serde_json::to_string(&AttemptSummary::of(outcome)).unwrap_or_default())
    }
}

/// Destinations one attempt's summary names; the rest are counted under
/// [`OTHER_DESTINATIONS`].
const SUMMARY_DESTINATIONS: usize = 20;

/// Longest host a destination's name keeps: a hook can name a host of tens
/// of kilobytes (one that does not parse is recorded as written).
const LONGEST_HOST: usize = 253;

/// Where `egress` went, its host cut to [`LONGEST_HOST`] bytes (at a
/// character boundary) and marked when cut.
fn destination_name(egress: &hookbox_record::EgressAttempt) -> String {
    if egress.host.len() <= LONGEST_HOST {
        return egress.destination();
    }
    let mut end = LONGEST_HOST;
    while !egress.host.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}://{}…:{}",
        egress.scheme,
        &egress.host[..end],
        egress.port
    )
}

/// Where the attempts to destinations past the ones a summary names count.
pub const OTHER_DESTINATIONS: &str = "(other destinations)";

/// What the activity page needs of one attempt, stored beside its full
/// outcome so drawing a week reads a few hundred bytes an attempt, not its
/// output (up to the output caps) and every egress record.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AttemptSummary {
    /// How the run ended.
    pub status: hookbox_record::RunStatus,
    /// The run's wall time.
    pub duration_ms: f64,
    /// Egress by destination (`scheme://host:port`), the busiest first.
    pub egress: Vec<DestinationCount>,
}

/// One destination's attempts within one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DestinationCount {
    /// `scheme://host:port`, or [`OTHER_DESTINATIONS`].
    pub destination: String,
    /// Attempts the policy let through.
    pub allowed: u64,
    /// Attempts it refused.
    pub denied: u64,
    /// Body bytes sent to it.
    pub bytes_out: u64,
}

impl AttemptSummary {
    /// The summary of `outcome`.
    pub fn of(outcome: &RunOutcome) -> AttemptSummary {
        let mut by_destination: std::collections::HashMap<String, DestinationCount> =
            std::collections::HashMap::new();
        for egress in &outcome.egress {
            let destination = destination_name(egress);
            let count = by_destination
                .entry(destination.clone())
                .or_insert_with(|| DestinationCount {
                    destination,
                    allowed: 0,
                    denied: 0,
                    bytes_out: 0,
                });
            if egress.allowed {
                count.allowed += 1;
                count.bytes_out += egress.bytes_out;
            } else {
                count.denied += 1;
            }
        }
        let mut counts: Vec<DestinationCount> = by_destination.into_values().collect();
        counts.sort_by(|a, b| {
            (b.allowed + b.denied)
                .cmp(&(a.allowed + a.denied))
                .then_with(|| a.destination.cmp(&b.destination))
        });
        if counts.len() > SUMMARY_DESTINATIONS {
            let rest = counts.split_off(SUMMARY_DESTINATIONS - 1);
            counts.push(DestinationCount {
                destination: OTHER_DESTINATIONS.to_owned(),
                allowed: rest.iter().map(|c| c.allowed).sum(),
                denied: rest.iter().map(|c| c.denied).sum(),
                bytes_out: rest.iter().map(|c| c.bytes_out).sum(),
            });
        }
        AttemptSummary {
            status: outcome.status,
            duration_ms: outcome.duration_ms,
            egress: counts,
        }
    }
}

/// Runs removed per transaction (SQLite) or statement (PostgreSQL) when
/// pruning, so intake and workers wait for one short step at a time.
const PRUNE_BATCH: u64 = 500;

/// How an attempt ended, as its run's record shows it: only a run's last
/// attempt can have succeeded or found no hook (both end the run), so an
/// attempt stored before summaries were is classified as exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptEnd {
    /// The hook exited 0.
    Succeeded,
    /// The hook failed, or no hook could be run.
    Failed,
    /// The repository had no hook for the event.
    Skipped,
}

impl AttemptEnd {
    /// From the run's stored state and whether the attempt is its last.
    fn of(state: &str, last: bool) -> AttemptEnd {
        match (state, last) {
            ("succeeded", true) => AttemptEnd::Succeeded,
            ("skipped", true) => AttemptEnd::Skipped,
            _ => AttemptEnd::Failed,
        }
    }
}

/// Attempts that started within one interval of a window and ended one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptCount {
    /// The interval, counted from the window's start.
    pub interval: i64,
    /// How they ended.
    pub end: AttemptEnd,
    /// How many.
    pub count: u64,
}

/// One attempt that ran a hook, as the activity page draws its run time and
/// egress.
#[derive(Debug, Clone)]
pub struct AttemptSample {
    /// When it started.
    pub started_at: Millis,
    /// When it ended.
    pub finished_at: Millis,
    /// What the run did, when its summary is stored and reads back.
    pub summary: Option<AttemptSummary>,
}

/// Attempts counted by interval of `$2` ms from `$1` on, and by how they
/// ended: the activity page's counts, exact however many there are. One
/// text for both backends (SQLite numbers `$1`, `$2` as it meets them).
const ATTEMPT_COUNTS_SQL: &str = "SELECT (a.started_at - $1) / $2, r.state, \
            (a.number = r.attempts), COUNT(*) \
       FROM attempts a JOIN runs r ON r.id = a.run_id \
      WHERE a.started_at >= $1 GROUP BY 1, 2, 3";

/// The attempts that ran a hook (not the skips) from `$1` on, newest first,
/// at most `$2`, with their summaries.
const ATTEMPTS_SINCE_SQL: &str = "SELECT a.started_at, a.finished_at, a.summary \
       FROM attempts a JOIN runs r ON r.id = a.run_id \
      WHERE a.started_at >= $1 AND NOT (r.state = 'skipped' AND a.number = r.attempts) \
      ORDER BY a.started_at DESC LIMIT $2";

/// An attempt's stored summary read back; one that does not read (or an
/// attempt stored before summaries were) counts by its times alone.
fn stored_summary(text: Option<String>) -> Option<AttemptSummary> {
    text.and_then(|text| serde_json::from_str(&text).ok())
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs of this event (`session-open`/`session-close`).
    pub event: Option<String>,
    /// Only runs of this Hoop event id: every firing of one event, and
    /// their replays.
    pub event_id: Option<String>,
    /// Only runs of this session.
    pub sid: Option<String>,
    /// Only runs whose stored payload (secrets redacted) holds this text: a
    /// user's email, a connection's name, ...
    pub contains: Option<String>,
    /// Only runs created at or after this time.
    pub since: Option<Millis>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// A run, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The run id.
    pub id: String,
    /// The event id.
    pub event_id: String,
    /// `session-open` or `session-close`.
    pub event: String,
    /// The session id.
    pub sid: String,
    /// Where the run is.
    pub state: RunState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the run was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// The delivery it came from (the firings of one event share
    /// `event_id`, each has its own delivery).
    pub delivery: String,
    /// When it is due next, while pending (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// The last attempt's summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_note: Option<String>,
    /// The run this one replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
}

/// One stored attempt, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    /// 1 for the first attempt.
    pub number: u32,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339).
    pub finished_at: String,
    /// Why it ended the way it did.
    pub note: String,
    /// The full outcome as stored: its record version, status, exit code,
    /// output, duration, fuel, peak memory and every egress attempt
    /// (`hookbox_record::stored::from_stored` reads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<serde_json::Value>,
}

/// A run with its payload and every attempt.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    /// The run.
    #[serde(flatten)]
    pub run: RunSummary,
    /// The payload the hook saw (secrets redacted).
    pub payload: serde_json::Value,
    /// The SHA-256 of the script the drop-in was given with the event, when
    /// the drop-in delivered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_sha256: Option<String>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<AttemptView>,
}

/// Counts for health and metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SpoolStats {
    /// Runs waiting (pending or running).
    pub depth: u64,
    /// Age of the oldest waiting run, in seconds.
    pub oldest_pending_age_seconds: Option<f64>,
    /// Runs per state.
    pub by_state: Vec<(String, u64)>,
}

/// Why the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// No spool exists where the user pointed (a usage mistake).
    #[error("no spool in {dir}: pass the --data-dir hookbox serve uses")]
    NoSpool {
        /// The data directory looked in.
        dir: std::path::PathBuf,
    },
    /// No run has this id (a usage mistake).
    #[error("no run {id} in the spool: `hookbox runs list` shows the runs")]
    NoRun {
        /// The id asked for.
        id: String,
    },
    /// The database failed.
    #[error("spool database error ({failure}): {detail}")]
    Database {
        /// What kind of failure it was.
        failure: DatabaseFailure,
        /// The database's own words.
        detail: String,
    },
    /// The spool was made by a newer hookbox, whose schema this one does not
    /// know; it is left as it is.
    #[error(
        "the spool at {path} has schema version {found}, newer than this hookbox knows ({known}): \
         run the hookbox that made it (or a newer one), or give this one another --data-dir"
    )]
    SchemaTooNew {
        /// The database file.
        path: std::path::PathBuf,
        /// Its schema version.
        found: u32,
        /// The newest version this hookbox knows.
        known: u32,
    },
    /// Another instance took over the run (this one's claim expired before
    /// it finished); its attempt is not recorded.
    #[error("run {run_id} was taken over by another instance; this attempt is not recorded")]
    LeaseLost {
        /// The run.
        run_id: String,
    },
    /// The data directory cannot be used.
    #[error("cannot use the spool at {path}: {reason}")]
    Open {
        /// The database file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A shared spool was asked of a hookbox built without PostgreSQL.
    #[error(
        "this hookbox was built without the shared PostgreSQL spool: leave --spool and HOOKBOX_SPOOL unset for the embedded spool, or build hookbox with its `postgres` feature (on by default)"
    )]
    NoPostgres,
}

impl hookbox_core::failure::Categorized for SpoolError {
    fn failure(&self) -> hookbox_core::failure::Failure {
        use hookbox_core::failure::Failure;
        match self {
            SpoolError::NoSpool { .. }
            | SpoolError::NoRun { .. }
            | SpoolError::SchemaTooNew { .. }
            | SpoolError::NoPostgres => Failure::Usage,
            SpoolError::Database { .. }
            | SpoolError::Open { .. }
            | SpoolError::LeaseLost { .. } => Failure::Internal,
        }
    }
}

/// What kind of failure a [`SpoolError::Database`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseFailure {
    /// Another connection held a lock longer than the spool waits, or a
    /// transaction could not be serialized: trying again may succeed.
    Busy,
    /// A constraint refused a write (a duplicate key, a missing row it
    /// refers to).
    Constraint,
    /// The connection to the database failed or closed.
    Connection,
    /// A stored row does not read as the schema says (a NULL where there
    /// should be none, a type another writer left).
    Unreadable,
    /// Anything else.
    Other,
}

impl std::fmt::Display for DatabaseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DatabaseFailure::Busy => "busy",
            DatabaseFailure::Constraint => "a constraint refused it",
            DatabaseFailure::Connection => "connection",
            DatabaseFailure::Unreadable => "a stored row does not read",
            DatabaseFailure::Other => "other",
        })
    }
}

impl SpoolError {
    /// A database failure of kind `failure`.
    pub fn database(failure: DatabaseFailure, detail: impl Into<String>) -> Self {
        SpoolError::Database {
            failure,
            detail: detail.into(),
        }
    }
}

/// The durable store of events and runs. Its calls are async: the
/// embedded spool does its disk work on tokio's blocking threads, the shared
/// one talks to its database on the caller's runtime.
#[async_trait::async_trait]
pub trait Spool: Send + Sync {
    /// Stores an event and a pending run for it, durably, unless an event
    /// with its id is already stored.
    async fn accept(&self, event: &NewEvent, now: Millis) -> Result<Accepted, SpoolError>;
    /// Takes the pending run that is due first, marking it running.
    async fn claim(&self, now: Millis) -> Result<Option<Claimed>, SpoolError>;
    /// Records an attempt and what becomes of the run.
    async fn finish(
        &self,
        run_id: &str,
        attempt: &AttemptRecord,
        next: Next,
        now: Millis,
    ) -> Result<(), SpoolError>;
    /// Puts every running run back to pending (after a crash or a shutdown
    /// that outlasted its grace period); returns how many.
    async fn release_running(&self, now: Millis) -> Result<u64, SpoolError>;
    /// When the next pending run is due.
    async fn next_due(&self) -> Result<Option<Millis>, SpoolError>;
    /// Runs matching `filter`, newest first.
    async fn list(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, SpoolError>;
    /// One run with its attempts.
    async fn show(&self, run_id: &str) -> Result<Option<RunDetail>, SpoolError>;
    /// A new pending run of the same event as `run_id`; `None` if no such run.
    async fn replay(&self, run_id: &str, now: Millis) -> Result<Option<String>, SpoolError>;
    /// Counts for health and metrics.
    async fn stats(&self, now: Millis) -> Result<SpoolStats, SpoolError>;
    /// Attempts started at or after `since`, counted by interval of
    /// `interval` ms and by how they ended: the activity page's counts.
    async fn attempt_counts(
        &self,
        since: Millis,
        interval: Millis,
    ) -> Result<Vec<AttemptCount>, SpoolError>;
    /// The attempts that ran a hook, started at or after `since`, newest
    /// first, at most `limit`: the activity page's run times and egress.
    async fn attempts_since(
        &self,
        since: Millis,
        limit: usize,
    ) -> Result<Vec<AttemptSample>, SpoolError>;
    /// Extends this instance's claim on a running run; `false` when another
    /// instance took it (the claim expired). A spool only one instance uses
    /// has nothing to renew.
    async fn renew(&self, _run_id: &str, _now: Millis) -> Result<bool, SpoolError> {
        Ok(true)
    }
    /// How long a claim lasts without [`Spool::renew`], for a spool shared by
    /// several instances.
    fn lease(&self) -> Option<std::time::Duration> {
        None
    }
    /// Calls `wake` whenever another instance stores a run that is due (a
    /// spool only this process uses has none). Call it on a tokio runtime:
    /// a shared spool listens for them there, until it is dropped.
    fn on_new_runs(&self, _wake: std::sync::Arc<dyn Fn() + Send + Sync>) {}
    /// Runs waiting (pending or running): what intake holds to its limit on
    /// every event, so it is read from a count, never a scan.
    async fn depth(&self) -> Result<u64, SpoolError>;
    /// Removes runs past `retention` (finished ones, dead ones, and dead ones
    /// already replayed as finished ones), their attempts and the events no
    /// run refers to any more; returns how many runs. Pending and running
    /// runs are never removed.
    async fn prune(&self, now: Millis, retention: &Retention) -> Result<u64, SpoolError>;
}

/// Where the spool is.
#[derive(Debug, Clone)]
pub enum SpoolLocation {
    /// The embedded SQLite spool in this data directory: one instance.
    Embedded(std::path::PathBuf),
    /// A PostgreSQL database any number of instances share.
    Shared(SharedSpool),
}

/// How to reach a shared spool.
#[derive(Clone)]
pub struct SharedSpool {
    /// `postgres://…`
    pub url: String,
    /// The password, when not in the URL.
    pub password: Option<String>,
    /// How long a claim lasts without renewal.
    pub lease: std::time::Duration,
}

/// Opens the spool at `location`: a shared one as instance `instance`, over
/// TLS made by `tls` where its URL asks for TLS (called only for a shared
/// spool).
pub async fn open(
    location: &SpoolLocation,
    tls: impl FnOnce() -> Result<std::sync::Arc<rustls::ClientConfig>, String>,
    instance: &str,
) -> Result<std::sync::Arc<dyn Spool>, SpoolError> {
    Ok(match location {
        SpoolLocation::Embedded(dir) => {
            let dir = dir.clone();
            let opened = tokio::task::spawn_blocking(move || sqlite::SqliteSpool::open(&dir))
                .await
                .map_err(|error| {
                    SpoolError::database(
                        DatabaseFailure::Other,
                        format!("opening the spool stopped: {error}"),
                    )
                })?;
            std::sync::Arc::new(opened?)
        }
        #[cfg(not(feature = "postgres"))]
        SpoolLocation::Shared(_) => {
            let _ = (tls, instance);
            return Err(SpoolError::NoPostgres);
        }
        #[cfg(feature = "postgres")]
        SpoolLocation::Shared(shared) => {
            let tls = tls().map_err(|reason| SpoolError::Open {
                path: "the --spool database".into(),
                reason: format!("cannot set up TLS: {reason}"),
            })?;
            std::sync::Arc::new(
                postgres::PostgresSpool::open_shared(shared, tls, instance.to_owned()).await?,
            )
        }
    })
}

impl SharedSpool {
    /// The lease when none is set: long enough for renewals (every third of
    /// it) to ride out a slow database, short enough that a dead instance's
    /// runs start again within a minute.
    pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(30);
}

impl std::fmt::Debug for SharedSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold the password too: neither is printed.
        f.debug_struct("SharedSpool")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// How long runs are kept once they will not run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Succeeded and skipped runs (`--retain`), and dead runs that were
    /// replayed (the replay carries on).
    pub finished: std::time::Duration,
    /// Dead runs nobody replayed (`--retain-dead`).
    pub dead: std::time::Duration,
}

impl Default for Retention {
    /// 7 days for finished runs, 30 for dead ones.
    fn default() -> Self {
        Retention {
            finished: std::time::Duration::from_secs(7 * 24 * 3600),
            dead: std::time::Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// `millis` as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(millis: Millis) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

#[cfg(all(test, not(feature = "postgres")))]
mod without_postgres {
    use super::*;

    #[tokio::test]
    async fn a_shared_spool_is_refused_by_name() {
        let location = SpoolLocation::Shared(SharedSpool {
            url: "postgres://db.internal/hookbox".into(),
            password: None,
            lease: SharedSpool::DEFAULT_LEASE,
        });
        let refused = open(
            &location,
            || panic!("no TLS is set up for a refused spool"),
            "one",
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(refused, SpoolError::NoPostgres), "{refused}");
    }
}
