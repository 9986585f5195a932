//! Run latency: latency and throughput of the same trivial hook (parse the
//! payload, print one line) run in-process, as a one-shot `hookbox run`, and as
//! `python3 hook.py` (the baseline Hoop uses), measured side by side in one run.
//! Variants switch off one speed measure at a time to show what each buys.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use super::{Figures, Table, in_process, launches};
use hookbox::env_names;
use hookbox::intake::Payload;
use hookbox::record::RunStatus;
use hookbox::runtime::config::SandboxConfig;
use hookbox::runtime::engine::EngineOptions;
use hookbox::runtime::{Instantiation, RunRequest, Runtime, RuntimeOptions};
use hookbox::source::HookFile;

/// The hook every measurement runs.
pub const TRIVIAL_HOOK: &str = r#"import json, os
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
print("session", event["sid"], "closed with", event["event_session_close"]["exit_code"])
"#;

/// The payload every measurement uses: a session-close event as Hoop sends it.
pub const TRIVIAL_PAYLOAD: &str =
    include_str!("../../../../hooks-examples/payloads/session-close.json");

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// In-process runs per measurement.
    pub runs: usize,
    /// Process launches per one-shot measurement.
    pub launches: usize,
    /// The `hookbox` binary for one-shot runs.
    pub hookbox_exe: PathBuf,
    /// The cache directory (must already hold the compiled runner for a warm
    /// one-shot figure; the bench warms it first).
    pub cache_dir: PathBuf,
}

/// Runs the whole benchmark and returns a Markdown report.
pub fn run(plan: &BenchPlan) -> anyhow::Result<String> {
    let work = tempfile::tempdir()?;
    let hook_path = work.path().join("session-close.runbook.py");
    let payload_path = work.path().join("payload.json");
    std::fs::write(&hook_path, TRIVIAL_HOOK)?;
    std::fs::write(&payload_path, TRIVIAL_PAYLOAD)?;
    let hook = HookFile::open(&hook_path)?;
    let payload = Payload::from_bytes(TRIVIAL_PAYLOAD.as_bytes().to_vec(), "bench payload")?;
    let config = SandboxConfig::default();
    let limits = &config.limits;

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    let default = EngineOptions {
        max_memory_bytes: limits.memory_bytes,
        ..EngineOptions::default()
    };
    let variants = [
        (
            "pooling + keep-resident, CoW images, InstancePre, background teardown (default)",
            default,
            Instantiation::Prelinked,
        ),
        (
            "without pooling (mmap per run)",
            EngineOptions {
                pooling: false,
                ..default
            },
            Instantiation::Prelinked,
        ),
        (
            "without background teardown (slot reset before the run returns)",
            EngineOptions {
                background_teardown: false,
                ..default
            },
            Instantiation::Prelinked,
        ),
        (
            "without InstancePre (link per run)",
            default,
            Instantiation::Linker,
        ),
        (
            "without CoW memory images",
            EngineOptions {
                memory_init_cow: false,
                ..default
            },
            Instantiation::Prelinked,
        ),
    ];
    let mut fuel = 0;
    let mut overshoot = Vec::new();
    for (index, (name, engine, how)) in variants.into_iter().enumerate() {
        let runtime = Arc::new(Runtime::load(&RuntimeOptions {
            guest: &hookbox::guest::GUEST,
            cache_dir: plan.cache_dir.clone(),
            engine,
            show_progress: false,
            ca_bundle: Vec::new(),
            ca_bundle_path: None,
        })?);
        let concurrency_levels: &[usize] = if index <= 2 { &[1, 2] } else { &[1] };
        for &concurrency in concurrency_levels {
            let request = RunRequest {
                hook: &hook,
                payload: &payload,
                config: &config,
                args: &[],
            };
            let (figures, used_fuel) =
                tokio.block_on(in_process(&runtime, request, how, plan.runs, concurrency))?;
            if index == 0 {
                fuel = used_fuel;
            }
            rows.push(Figures {
                name: format!("in-process, {name}, concurrency {concurrency}"),
                ..figures
            });
        }
        if index == 0 {
            overshoot = tokio.block_on(timeout_overshoot(&runtime, &payload, work.path()))?;
        }
    }

    rows.push(launches(
        "one-shot `hookbox run` (warm cache)",
        plan.launches,
        b"session ",
        || {
            let mut command = Command::new(&plan.hookbox_exe);
            command
                .arg("run")
                .arg(&hook_path)
                .arg("--payload")
                .arg(&payload_path)
                .env(env_names::CACHE_DIR, &plan.cache_dir);
            command
        },
    )?);
    let python3 = super::real_python3()?;
    rows.push(launches(
        "baseline: `python3 hook.py`",
        plan.launches,
        b"session ",
        || {
            let mut command = Command::new(&python3);
            command
                .arg(&hook_path)
                .env(env_names::HOOK_PAYLOAD, TRIVIAL_PAYLOAD);
            command
        },
    )?);
    Ok(report(plan, &rows, fuel, &overshoot))
}

