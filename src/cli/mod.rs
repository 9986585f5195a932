//! The command-line interface: one struct per subcommand, parsed with clap.

mod bench;
mod init;
mod payload;
mod policy;
mod run;
mod sandbox_flags;
mod source;
mod test;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::env_names;
use crate::exit_code;
use crate::runtime::engine::EngineOptions;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::settings;

/// Runs Hoop runbook hooks inside WebAssembly sandboxes.
#[derive(Debug, Parser)]
#[command(name = "hookbox", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one hook file in a fresh sandbox with an event payload.
    Run(Box<run::RunArgs>),
    /// Test a runbooks repository's hooks against samples and fixtures.
    Test(Box<test::TestArgs>),
    /// Start a runbooks repository that passes `hookbox test`.
    Init(init::InitArgs),
    /// Print a realistic payload in Hoop's exact shape.
    Payload(payload::PayloadArgs),
    /// Fetch the runbooks repository or show its snapshot.
    #[command(subcommand)]
    Source(source::SourceCommand),
    /// Check egress rules and print them normalized.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Measure run latency and throughput and write a Markdown table.
    Bench(bench::BenchArgs),
}

/// Parses the command line, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                exit_code::USAGE
            } else {
                exit_code::OK
            });
        }
    };
    init_logging();
    let result = match cli.command {
        Command::Run(args) => args.run(),
        Command::Test(args) => args.run(),
        Command::Init(args) => args.run(),
        Command::Payload(args) => args.run(),
        Command::Policy(command) => command.run(),
        Command::Source(command) => command.run(),
        Command::Bench(args) => args.run(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("hookbox: error: {error:#}");
            ExitCode::from(exit_code::for_error(&error))
        }
    }
}

/// Logs go to stderr only (never into `--json` output), `warn` and up unless
/// `HOOKBOX_LOG` says otherwise.
fn init_logging() {
    let filter = EnvFilter::try_from_env(env_names::LOG).unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Loads the runtime with settings from the environment.
fn load_runtime(engine: EngineOptions, ca_bundle: &[u8]) -> anyhow::Result<Runtime> {
    let cache_dir = settings::cache_dir(|name| std::env::var(name).ok())?;
    let runtime = Runtime::load(&RuntimeOptions {
        cache_dir,
        engine,
        show_progress: std::io::stderr().is_terminal(),
        ca_bundle: ca_bundle.to_vec(),
    })?;
    Ok(runtime)
}

/// A tokio runtime for one command.
fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
