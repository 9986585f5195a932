//! `hookbox warm`: prepares in the cache everything a run needs, ahead of
//! the first event: the runner compiled for this machine, the standard
//! library with its bytecode, and the runbooks snapshot when a git source
//! is configured. Idempotent: what is ready is checked and left alone.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::stdout::outln;
use crate::env_names;
use crate::intake::{Event, Payload};
use crate::runtime::cache::CacheResult;
use crate::runtime::config::SandboxConfig;
use crate::runtime::engine::EngineOptions;
use crate::runtime::{PackagesSnapshot, RunRequest, Runtime};
use crate::sandbox::limits::Limits;
use crate::settings::ConfigFile;
use crate::source::HookFile;

/// `hookbox warm`
#[derive(Debug, Args)]
pub struct WarmArgs {
    /// A configuration file with a [git] section [env: HOOKBOX_CONFIG]; the
    /// GIT_* variables win over it. Without a repository (GIT_URL or [git]
    /// url), no snapshot is fetched.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Prepare only this hook (repeatable): the bytecode of the packages
    /// next to it and the runner's snapshot with them imported. The
    /// runbooks repository is left alone.
    #[arg(long = "hook", value_name = "PATH")]
    hooks: Vec<PathBuf>,
}

impl WarmArgs {
    /// Prepares the cache and says what it did.
    pub fn run(self) -> anyhow::Result<u8> {
        let file = ConfigFile::find(self.config.as_deref(), None, env_names::from_process)?;
        let cache_dir = crate::settings::cache_dir(env_names::from_process)?;
        outln!("cache {}", cache_dir.display());

        let started = Instant::now();
        let runtime = super::load_runtime(EngineOptions::default(), &[], None)?;
        let found = runtime.load_runner()?;
        let took = seconds(started);
        match found {
            CacheResult::Hit => outln!("runner: ready (compiled earlier); checked in {took}"),
            CacheResult::Compiled | CacheResult::Replaced => {
                outln!("runner and standard library: prepared in {took}")
            }
        }
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        if !self.hooks.is_empty() {
            for path in &self.hooks {
                prepare(&tokio, &runtime, &HookFile::open(path)?);
            }
            return Ok(crate::exit_code::OK);
        }
        let ran = tokio.block_on(run_a_trivial_hook(&runtime))?;
        outln!("a hook ran in the sandbox in {ran}");

        if super::source::repository_configured(&file.git) {
            let source = super::source::git_source_from(&file.git)?;
            let started = Instant::now();
            let snapshot = source.fetch()?;
            outln!(
                "runbooks: {} at {} on {}, fetched in {} (hooks: {})",
                source.config().display_url(),
                snapshot.commit,
                snapshot.branch,
                seconds(started),
                snapshot.hooks().join(", ")
            );
            // Each hook on its own: one that cannot be used is said and
            // the other still prepared.
            let mut refused = false;
            for event in [Event::SessionOpen, Event::SessionClose] {
                let hook = match source.hook(event) {
                    Ok(lookup) => lookup.hook,
                    Err(error) => {
                        outln!("{}: not prepared: {error}", event.name());
                        refused = true;
                        continue;
                    }
                };
                let Some(hook) = hook else {
                    continue;
                };
                prepare(&tokio, &runtime, &hook);
            }
            if refused {
                return Ok(crate::exit_code::USAGE);
            }
        } else {
            outln!("runbooks: no repository configured (GIT_URL or [git] url), nothing fetched");
        }
        Ok(crate::exit_code::OK)
    }
}

/// Runs a one-line hook, which touches what every run uses; how long it took.
async fn run_a_trivial_hook(runtime: &Runtime) -> anyhow::Result<String> {
    let dir = tempfile::Builder::new().prefix("hookbox-warm-").tempdir()?;
    let path = dir.path().join("session-open.runbook.py");
    std::fs::write(
        &path,
        "import json, os\njson.loads(os.environ['HOOP_RUNBOOK_HOOK_PAYLOAD'])\n",
    )?;
    let hook = HookFile::open(&path)?;
    let payload = Payload::from_bytes(b"{}".to_vec(), "hookbox warm")?;
    let started = Instant::now();
    let outcome = runtime
        .run(RunRequest {
            hook: &hook,
            payload: &payload,
            config: &SandboxConfig::default(),
            args: &[],
        })
        .await;
    let took = format!("{:.1} ms", started.elapsed().as_secs_f64() * 1000.0);
    if outcome.exit_code != Some(0) {
        anyhow::bail!(
            "a one-line hook did not run in the sandbox: {}{}",
            outcome.error.unwrap_or_default(),
            outcome.stderr
        );
    }
    Ok(took)
}

/// Prepares `hook`'s packages and says what became of them.
fn prepare(tokio: &tokio::runtime::Runtime, runtime: &Runtime, hook: &HookFile) {
    let started = Instant::now();
    let prepared = tokio.block_on(runtime.prepare_hook(hook, &Limits::default()));
    if prepared.bytecode.is_none() {
        return;
    }
    let name = hook.file_name();
    let took = seconds(started);
    match prepared.snapshot {
        PackagesSnapshot::NoPackages => {
            outln!("{name}: bytecode of the packages next to it ready in {took}")
        }
        PackagesSnapshot::Ready => outln!("{name}: packages ready (prepared earlier)"),
        PackagesSnapshot::Made {
            imported,
            imported_when_called,
            left_out,
        } => {
            outln!(
                "{name}: packages imported into the runner's snapshot in {took} ({})",
                imported.join(", ")
            );
            if !imported_when_called.is_empty() {
                outln!(
                    "{name}: with what their functions import from the standard library ({})",
                    imported_when_called.join(", ")
                );
            }
            for reason in left_out {
                outln!("{name}: left out, imported on every run: {reason}");
            }
        }
        PackagesSnapshot::InProgress => {
            outln!("{name}: packages being imported into a snapshot by another hookbox")
        }
        PackagesSnapshot::Refused(reason) => outln!(
            "{name}: bytecode of the packages ready in {took}; they import on every run, as \
             they cannot be snapshotted: {reason}"
        ),
    }
}

fn seconds(started: Instant) -> String {
    format!("{:.2} s", started.elapsed().as_secs_f64())
}
