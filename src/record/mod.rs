//! What a run produced: status, exit code, captured output and resource use.

pub mod credentials;
mod outcome;
mod provenance;

pub use outcome::{EgressAttempt, EgressScheme, RecordedRequest, RunOutcome, RunStatus};
pub use provenance::{Provenance, Signer};
