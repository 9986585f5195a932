//! What a run produced: status, exit code, captured output and resource use,
//! every egress attempt, and where the hook came from. Plain serde data, the
//! same in `hookbox run --json`, the service's spool and API, and the
//! dashboard: a crate of its own so what reads records needs nothing else.

pub mod credentials;
mod outcome;
mod provenance;
pub mod stored;

pub use outcome::{EgressAttempt, EgressScheme, RecordedRequest, RunOutcome, RunStatus};
pub use provenance::{Provenance, Signer};
