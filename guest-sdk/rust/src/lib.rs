//! Write hookbox hooks in Rust.
//!
//! A hook is a WASI 0.2 command: a binary with `fn main()` built with
//! `cargo build --release --target wasm32-wasip2` and placed as
//! `hoop-hooks/session-open.wasm` or `hoop-hooks/session-close.wasm`.
//! hookbox runs it in a fresh sandbox per event.
//!
//! - [`event()`] reads the Hoop event from `HOOP_RUNBOOK_HOOK_PAYLOAD` into an
//!   [`Event`].
//! - [`http`] sends HTTP requests through the sandbox's egress policy; a refusal
//!   is [`http::Error::EgressDenied`] with the reason.
//!
//! Returning from `main` is success; `std::process::exit(n)` with `n != 0`
//! (or `main` returning `Err`) is failure, which hookbox reports as exit code 1.
//!
//! # Examples
//!
//! ```no_run
//! use std::process::exit;
//!
//! fn main() {
//!     let event = hookbox_guest::event().unwrap_or_else(|error| {
//!         eprintln!("cannot read the event: {error}");
//!         exit(1);
//!     });
//!     if let Some(open) = &event.event_session_open {
//!         println!("{} opened {} ({})", open.user_email, open.connection_name, event.sid);
//!     }
//! }
//! ```

#![deny(missing_docs)]

mod event;
pub mod http;

pub use event::{Error, Event, PAYLOAD_VARIABLE, SessionClose, SessionOpen, event, parse};
