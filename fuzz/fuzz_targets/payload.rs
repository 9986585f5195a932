//! The intake's handling of a posted body: a payload is a JSON object or
//! refused, its event is identified or refused, and redacting the secrets
//! hooks may not see never changes which event it is.
#![no_main]

use hookbox::intake::hoop_event::identify;
use hookbox::intake::{Payload, SecretPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = Payload::from_bytes(data.to_vec(), "fuzz") else {
        return;
    };
    let value: serde_json::Value =
        serde_json::from_str(payload.as_str()).expect("an accepted payload is JSON");
    assert!(value.is_object(), "an accepted payload is an object");
    let identity = identify(&payload);
    let redacted = SecretPolicy::default().redact(&payload);
    assert_eq!(identify(&redacted).ok(), identity.ok());
});
