//! Secrets stay home: Hoop puts the connection's stored credentials in
//! `event_session_open.connection_envs`. Before a hook sees the payload, each
//! value there is replaced by a fixed marker, keeping the key names, unless
//! the operator passed that key through by name.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Payload;

/// What a redacted value reads as.
pub const REDACTED: &str = "[redacted by hookbox]";

/// Which `connection_envs` keys reach hooks with their real values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretPolicy {
    pass_through: BTreeSet<String>,
}

impl SecretPolicy {
    /// A policy passing the named keys (e.g. `envvar:SIEM_TOKEN`) through.
    pub fn passing<I: IntoIterator<Item = S>, S: Into<String>>(keys: I) -> Self {
        SecretPolicy {
            pass_through: keys.into_iter().map(Into::into).collect(),
        }
    }

    /// The payload as the hook should see it. Unchanged (byte for byte) when
    /// nothing needs redacting.
    pub fn redact(&self, payload: &Payload) -> Payload {
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(payload.as_str()) else {
            return payload.clone();
        };
        let Some(envs) = value
            .get_mut("event_session_open")
            .and_then(|open| open.get_mut("connection_envs"))
            .and_then(|envs| envs.as_object_mut())
        else {
            return payload.clone();
        };
        let mut changed = false;
        for (key, secret) in envs.iter_mut() {
            if !self.pass_through.contains(key) && secret.as_str() != Some(REDACTED) {
                *secret = serde_json::Value::String(REDACTED.to_owned());
                changed = true;
            }
        }
        if !changed {
            return payload.clone();
        }
        Payload::from_value(&value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(text: &str) -> Payload {
        Payload::from_bytes(text.as_bytes().to_vec(), "test").unwrap()
    }

    #[test]
    fn connection_env_values_are_replaced_keeping_keys_and_order() {
        let original = payload(
            r#"{"sid":"s","event_session_open":{"user_email":"a@b","connection_envs":{"envvar:PASS":"czNjcjN0","envvar:HOST":"ZGI="}},"event_session_close":null}"#,
        );
        let seen = SecretPolicy::default().redact(&original);
        assert_eq!(
            seen.as_str(),
            r#"{"sid":"s","event_session_open":{"user_email":"a@b","connection_envs":{"envvar:PASS":"[redacted by hookbox]","envvar:HOST":"[redacted by hookbox]"}},"event_session_close":null}"#
        );
    }

    #[test]
    fn passed_keys_keep_their_values() {
        let original = payload(
            r#"{"event_session_open":{"connection_envs":{"envvar:TOKEN":"dG9r","envvar:PASS":"cA=="}}}"#,
        );
        let seen = SecretPolicy::passing(["envvar:TOKEN"]).redact(&original);
        assert!(seen.as_str().contains(r#""envvar:TOKEN":"dG9r""#));
        assert!(!seen.as_str().contains("cA=="));
    }

    #[test]
    fn payloads_without_secrets_pass_unchanged() {
        let original = payload("{ \"event_session_close\": {\"exit_code\": 0} }\n");
        assert_eq!(SecretPolicy::default().redact(&original), original);
    }
}
