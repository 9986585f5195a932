//! `hookbox run`: one hook, one payload, one sandbox.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::event_arg::EventArg;
use super::sandbox_flags::{SandboxFlags, SandboxSettings};
use crate::exit_code;
use crate::intake::Event;
use crate::intake::Payload;
use crate::record::RunOutcome;
use crate::runtime::RunRequest;
use crate::runtime::engine::EngineOptions;
use crate::source::HookFile;

/// Run one hook in a fresh sandbox with an event payload: a hook file, or
/// the event's hook from the configured runbooks repository (`--event`).
///
/// The process exits with the hook's exit code; see docs/running-hooks.md for the codes
/// used when a limit stops the hook or the input is bad.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The hook file: a `.runbook.py` script or a compiled `.wasm` hook.
    #[arg(required_unless_present = "event", conflicts_with = "event")]
    hook: Option<PathBuf>,
    /// Run this event's hook from the runbooks repository (GIT_URL,
    /// GIT_HOOK_CONFIG_TTL, ...): hoop-hooks/<event>.runbook.py, else a
    /// compiled hoop-hooks/<event>.wasm; a repository without one skips it,
    /// exit 0.
    #[arg(long, value_enum)]
    event: Option<EventArg>,
    /// The event JSON: a file, or `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    payload: PathBuf,
    #[command(flatten)]
    sandbox: SandboxFlags,
    /// Print one JSON object with the outcome instead of the hook's output.
    #[arg(long)]
    json: bool,
}

impl RunArgs {
    /// Validates the input, runs the hook and reports the outcome.
    pub fn run(self) -> anyhow::Result<u8> {
        let file = self.sandbox.config_file(None)?;
        let git = file.git.clone();
        let settings = self.sandbox.resolve_with(file)?;
        let config = &settings.config;
        let payload = Payload::read(&self.payload, config.limits.payload_bytes)?;
        let mut refresh = None;
        let hook = match (&self.hook, self.event.map(Event::from)) {
            (Some(path), _) => HookFile::open(path)?,
            (None, Some(event)) => {
                let lookup = super::source::git_source_from(&git)?.hook(event)?;
                refresh = lookup.refresh;
                match lookup.hook {
                    Some(hook) => hook,
                    None => {
                        if let Some(refresh) = refresh {
                            refresh.wait();
                        }
                        eprintln!(
                            "hookbox: no hook for this event: the repository has no hoop-hooks/{} (nor {}.wasm)",
                            event.file_name(),
                            event.name()
                        );
                        return Ok(exit_code::OK);
                    }
                }
            }
            (None, None) => unreachable!("clap requires a hook file or --event"),
        };

        let outcome = run_once(&hook, &payload, &settings, &[])?;
        if self.json {
            let mut stdout = std::io::stdout().lock();
            // As an io::Error, so a closed pipe is recognised as one.
            serde_json::to_writer(&mut stdout, &outcome).map_err(std::io::Error::from)?;
            writeln!(stdout)?;
        } else {
            print_output(&outcome)?;
        }
        // A refresh the lookup started runs alongside the hook; let it land.
        if let Some(refresh) = refresh {
            refresh.wait();
        }
        Ok(exit_code::for_outcome(&outcome))
    }
}

/// Runs one hook in a one-shot runtime.
pub(super) fn run_once(
    hook: &HookFile,
    payload: &Payload,
    settings: &SandboxSettings,
    args: &[String],
) -> anyhow::Result<RunOutcome> {
    let config = &settings.config;
    // One run: reserving a pool of slots would cost more than it saves, and
    // a teardown thread would only be started to be cut off by the exit.
    let engine = EngineOptions {
        pooling: false,
        background_teardown: false,
        ..EngineOptions::for_memory_limit(config.limits.memory_bytes)
    };
    let runtime = super::load_runtime(
        engine,
        &settings.ca_bundle,
        settings.ca_bundle_path.as_deref(),
    )?;
    // One run needs no worker threads: the hook and its host calls are
    // driven on this thread.
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = tokio.block_on(runtime.run(RunRequest {
        hook,
        payload,
        config,
        args,
    }));
    if runtime.packages_snapshot_wanted(hook) {
        prepare_in_background(hook);
    }
    runtime.end_with_process();
    tokio.shutdown_background();
    Ok(outcome)
}

/// Starts `hookbox warm --hook` for `hook`, detached: the packages next
/// to it get their snapshot while this run ends (and those after it start
/// faster), unless [`env_names::PREPARE_IN_BACKGROUND`] is `0`. It writes
/// nowhere this run's caller reads, so no one waits for it.
pub(super) fn prepare_in_background(hook: &HookFile) {
    if !may_prepare_in_background() {
        return;
    }
    let spawned = std::env::current_exe().and_then(|hookbox| {
        std::process::Command::new(hookbox)
            .arg("warm")
            .arg("--hook")
            .arg(hook.path())
            .env_remove(crate::env_names::HOOK_PAYLOAD)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
    });
    if let Err(error) = spawned {
        tracing::info!(%error, "cannot prepare the hook's packages in the background");
    }
}

/// Whether packages may be prepared in the background: unless
/// [`env_names::PREPARE_IN_BACKGROUND`] is `0`.
pub(super) fn may_prepare_in_background() -> bool {
    crate::env_names::from_process(crate::env_names::PREPARE_IN_BACKGROUND).as_deref() != Some("0")
}

/// Writes the hook's output as the hook wrote it, and why the run ended when
/// it did not end on the hook's own terms.
pub(super) fn print_output(outcome: &RunOutcome) -> anyhow::Result<()> {
    std::io::stdout()
        .write_all(outcome.stdout.as_bytes())
        .context("writing the hook's stdout")?;
    std::io::stderr().write_all(outcome.stderr.as_bytes())?;
    if let Some(error) = &outcome.error {
        eprintln!("hookbox: {}: {error}", outcome.status.as_str());
    }
    Ok(())
}
