//! The Hoop event a hook runs for, read from `HOOP_RUNBOOK_HOOK_PAYLOAD`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The environment variable that carries the event as JSON.
///
/// # Examples
///
/// ```
/// assert_eq!(hookbox_guest::PAYLOAD_VARIABLE, "HOOP_RUNBOOK_HOOK_PAYLOAD");
/// ```
pub const PAYLOAD_VARIABLE: &str = "HOOP_RUNBOOK_HOOK_PAYLOAD";

/// One Hoop session event.
///
/// `id` is deterministic per event (a repeated session-open has the same id),
/// so receivers can de-duplicate on it. One of `event_session_open` and
/// `event_session_close` is set, depending on the event. `raw` is the whole
/// payload as parsed JSON and `payload` the exact text Hoop sent.
#[derive(Clone, PartialEq)]
pub struct Event {
    /// The event's id (a UUID).
    pub id: String,
    /// The session's id.
    pub sid: String,
    /// The connection's command line.
    pub command: Vec<String>,
    /// The session's input file, if any.
    pub input_file: String,
    /// Set for a session-open event.
    pub event_session_open: Option<SessionOpen>,
    /// Set for a session-close event.
    pub event_session_close: Option<SessionClose>,
    /// The whole payload as parsed JSON (always an object).
    pub raw: Value,
    /// The exact payload text.
    pub payload: String,
}

impl Event {
    /// `"session-open"` or `"session-close"`.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = hookbox_guest::parse(r#"{"id": "1", "sid": "s", "event_session_close": {"exit_code": 0}}"#)?;
    /// assert_eq!(event.name(), "session-close");
    /// # Ok::<(), hookbox_guest::Error>(())
    /// ```
    pub fn name(&self) -> &'static str {
        if self.event_session_open.is_some() {
            "session-open"
        } else {
            "session-close"
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("sid", &self.sid)
            .field("command", &self.command)
            .field("input_file", &self.input_file)
            .field("event_session_open", &self.event_session_open)
            .field("event_session_close", &self.event_session_close)
            .finish_non_exhaustive()
    }
}

/// The `event_session_open` part of a session-open event.
///
/// A field missing from the payload (or `null`) reads as empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOpen {
    /// `connect`, `exec` or another Hoop verb.
    #[serde(default, deserialize_with = "null_as_default")]
    pub verb: String,
    /// The connection's name in Hoop.
    #[serde(default, deserialize_with = "null_as_default")]
    pub connection_name: String,
    /// The connection's type, e.g. `database`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub connection_type: String,
    /// The connection's subtype, e.g. `postgres`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub connection_subtype: String,
    /// Who opened the session.
    #[serde(default, deserialize_with = "null_as_default")]
    pub user_email: String,
    /// The connection's variables by key; every value reads
    /// `[redacted by hookbox]` unless the operator passed the key through.
    #[serde(default, deserialize_with = "null_as_default")]
    pub connection_envs: BTreeMap<String, String>,
    /// The connection's reviewers (`None` when Hoop sent `null`).
    #[serde(default)]
    pub connection_reviewers: Option<Vec<String>>,
    /// The session's input (for `exec`: the command or query).
    #[serde(default, deserialize_with = "null_as_default")]
    pub input: String,
}

/// The `event_session_close` part of a session-close event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClose {
    /// The session's exit code (`-2` when the payload has none).
    #[serde(
        default = "unknown_exit_code",
        deserialize_with = "null_as_unknown_exit_code"
    )]
    pub exit_code: i64,
    /// The session's output, if Hoop sent it.
    #[serde(default)]
    pub output: Option<String>,
}

/// Why the event could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `HOOP_RUNBOOK_HOOK_PAYLOAD` is not set.
    MissingPayload,
    /// `HOOP_RUNBOOK_HOOK_PAYLOAD` is not valid UTF-8.
    NotUnicode,
    /// The payload is not JSON, or a field has the wrong type.
    Json(serde_json::Error),
    /// The payload is JSON but not an object.
    NotAnObject,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MissingPayload => write!(f, "{PAYLOAD_VARIABLE} is not set"),
            Error::NotUnicode => write!(f, "{PAYLOAD_VARIABLE} is not valid UTF-8"),
            Error::Json(error) => write!(f, "the payload is not a valid event: {error}"),
            Error::NotAnObject => write!(f, "the payload is not a JSON object"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Json(error) => Some(error),
            _ => None,
        }
    }
}

/// The event this hook runs for, read from [`PAYLOAD_VARIABLE`].
///
/// # Examples
///
/// ```no_run
/// let event = hookbox_guest::event()?;
/// println!("{} {}", event.name(), event.sid);
/// # Ok::<(), hookbox_guest::Error>(())
/// ```
pub fn event() -> Result<Event, Error> {
    match std::env::var(PAYLOAD_VARIABLE) {
        Ok(payload) => parse(&payload),
        Err(std::env::VarError::NotPresent) => Err(Error::MissingPayload),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::NotUnicode),
    }
}

