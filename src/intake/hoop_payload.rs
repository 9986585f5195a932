//! Payloads in Hoop's exact shape, for hook authors who want to try a hook
//! without opening a real session: every field Hoop sends, none omitted,
//! and the deterministic event id Hoop derives from the session id.

use serde_json::{Value, json};

use super::Event;

/// Hoop's event id: a name-based UUID (v5, URL namespace) of
/// `<event>/<sid>`, so a repeated event has the same id.
pub fn event_id(event: Event, sid: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("{}/{sid}", event.name()).as_bytes(),
    )
    .to_string()
}

/// A realistic payload for `event`, with a fresh session id.
pub fn sample(event: Event) -> Value {
    let sid = uuid::Uuid::new_v4().to_string();
    let (open, close) = match event {
        Event::SessionOpen => (
            json!({
                "verb": "connect",
                "connection_name": "pg-prod-customers",
                "connection_type": "database",
                "connection_subtype": "postgres",
                "user_email": "alice@example.com",
                "connection_envs": {
                    "envvar:HOST": "ZGIucHJvZC5pbnRlcm5hbA==",
                    "envvar:USER": "cmVhZG9ubHk=",
                    "envvar:PASS": "czNjcjN0LXBhc3N3b3Jk"
                },
                "connection_reviewers": ["dba-team"],
                "input": "SELECT * FROM customers WHERE id = 1"
            }),
            Value::Null,
        ),
        Event::SessionClose => (
            Value::Null,
            json!({"exit_code": 0, "output": "id | name\n1  | Ada\n"}),
        ),
    };
    json!({
        "id": event_id(event, &sid),
        "sid": sid,
        "command": ["python3"],
        "input_file": "",
        "event_session_open": open,
        "event_session_close": close,
    })
}

/// Why a `--set` cannot be applied.
#[derive(Debug, thiserror::Error)]
#[error("--set {entry:?}: {reason}")]
pub struct SetError {
    /// What was given.
    pub entry: String,
    /// Why it cannot be applied.
    pub reason: String,
}

/// Applies `path=value` (`path` dotted, e.g. `event_session_open.user_email`;
/// `value` read as JSON when it is valid JSON, else as a string). The `id`
/// follows a changed `sid` unless `id` itself is set.
pub fn apply_sets(payload: &mut Value, event: Event, sets: &[String]) -> Result<(), SetError> {
    let mut id_set = false;
    for entry in sets {
        let bad = |reason: &str| SetError {
            entry: entry.clone(),
            reason: reason.to_owned(),
        };
        let (path, text) = entry
            .split_once('=')
            .ok_or_else(|| bad("write it as path=value"))?;
        let value = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
        let mut target = &mut *payload;
        let keys: Vec<&str> = path.split('.').collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(bad("the path has an empty part"));
        }
        for key in &keys[..keys.len() - 1] {
            if target.get(*key).is_none_or(Value::is_null) {
                target[*key] = json!({});
            }
            target = target
                .get_mut(*key)
                .ok_or_else(|| bad("the path goes through a value that is not an object"))?;
            if !target.is_object() {
                return Err(bad("the path goes through a value that is not an object"));
            }
        }
        target[keys[keys.len() - 1]] = value;
        id_set |= path == "id";
    }
    if !id_set && let Some(sid) = payload["sid"].as_str().map(str::to_owned) {
        payload["id"] = Value::String(event_id(event, &sid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_hoops_derivation() {
        // Computed independently with Python's uuid.uuid5(uuid.NAMESPACE_URL, ...).
        let sid = "8c59a347-62bd-4db2-a456-2b25963dfebf";
        assert_eq!(
            event_id(Event::SessionOpen, sid),
            "56e79379-b323-58a4-8436-f2e967b04c62"
        );
        assert_eq!(
            event_id(Event::SessionClose, sid),
            "107eaa75-8bd9-56f5-89d0-e902db9a754f"
        );
    }

    #[test]
    fn samples_have_every_field_and_one_event_part() {
        let open = sample(Event::SessionOpen);
        for key in [
            "id",
            "sid",
            "command",
            "input_file",
            "event_session_open",
            "event_session_close",
        ] {
            assert!(open.get(key).is_some(), "{key}");
        }
        assert!(open["event_session_close"].is_null());
        assert_eq!(
            open["id"],
            event_id(Event::SessionOpen, open["sid"].as_str().unwrap())
        );
        assert!(sample(Event::SessionClose)["event_session_open"].is_null());
    }

    #[test]
    fn sets_change_fields_and_the_id_follows_the_sid() {
        let mut payload = sample(Event::SessionClose);
        apply_sets(
            &mut payload,
            Event::SessionClose,
            &[
                "sid=8c59a347-62bd-4db2-a456-2b25963dfebf".into(),
                "event_session_close.exit_code=3".into(),
            ],
        )
        .unwrap();
        assert_eq!(payload["event_session_close"]["exit_code"], 3);
        assert_eq!(payload["id"], "107eaa75-8bd9-56f5-89d0-e902db9a754f");
        assert!(apply_sets(&mut payload, Event::SessionClose, &["nonsense".into()]).is_err());
        assert!(apply_sets(&mut payload, Event::SessionClose, &["sid.x=1".into()]).is_err());
    }
}
