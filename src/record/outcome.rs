//! The result of one hook run, as `hookbox run --json` prints it.

use serde::Serialize;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The hook exited 0.
    Ok,
    /// The hook exited with a non-zero code (an uncaught exception is exit 1).
    Failed,
    /// The wall-clock limit stopped the hook.
    Timeout,
    /// The fuel (CPU) limit stopped the hook.
    FuelExhausted,
    /// The hook needed more memory than its limit allowed.
    MemoryExceeded,
    /// The sandbox could not run the hook to an exit code (a wasm trap, an
    /// instantiation failure); `error` in the outcome says why.
    Error,
}

impl RunStatus {
    /// The status as it appears in JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Timeout => "timeout",
            RunStatus::FuelExhausted => "fuel_exhausted",
            RunStatus::MemoryExceeded => "memory_exceeded",
            RunStatus::Error => "error",
        }
    }
}

/// One outgoing connection a hook attempted. Every attempt is denied until the
/// egress policy exists, so runs record none yet.
#[derive(Debug, Clone, Serialize)]
pub struct EgressAttempt {
    /// The URL or address the hook tried to reach.
    pub target: String,
    /// Whether the attempt was let through.
    pub allowed: bool,
    /// The rule that allowed it or the reason it was refused.
    pub reason: String,
}

/// Everything one run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// How the run ended.
    pub status: RunStatus,
    /// The hook's exit code, when it ran to an exit.
    pub exit_code: Option<i32>,
    /// Captured standard output (lossy UTF-8), with a marker if truncated.
    pub stdout: String,
    /// Captured standard error (lossy UTF-8), with a marker if truncated.
    pub stderr: String,
    /// Whether standard output went over its cap.
    pub stdout_truncated: bool,
    /// Whether standard error went over its cap.
    pub stderr_truncated: bool,
    /// Wall time from the start of instantiation to the end of the run.
    pub duration_ms: f64,
    /// Fuel units the run consumed.
    pub fuel_consumed: u64,
    /// The most linear memory the run had at one time.
    pub peak_memory_bytes: u64,
    /// Every outgoing connection attempted.
    pub egress: Vec<EgressAttempt>,
    /// Why the run did not end with an exit code of its own, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