/// Parses a payload text into an [`Event`].
///
/// An empty or `null` `event_session_open`/`event_session_close` counts as
/// absent; other missing fields read as empty.
///
/// # Examples
///
/// ```
/// let event = hookbox_guest::parse(r#"{"id": "1", "sid": "s", "event_session_close": {"exit_code": 3}}"#)?;
/// assert_eq!(event.event_session_close.unwrap().exit_code, 3);
/// # Ok::<(), hookbox_guest::Error>(())
/// ```
pub fn parse(payload: &str) -> Result<Event, Error> {
    let raw: Value = serde_json::from_str(payload).map_err(Error::Json)?;
    let object = raw.as_object().ok_or(Error::NotAnObject)?;
    Ok(Event {
        id: field(object, "id")?.unwrap_or_default(),
        sid: field(object, "sid")?.unwrap_or_default(),
        command: field(object, "command")?.unwrap_or_default(),
        input_file: field(object, "input_file")?.unwrap_or_default(),
        event_session_open: part(object, "event_session_open")?,
        event_session_close: part(object, "event_session_close")?,
        payload: payload.to_owned(),
        raw,
    })
}

/// A top-level field, `None` when missing or `null`.
fn field<T: serde::de::DeserializeOwned>(
    object: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>, Error> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::deserialize(value).map(Some).map_err(Error::Json),
    }
}

/// An event part, `None` when missing, `null` or `{}`.
fn part<T: serde::de::DeserializeOwned>(
    object: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>, Error> {
    match object.get(key) {
        Some(Value::Object(fields)) if fields.is_empty() => Ok(None),
        _ => field(object, key),
    }
}

fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

fn unknown_exit_code() -> i64 {
    -2
}

fn null_as_unknown_exit_code<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    Option::<i64>::deserialize(deserializer).map(|code| code.unwrap_or_else(unknown_exit_code))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: &str = include_str!("../../../hooks-examples/payloads/session-open.json");
    const CLOSE: &str = include_str!("../../../hooks-examples/payloads/session-close.json");

    #[test]
    fn session_open_payload_is_typed() {
        let event = parse(OPEN).unwrap();
        assert_eq!(event.name(), "session-open");
        assert_eq!(event.id, "56e79379-b323-58a4-8436-f2e967b04c62");
        assert_eq!(event.sid, "8c59a347-62bd-4db2-a456-2b25963dfebf");
        assert_eq!(event.command, ["python3"]);
        assert_eq!(event.input_file, "");
        assert_eq!(event.event_session_close, None);
        let open = event.event_session_open.unwrap();
        assert_eq!(open.verb, "connect");
        assert_eq!(open.connection_name, "pg-prod-customers");
        assert_eq!(open.connection_type, "database");
        assert_eq!(open.connection_subtype, "postgres");
        assert_eq!(open.user_email, "alice@example.com");
        assert_eq!(open.connection_envs.len(), 3);
        assert_eq!(open.connection_envs["envvar:USER"], "cmVhZG9ubHk=");
        assert_eq!(open.connection_reviewers, Some(vec!["dba-team".to_owned()]));
        assert_eq!(open.input, "SELECT * FROM customers WHERE id = 1");
    }

    #[test]
    fn session_close_payload_is_typed() {
        let event = parse(CLOSE).unwrap();
        assert_eq!(event.name(), "session-close");
        assert_eq!(event.event_session_open, None);
        let close = event.event_session_close.unwrap();
        assert_eq!(close.exit_code, 0);
        assert_eq!(close.output.as_deref(), Some("id | name\n1  | Ada\n"));
    }

    #[test]
    fn raw_and_payload_keep_what_hoop_sent() {
        let event = parse(OPEN).unwrap();
        assert_eq!(event.payload, OPEN);
        assert_eq!(
            event.raw["event_session_open"]["connection_reviewers"][0],
            "dba-team"
        );
        assert_eq!(event.raw, serde_json::from_str::<Value>(OPEN).unwrap());
    }

    #[test]
    fn null_and_missing_fields_read_as_empty() {
        let event = parse(
            r#"{"sid": "s", "command": null, "event_session_open": {"verb": "exec", "connection_envs": null, "connection_reviewers": null, "user_email": null}}"#,
        )
        .unwrap();
        assert_eq!(event.id, "");
        assert!(event.command.is_empty());
        let open = event.event_session_open.unwrap();
        assert_eq!(open.verb, "exec");
        assert_eq!(open.user_email, "");
        assert!(open.connection_envs.is_empty());
        assert_eq!(open.connection_reviewers, None);
    }

    #[test]
    fn close_without_exit_code_reads_minus_two() {
        let close = parse(r#"{"event_session_close": {"exit_code": null}}"#)
            .unwrap()
            .event_session_close
            .unwrap();
        assert_eq!(close.exit_code, -2);
        assert_eq!(close.output, None);
        let close = parse(r#"{"event_session_close": {"output": "x"}}"#)
            .unwrap()
            .event_session_close
            .unwrap();
        assert_eq!(close.exit_code, -2);
    }

    #[test]
    fn empty_parts_count_as_absent() {
        let event = parse(r#"{"event_session_open": {}, "event_session_close": {"exit_code": 1}}"#)
            .unwrap();
        assert_eq!(event.event_session_open, None);
        assert_eq!(event.name(), "session-close");
    }

    #[test]
    fn bad_payloads_are_errors() {
        assert!(matches!(parse("not json"), Err(Error::Json(_))));
        assert!(matches!(parse("[1, 2]"), Err(Error::NotAnObject)));
        assert!(matches!(
            parse(r#"{"event_session_open": {"verb": 5}}"#),
            Err(Error::Json(_))
        ));
        assert_eq!(
            parse("[]").unwrap_err().to_string(),
            "the payload is not a JSON object"
        );
    }

    #[test]
    fn debug_leaves_out_the_payload_text() {
        let shown = format!("{:?}", parse(OPEN).unwrap());
        assert!(shown.contains("pg-prod-customers"));
        assert!(
            !shown.contains("raw:") && !shown.contains("payload:"),
            "{shown}"
        );
    }
}
