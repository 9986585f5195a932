//! `hookbox serve`: the event service (intake, durable spool, workers).

use super::stdout::outln;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::sandbox_flags::SandboxFlags;
use crate::env_names;
use crate::runtime::engine::EngineOptions;
use crate::service::auth::Auth;
use crate::service::hooks::HookSource;
use crate::service::metrics::Metrics;
use crate::service::spool::sqlite::SqliteSpool;
use crate::service::{self, SetupError, Shared};
use crate::settings;

/// Run the event service: `POST /v1/events` takes Hoop's payload, stores it
/// durably, and workers run the event's hook with retries; runs can be read
/// and replayed over HTTP or with `hookbox runs`. Clients authenticate with
/// the bearer token in HOOKBOX_TOKEN and, if HOOKBOX_WEBHOOK_SECRET is set, a
/// Standard Webhooks signature. SIGTERM stops intake and lets running hooks
/// finish within --grace.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Where the spool lives [env: HOOKBOX_DATA_DIR; default:
    /// $XDG_DATA_HOME/hookbox].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Run hooks from this runbooks folder (holding hoop-hooks/) instead of
    /// the git source (GIT_URL, ...).
    #[arg(long, value_name = "DIR")]
    hooks_dir: Option<PathBuf>,
    /// Hooks running at the same time, at most [default: 4].
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Waiting runs beyond which intake answers 503 [default: 100000].
    #[arg(long, value_name = "N")]
    max_spool: Option<u64>,
    /// How long running hooks may take to finish after SIGTERM [default: 10s].
    #[arg(long, value_name = "DURATION")]
    grace: Option<String>,
    /// Accept events without any credentials (only for a trusted local
    /// network: anyone who can reach the port can post events).
    #[arg(long)]
    no_auth: bool,
    #[command(flatten)]
    sandbox: SandboxFlags,
}

impl ServeArgs {
    /// Starts the service and runs until stopped.
    pub fn run(self) -> anyhow::Result<u8> {
        let host_env = |name: &str| std::env::var(name).ok();
        let file = self.sandbox.config_file()?;
        let section = file.service.clone();
        let git = file.git.clone();
        let sandbox = self.sandbox.resolve_with(file)?;

        let auth = Auth::new(
            host_env(env_names::TOKEN),
            host_env(env_names::WEBHOOK_SECRET).as_deref(),
        )
        .with_context(|| format!("{} cannot be used", env_names::WEBHOOK_SECRET))?;
        if auth.is_open() && !self.no_auth {
            return Err(SetupError::NoCredentials.into());
        }
        let hooks = match self.hooks_dir.clone().or(section.hooks_dir.clone()) {
            Some(dir) => {
                if !dir.join("hoop-hooks").is_dir() {
                    return Err(SetupError::NoHooksFolder(dir).into());
                }
                HookSource::Dir(dir)
            }
            None => HookSource::Git(Arc::new(super::source::git_source_from(&git).context(
                "no hooks: pass --hooks-dir DIR or configure the runbooks repository",
            )?)),
        };
        let data_dir = settings::data_dir(
            self.data_dir.as_deref().or(section.data_dir.as_deref()),
            host_env,
        )?;
        let spool = SqliteSpool::open(&data_dir)?;
        // Runs a crash left `running` are taken back at start: that is only
        // right when no other service works on the same spool.
        let lock_path = data_dir.join("serve.lock");
        let lock = std::fs::File::create(&lock_path)
            .with_context(|| format!("cannot create {}", lock_path.display()))?;
        if lock.try_lock().is_err() {
            return Err(SetupError::SpoolInUse(data_dir).into());
        }
        let listen = self
            .listen
            .or(section.listen)
            .unwrap_or_else(|| "127.0.0.1:8787".into());
        let grace = match self.grace.or(section.grace) {
            Some(text) => {
                humantime::parse_duration(&text).map_err(|_| SetupError::BadGrace(text))?
            }
            None => Duration::from_secs(10),
        };
        let engine = EngineOptions::for_memory_limit(sandbox.config.limits.memory_bytes);
        let runtime = super::load_runtime(engine, &sandbox.ca_bundle)?;
        let max_payload = sandbox.config.limits.payload_bytes;
        let git_source = matches!(hooks, HookSource::Git(_));
        let shared = Arc::new(Shared {
            spool: Arc::new(spool),
            runtime: Arc::new(runtime),
            sandbox: sandbox.config,
            hooks,
            retry: section.retry,
            auth,
            metrics: Arc::new(Metrics::new(git_source)),
            wake: tokio::sync::Notify::new(),
            concurrency: self.concurrency.or(section.concurrency).unwrap_or(4).max(1),
            max_spool: self.max_spool.or(section.max_spool).unwrap_or(100_000),
            max_payload,
        });
        let tokio = super::tokio_runtime()?;
        tokio.block_on(async {
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            // One line on stdout for whoever started us (a test, a script).
            outln!("listening on http://{}", listener.local_addr()?);
            service::serve(shared, listener, grace, service::shutdown_signal()).await
        })?;
        drop(lock);
        Ok(crate::exit_code::OK)
    }
}
