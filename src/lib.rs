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
//! Imports go one way, from a higher layer to a lower one, never sideways or
//! up (a test in `tests/all/layering.rs` holds the list):
//!
//! 1. `failure`, what kind of failure an error is (every error says it), then
//!    `env_names`, `record`, `tls`, `backoff`, `units`, `digest`: plain data and leaf services;
//! 2. `intake`: what an event is;
//! 3. `source` and `sandbox`: where a hook comes from and what it runs in
//!    (neither knows the other);
//! 4. `runtime`: one run, an event's hook in a fresh sandbox;
//! 5. `hooktest` and `service`, then `settings`, then `exit_code` and
//!    `cli`: what is built on runs.
//!
//! Three floors are crates of their own: the egress policy (rules,
//! addresses, decisions), `hookbox-policy`, re-exported as
//! `sandbox::egress::policy` and `sandbox::egress::address`; the run record,
//! `hookbox-record`, re-exported as [`record`]; and the durable spool,
//! `hookbox-spool`, re-exported as `service::spool`. The benchmarks are a crate of their own
//! (`crates/hookbox-bench`) on this library's public items; they never ship
//! in the binary.

pub mod backoff;
pub mod cli;
pub mod digest;
pub mod env_names;
pub mod exit_code;
pub mod failure;
pub mod hooktest;
pub mod intake;
pub use hookbox_record as record;
pub mod runtime;
pub mod sandbox;
pub mod service;
pub mod settings;
pub mod source;
pub mod tls;
pub mod units;
