//! The egress log of one run: every attempt, allowed or refused, updated as
//! the connection makes progress.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crate::record::EgressAttempt;

/// All attempts of one run.
#[derive(Debug, Clone, Default)]
pub struct EgressLog {
    attempts: Arc<Mutex<Vec<EgressAttempt>>>,
}

/// What is known when an attempt starts.
#[derive(Debug, Clone)]
pub struct AttemptStart {
    /// `http`, `https`, `tcp` or `udp`.
    pub scheme: String,
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
    index: usize,
    started: Instant,
}

impl EgressLog {
    /// Records the start of an attempt.
    pub fn begin(&self, start: AttemptStart) -> AttemptHandle {
        let mut attempts = self.lock();
        attempts.push(EgressAttempt {
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
        });
        AttemptHandle {
            log: self.clone(),
            index: attempts.len() - 1,
            started: Instant::now(),
        }
    }

    /// Every attempt so far, in order.
    pub fn attempts(&self) -> Vec<EgressAttempt> {
        self.lock().clone()
    }

    /// Why the most recent refused attempt was refused.
    pub fn last_denial(&self) -> Option<String> {
        self.lock()
            .iter()
            .rev()
            .find(|attempt| !attempt.allowed)
            .and_then(|attempt| attempt.reason.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<EgressAttempt>> {
        self.attempts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AttemptHandle {
    fn update(&self, change: impl FnOnce(&mut EgressAttempt)) {
        let mut attempts = self.log.lock();
        let attempt = &mut attempts[self.index];
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

    /// The policy refused the attempt.
    pub fn deny(&self, reason: &str) {
        self.update(|a| {
            a.allowed = false;
            a.reason = Some(reason.to_owned());
        });
    }

    /// Adds what happened after the attempt was allowed (an error, a cut).
    pub fn note(&self, reason: &str) {
        self.update(|a| a.reason = Some(reason.to_owned()));
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

    /// Counts body bytes received.
    pub fn add_bytes_in(&self, bytes: u64) {
        self.update(|a| a.bytes_in += bytes);
    }
}
