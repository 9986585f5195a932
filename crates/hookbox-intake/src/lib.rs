//! Event intake: the payload a hook receives, read and validated before any
//! sandbox is created, and stripped of the connection's secrets.

mod event;
pub mod hoop_event;
pub mod hoop_payload;
mod payload;
mod secrets;

pub use event::{Event, UnknownEvent};
pub use payload::{Payload, PayloadError};
pub use secrets::{REDACTED, SecretPolicy};
