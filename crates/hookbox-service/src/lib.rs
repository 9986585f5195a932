//! `hookbox serve`: the service that never loses an accepted event.
//!
//! An event posted to the intake ([`api`]) is authenticated ([`auth`]),
//! validated, stripped of the secrets hooks may not see and stored durably in
//! the [`spool`] before it is acknowledged; [`worker`]s run it through the
//! sandbox with the hooks from a local folder or the git source ([`hooks`]),
//! store every attempt, retry failures with backoff ([`retry`]) and
//! dead-letter what keeps failing. [`metrics`] exports what happens.

pub mod api;
pub mod auth;
pub mod client;
pub mod dashboard;
pub mod hooks;
pub mod listen;
pub mod metrics;
pub mod retry;
pub use hookbox_spool as spool;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Notify, watch};

use auth::Auth;
use hookbox_runtime::Runtime;
use hookbox_runtime::config::SandboxConfig;
use hooks::HookSource;
use metrics::Metrics;
use retry::RetryPolicy;
use spool::{Spool, now_millis};

/// Settings `hookbox serve` cannot start with (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Neither a token nor a webhook secret, and no `--no-auth`.
    #[error(
        "no credentials configured: set HOOKBOX_TOKEN (and optionally HOOKBOX_WEBHOOK_SECRET), or pass --no-auth on a trusted network"
    )]
    NoCredentials,
    /// `--hooks-dir` names a folder without `hoop-hooks/`.
    #[error("--hooks-dir {0}: no hoop-hooks/ folder in it")]
    NoHooksFolder(std::path::PathBuf),
    /// The listening address cannot be bound (in use, not this machine's,
    /// or a privileged port).
    #[error(
        "cannot listen on {address}: {reason}; pick another --listen address or stop what holds it"
    )]
    CannotListen {
        /// The address.
        address: String,
        /// Why.
        reason: std::io::Error,
    },
    /// Another service holds the spool.
    #[error(
        "another hookbox serve is using the spool in {0}; give each service its own --data-dir"
    )]
    SpoolInUse(std::path::PathBuf),
}

/// What the routes and workers share.
pub struct Shared {
    /// The durable store.
    pub spool: Arc<dyn Spool>,
    /// The loaded runtime.
    pub runtime: Arc<Runtime>,
    /// The operator's sandbox settings for every run.
    pub sandbox: SandboxConfig,
    /// Where hooks come from.
    pub hooks: HookSource,
    /// When failed runs are tried again.
    pub retry: RetryPolicy,
    /// How long runs are kept once they will not run again.
    pub retention: spool::Retention,
    /// Who may post events and read runs.
    pub auth: Auth,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Wakes an idle worker when a run is stored.
    pub wake: Arc<Notify>,
    /// Runs at the same time, at most.
    pub concurrency: usize,
    /// Waiting runs beyond which intake answers 503.
    pub max_spool: u64,
    /// The largest payload accepted.
    pub max_payload: u64,
    /// How long no hook runs before the runtime's warm memory is released.
    pub release_idle: Duration,
}

/// Runs the service on `listener` until `shutdown` completes (the CLI passes
/// [`shutdown_signal`]): then intake stops, running hooks get `grace` to
/// finish, and the rest stays queued.
pub async fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    grace: Duration,
    connections: listen::ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let released = shared
        .spool
        .release_running(now_millis())
        .await
        .context("cannot recover the spool")?;
    if released > 0 {
        tracing::warn!(released, "runs interrupted by the last stop are run again");
    }
    let address: SocketAddr = listener.local_addr()?;
    tracing::info!(%address, concurrency = shared.concurrency, "hookbox serve is listening");
    // Runs other instances store (a shared spool) wake the workers too.
    let wake = shared.wake.clone();
    shared
        .spool
        .on_new_runs(Arc::new(move || wake.notify_one()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let workers = tokio::spawn(worker::work(shared.clone(), stop_rx.clone(), grace));
    let pruner = tokio::spawn(worker::prune(shared.clone(), stop_rx.clone()));
    let releaser = tokio::spawn(worker::release_when_idle(shared.clone(), stop_rx));
    let metrics = shared.metrics.clone();
    listen::serve(
        listener,
        api::router(shared),
        connections,
        metrics,
        shutdown,
    )
    .await;
    tracing::info!("intake stopped; finishing running hooks");
    let _ = stop_tx.send(true);
    let _ = workers.await;
    let _ = pruner.await;
    let _ = releaser.await;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

hookbox_core::failure::categorized!(Usage: SetupError);

/// Opens the spool at `location` (a shared one over TLS trusting the system's
/// roots and `ca_bundle`) as instance `instance`.
pub async fn open_spool(
    location: &spool::SpoolLocation,
    ca_bundle: &[u8],
    instance: &str,
) -> Result<std::sync::Arc<dyn spool::Spool>, spool::SpoolError> {
    let tls =
        || hookbox_crypto::tls::TlsSettings::new(ca_bundle).and_then(|settings| settings.config());
    spool::open(location, tls, instance).await
}
