//! `hookbox bench`: measure and print a Markdown table.

use super::stdout::out;
use std::path::PathBuf;

use clap::Args;

use crate::bench::{self, run::BenchPlan};
use crate::runtime::engine::EngineOptions;

/// Measure run latency and throughput and write a Markdown table.
#[derive(Debug, Args)]
pub struct BenchArgs {
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
}

impl BenchArgs {
    /// Runs the benchmark.
    pub fn run(self) -> anyhow::Result<u8> {
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
                cache_dir: crate::settings::cache_dir(crate::env_names::from_process)?,
            };
            let table = match &self.spool {
                Some(url) => bench::service::run_scaling(&plan, url)?,
                None => bench::service::run(&plan)?,
            };
            return self.finish(&table);
        }
        // Warm the cache (compiling if needed) before anything is timed.
        drop(super::load_runtime(EngineOptions::default(), &[], None)?);
        if self.hooks {
            let table = bench::hooks::run(&bench::hooks::HooksPlan {
                runs: self.runs,
                launches: self.launches,
                hookbox_exe: std::env::current_exe()?,
                cache_dir: crate::settings::cache_dir(crate::env_names::from_process)?,
                examples: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hooks-examples"),
                wasm_hook: self.wasm.clone(),
                packages: self.packages.clone(),
                levels: vec![1, 2, 4, 8, 64],
            })?;
            return self.finish(&table);
        }
        let plan = BenchPlan {
            runs: self.runs,
            launches: self.launches,
            hookbox_exe: std::env::current_exe()?,
            cache_dir: crate::settings::cache_dir(crate::env_names::from_process)?,
        };
        let table = bench::run::run(&plan)?;
        self.finish(&table)
    }

    fn finish(&self, table: &str) -> anyhow::Result<u8> {
        out!("{table}");
        if let Some(path) = &self.output {
            std::fs::write(path, table)?;
        }
        Ok(crate::exit_code::OK)
    }
}
