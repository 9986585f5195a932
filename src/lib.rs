//! hookbox runs Hoop runbook hooks inside WebAssembly sandboxes.
//!
//! The modules follow the flow of one event:
//!
//! - [`intake`]: the event payload, read and validated;
//! - [`source`]: where the hook file comes from;
//! - [`runtime`]: the engine, the Python runner it is handed ([`guest`]) and its
//!   compile cache;
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
//! Every layer is a crate of its own, so the compiler keeps each from
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
//! 5. `hookbox-runtime`: [`runtime`], one run of an event's hook in a fresh
//!    sandbox, with the guests it is handed;
//! 6. `hookbox-service`: [`service`], with `hookbox-spool` re-exported as
//!    `service::spool`; `hookbox-hooktest`: [`hooktest`] (neither knows the
//!    other).
//!
//! This crate is the binary on top: [`guest`] embeds the guests `build.rs`
//! builds from `guest-sdk/python/`, [`settings`] resolves configuration,
//! [`exit_code`] maps errors to exit codes and [`cli`] is the commands.
//! The benchmarks and the test kit are crates of their own
//! (`crates/hookbox-bench`, `crates/hookbox-testkit`) on this library's
//! public items; they never ship in the binary.

pub use hookbox_core::{backoff, env_names, failure, units};
pub use hookbox_crypto::{digest, tls};
pub use hookbox_hooktest as hooktest;
pub use hookbox_intake as intake;
pub use hookbox_record as record;
pub use hookbox_runtime as runtime;
pub use hookbox_sandbox as sandbox;
pub use hookbox_service as service;
pub use hookbox_source as source;
pub mod cli;
pub mod exit_code;
pub mod guest;
pub mod settings;
