//! Event intake: the payload a hook receives, read and validated before any
//! sandbox is created.

mod payload;

pub use payload::{Payload, PayloadError};
