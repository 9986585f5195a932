//! The one place outgoing network access is decided.
//!
//! No egress policy exists yet, so every outgoing HTTP request is refused with
//! `HttpRequestDenied` before any connection is made, and raw sockets are off in
//! the WASI context (see [`super::wasi`]). Each refused attempt is recorded for
//! the run result and reported on the hook's stderr as one line.

use std::sync::{Arc, Mutex};

use wasmtime_wasi_http::{Error as HttpError, WasiBody, WasiHttpHooks};

use super::output::CappedOutput;
use crate::record::EgressAttempt;

/// Why a request was refused while no rule can allow anything.
pub const DENY_BY_DEFAULT: &str = "no egress rule allows it (network access is denied by default)";

/// The egress gate of one run.
pub struct EgressGate {
    attempts: Arc<Mutex<Vec<EgressAttempt>>>,
    hook_stderr: CappedOutput,
}

impl EgressGate {
    /// A gate that reports refusals on the hook's stderr.
    pub fn new(hook_stderr: CappedOutput) -> Self {
        EgressGate {
            attempts: Arc::default(),
            hook_stderr,
        }
    }

    /// Every attempt made so far, in order.
    pub fn attempts(&self) -> Vec<EgressAttempt> {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn refuse(&self, target: String, reason: &str) {
        tracing::info!(target = %target, reason, "egress denied");
        self.hook_stderr
            .write_line(&format!("hookbox: egress denied: {target}: {reason}"));
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(EgressAttempt {
                target,
                allowed: false,
                reason: reason.to_owned(),
            });
    }
}

impl WasiHttpHooks for EgressGate {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                )>,
            > + Send,
    > {
        self.refuse(
            format!("{} {}", request.method(), request.uri()),
            DENY_BY_DEFAULT,
        );
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}
