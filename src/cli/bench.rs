//! `hookbox bench`: measure and print a Markdown table.

use std::path::PathBuf;

use clap::Args;

use crate::bench::{self, BenchPlan};
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
}

impl BenchArgs {
    /// Runs the benchmark.
    pub fn run(self) -> anyhow::Result<u8> {
        // Warm the cache (compiling if needed) before anything is timed.
        drop(super::load_runtime(EngineOptions::default(), &[])?);
        let plan = BenchPlan {
            runs: self.runs,
            launches: self.launches,
            hookbox_exe: std::env::current_exe()?,
            cache_dir: crate::settings::cache_dir(|name| std::env::var(name).ok())?,
        };
        let table = bench::run(&plan)?;
        print!("{table}");
        if let Some(path) = self.output {
            std::fs::write(&path, &table)?;
        }
        Ok(crate::exit_code::OK)
    }
}
