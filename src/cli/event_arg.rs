//! Events named on the command line.

use crate::intake::Event;

/// An event, as `session-open` or `session-close` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EventArg {
    /// A session opened (the hook `session-open.runbook.py`, or `session-open.wasm`)
    SessionOpen,
    /// A session closed (the hook `session-close.runbook.py`, or `session-close.wasm`)
    SessionClose,
}

impl From<EventArg> for Event {
    fn from(arg: EventArg) -> Event {
        match arg {
            EventArg::SessionOpen => Event::SessionOpen,
            EventArg::SessionClose => Event::SessionClose,
        }
    }
}
