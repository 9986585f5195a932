//! Integration tests: real wasm execution of real hooks in the bundled Python
//! runner, through the library and through the `hookbox` binary.
//!
//! Every test shares one on-disk cache under cargo's target tmp directory, so
//! the runner component is compiled once per test run, not once per test.

mod attacks;
mod browser;
mod bytecode;
mod cache;
mod cli;
mod client_certificates;
mod code_cache;
mod compat;
mod components;
mod concurrency;
mod corpus;
mod dashboard;
mod doctor;
mod egress;
mod error_kinds;
mod examples;
mod git_transports;
mod guest_sdk;
mod hooktest;
mod hostile;
mod http_clients;
mod injected_secrets;
mod limits;
mod package_snapshots;
mod packages;
// The PostgreSQL suites need the shared spool, a default feature.
#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "postgres")]
mod pg_service;
#[cfg(feature = "postgres")]
mod pg_spool;
mod python_dropin;
mod receiver;
mod runner;
mod scratch;
mod secrets;
mod service;
mod signed_commits;
mod source;
mod spool_conformance;
mod support;
mod workspace;
