//! `hookbox test`: run a runbooks repository's hooks against sample payloads
//! and fixtures, once or on every change.

use super::stdout::{out, outln};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use notify::Watcher;

use super::repository_settings;
use super::sandbox_flags::{SandboxFlags, SandboxSettings};
use crate::exit_code;
use crate::hooktest::{self, report};
use crate::runtime::Runtime;
use crate::runtime::engine::EngineOptions;
use crate::settings::SecretValues;
use crate::source::HookFile;

/// Changes arriving this close together start one run.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Run every hook in DIR/hoop-hooks/ against the sample payloads and the
/// fixtures in hoop-hooks/tests/. Requests are answered by a local recording
/// receiver (nothing leaves the machine) unless --live is given. Exits 1 when
/// any case fails. Settings come from DIR/hookbox.toml unless --config names
/// another file; the repository's own file cannot pass the host's variables,
/// name files outside DIR or, under --live, open the network.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The runbooks repository.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Send allowed traffic for real, under the policy, instead of recording it.
    #[arg(long)]
    live: bool,
    /// Print one JSON document instead of the report.
    #[arg(long)]
    json: bool,
    /// Run again whenever a file under DIR changes (Ctrl-C stops).
    #[arg(long, conflicts_with = "json")]
    watch: bool,
    #[command(flatten)]
    sandbox: SandboxFlags,
}

impl TestArgs {
    /// Runs the cases, once or on every change.
    pub fn run(self) -> anyhow::Result<u8> {
        let settings = self.settings()?;
        let engine = EngineOptions::for_memory_limit(settings.config.limits.memory_bytes);
        let runtime = std::sync::Arc::new(super::load_runtime(
            engine,
            &settings.ca_bundle,
            settings.ca_bundle_path.as_deref(),
        )?);
        let tokio = super::tokio_runtime()?;
        if !self.watch {
            let code = tokio.block_on(self.run_once(&runtime));
            if let Some(hook) = self.hook_wanting_a_snapshot(&runtime) {
                super::run::prepare_in_background(&hook);
            }
            return code;
        }
        let (changed, changes) = mpsc::channel();
        // Links are not followed: one to `/` would watch the whole host.
        let mut watcher = notify::RecommendedWatcher::new(
            move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| is_relevant(&e)) {
                    let _ = changed.send(());
                }
            },
            notify::Config::default().with_follow_symlinks(false),
        )
        .context("cannot watch for file changes")?;
        watcher
            .watch(&self.dir, notify::RecursiveMode::Recursive)
            .with_context(|| format!("cannot watch {}", self.dir.display()))?;
        loop {
            if let Err(error) = tokio.block_on(self.run_once(&runtime)) {
                outln!("hookbox: error: {error:#}");
            }
            if let Some(hook) = self.hook_wanting_a_snapshot(&runtime) {
                // The next passes start with the packages imported.
                runtime.prepare_hook_in_background(&hook, &settings.config.limits);
            }
            outln!("watching {} for changes (Ctrl-C stops)", self.dir.display());
            let _ = std::io::stdout().flush();
            if changes.recv().is_err() {
                return Ok(exit_code::OK);
            }
            while changes.recv_timeout(DEBOUNCE).is_ok() {}
            outln!();
        }
    }

    /// One pass over every case; settings are read again each time, so an
    /// edited policy applies on the next pass.
    async fn run_once(&self, runtime: &Runtime) -> anyhow::Result<u8> {
        let settings = self.settings()?;
        let cases = hooktest::discover(&self.dir)?;
        let results = hooktest::run(runtime, &settings.config, self.live, cases).await;
        if self.json {
            outln!(
                "{}",
                serde_json::to_string_pretty(&report::Summary::of(&results))?
            );
        } else {
            out!("{}", report::text(&results));
        }
        Ok(if results.iter().all(|r| r.passed) {
            exit_code::OK
        } else {
            exit_code::TESTS_FAILED
        })
    }
}

impl TestArgs {
    /// A hook of the repository whose packages have no snapshot yet (the
    /// hooks share one folder, so one snapshot), unless
    /// [`env_names::PREPARE_IN_BACKGROUND`](crate::env_names::PREPARE_IN_BACKGROUND)
    /// is `0`.
    fn hook_wanting_a_snapshot(&self, runtime: &Runtime) -> Option<HookFile> {
        if !super::run::may_prepare_in_background() {
            return None;
        }
        hooktest::hooks(&self.dir)
            .into_iter()
            .find(|hook| runtime.packages_snapshot_wanted(hook))
    }

    /// The flags over the operator's configuration file, or else over the
    /// repository's own (held to what a repository may grant itself).
    fn settings(&self) -> anyhow::Result<SandboxSettings> {
        let file = match self.sandbox.named_config_file()? {
            Some(file) => file,
            None => {
                let (file, note) = repository_settings::settings(&self.dir, self.live)?;
                if let Some(note) = note {
                    eprintln!("{note}");
                }
                file
            }
        };
        // Under test, injected secrets get the fixtures' values, never the host's.
        Ok(self.sandbox.resolve_with_values(file, SecretValues::Test)?)
    }
}

/// Whether a file-system event should start a run: a change to content,
/// outside version-control folders.
fn is_relevant(event: &notify::Event) -> bool {
    use notify::EventKind;
    matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    ) && event
        .paths
        .iter()
        .any(|path| !path.components().any(|c| c.as_os_str() == ".git") && !is_hidden_temp(path))
}

/// Editor swap and backup files (`.x.swp`, `x~`, `4913`).
fn is_hidden_temp(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with('~') || name.ends_with(".swp") || name.ends_with(".swx") || name == "4913"
}
