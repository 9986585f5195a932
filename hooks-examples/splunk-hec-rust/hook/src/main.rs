//! Forwards every session that opens to Splunk's HTTP Event Collector (HEC).
//!
//! Environment:
//! - `SPLUNK_HEC_URL`: the collector's base URL (default `https://hec.example.com:8088`)
//! - `SPLUNK_HEC_TOKEN`: the HEC token (required; never printed)
//! - `SPLUNK_INDEX`: the index to write to (default: the token's default index)
//! - `SPLUNK_HOST`: the event's `host` field (default `hoop`)
//! - `SPLUNK_HEC_VERIFY`: `false` to ask for no TLS verification (Splunk's
//!   own HEC certificate is self-signed); granted only where the operator's
//!   `--allow-unverified-tls` names the collector
//!
//! Exits 1 with one `splunk-hec: ...` line on stderr when Splunk did not
//! accept the event.

use std::process::exit;
use std::time::{SystemTime, UNIX_EPOCH};

use hookbox_guest::{Event, SessionOpen, http};
use serde_json::{Value, json};

const DEFAULT_URL: &str = "https://hec.example.com:8088";
/// Characters of Splunk's answer quoted in an error.
const MAX_DETAIL: usize = 300;

fn main() {
    match forward() {
        Ok(message) => println!("splunk-hec: {message}"),
        Err(message) => {
            eprintln!("splunk-hec: {message}");
            exit(1);
        }
    }
}

fn forward() -> Result<String, String> {
    let event =
        hookbox_guest::event().map_err(|error| format!("cannot read the event: {error}"))?;
    let Some(open) = &event.event_session_open else {
        return Err(format!(
            "this hook handles session-open, not {}",
            event.name()
        ));
    };
    let token = var("SPLUNK_HEC_TOKEN").ok_or("SPLUNK_HEC_TOKEN is not set; nothing was sent")?;
    let base_url = var("SPLUNK_HEC_URL").unwrap_or_else(|| DEFAULT_URL.to_owned());
    let url = format!(
        "{}/services/collector/event",
        base_url.trim_end_matches('/')
    );
    let host = var("SPLUNK_HOST").unwrap_or_else(|| "hoop".to_owned());
    let body = hec_event(&event, open, now(), &host, var("SPLUNK_INDEX"));

    let authorization = format!("Splunk {token}");
    let mut headers = vec![("Authorization", authorization.as_str())];
    if var("SPLUNK_HEC_VERIFY").is_some_and(|verify| verify.eq_ignore_ascii_case("false")) {
        headers.push(http::NO_TLS_VERIFY);
    }
    let response = http::post_json(&url, &headers, &body)
        .map_err(|error| format!("nothing was sent: {error}"))?;
    if !response.ok() {
        let detail: String = response.text().chars().take(MAX_DETAIL).collect();
        return Err(format!("{url} answered HTTP {}: {detail}", response.status));
    }
    Ok(format!(
        "forwarded session-open of session {} (HTTP {})",
        event.sid, response.status
    ))
}

/// The HEC event for a session-open. `connection_envs` is left out on purpose:
/// it holds the connection's credentials.
fn hec_event(
    event: &Event,
    open: &SessionOpen,
    time: f64,
    host: &str,
    index: Option<String>,
) -> Value {
    let mut body = json!({
        "time": time,
        "host": host,
        "source": "hoop",
        "sourcetype": "hoop:session",
        "event": {
            "id": event.id,
            "sid": event.sid,
            "verb": open.verb,
            "user_email": open.user_email,
            "connection_name": open.connection_name,
            "connection_type": open.connection_type,
        },
    });
    if let Some(index) = index {
        body["index"] = index.into();
    }
    body
}

/// A variable's value, `None` when unset or empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Seconds since the epoch, to the millisecond, as HEC's `time` takes them.
fn now() -> f64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (elapsed.as_millis() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hec_event_carries_the_session_but_no_credentials() {
        let payload = include_str!("../../../payloads/session-open.json");
        let event = hookbox_guest::parse(payload).unwrap();
        let open = event.event_session_open.as_ref().unwrap();
        let body = hec_event(&event, open, 1764115200.5, "hoop", None);
        assert_eq!(
            body,
            json!({
                "time": 1764115200.5,
                "host": "hoop",
                "source": "hoop",
                "sourcetype": "hoop:session",
                "event": {
                    "id": "56e79379-b323-58a4-8436-f2e967b04c62",
                    "sid": "8c59a347-62bd-4db2-a456-2b25963dfebf",
                    "verb": "connect",
                    "user_email": "alice@example.com",
                    "connection_name": "pg-prod-customers",
                    "connection_type": "database",
                },
            })
        );
        assert!(!body.to_string().contains("czNjcjN0LXBhc3N3b3Jk"));
    }

    #[test]
    fn an_index_is_sent_only_when_set() {
        let event = hookbox_guest::parse(r#"{"event_session_open": {"verb": "exec"}}"#).unwrap();
        let open = event.event_session_open.as_ref().unwrap();
        let body = hec_event(&event, open, 0.0, "hoop", Some("audit".into()));
        assert_eq!(body["index"], "audit");
    }
}
