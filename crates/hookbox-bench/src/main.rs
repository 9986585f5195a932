//! hookbox's benchmarks: figures measured side by side with their baselines
//! in one run and printed as Markdown tables (`just bench`). A crate of its
//! own on the `hookbox` library, so nothing of it ships in the binary; the
//! one-shot rows launch the `hookbox` binary built next to this one.

mod bench;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use bench::run::BenchPlan;
use hookbox::runtime::engine::EngineOptions;
use hookbox::runtime::{Runtime, RuntimeOptions};

/// Measure run latency and throughput and write a Markdown table.
#[derive(Debug, Parser)]
#[command(name = "hookbox-bench", about)]
struct BenchArgs {
    /// The `hookbox` binary the one-shot rows launch [default: the one
    /// built next to this program].
    #[arg(long, value_name = "FILE")]
    hookbox: Option<PathBuf>,
    /// In-process runs per measurement.
    #[arg(long, default_value_t = 500)]
    runs: usize,
    /// Process launches per one-shot measurement.
    #[arg(long, default_value_t = 30)]
    launches: usize,
    /// Also write the table to this file.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Measure the git source instead: warm hook lookups and fetches of a
    /// 1,000-commit repository (needs `git`).
    #[arg(long)]
    source: bool,
    /// Warm lookups per source measurement.
    #[arg(long, default_value_t = 10_000)]
    lookups: usize,
    /// Measure the service instead: intake rate, end-to-end latency and spool
    /// growth of `hookbox serve` on loopback.
    #[arg(long, conflicts_with = "source")]
    service: bool,
    /// With --service: measure 1, 2 and 4 instances sharing this PostgreSQL
    /// server's spool (a database is created and dropped per row) beside the
    /// embedded spool, instead of the usual service table.
    #[arg(long, value_name = "URL", requires = "service")]
    spool: Option<String>,
    /// Events posted per service measurement.
    #[arg(long, default_value_t = 400)]
    events: usize,
    /// Measure realistic hooks instead: every shipped example, plain-python3
    /// forwarders and a concurrency sweep, beside `python3 hook.py`.
    #[arg(long, conflicts_with_all = ["source", "service"])]
    hooks: bool,
    /// With --hooks: the compiled Rust example (`session-open.wasm`) to
    /// measure too.
    #[arg(long, value_name = "FILE", requires = "hooks")]
    wasm: Option<PathBuf>,
    /// With --hooks: a folder of pure-Python wheels (requests and what it
    /// needs, as tests/run.sh downloads them to target/test-packages) to
    /// measure a `requests` hook with, the packages next to it.
    #[arg(long, value_name = "DIR", requires = "hooks")]
    packages: Option<PathBuf>,
    /// With --hooks: measure only the hooks whose name contains this text
    /// (the concurrency sweep runs only when one of its hooks is left),
    /// for a quick look at one row, under a profiler say; never written
    /// over a table (`--output`).
    #[arg(
        long,
        value_name = "TEXT",
        requires = "hooks",
        conflicts_with = "output"
    )]
    only: Option<String>,
}

fn main() -> ExitCode {
    match BenchArgs::parse().run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hookbox-bench: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

impl BenchArgs {
    /// The `hookbox` binary to launch: named, or built beside this one.
    fn hookbox_exe(&self) -> anyhow::Result<PathBuf> {
        let exe = match &self.hookbox {
            Some(path) => path.clone(),
            None => std::env::current_exe()?.with_file_name("hookbox"),
        };
        anyhow::ensure!(
            exe.is_file(),
            "no hookbox binary at {}: build it first (`cargo build --release --bin hookbox`) \
             or name one with --hookbox",
            exe.display()
        );
        Ok(exe)
    }

    /// Runs the benchmark.
    fn run(self) -> anyhow::Result<()> {
        if self.source {
            let table = bench::source::run(bench::source::SourcePlan {
                lookups: self.lookups,
                fetches: self.launches,
            })?;
            return self.finish(&table);
        }
        if self.service {
            let plan = bench::service::ServicePlan {
                events: self.events,
                levels: vec![1, 8, 64],
                outage_seconds: 5,
                outage_rate: 100,
                neighbour_events: self.events / 2,
                cache_dir: hookbox::settings::cache_dir(hookbox::env_names::from_process)?,
                hookbox_exe: self.hookbox_exe()?,
            };
            let table = match &self.spool {
                Some(url) => bench::service::run_scaling(&plan, url)?,
                None => bench::service::run(&plan)?,
            };
            return self.finish(&table);
        }
        // Warm the cache (compiling if needed) before anything is timed.
        drop(Runtime::load(&RuntimeOptions {
            guest: &hookbox::guest::GUEST,
            cache_dir: hookbox::settings::cache_dir(hookbox::env_names::from_process)?,
            engine: EngineOptions::default(),
            show_progress: false,
            ca_bundle: Vec::new(),
            ca_bundle_path: None,
        })?);
        if self.hooks {
            let table = bench::hooks::run(&bench::hooks::HooksPlan {
                runs: self.runs,
                launches: self.launches,
                hookbox_exe: self.hookbox_exe()?,
                cache_dir: hookbox::settings::cache_dir(hookbox::env_names::from_process)?,
                examples: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../hooks-examples"),
                wasm_hook: self.wasm.clone(),
                packages: self.packages.clone(),
                only: self.only.clone(),
                levels: vec![1, 2, 4, 8, 64],
            })?;
            return self.finish(&table);
        }
        let plan = BenchPlan {
            runs: self.runs,
            launches: self.launches,
            hookbox_exe: self.hookbox_exe()?,
            cache_dir: hookbox::settings::cache_dir(hookbox::env_names::from_process)?,
        };
        let table = bench::run::run(&plan)?;
        self.finish(&table)
    }

    fn finish(&self, table: &str) -> anyhow::Result<()> {
        print!("{table}");
        if let Some(path) = &self.output {
            std::fs::write(path, table)?;
        }
        Ok(())
    }
}
