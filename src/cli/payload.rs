//! `hookbox payload`: print a realistic payload in Hoop's exact shape.

use super::stdout::outln;
use clap::Args;

use super::event_arg::EventArg;
use crate::intake::hoop_payload;

/// Print a realistic payload in Hoop's exact shape for trying hooks.
#[derive(Debug, Args)]
pub struct PayloadArgs {
    /// The event.
    #[arg(value_enum)]
    event: EventArg,
    /// Change a field: `path=value`, the path dotted
    /// (`event_session_open.user_email=bob@example.com`), the value JSON or a
    /// string. The `id` follows `sid`. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
}

impl PayloadArgs {
    /// Prints the payload.
    pub fn run(self) -> anyhow::Result<u8> {
        let event = self.event.into();
        let mut payload = hoop_payload::sample(event);
        hoop_payload::apply_sets(&mut payload, event, &self.set)?;
        outln!("{}", serde_json::to_string_pretty(&payload)?);
        Ok(crate::exit_code::OK)
    }
}
