//! The benchmarks: figures measured side by side with their baselines in one
//! run and written as Markdown tables (never timed tests: these machines are
//! shared and noisy).
//!
//! - [`run`]: hook run latency and throughput against `python3 hook.py`;
//! - [`source`]: hook lookup from the git cache and shallow fetches against
//!   `git clone`;
//! - [`service`]: `hookbox serve` intake rate and end-to-end latency against
//!   `python3` per event, and spool growth while a receiver is down.

pub mod hooks;
mod memory;
mod receivers;
pub mod run;
pub mod service;
pub mod source;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use hookbox::record::{RunOutcome, RunStatus};
use hookbox::runtime::{Instantiation, RunRequest, Runtime};

/// A Markdown table: the first column left-aligned (names), the others
/// right-aligned (figures). Every table `hookbox-bench` writes is one.
pub(crate) struct Table {
    text: String,
}

impl Table {
    /// A table with these column headers.
    pub(crate) fn new(columns: &[&str]) -> Table {
        let mut text = format!("| {} |\n|", columns.join(" | "));
        for index in 0..columns.len() {
            text.push_str(if index == 0 { "---|" } else { "---:|" });
        }
        text.push('\n');
        Table { text }
    }

    /// Adds a row of cells.
    pub(crate) fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let cells: Vec<String> = cells.into_iter().map(|c| c.as_ref().to_owned()).collect();
        self.text.push_str(&format!("| {} |\n", cells.join(" | ")));
    }

    /// The table's Markdown.
    pub(crate) fn markdown(&self) -> &str {
        &self.text
    }
}

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

/// Runs `request` `runs` times in-process, `concurrency` at a time, after a
/// warm-up (first-touch page faults and lazy set-up are not what a
/// long-running hookbox pays per event); returns the figures and the fuel
/// one run used. Every run must end cleanly.
pub(crate) async fn in_process(
    runtime: &Arc<Runtime>,
    request: RunRequest<'_>,
    how: Instantiation,
    runs: usize,
    concurrency: usize,
) -> anyhow::Result<(Figures, u64)> {
    for _ in 0..10 {
        clean(runtime.run_with(request, how).await)?;
    }
    let (hook, payload, config) = (
        request.hook.clone(),
        request.payload.clone(),
        request.config.clone(),
    );
    let started = Instant::now();
    let per_task = runs.div_ceil(concurrency);
    let tasks = (0..concurrency).map(|_| {
        let runtime = runtime.clone();
        let (hook, payload, config) = (hook.clone(), payload.clone(), config.clone());
        tokio::spawn(async move {
            let request = RunRequest {
                hook: &hook,
                payload: &payload,
                config: &config,
                args: &[],
            };
            let mut samples = Vec::with_capacity(per_task);
            let mut fuel = 0;
            for _ in 0..per_task {
                let run_started = Instant::now();
                let outcome = runtime.run_with(request, how).await;
                samples.push(run_started.elapsed());
                fuel = clean(outcome)?;
            }
            anyhow::Ok((samples, fuel))
        })
    });
    let (mut samples, mut fuel) = (Vec::new(), 0);
    for task in tasks.collect::<Vec<_>>() {
        let (task_samples, task_fuel) = task.await??;
        samples.extend(task_samples);
        fuel = task_fuel;
    }
    Ok((figures(String::new(), samples, started.elapsed()), fuel))
}

/// The fuel of a run that ended cleanly, or what went wrong.
fn clean(outcome: RunOutcome) -> anyhow::Result<u64> {
    if outcome.status != RunStatus::Ok {
        bail!(
            "the benchmark hook did not run cleanly: {:?} {:?}\n{}",
            outcome.status,
            outcome.error,
            outcome.stderr
        );
    }
    Ok(outcome.fuel_consumed)
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

pub use hookbox_testkit::real_python3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_names_left_and_figures_right() {
        let mut table = Table::new(&["measurement", "p50 (ms)", "runs/s"]);
        table.row(["one-shot", "10.50", "95"]);
        table.row([
            String::from("in-process"),
            String::from("2.80"),
            String::from("357"),
        ]);
        assert_eq!(
            table.markdown(),
            "| measurement | p50 (ms) | runs/s |\n|---|---:|---:|\n\
             | one-shot | 10.50 | 95 |\n| in-process | 2.80 | 357 |\n"
        );
    }
}
