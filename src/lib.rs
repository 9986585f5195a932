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
//! `hookbox test`). [`settings`] resolves configuration in one place, [`env_names`] names every
//! environment variable hookbox reads and [`exit_code`] maps outcomes to process
//! exit codes.
#![deny(missing_docs)]

pub mod bench;
pub mod cli;
pub mod env_names;
pub mod exit_code;
pub mod hooktest;
pub mod intake;
pub mod record;
pub mod runtime;
pub mod sandbox;
pub mod service;
pub mod settings;
pub mod source;
