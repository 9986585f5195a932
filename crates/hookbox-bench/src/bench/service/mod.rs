//! The service: sustained intake rate and end-to-end latency (accepted ->
//! hook done) of `hookbox serve` over real HTTP on loopback, for a trivial
//! hook and a forwarding hook, at concurrency 1, 8 and 64 (clients and
//! workers alike), beside `python3 hook.py` per event (what Hoop does, with
//! no spool); then how the spool grows while the receiver is down, and how
//! fast it drains when the receiver comes back; then the trivial hook's
//! latency beside hostile hooks running in a loop; then the memory of a real
//! `hookbox serve` process.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};

use super::receivers::HttpReceiver;
use super::{Figures, Table, figures};
use hookbox::runtime::Runtime;

mod footprint;
mod neighbours;
mod outage;
mod scaling;
mod server;

use neighbours::{NeighbourRow, neighbours};
use outage::{Outage, outage};
use server::{Setup, open_event};
const TOKEN: &str = "bench-token";

/// Prints one line (the trivial hook).
const TRIVIAL: &str = r#"import json, os
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
print("session", event["sid"], "opened")
"#;

/// Posts the event to `$TARGET` (the forwarding hook).
const FORWARDING: &str = r#"import json, os, urllib.request
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
body = json.dumps({"sid": event["sid"], "user": event["event_session_open"]["user_email"]}).encode()
urllib.request.urlopen(urllib.request.Request(os.environ["TARGET"], data=body, method="POST"), timeout=5)
print("forwarded", event["sid"])
"#;

/// What to measure.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    /// Events posted per row.
    pub events: usize,
    /// Client and worker concurrency levels.
    pub levels: Vec<usize>,
    /// Seconds of posting while the receiver is down.
    pub outage_seconds: u64,
    /// Events posted per second during the outage.
    pub outage_rate: u64,
    /// Trivial events posted (one at a time) beside each hostile hook.
    pub neighbour_events: usize,
    /// Where the runtime's compiled runner is cached.
    pub cache_dir: std::path::PathBuf,
    /// The `hookbox` binary whose `serve` the footprint row measures.
    pub hookbox_exe: std::path::PathBuf,
}

struct Row {
    name: String,
    intake: Option<Figures>,
    end_to_end: Figures,
}

/// The runtime every measured service shares.
fn load_runtime(plan: &ServicePlan) -> anyhow::Result<Arc<Runtime>> {
    Ok(Arc::new(Runtime::load(
        &hookbox::runtime::RuntimeOptions {
            guest: &hookbox::guest::GUEST,
            cache_dir: plan.cache_dir.clone(),
            engine: Default::default(),
            show_progress: false,
            ca_bundle: Vec::new(),
            ca_bundle_path: None,
        },
    )?))
}

/// Measures 1, 2 and 4 instances on the PostgreSQL server at `url` beside
/// the embedded spool; returns a Markdown report.
pub fn run_scaling(plan: &ServicePlan, url: &str) -> anyhow::Result<String> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let runtime = load_runtime(plan)?;
        scaling::scaling(runtime, plan, url).await
    })
}

/// Runs the benchmark and returns a Markdown report.
pub fn run(plan: &ServicePlan) -> anyhow::Result<String> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let runtime = load_runtime(plan)?;
        let receiver = HttpReceiver::start(None).await?;
        let mut rows = Vec::new();
        for (label, hook) in [("trivial hook", TRIVIAL), ("forwarding hook", FORWARDING)] {
            let setup = Setup::new(runtime.clone(), hook, receiver.address, 1)?;
            rows.push(Row {
                name: format!("hookbox serve, {label}, one event at a time"),
                intake: None,
                end_to_end: setup.one_at_a_time(plan.events / 4).await?,
            });
            for &concurrency in &plan.levels {
                let setup = Setup::new(runtime.clone(), hook, receiver.address, concurrency)?;
                let (intake, end_to_end) = setup.measure(plan.events, concurrency).await?;
                rows.push(Row {
                    name: format!("hookbox serve, {label}, concurrency {concurrency}"),
                    intake: Some(intake),
                    end_to_end,
                });
            }
        }
        for &concurrency in &plan.levels {
            rows.push(Row {
                name: format!(
                    "baseline: `python3 hook.py` per event, trivial hook, concurrency {concurrency}"
                ),
                intake: None,
                end_to_end: python3_baseline(plan.events, concurrency).await?,
            });
        }
        let forwarded = receiver.count.load(Ordering::SeqCst);
        let outage = outage(runtime.clone(), plan).await?;
        let neighbours = neighbours(runtime, plan).await?;
        let footprint = footprint::footprint(plan).await?;
        let mut report = report(plan, &rows, forwarded, &outage);
        report.push_str(&neighbours_report(plan, &neighbours));
        report.push_str(&footprint::report(&footprint));
        Ok(report)
    })
}

/// The columns [`latency_cells`] fills.
const LATENCY_COLUMNS: [&str; 6] = [
    "intake p50 (ms)",
    "intake p99 (ms)",
    "accepted/s",
    "end to end p50 (ms)",
    "end to end p99 (ms)",
    "done/s",
];

/// A row's intake figures (dashes when not measured) and end-to-end figures.
fn latency_cells(intake: Option<&Figures>, end_to_end: &Figures) -> [String; 6] {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let [p50, p99, rate] = intake.map_or_else(
        || ["-".to_owned(), "-".to_owned(), "-".to_owned()],
        |f| {
            [
                format!("{:.2}", ms(f.p50)),
                format!("{:.2}", ms(f.p99)),
                format!("{:.0}", f.per_second),
            ]
        },
    );
    [
        p50,
        p99,
        rate,
        format!("{:.1}", ms(end_to_end.p50)),
        format!("{:.1}", ms(end_to_end.p99)),
        format!("{:.0}", end_to_end.per_second),
    ]
}