/// The wall-clock limit of the overshoot measurement.
const OVERSHOOT_LIMIT: Duration = Duration::from_millis(200);
/// Runs per overshoot row.
const OVERSHOOT_RUNS: usize = 20;

/// How far past its wall-clock limit a hook is stopped, busy in wasm (the
/// epoch deadline stops it) and waiting in the host (the run's timer does):
/// for each, the sorted overshoots of [`OVERSHOOT_RUNS`] runs.
async fn timeout_overshoot(
    runtime: &Runtime,
    payload: &Payload,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<(&'static str, Vec<Duration>)>> {
    let mut config = SandboxConfig::default();
    config.limits.timeout = OVERSHOOT_LIMIT;
    let mut rows = Vec::new();
    for (name, source) in [
        (
            "busy in wasm (`while True: pass`)",
            "while True:\n    pass\n",
        ),
        (
            "waiting in the host (`time.sleep(60)`)",
            "import time\ntime.sleep(60)\n",
        ),
    ] {
        let path = dir.join("session-open.runbook.py");
        std::fs::write(&path, source)?;
        let hook = HookFile::open(&path)?;
        let mut overshoots = Vec::with_capacity(OVERSHOOT_RUNS);
        for _ in 0..OVERSHOOT_RUNS {
            let outcome = runtime
                .run(RunRequest {
                    hook: &hook,
                    payload,
                    config: &config,
                    args: &[],
                })
                .await;
            if outcome.status != RunStatus::Timeout {
                anyhow::bail!("{name} ended {:?}, not by its timeout", outcome.status);
            }
            let took = Duration::from_secs_f64(outcome.duration_ms / 1000.0);
            overshoots.push(took.saturating_sub(OVERSHOOT_LIMIT));
        }
        overshoots.sort();
        rows.push((name, overshoots));
    }
    Ok(rows)
}

fn report(
    plan: &BenchPlan,
    rows: &[Figures],
    fuel: u64,
    overshoot: &[(&str, Vec<Duration>)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Run latency\n\nWritten by `hookbox-bench --runs {} --launches {}` (release build). Every row runs \
         the same hook: parse the payload, print one line. In-process rows reuse one runtime; \
         each variant turns one speed measure off.\n",
        plan.runs, plan.launches
    );
    let mut table = Table::new(&["measurement", "p50 (ms)", "p99 (ms)", "runs/s"]);
    for row in rows {
        table.row([
            row.name.clone(),
            format!("{:.2}", row.p50.as_secs_f64() * 1000.0),
            format!("{:.2}", row.p99.as_secs_f64() * 1000.0),
            format!("{:.0}", row.per_second),
        ]);
    }
    out.push_str(table.markdown());
    let _ = writeln!(
        out,
        "\n{} in-process runs per row, {} launches per one-shot row; the hook used {} fuel units per run; {} cores.",
        plan.runs,
        plan.launches,
        fuel,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(
        out,
        "\n## Stopping at the wall-clock limit\n\nHow far past a {} limit a hook was stopped \
         ({OVERSHOOT_RUNS} in-process runs each; the documented bound is 100 ms).\n",
        humantime::format_duration(OVERSHOOT_LIMIT)
    );
    let mut table = Table::new(&["hook", "p50 past the limit (ms)", "max past the limit (ms)"]);
    let ms = |d: &Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    for (name, overshoots) in overshoot {
        table.row([
            (*name).to_owned(),
            overshoots
                .get(overshoots.len() / 2)
                .map_or_else(String::new, ms),
            overshoots.last().map_or_else(String::new, ms),
        ]);
    }
    out.push_str(table.markdown());
    out
}
