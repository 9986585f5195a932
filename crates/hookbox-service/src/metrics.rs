//! Prometheus metrics, served as text at `/metrics`: intake, runs, retries,
//! dead letters, egress, and (read at scrape time) spool depth and git
//! snapshot health.

use std::sync::Mutex;

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::spool::RunState;
use hookbox_record::{RunOutcome, RunStatus};

/// Writes a label value as its name in the exposition.
macro_rules! label_value {
    ($type:ty) => {
        impl EncodeLabelValue for $type {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
                encoder.write_str(self.as_str())
            }
        }
    };
}

/// Why a delivery was refused.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Rejection {
    /// No or a wrong token or signature.
    Unauthorized,
    /// The body is over the payload cap.
    TooLarge,
    /// The body is not an event hookbox can store.
    BadPayload,
    /// The spool holds as many waiting runs as it may.
    SpoolFull,
    /// The service holds as many connections as it may.
    TooManyConnections,
}

impl Rejection {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Unauthorized => "unauthorized",
            Rejection::TooLarge => "too_large",
            Rejection::BadPayload => "bad_payload",
            Rejection::SpoolFull => "spool_full",
            Rejection::TooManyConnections => "too_many_connections",
        }
    }
}
label_value!(Rejection);

/// How an attempt ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum AttemptStatus {
    /// The hook ran to this status.
    Ran(RunStatus),
    /// The repository has no hook for the event.
    Skipped,
    /// No hook could be run (the source was unavailable, the stored run
    /// unreadable).
    Error,
}

impl AttemptStatus {
    /// The label value: the run status (`ok`, `failed`, `timeout`, ...),
    /// `skipped` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Ran(status) => status.as_str(),
            AttemptStatus::Skipped => "skipped",
            AttemptStatus::Error => "error",
        }
    }
}
label_value!(AttemptStatus);

/// Whether the policy let an egress attempt through.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Verdict {
    /// Let through.
    Allowed,
    /// Refused.
    Denied,
}

impl Verdict {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
        }
    }
}
label_value!(Verdict);

/// A run state, as a label value.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub struct StateValue(pub RunState);

impl StateValue {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        self.0.as_str()
    }
}
label_value!(StateValue);

/// A `reason` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why.
    pub reason: Rejection,
}

/// A `status` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// How the attempt ended.
    pub status: AttemptStatus,
}

/// A `verdict` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabel {
    /// `allowed` or `denied`.
    pub verdict: Verdict,
}

/// A `state` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// The run state.
    pub state: StateValue,
}

/// Every metric the service exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Events stored (new ones).
    pub events_accepted: Counter,
    /// Deliveries of an event already stored.
    pub events_duplicate: Counter,
    /// Deliveries refused, by reason.
    pub events_rejected: Family<ReasonLabel, Counter>,
    /// Attempts finished, by status.
    pub runs: Family<StatusLabel, Counter>,
    /// How long attempts took.
    pub run_duration: Histogram,
    /// Attempts scheduled again after a failure.
    pub retries: Counter,
    /// Runs given up on.
    pub dead_letters: Counter,
    /// Runs removed from the spool past their retention.
    pub runs_pruned: Counter,
    /// Attempts whose hook was not the script the drop-in was given.
    pub script_mismatches: Counter,
    /// Connection attempts of hooks, by verdict.
    pub egress: Family<VerdictLabel, Counter>,
    /// Runs waiting (pending or running).
    pub spool_depth: Gauge,
    /// Runs by state.
    pub spool_runs: Family<StateLabel, Gauge>,
    /// Age of the oldest waiting run.
    pub oldest_pending_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Age of the git snapshot in use.
    pub git_snapshot_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Git fetches that failed in a row.
    pub git_fetch_failures: Gauge,
    /// Fetched commits refused for their signature.
    pub git_commits_refused: Counter,
    /// Bytes of memory slots kept warm for the next runs.
    pub warm_memory_bytes: Gauge,
    /// Times the warm memory was released after a quiet period.
    pub warm_memory_releases: Counter,
}

impl Default for Metrics {
    /// The metrics of a service running hooks from a folder.
    fn default() -> Self {
        Self::new(false)
    }
}

