//! Which event a Hoop payload carries, and its identity: the event is the one
//! whose `event_session_*` field is not null, and `id` (a v5 UUID of the
//! event and session) is the de-duplication key.

use serde_json::Value;

use super::Event;
use super::Payload;

/// What identifies one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventIdentity {
    /// `session-open` or `session-close`.
    pub event: Event,
    /// Hoop's event id (same for repeated deliveries of one event).
    pub id: String,
    /// The session id.
    pub sid: String,
}

/// Why a payload does not carry exactly one event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A required field is missing or not a non-empty string.
    #[error("the payload has no `{0}` string; Hoop's payload carries `id` and `sid`")]
    MissingField(&'static str),
    /// Neither event object is set.
    #[error("the payload has neither `event_session_open` nor `event_session_close` set")]
    NoEvent,
    /// Both event objects are set.
    #[error(
        "the payload has both `event_session_open` and `event_session_close` set; exactly one must be"
    )]
    BothEvents,
}

/// Identifies the event `payload` carries.
pub fn identify(payload: &Payload) -> Result<EventIdentity, EventError> {
    let value: Value = serde_json::from_str(payload.as_str()).unwrap_or(Value::Null);
    let text = |field: &'static str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or(EventError::MissingField(field))
    };
    let set = |field: &str| value.get(field).is_some_and(|v| !v.is_null());
    let event = match (set("event_session_open"), set("event_session_close")) {
        (true, false) => Event::SessionOpen,
        (false, true) => Event::SessionClose,
        (false, false) => return Err(EventError::NoEvent),
        (true, true) => return Err(EventError::BothEvents),
    };
    Ok(EventIdentity {
        event,
        id: text("id")?,
        sid: text("sid")?,
    })
}

hookbox_core::failure::categorized!(Usage: EventError);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hoop_payload::sample;

    #[test]
    fn the_set_event_field_names_the_event() {
        let open = Payload::from_value(&sample(Event::SessionOpen));
        assert_eq!(identify(&open).unwrap().event, Event::SessionOpen);
        let close = Payload::from_value(&sample(Event::SessionClose));
        let identity = identify(&close).unwrap();
        assert_eq!(identity.event, Event::SessionClose);
        assert!(!identity.id.is_empty());
    }

    #[test]
    fn none_both_or_no_id_are_refused() {
        let mut both = sample(Event::SessionOpen);
        both["event_session_close"] = sample(Event::SessionClose)["event_session_close"].clone();
        assert_eq!(
            identify(&Payload::from_value(&both)),
            Err(EventError::BothEvents)
        );
        let mut none = sample(Event::SessionOpen);
        none["event_session_open"] = Value::Null;
        assert_eq!(
            identify(&Payload::from_value(&none)),
            Err(EventError::NoEvent)
        );
        let mut no_id = sample(Event::SessionOpen);
        no_id.as_object_mut().unwrap().remove("id");
        assert_eq!(
            identify(&Payload::from_value(&no_id)),
            Err(EventError::MissingField("id"))
        );
    }
}
