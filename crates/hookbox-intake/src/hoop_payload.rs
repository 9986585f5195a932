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
        check_path(target, event, &keys, &value).map_err(|reason| bad(&reason))?;
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

/// The key of the event part a payload for `event` does not carry.
fn other_event_key(event: Event) -> &'static str {
    match event {
        Event::SessionOpen => "event_session_close",
        Event::SessionClose => "event_session_open",
    }
}

/// Whether `keys` names a field Hoop's payload for `event` has: every part of
/// the path must exist in the payload (any key under `connection_envs`, a
/// map), and the event part Hoop leaves null for this event stays null.
fn check_path(payload: &Value, event: Event, keys: &[&str], value: &Value) -> Result<(), String> {
    let other = other_event_key(event);
    if keys[0] == other && !(keys.len() == 1 && value.is_null()) {
        return Err(format!(
            "a {} payload has `{other}` null: Hoop never sends both events (build the other \
             event's payload instead)",
            event.name()
        ));
    }
    let mut node = payload;
    for (depth, key) in keys.iter().enumerate() {
        if depth == 2 && keys[1] == "connection_envs" {
            return Ok(()); // a map of the connection's variables: any key
        }
        let Some(fields) = node.as_object() else {
            return Err("the path goes through a value that is not an object".into());
        };
        match fields.get(*key) {
            Some(child) => node = child,
            None => {
                let at = keys[..depth].join(".");
                let known: Vec<String> = fields
                    .keys()
                    .map(|field| match at.as_str() {
                        "" => field.clone(),
                        _ => format!("{at}.{field}"),
                    })
                    .collect();
                return Err(format!(
                    "Hoop's payload has no `{}`; the fields there are: {}",
                    keys[..=depth].join("."),
                    known.join(", ")
                ));
            }
        }
    }
    Ok(())
}

hookbox_core::failure::categorized!(Usage: SetError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fields_hoop_sends_can_be_set() {
        let mut open = sample(Event::SessionOpen);
        let set = |payload: &mut Value, event, entry: &str| {
            apply_sets(payload, event, &[entry.to_owned()]).map_err(|e| e.reason)
        };
        assert!(
            set(
                &mut open,
                Event::SessionOpen,
                "event_session_open.user_email=bob@example.com"
            )
            .is_ok()
        );
        assert!(
            set(
                &mut open,
                Event::SessionOpen,
                "event_session_open.connection_envs.envvar:TOKEN=eA=="
            )
            .is_ok()
        );
        let unknown = set(&mut open, Event::SessionOpen, "user_mail=x").unwrap_err();
        assert!(unknown.contains("no `user_mail`"), "{unknown}");
        assert!(unknown.contains("event_session_open"), "{unknown}");
        let nested = set(
            &mut open,
            Event::SessionOpen,
            "event_session_open.user_mail=x",
        )
        .unwrap_err();
        assert!(nested.contains("event_session_open.user_email"), "{nested}");
        let other = set(
            &mut open,
            Event::SessionOpen,
            "event_session_close.exit_code=1",
        )
        .unwrap_err();
        assert!(other.contains("never sends both"), "{other}");
        let mut close = sample(Event::SessionClose);
        let other = set(
            &mut close,
            Event::SessionClose,
            "event_session_open.user_email=x",
        )
        .unwrap_err();
        assert!(other.contains("never sends both"), "{other}");
        assert!(set(&mut close, Event::SessionClose, "event_session_open=null").is_ok());
        assert_eq!(open["event_session_close"], Value::Null);
    }

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
