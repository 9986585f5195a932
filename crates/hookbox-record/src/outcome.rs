//! The result of one hook run, as `hookbox run --json` prints it and the
//! service stores it. It reads back from that JSON (fields added later take
//! their defaults), so the service's pages and tools consume these types,
//! never JSON by field name.

use serde::{Deserialize, Serialize};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// What kind of connection an egress attempt was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EgressScheme {
    /// HTTP.
    Http,
    /// HTTPS.
    Https,
    /// A raw TCP connection.
    Tcp,
    /// UDP.
    Udp,
    /// A name lookup (refused before any connection).
    Dns,
}

impl EgressScheme {
    /// The scheme as records, reports and rules write it.
    pub fn as_str(self) -> &'static str {
        match self {
            EgressScheme::Http => "http",
            EgressScheme::Https => "https",
            EgressScheme::Tcp => "tcp",
            EgressScheme::Udp => "udp",
            EgressScheme::Dns => "dns",
        }
    }
}

impl std::fmt::Display for EgressScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One outgoing connection a hook attempted, allowed or refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EgressAttempt {
    /// When the attempt started (RFC 3339, UTC).
    pub time: String,
    /// What kind of connection.
    pub scheme: EgressScheme,
    /// The host as the hook named it (normalized).
    pub host: String,
    /// The destination port.
    pub port: u16,
    /// The address connected to, once one was chosen.
    pub address: Option<String>,
    /// The HTTP method, for HTTP.
    pub method: Option<String>,
    /// The URL without its query string, for HTTP.
    pub url: Option<String>,
    /// Whether the policy let it through.
    pub allowed: bool,
    /// The rule that allowed it.
    pub rule: Option<String>,
    /// Why it was refused, or what went wrong after it was allowed.
    pub reason: Option<String>,
    /// The HTTP status received.
    pub status: Option<u16>,
    /// Body bytes sent.
    pub bytes_out: u64,
    /// Body bytes received.
    pub bytes_in: u64,
    /// Time from the start of the attempt to its last activity.
    pub duration_ms: f64,
    /// What was sent, when the recording receiver answered in place of the
    /// network (`hookbox test`); never kept for live traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RecordedRequest>,
}

impl EgressAttempt {
    /// Where it went, as `scheme://host:port`.
    pub fn destination(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// A request (or a TCP connection's bytes) as the recording receiver saw it.
/// Read back from a record, its credential headers hold their masked form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// The URL as hookbox shows URLs (no user info or query, a webhook's
    /// secret path masked; `tcp://host:port` for raw TCP): what reports and
    /// `--json` show.
    pub url: String,
    /// The full URL, query included: kept in memory for `hookbox test`'s
    /// expectations, never written out.
    #[serde(skip)]
    pub full_url: String,
    /// The request headers, in order (none for raw TCP); credentials are
    /// masked when written out.
    #[serde(serialize_with = "super::credentials::serialize_headers")]
    pub headers: Vec<(String, String)>,
    /// The body, or the bytes sent over TCP (lossy UTF-8).
    pub body: String,
}

/// Everything one run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunOutcome {
    /// The commit of the runbooks repository the hook came from, and its
    /// signer; none for a hook from a local folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<super::Provenance>,
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
    /// What the run wrote to its scratch folder (`/tmp`), as its cap
    /// counts it: bytes written or grown plus 4 KiB per file or folder
    /// created.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scratch_bytes_written: u64,
    /// Every outgoing connection attempted (the first thousand).
    pub egress: Vec<EgressAttempt>,
    /// Attempts beyond those recorded in `egress`, only counted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub egress_unrecorded: u64,
    /// Why the run did not end with an exit code of its own, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

impl RunOutcome {
    /// The outcome of a run whose sandbox could not be created.
    pub fn not_started(error: String) -> RunOutcome {
        RunOutcome {
            provenance: None,
            status: RunStatus::Error,
            exit_code: None,
            stdout: String::new(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            duration_ms: 0.0,
            fuel_consumed: 0,
            peak_memory_bytes: 0,
            scratch_bytes_written: 0,
            egress: Vec::new(),
            egress_unrecorded: 0,
            error: Some(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_outcome_reads_back_and_older_records_take_defaults() {
        let older = r#"{"status":"failed","exit_code":3,"stdout":"x","stderr":"",
            "stdout_truncated":false,"stderr_truncated":false,"duration_ms":1.5,
            "fuel_consumed":10,"peak_memory_bytes":20,"egress":[{"time":"t","scheme":"https",
            "host":"siem.example.com","port":443,"address":null,"method":"POST",
            "url":"https://siem.example.com:443/x","allowed":false,"rule":null,
            "reason":"no rule","status":null,"bytes_out":0,"bytes_in":0,"duration_ms":0.1}]}"#;
        let outcome: RunOutcome = serde_json::from_str(older).unwrap();
        assert_eq!(outcome.status, RunStatus::Failed);
        assert_eq!(outcome.egress[0].reason.as_deref(), Some("no rule"));
        assert!(outcome.provenance.is_none() && outcome.error.is_none());
        let again = serde_json::to_string(&outcome).unwrap();
        let back: RunOutcome = serde_json::from_str(&again).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), again);
        assert!(serde_json::from_str::<RunOutcome>(r#"{"status":"renamed"}"#).is_err());
    }
}
