//! The egress log of one run: every attempt, allowed or refused, updated as
//! the connection makes progress. It keeps at most [`MAX_RECORDED_ATTEMPTS`]
//! attempts (a hook looping on refused requests must not grow the host's
//! memory without bound) and counts the rest.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use super::inject::SecretInjection;
use hookbox_record::{EgressAttempt, RecordedRequest};

/// Attempts recorded per run; later ones are only counted.
pub const MAX_RECORDED_ATTEMPTS: usize = 1000;

#[derive(Debug, Default)]
struct Entries {
    attempts: Vec<EgressAttempt>,
    unrecorded: u64,
    last_denial: Option<String>,
}

/// All attempts of one run.
#[derive(Debug, Clone, Default)]
pub struct EgressLog {
    entries: Arc<Mutex<Entries>>,
    /// Injected secrets, masked in every reason recorded (a backstop: no
    /// reason should quote what a value went into).
    secrets: Arc<SecretInjection>,
}

/// What is known when an attempt starts.
#[derive(Debug, Clone)]
pub struct AttemptStart {
    /// What kind of connection.
    pub scheme: hookbox_record::EgressScheme,
    /// The destination host, normalized.
    pub host: String,
    /// The destination port.
    pub port: u16,
    /// The HTTP method, for HTTP.
    pub method: Option<String>,
    /// The URL without query, for HTTP.
    pub url: Option<String>,
}

/// A handle to update one attempt as it progresses.
#[derive(Debug, Clone)]
pub struct AttemptHandle {
    log: EgressLog,
    /// `None` once the log is full: the attempt is counted, not kept.
    index: Option<usize>,
    started: Instant,
}

impl EgressLog {
    /// A log that masks `secrets`' values in the reasons it records.
    pub fn masking(secrets: Arc<SecretInjection>) -> EgressLog {
        EgressLog {
            entries: Arc::default(),
            secrets,
        }
    }

    /// Records the start of an attempt.
    pub fn begin(&self, start: AttemptStart) -> AttemptHandle {
        let mut entries = self.lock();
        let index = if entries.attempts.len() < MAX_RECORDED_ATTEMPTS {
            entries.attempts.push(EgressAttempt {
                time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                scheme: start.scheme,
                host: start.host,
                port: start.port,
                address: None,
                method: start.method,
                url: start.url,
                allowed: false,
                rule: None,
                reason: None,
                status: None,
                bytes_out: 0,
                bytes_in: 0,
                duration_ms: 0.0,
                request: None,
            });
            Some(entries.attempts.len() - 1)
        } else {
            entries.unrecorded += 1;
            None
        };
        AttemptHandle {
            log: self.clone(),
            index,
            started: Instant::now(),
        }
    }

    /// Every recorded attempt, in order.
    pub fn attempts(&self) -> Vec<EgressAttempt> {
        self.lock().attempts.clone()
    }

    /// Attempts made after the log was full.
    pub fn unrecorded(&self) -> u64 {
        self.lock().unrecorded
    }

    /// Why the most recent refused attempt was refused.
    pub fn last_denial(&self) -> Option<String> {
        self.lock().last_denial.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AttemptHandle {
    fn update(&self, change: impl FnOnce(&mut EgressAttempt)) {
        let Some(index) = self.index else { return };
        let mut entries = self.log.lock();
        let attempt = &mut entries.attempts[index];
        change(attempt);
        attempt.duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
    }

    /// The policy allowed the attempt by `rule`.
    pub fn allow(&self, rule: &str) {
        self.update(|a| {
            a.allowed = true;
            a.rule = Some(rule.to_owned());
        });
    }

    /// `text` as the log records it: injected secrets' values masked.
    pub fn masked(&self, text: &str) -> String {
        self.log.secrets.mask_text(text)
    }

    /// The policy refused the attempt.
    pub fn deny(&self, reason: &str) {
        let reason = self.masked(reason);
        self.log.lock().last_denial = Some(reason.clone());
        self.update(|a| {
            a.allowed = false;
            a.reason = Some(reason);
        });
    }

    /// Adds what happened after the attempt was allowed (an error, a cut).
    pub fn note(&self, reason: &str) {
        let reason = self.masked(reason);
        self.update(|a| a.reason = Some(reason));
    }

    /// The address the connection went to.
    pub fn set_address(&self, address: SocketAddr) {
        self.update(|a| a.address = Some(address.to_string()));
    }

    /// The HTTP status received.
    pub fn set_status(&self, status: u16) {
        self.update(|a| a.status = Some(status));
    }

    /// Counts body bytes sent.
    pub fn add_bytes_out(&self, bytes: u64) {
        self.update(|a| a.bytes_out += bytes);
    }

    /// Keeps what the recording receiver was sent.
    pub fn record_request(&self, request: RecordedRequest) {
        self.update(|a| a.request = Some(request));
    }

    /// Adds bytes a TCP connection sent to the recording receiver.
    pub fn append_sent(&self, bytes: &[u8]) {
        self.update(|a| {
            a.bytes_out += bytes.len() as u64;
            let request = a.request.get_or_insert_with(RecordedRequest::default);
            request.body.push_str(&String::from_utf8_lossy(bytes));
        });
    }

    /// Counts body bytes received.
    pub fn add_bytes_in(&self, bytes: u64) {
        self.update(|a| a.bytes_in += bytes);
    }
}
