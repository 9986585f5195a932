//! hookbox runs Hoop runbook hooks inside WebAssembly sandboxes.
//!
//! The modules follow the flow of one event:
//!
//! - [`intake`]: the event payload, read and validated;
//! - [`source`]: where the hook file comes from;
//! - [`runtime`]: the engine, the bundled Python runner and its compile cache;
//! - [`sandbox`]: one fresh, limited WASI instance per run (limits, WASI, egress);
//! - [`record`]: what a run produced, as reported to the caller.
//!
//! [`service`] runs that flow as a service (`hookbox serve`: durable spool,
//! retries, metrics). [`hooktest`] is the hook author's loop around that flow (`hookbox init`,
//! `hookbox test`). [`tls`] decides whom HTTPS trusts, for hooks and git alike; [`backoff`] is the
//! one retry schedule. [`settings`] resolves configuration in one place, [`env_names`] names every
//! environment variable hookbox reads and [`exit_code`] maps outcomes to process
//! exit codes.
//!
//! The floors are crates of their own, so the compiler keeps each from
//! importing what is built on it (`crates/`, each re-exported here):
//!
//! 1. `hookbox-core`: [`failure`] (what kind of failure an error is; every
//!    error says it), [`env_names`], [`units`], [`backoff`];
//! 2. `hookbox-crypto`: [`tls`] and [`digest`]; `hookbox-record`: [`record`];
//!    `hookbox-policy`: the egress policy, re-exported as
//!    `sandbox::egress::policy` and `sandbox::egress::address`;
//! 3. `hookbox-intake`: [`intake`], what an event is;
//! 4. `hookbox-source`: [`source`], where a hook comes from, and
//!    `hookbox-sandbox`: [`sandbox`], what it runs in (neither knows the
//!    other);
//! 5. `hookbox-spool`: the durable spool, re-exported as `service::spool`.
//!
//! Inside this crate, imports go one way, from a higher layer to a lower one,
//! never sideways or up (a test in `tests/all/layering.rs` holds the list):
//! `runtime` (one run: an event's hook in a fresh sandbox),
//! then `hooktest` and `service`, then `settings`, then `exit_code` and `cli`.
//! The benchmarks and the test kit are crates of their own
//! (`crates/hookbox-bench`, `crates/hookbox-testkit`) on this library's
//! public items; they never ship in the binary.

pub use hookbox_core::{backoff, env_names, failure, units};
pub use hookbox_crypto::{digest, tls};
pub use hookbox_intake as intake;
pub use hookbox_record as record;
pub use hookbox_sandbox as sandbox;
pub use hookbox_source as source;
pub mod cli;
pub mod exit_code;
pub mod hooktest;
pub mod runtime;
pub mod service;
pub mod settings;