/// `python3 hook.py` per event, `concurrency` at a time.
async fn python3_baseline(events: usize, concurrency: usize) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let hook = dir.path().join("session-open.runbook.py");
    std::fs::write(&hook, TRIVIAL)?;
    let python3 = super::real_python3()?;
    let started = Instant::now();
    let per_task = events.div_ceil(concurrency);
    let tasks = (0..concurrency).map(|task| {
        let (hook, python3) = (hook.clone(), python3.clone());
        tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let payload = open_event(&format!("py-{task}-{i}"));
                let launched = Instant::now();
                let output = tokio::process::Command::new(&python3)
                    .arg(&hook)
                    .env(
                        hookbox::env_names::HOOK_PAYLOAD,
                        String::from_utf8_lossy(&payload).as_ref(),
                    )
                    .output()
                    .await
                    .context("launching python3")?;
                samples.push(launched.elapsed());
                if !output.status.success() {
                    bail!(
                        "python3 failed: {}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
            }
            anyhow::Ok(samples)
        })
    });
    let mut samples = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        samples.extend(task.await??);
    }
    Ok(figures(String::new(), samples, started.elapsed()))
}

fn report(plan: &ServicePlan, rows: &[Row], forwarded: usize, outage: &Outage) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Service\n\nWritten by `hookbox-bench --service --events {}` (release build) on {} cores, {}. \
         Each concurrency row posts {} events to `hookbox serve` over HTTP on loopback as fast \
         as it can from as many clients as its concurrency (each on one keep-alive connection), \
         with as many workers, so end to end there includes the time queued behind earlier \
         events; the one-at-a-time rows post a quarter as many, each after the one before is \
         done. Every event is stored durably (SQLite, WAL, `synchronous = FULL`) before its \
         202. End to end is from the event's arrival to its hook's end, from the stored times \
         (millisecond resolution). The forwarding hook posts each event to a receiver on \
         loopback ({forwarded} requests received in all). The baseline runs `python3 hook.py` \
         per event, as Hoop does, with no spool and no sandbox.\n",
        plan.events,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        humantime::format_rfc3339_seconds(SystemTime::now()),
        plan.events,
    );
    let mut table = Table::new(&[["measurement"].as_slice(), &LATENCY_COLUMNS].concat());
    for row in rows {
        table.row(
            [row.name.clone()]
                .into_iter()
                .chain(latency_cells(row.intake.as_ref(), &row.end_to_end)),
        );
    }
    out.push_str(table.markdown());
    let _ = writeln!(
        out,
        "\n## Spool growth while the receiver is down\n\nOne client posts events, paced to at \
         most {} a second, for {} s to the forwarding hook, whose receiver refuses connections; \
         every run fails and is retried (backoff 0.5 s to 1 s for this measurement, 8 workers), \
         and every failed attempt's outcome (with its traceback) is stored. Bytes are the \
         database and its write-ahead log (SQLite lets the log reach about 4 MB before it folds \
         it back).\n",
        plan.outage_rate, plan.outage_seconds
    );
    let mut table = Table::new(&["second", "accepted", "spool depth", "spool bytes"]);
    for sample in &outage.samples {
        table.row([
            sample.second.to_string(),
            sample.accepted.to_string(),
            sample.depth.to_string(),
            sample.bytes.to_string(),
        ]);
    }
    out.push_str(table.markdown());
    if let (Some(first), Some(last)) = (outage.samples.first(), outage.samples.last()) {
        let _ = writeln!(
            out,
            "\nFrom second {} to {} the spool grew by {:.0} bytes per accepted event.",
            first.second,
            last.second,
            last.bytes.saturating_sub(first.bytes) as f64
                / last.accepted.saturating_sub(first.accepted).max(1) as f64
        );
    }
    let _ = writeln!(
        out,
        "\nWhen the receiver came back, the {} waiting runs were done in {:.1} s (retries are due within 1 s).",
        outage.samples.last().map_or(0, |s| s.accepted),
        outage.drain.as_secs_f64()
    );
    out
}

fn neighbours_report(plan: &ServicePlan, rows: &[NeighbourRow]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut out = format!(
        "\n## Noisy neighbours\n\n{} trivial `session-open` events are posted one at a time \
         (each once the one before is done) to a service with 2 workers and the default \
         limits (10 s, 20e9 fuel, 128 MiB, 64 KiB of output), while a hostile \
         `session-close` hook runs in a loop beside them: the next hostile event is posted \
         as soon as the last one ended (it fails and is not retried), so one is always \
         running; the long ones (a busy loop burns its fuel in about 1.7 s, a sleep runs \
         into the 10 s limit) span the whole measurement in one run. The first row has no \
         hostile hook. Lost counts trivial events that did not succeed.\n\n",
        plan.neighbour_events
    );
    let quiet = rows.first().map_or(Duration::ZERO, |row| row.trivial.p99);
    let mut table = Table::new(&[
        "beside",
        "hostile runs",
        "trivial p50 (ms)",
        "trivial p99 (ms)",
        "p99 / quiet p99",
        "lost",
    ]);
    for row in rows {
        table.row([
            row.beside.clone(),
            row.hostile_runs.to_string(),
            format!("{:.1}", ms(row.trivial.p50)),
            format!("{:.1}", ms(row.trivial.p99)),
            format!("{:.2}", ms(row.trivial.p99) / ms(quiet).max(0.001)),
            row.lost.to_string(),
        ]);
    }
    out.push_str(table.markdown());
    out
}
