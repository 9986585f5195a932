//! The drop-in handing an event to a `hookbox serve` (`[python] service`)
//! instead of running the hook itself: the service stores it durably and
//! runs it with retries, so a SIEM that is down when Hoop fires loses
//! nothing.
//!
//! Each invocation is one firing, with a delivery key of its own (sent as
//! `webhook-id`) that stays the same across this invocation's retries. The
//! script Hoop sent is identified by its SHA-256 (`hookbox-script-sha256`),
//! so the service can show when the hook it ran is not that script.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::auth::Auth;
use hookbox_core::backoff;
use hookbox_intake::Payload;

/// The header carrying the SHA-256 of the script the drop-in was given.
pub const SCRIPT_DIGEST_HEADER: &str = "hookbox-script-sha256";

/// SHA-256 in lower-case hex: the script digest the drop-in sends and the
/// service compares with the hook it ran, and the delivery key of a POST
/// without `webhook-id`.
pub use hookbox_crypto::digest::sha256_hex;

/// Why the service did not take the event.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// No answer: not listening, unreachable, or too slow.
    #[error("cannot reach the hookbox service at {url}: {reason}")]
    Unreachable {
        /// The intake URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The service answered, but not 202.
    #[error("the hookbox service at {url} refused the event: HTTP {status}: {message}")]
    Refused {
        /// The intake URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The service's error message.
        message: String,
    },
    /// The service URL or the TLS set-up cannot be used.
    #[error("[python] service {url:?}: {reason}")]
    Setup {
        /// The URL as configured.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

hookbox_core::failure::categorized!(Unavailable: ForwardError);

/// What the service answered for an event it stored.
#[derive(Debug, Clone, Deserialize)]
pub struct Queued {
    /// Hoop's event id.
    pub event_id: String,
    /// The run the service will execute.
    pub run_id: String,
    /// Whether this delivery had been stored before.
    #[serde(default)]
    pub duplicate: bool,
}

/// How to reach the service.
pub struct Forwarder {
    url: String,
    token: Option<String>,
    webhook_secret: Option<String>,
    patience: Duration,
    client: reqwest::blocking::Client,
}

impl Forwarder {
    /// A forwarder to the service at `base` (`http://host:port`), trusting
    /// `tls` for HTTPS, giving up after `patience`.
    pub fn new(
        base: &str,
        token: Option<String>,
        webhook_secret: Option<String>,
        tls: rustls::ClientConfig,
        patience: Duration,
    ) -> Result<Forwarder, ForwardError> {
        let setup = |reason: String| ForwardError::Setup {
            url: base.to_owned(),
            reason,
        };
        let parsed: http::Uri = base.parse().map_err(|e| setup(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            return Err(setup(
                "write it as http://host:port or https://host:port".into(),
            ));
        }
        let client = reqwest::blocking::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(patience)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| setup(e.to_string()))?;
        Ok(Forwarder {
            url: format!("{}/v1/events", base.trim_end_matches('/')),
            token,
            webhook_secret,
            patience,
            client,
        })
    }

    /// Posts `payload` as one firing, retrying what may pass on a second try
    /// (no answer, 503) until the service's patience runs out.
    pub fn post(&self, payload: &Payload, script_sha256: &str) -> Result<Queued, ForwardError> {
        let delivery = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let mut failures = 0;
        loop {
            let error = match self.attempt(payload, script_sha256, &delivery) {
                Ok(queued) => return Ok(queued),
                Err(error) => error,
            };
            let again = match &error {
                ForwardError::Unreachable { .. } => true,
                ForwardError::Refused { status, .. } => *status == 503,
                ForwardError::Setup { .. } => false,
            };
            failures += 1;
            let wait =
                backoff::exponential(Duration::from_millis(100), Duration::from_secs(1), failures);
            if !again || started.elapsed() + wait >= self.patience {
                return Err(error);
            }
            std::thread::sleep(wait);
        }
    }

    fn attempt(
        &self,
        payload: &Payload,
        script_sha256: &str,
        delivery: &str,
    ) -> Result<Queued, ForwardError> {
        let body = payload.as_str().as_bytes().to_vec();
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", delivery)
            .header(SCRIPT_DIGEST_HEADER, script_sha256);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(secret) = &self.webhook_secret {
            let timestamp = time_now();
            let signature = Auth::sign(secret, delivery, timestamp, &body).map_err(|_| {
                ForwardError::Setup {
                    url: self.url.clone(),
                    reason: "HOOKBOX_WEBHOOK_SECRET is not a whsec_ base64 secret".into(),
                }
            })?;
            request = request
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature);
        }
        let response = request
            .body(body)
            .send()
            .map_err(|e| ForwardError::Unreachable {
                url: self.url.clone(),
                reason: without_url(&e),
            })?;
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        if status != 202 {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Err(ForwardError::Refused {
                url: self.url.clone(),
                status,
                message,
            });
        }
        serde_json::from_str(&text).map_err(|e| ForwardError::Refused {
            url: self.url.clone(),
            status,
            message: format!("an answer hookbox cannot read: {e}"),
        })
    }
}

/// reqwest's error text without the URL it repeats (the caller names it).
fn without_url(error: &reqwest::Error) -> String {
    let mut reason = error.to_string();
    if let Some(url) = error.url() {
        reason = reason.replace(&format!(" ({url})"), "");
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    reason
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
