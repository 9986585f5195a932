//! `hookbox run`: one hook, one payload, one sandbox.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::exit_code;
use crate::intake::Payload;
use crate::runtime::RunRequest;
use crate::runtime::engine::EngineOptions;
use crate::settings::{self, LimitFlags};
use crate::source::HookFile;

/// Run one hook file in a fresh sandbox with an event payload.
///
/// The process exits with the hook's exit code; see the README for the codes
/// used when a limit stops the hook or the input is bad.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The hook file (a `.runbook.py` script).
    hook: PathBuf,
    /// The event JSON: a file, or `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    payload: PathBuf,
    /// Wall-clock limit, e.g. `5s` or `1500ms` [default: 10s].
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Memory limit, e.g. `64MiB` [default: 128MiB].
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// Fuel (CPU) budget in units, about 3.8e9 per second [default: 20000000000].
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Cap on each of stdout and stderr [default: 64KiB].
    #[arg(long, value_name = "SIZE")]
    max_output: Option<String>,
    /// Cap on the payload size [default: 1MiB].
    #[arg(long, value_name = "SIZE")]
    max_payload: Option<String>,
    /// Pass an environment variable to the hook: `NAME` (hookbox's own value)
    /// or `NAME=VALUE`. Repeatable. Nothing else of the environment is passed.
    #[arg(long = "env", value_name = "NAME[=VALUE]")]
    env: Vec<String>,
    /// Print one JSON object with the outcome instead of the hook's output.
    #[arg(long)]
    json: bool,
}

impl RunArgs {
    /// Validates the input, runs the hook and reports the outcome.
    pub fn run(self) -> anyhow::Result<u8> {
        let limits = LimitFlags {
            timeout: self.timeout,
            memory: self.memory,
            fuel: self.fuel,
            max_output: self.max_output,
            max_payload: self.max_payload,
        }
        .resolve()?;
        let env = settings::resolve_env(&self.env, |name| std::env::var(name).ok())?;
        let hook = HookFile::open(&self.hook)?;
        let payload = Payload::read(&self.payload, limits.payload_bytes)?;

        let runtime = super::load_runtime(EngineOptions::default())?;
        let outcome = super::tokio_runtime()?.block_on(runtime.run(RunRequest {
            hook: &hook,
            payload: &payload,
            env: &env,
            limits: &limits,
        }));

        if self.json {
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer(&mut stdout, &outcome)?;
            writeln!(stdout)?;
        } else {
            std::io::stdout()
                .write_all(outcome.stdout.as_bytes())
                .context("writing the hook's stdout")?;
            std::io::stderr().write_all(outcome.stderr.as_bytes())?;
            // Set only when the run did not end on the hook's own terms.
            if let Some(error) = &outcome.error {
                eprintln!("hookbox: {}: {error}", outcome.status.as_str());
            }
        }
        Ok(exit_code::for_outcome(&outcome))
    }
}
