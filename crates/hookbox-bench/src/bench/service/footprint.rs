//! The memory of a real `hookbox serve` process (this binary, started as an
//! operator would): its resident set once it listens, its peak while it runs
//! a burst of events, once it is idle again, and once it has released the
//! memory kept warm for the next runs (`--release-idle`).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use hookbox_testkit::poll::poll_until;

use super::server::{Client, hooks_folder, in_state, post_from_clients};
use super::{ServicePlan, TOKEN, TRIVIAL};
use crate::bench::{Table, memory};
use hookbox::env_names;
use hookbox::service::spool::sqlite::SqliteSpool;
use hookbox::service::spool::{RunState, Spool, now_millis};

/// Workers of the measured service (the default of `hookbox serve --concurrency`).
const WORKERS: usize = 4;
/// The measured service's `--release-idle`: short, so the bench need not
/// wait the default minute.
const RELEASE_IDLE: &str = "1s";

/// Resident memory of the service at four moments, KiB.
pub(super) struct Footprint {
    events: usize,
    listening_kib: u64,
    peak_kib: u64,
    idle_after_kib: u64,
    released_kib: u64,
}

/// Starts `hookbox serve`, reads its memory once it listens, posts
/// `plan.events` trivial events from [`WORKERS`] clients, waits until every
/// run is done and reads it again, then once more when the service reports
/// that it released its warm memory.
pub(super) async fn footprint(plan: &ServicePlan) -> anyhow::Result<Footprint> {
    let data = tempfile::tempdir()?;
    let hooks = hooks_folder(TRIVIAL)?;
    let mut command = Command::new(&plan.hookbox_exe);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--hooks-dir")
        .arg(hooks.path())
        .args(["--concurrency", &WORKERS.to_string()])
        .args(["--release-idle", RELEASE_IDLE])
        .env(env_names::TOKEN, TOKEN)
        .env(env_names::CACHE_DIR, &plan.cache_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut service = Service(command.spawn().context("starting hookbox serve")?);
    let address = tokio::task::spawn_blocking({
        let stdout = service.0.stdout.take().context("the service's stdout")?;
        move || listening_address(stdout)
    })
    .await??;
    let pid = service.0.id().to_string();
    let read = |what: &str, kib: Option<u64>| {
        kib.with_context(|| format!("cannot read the service's {what} from /proc/{pid}/status"))
    };
    let listening_kib = read("resident memory", memory::rss_kib(&pid))?;

    post_from_clients(&[address], plan.events, WORKERS).await?;
    let spool = SqliteSpool::open(data.path())?;
    wait_until_done(&spool, plan.events).await?;
    let peak_kib = read("peak resident memory", memory::peak_kib(&pid))?;
    let idle_after_kib = read("resident memory", memory::rss_kib(&pid))?;
    wait_until_released(address).await?;
    let footprint = Footprint {
        events: plan.events,
        listening_kib,
        peak_kib,
        idle_after_kib,
        released_kib: read("resident memory", memory::rss_kib(&pid))?,
    };
    drop(service);
    Ok(footprint)
}

/// Kills the service when the measurement ends, however it ends.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The address from the service's first line, `listening on http://ADDR`.
fn listening_address(stdout: std::process::ChildStdout) -> anyhow::Result<SocketAddr> {
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    line.trim()
        .strip_prefix("listening on http://")
        .with_context(|| format!("hookbox serve printed {line:?}, not where it listens"))?
        .parse()
        .context("the address hookbox serve listens on")
}

/// Waits until `total` runs succeeded, reading the service's spool.
async fn wait_until_done(spool: &SqliteSpool, total: usize) -> anyhow::Result<()> {
    let stats = poll_until(
        Duration::from_secs(600),
        Duration::from_millis(20),
        async || spool.stats(now_millis()).await,
        |stats| {
            stats.as_ref().map_or(true, |stats| {
                in_state(stats, RunState::Succeeded) >= total || in_state(stats, RunState::Dead) > 0
            })
        },
    )
    .await?;
    if in_state(&stats, RunState::Succeeded) < total {
        bail!("the service's runs did not all succeed within 10 minutes: {stats:?}");
    }
    Ok(())
}

/// Waits until the service at `address` reports on `/metrics` that it
/// released its warm memory.
async fn wait_until_released(address: SocketAddr) -> anyhow::Result<()> {
    let mut client = Client::connect(address).await?;
    let released = |metrics: &str| {
        metrics.lines().any(|line| {
            line.starts_with("hookbox_warm_memory_releases_total ") && !line.ends_with(" 0")
        })
    };
    let metrics = poll_until(
        Duration::from_secs(60),
        Duration::from_millis(100),
        async || client.get("/metrics").await,
        |metrics| metrics.as_ref().map_or(true, |metrics| released(metrics)),
    )
    .await?;
    if !released(&metrics) {
        bail!("the service did not release its warm memory within a minute of going idle");
    }
    Ok(())
}

/// The Markdown section for `footprint`.
pub(super) fn report(footprint: &Footprint) -> String {
    let mib = |kib: u64| format!("{:.0}", kib as f64 / 1024.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Memory of `hookbox serve`\n\nA `hookbox serve` process (this binary, SQLite \
         spool, {WORKERS} workers, the trivial hook) is started; its resident set is read from \
         `/proc` once it listens, then {} events are posted from {WORKERS} clients and read \
         again when every run is done. Resident memory counts the runner's compiled code as \
         its pages are touched, and the pool keeps each slot that ran a hook resident for the \
         next run until no hook has run for `--release-idle` ({RELEASE_IDLE} here; 60 s by \
         default).\n",
        footprint.events
    );
    let mut table = Table::new(&["moment", "resident (MiB)"]);
    table.row([
        "listening, before any event".to_owned(),
        mib(footprint.listening_kib),
    ]);
    table.row([
        format!("peak while running {} events", footprint.events),
        mib(footprint.peak_kib),
    ]);
    table.row([
        "idle, after every run was done".to_owned(),
        mib(footprint.idle_after_kib),
    ]);
    table.row([
        format!("idle for `--release-idle` ({RELEASE_IDLE}), warm memory released"),
        mib(footprint.released_kib),
    ]);
    out.push_str(table.markdown());
    out
}
