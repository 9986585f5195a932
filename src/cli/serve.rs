//! `hookbox serve`: the event service (intake, durable spool, workers).

use super::stdout::outln;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::sandbox_flags::SandboxFlags;
use crate::env_names;
use crate::runtime::engine::EngineOptions;
use crate::service::auth::Auth;
use crate::service::hooks::HookSource;
use crate::service::metrics::Metrics;
use crate::service::spool::SpoolLocation;
use crate::service::{SetupError, Shared};
use crate::settings::ServiceSection;

/// Run the event service: `POST /v1/events` takes Hoop's payload, stores it
/// durably, and workers run the event's hook with retries; runs can be read
/// and replayed over HTTP or with `hookbox runs`. Clients authenticate with
/// the bearer token in HOOKBOX_TOKEN and, if HOOKBOX_WEBHOOK_SECRET is set, a
/// Standard Webhooks signature. SIGTERM stops intake and lets running hooks
/// finish within --grace.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    service: ServiceSection,
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
        let host_env = env_names::from_process;
        let file = self.sandbox.config_file(None)?;
        let service = self.service.over(file.service.clone()).resolve(host_env)?;
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
        let hooks = match service.hooks_dir {
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
        // The embedded spool is one service's: runs a crash left `running`
        // are taken back at start, which is only right when no other service
        // works on it. A shared one hands a dead instance's runs over when
        // their lease expires.
        // The address first: a service that cannot listen leaves nothing
        // behind (no spool created or migrated). It is bound now and
        // listened on once the service is ready, so a client is refused
        // (and the drop-in falls back at once) rather than kept waiting.
        let listen = &service.listen;
        let socket = bind(listen).map_err(|reason| SetupError::CannotListen {
            address: listen.to_string(),
            reason,
        })?;
        let _lock = match &service.spool {
            SpoolLocation::Embedded(dir) => Some(lock_spool(dir)?),
            SpoolLocation::Shared(_) => None,
        };
        let instance = instance_id();
        let tokio = super::tokio_runtime()?;
        let spool = tokio.block_on(crate::service::open_spool(
            &service.spool,
            &sandbox.ca_bundle,
            &instance,
        ))?;
        let engine = EngineOptions::for_memory_limit(sandbox.config.limits.memory_bytes);
        let runtime = super::load_runtime(
            engine,
            &sandbox.ca_bundle,
            sandbox.ca_bundle_path.as_deref(),
        )?;
        // Before taking events: a cache that cannot give the runner is
        // refused at start, and no run waits for it to load.
        runtime.load_runner()?;
        let max_payload = sandbox.config.limits.payload_bytes;
        let git_source = matches!(hooks, HookSource::Git(_));
        let shared = Arc::new(Shared {
            spool,
            runtime: Arc::new(runtime),
            sandbox: sandbox.config,
            hooks,
            retry: service.retry,
            retention: service.retention,
            auth,
            metrics: Arc::new(Metrics::new(git_source)),
            wake: Arc::new(tokio::sync::Notify::new()),
            concurrency: service.concurrency,
            max_spool: service.max_spool,
            max_payload,
            release_idle: service.release_idle,
        });
        tokio.block_on(async {
            let listener = socket.listen(LISTEN_BACKLOG)?;
            // One line on stdout for whoever started us (a test, a script).
            outln!("listening on http://{}", listener.local_addr()?);
            crate::service::serve(
                shared,
                listener,
                service.grace,
                service.connections,
                crate::service::shutdown_signal(),
            )
            .await
        })?;
        Ok(crate::exit_code::OK)
    }
}

/// Connections the kernel queues while every worker is busy.
const LISTEN_BACKLOG: u32 = 1024;

/// A socket bound to `address` (the first it resolves to), not listening yet.
fn bind(address: &str) -> std::io::Result<tokio::net::TcpSocket> {
    use std::net::ToSocketAddrs;
    let address = address.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    })?;
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    Ok(socket)
}

/// Takes the embedded spool's lock in `dir` for as long as the file is open.
fn lock_spool(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let lock_path = dir.join("serve.lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        return Err(SetupError::SpoolInUse(dir.to_path_buf()).into());
    }
    Ok(lock)
}

/// This process's name among the instances sharing a spool: host, process
/// id and a random part, so a restarted instance is a new one.
fn instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}
