//! `hookbox bench`: figures measured side by side with their baselines in one
//! run and written as Markdown tables (never timed tests: these machines are
//! shared and noisy).
//!
//! - [`run`]: hook run latency and throughput against `python3 hook.py`;
//! - [`source`]: hook lookup from the git cache and shallow fetches against
//!   `git clone`;
//! - [`service`]: `hookbox serve` intake rate and end-to-end latency against
//!   `python3` per event, and spool growth while a receiver is down.

pub mod run;
pub mod service;
pub mod source;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Latency figures of one measurement.
#[derive(Debug, Clone)]
pub struct Figures {
    /// What was measured.
    pub name: String,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Completed runs per second (wall clock over all runs).
    pub per_second: f64,
}

/// Launches `command` `count` times, timing each, and checks that each
/// succeeded and (when `expect` is given) printed output starting with it.
pub(crate) fn launches(
    name: &str,
    count: usize,
    expect: &[u8],
    command: impl Fn() -> Command,
) -> anyhow::Result<Figures> {
    let mut samples = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let launch = Instant::now();
        let output = command()
            .output()
            .with_context(|| format!("launching {name}"))?;
        samples.push(launch.elapsed());
        if !output.status.success() || !output.stdout.starts_with(expect) {
            bail!(
                "{name} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(figures(name.to_owned(), samples, started.elapsed()))
}

/// Percentiles and rate of a set of samples.
pub(crate) fn figures(name: String, mut samples: Vec<Duration>, elapsed: Duration) -> Figures {
    samples.sort();
    let at = |quantile: f64| {
        let index = ((samples.len() as f64 - 1.0) * quantile).round() as usize;
        samples[index]
    };
    Figures {
        name,
        p50: at(0.50),
        p99: at(0.99),
        per_second: samples.len() as f64 / elapsed.as_secs_f64(),
    }
}

/// The real interpreter behind `python3` (`sys.executable`): `python3` on PATH
/// may be a version manager's shim that adds ~100 ms per start, which Hoop's
/// agents, running a real interpreter, never pay.
pub(crate) fn real_python3() -> anyhow::Result<std::path::PathBuf> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .context("running python3 (the baseline) to find its interpreter")?;
    if !output.status.success() {
        bail!(
            "python3 failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?.trim().into())
}
