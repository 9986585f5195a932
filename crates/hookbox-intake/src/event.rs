//! The two events Hoop runs hooks for, and the hook files that serve them.

use std::fmt;
use std::str::FromStr;

/// The two events Hoop runs hooks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A session opened: `hoop-hooks/session-open.runbook.py`.
    SessionOpen,
    /// A session closed: `hoop-hooks/session-close.runbook.py`.
    SessionClose,
}

impl Event {
    /// Both events.
    pub const ALL: [Event; 2] = [Event::SessionOpen, Event::SessionClose];

    /// `session-open` or `session-close`.
    pub fn name(self) -> &'static str {
        match self {
            Event::SessionOpen => "session-open",
            Event::SessionClose => "session-close",
        }
    }

    /// The hook's file name, as Hoop names it.
    pub fn file_name(self) -> String {
        format!("{}.runbook.py", self.name())
    }

    /// The file names that hold this event's hook, in order of preference:
    /// Hoop's Python script, then a compiled `.wasm` hook.
    pub fn file_names(self) -> [String; 2] {
        [self.file_name(), format!("{}.wasm", self.name())]
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not `session-open` or `session-close`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event `{0}`: expected session-open or session-close")]
pub struct UnknownEvent(pub String);

impl FromStr for Event {
    type Err = UnknownEvent;

    fn from_str(name: &str) -> Result<Event, UnknownEvent> {
        Event::ALL
            .into_iter()
            .find(|event| event.name() == name)
            .ok_or_else(|| UnknownEvent(name.to_owned()))
    }
}

hookbox_core::failure::categorized!(Usage: UnknownEvent);