impl Metrics {
    /// A registry with every metric at zero; the git source's figures only
    /// when hooks come from it (under `--hooks-dir` there is no snapshot, so
    /// no age, rather than an age of 0).
    pub fn new(git_source: bool) -> Metrics {
        let metrics = Metrics {
            registry: Mutex::new(Registry::with_prefix("hookbox")),
            events_accepted: Counter::default(),
            events_duplicate: Counter::default(),
            events_rejected: Family::default(),
            runs: Family::default(),
            run_duration: Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            retries: Counter::default(),
            dead_letters: Counter::default(),
            runs_pruned: Counter::default(),
            script_mismatches: Counter::default(),
            egress: Family::default(),
            spool_depth: Gauge::default(),
            spool_runs: Family::default(),
            oldest_pending_age: Gauge::default(),
            git_snapshot_age: Gauge::default(),
            git_fetch_failures: Gauge::default(),
            git_commits_refused: Counter::default(),
            warm_memory_bytes: Gauge::default(),
            warm_memory_releases: Counter::default(),
        };
        {
            let mut r = metrics.registry.lock().unwrap_or_else(|e| e.into_inner());
            r.register(
                "events_accepted",
                "Events stored in the spool",
                metrics.events_accepted.clone(),
            );
            r.register(
                "events_duplicate",
                "Deliveries of an event already stored (not run again)",
                metrics.events_duplicate.clone(),
            );
            r.register(
                "events_rejected",
                "Deliveries refused, by reason",
                metrics.events_rejected.clone(),
            );
            r.register(
                "runs",
                "Hook attempts finished, by status",
                metrics.runs.clone(),
            );
            r.register(
                "run_duration_seconds",
                "Duration of hook attempts",
                metrics.run_duration.clone(),
            );
            r.register(
                "retries",
                "Attempts scheduled again after a failure",
                metrics.retries.clone(),
            );
            r.register(
                "dead_letters",
                "Runs given up on after their last attempt",
                metrics.dead_letters.clone(),
            );
            r.register(
                "runs_pruned",
                "Runs removed from the spool past their retention (--retain, --retain-dead)",
                metrics.runs_pruned.clone(),
            );
            r.register(
                "script_mismatches",
                "Attempts whose hook was not the script the drop-in was given",
                metrics.script_mismatches.clone(),
            );
            r.register(
                "egress",
                "Outgoing connection attempts of hooks, by verdict",
                metrics.egress.clone(),
            );
            r.register(
                "spool_depth",
                "Runs waiting (pending or running)",
                metrics.spool_depth.clone(),
            );
            r.register(
                "spool_runs",
                "Runs in the spool by state",
                metrics.spool_runs.clone(),
            );
            r.register(
                "spool_oldest_pending_age_seconds",
                "Age of the oldest waiting run",
                metrics.oldest_pending_age.clone(),
            );
            r.register(
                "warm_memory_bytes",
                "Memory kept resident in instance slots no run is using, for the next runs",
                metrics.warm_memory_bytes.clone(),
            );
            r.register(
                "warm_memory_releases",
                "Times the warm memory was returned to the system after no hook ran for --release-idle",
                metrics.warm_memory_releases.clone(),
            );
        }
        if git_source {
            let mut r = metrics.registry.lock().unwrap_or_else(|e| e.into_inner());
            r.register(
                "git_snapshot_age_seconds",
                "Age of the runbooks snapshot in use",
                metrics.git_snapshot_age.clone(),
            );
            r.register(
                "git_fetch_failures",
                "Fetches of the runbooks repository that failed in a row",
                metrics.git_fetch_failures.clone(),
            );
            r.register(
                "git_commits_refused",
                "Fetched commits of the runbooks repository not used for their signature (GIT_ALLOWED_SIGNERS)",
                metrics.git_commits_refused.clone(),
            );
        }
        metrics
    }

    /// Counts a delivery refused for `reason`.
    pub fn rejected(&self, reason: Rejection) {
        self.events_rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Counts a finished attempt.
    pub fn attempt(&self, status: AttemptStatus, outcome: Option<&RunOutcome>) {
        self.runs.get_or_create(&StatusLabel { status }).inc();
        if let Some(outcome) = outcome {
            self.run_duration.observe(outcome.duration_ms / 1000.0);
            for attempt in &outcome.egress {
                let verdict = if attempt.allowed {
                    Verdict::Allowed
                } else {
                    Verdict::Denied
                };
                self.egress.get_or_create(&VerdictLabel { verdict }).inc();
            }
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}
