//! Run latency: latency and throughput of the same trivial hook (parse the
//! payload, print one line) run in-process, as a one-shot `hookbox run`, and as
//! `python3 hook.py` (the baseline Hoop uses), measured side by side in one run.
//! Variants switch off one speed measure at a time to show what each buys.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use super::{Figures, Table, in_process, launches};
use crate::env_names;
use crate::intake::Payload;
use crate::runtime::config::SandboxConfig;
use crate::runtime::engine::EngineOptions;
use crate::runtime::{Instantiation, RunRequest, Runtime, RuntimeOptions};
use crate::source::HookFile;

/// The hook every measurement runs.
pub const TRIVIAL_HOOK: &str = r#"import json, os
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
print("session", event["sid"], "closed with", event["event_session_close"]["exit_code"])
"#;

/// The payload every measurement uses: a session-close event as Hoop sends it.
pub const TRIVIAL_PAYLOAD: &str = include_str!("../../hooks-examples/payloads/session-close.json");

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
            "pooling + keep-resident, CoW images, InstancePre (default)",
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
    for (index, (name, engine, how)) in variants.into_iter().enumerate() {
        let runtime = Arc::new(Runtime::load(&RuntimeOptions {
            cache_dir: plan.cache_dir.clone(),
            engine,
            show_progress: false,
            ca_bundle: Vec::new(),
        })?);
        let concurrency_levels: &[usize] = if index <= 1 { &[1, 2] } else { &[1] };
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
    Ok(report(plan, &rows, fuel))
}

fn report(plan: &BenchPlan, rows: &[Figures], fuel: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Run latency\n\nWritten by `hookbox bench --runs {} --launches {}` (release build). Every row runs \
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
    out
}
