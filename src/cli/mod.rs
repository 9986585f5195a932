//! The command-line interface: one struct per subcommand, parsed with clap.

mod docs;
pub use docs::reference_markdown;
mod doctor;
mod event_arg;
mod init;
mod payload;
mod policy;
mod python;
mod repository_settings;
mod run;
mod runs;
mod sandbox_flags;
mod serve;
mod source;
mod stdout;
mod test;
mod warm;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::env_names;
use crate::exit_code;
use crate::runtime::engine::EngineOptions;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::settings;

/// How every command resolves a setting given in more than one place.
const PRECEDENCE: &str = "\
Settings, in every command: a command-line flag wins over an environment variable \
(HOOKBOX_*, GIT_*), which wins over the configuration file (--config, else \
HOOKBOX_CONFIG; `python` and `doctor` then look for $XDG_CONFIG_HOME/hookbox/config.toml \
and /etc/hookbox/config.toml), which wins over the default. Lists (rules, variables, secrets) from the file and the flags are \
combined. A secret the file names by path (token_file, spool_password_file) is read \
from that file before its variable.";

/// Runs Hoop runbook hooks inside WebAssembly sandboxes.
#[derive(Debug, Parser)]
#[command(name = "hookbox", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How hookbox's own logs (on stderr) are written.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "HOOKBOX_LOG_FORMAT",
        display_order = 1000
    )]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one hook file in a fresh sandbox with an event payload.
    #[command(
        override_usage = "hookbox run <HOOK | --event session-open|session-close> --payload <FILE|-> [OPTIONS]"
    )]
    Run(Box<run::RunArgs>),
    /// Run the event service: durable intake, retries, audit, metrics.
    ///
    /// `POST /v1/events` takes Hoop's payload, stores it durably, and workers
    /// run the event's hook with retries; runs can be read and replayed over
    /// HTTP or with `hookbox runs`. Clients authenticate with the bearer token
    /// in HOOKBOX_TOKEN and, when HOOKBOX_WEBHOOK_SECRET (a `whsec_...` secret)
    /// is set, a Standard Webhooks signature; with neither, --no-auth must say
    /// the network is trusted. SIGTERM stops intake and lets running hooks
    /// finish within --grace.
    Serve(Box<serve::ServeArgs>),
    /// Read and replay the service's runs.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Test a runbooks repository's hooks against samples and fixtures.
    Test(Box<test::TestArgs>),
    /// Start a runbooks repository that passes `hookbox test`.
    Init(init::InitArgs),
    /// Run a hook as Hoop's agent runs python3 (script on stdin).
    ///
    /// The script comes on standard input (or `-c CODE`, or a file), the event
    /// in HOOP_RUNBOOK_HOOK_PAYLOAD; it runs in the sandbox under the policy
    /// read from HOOKBOX_CONFIG, else $XDG_CONFIG_HOME/hookbox/config.toml,
    /// else /etc/hookbox/config.toml (Hoop passes no flags). hookbox runs this
    /// way when it is invoked under the name `python3`.
    Python(Box<python::PythonArgs>),
    /// Print a realistic payload in Hoop's exact shape.
    Payload(payload::PayloadArgs),
    /// Fetch the runbooks repository or show its snapshot.
    #[command(subcommand)]
    Source(source::SourceCommand),
    /// Check egress rules and print them normalized.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Check the set-up as a whole: configuration, cache, repository, spool,
    /// service and drop-in, with a fix for each failure.
    ///
    /// Reads the configuration and environment the drop-in and the service
    /// read. Exit 0 only when every check that applies holds (1 otherwise);
    /// checks that do not apply are shown as skipped. Never prints a secret.
    Doctor(Box<doctor::DoctorArgs>),
    /// Prepare the cache so the first event's hook runs as fast as the next.
    ///
    /// Compiles the runner for this machine and the standard library's
    /// bytecode, and fetches the runbooks snapshot when a repository is
    /// configured. Idempotent; prints what it did and how long it took. Run
    /// it after installing or upgrading.
    Warm(warm::WarmArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Write the manual pages (hookbox.1 and one per command) into a folder.
    Man(docs::ManArgs),
}

/// The commands that read settings, whose help states [`PRECEDENCE`].
const READ_SETTINGS: &[&str] = &[
    "run", "serve", "runs", "test", "python", "source", "policy", "doctor", "warm",
];

/// The command-line definition `--help`, the manual pages and the
/// completions are made from.
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
        .after_help(PRECEDENCE)
        .mut_subcommands(|subcommand| {
            if READ_SETTINGS.contains(&subcommand.get_name()) {
                with_precedence(subcommand)
            } else {
                subcommand
            }
        })
}

/// `command` and every command under it, stating [`PRECEDENCE`].
fn with_precedence(command: clap::Command) -> clap::Command {
    command
        .after_help(PRECEDENCE)
        .mut_subcommands(with_precedence)
}

/// Parses the command line, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    use clap::FromArgMatches;
    let parsed = command()
        .try_get_matches_from(arguments())
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
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
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    init_logging(default_level, cli.log_format);
    let result = match cli.command {
        Command::Run(args) => args.run(),
        Command::Serve(args) => args.run(),
        Command::Runs(command) => command.run(),
        Command::Test(args) => args.run(),
        Command::Init(args) => args.run(),
        Command::Python(args) => args.run(),
        Command::Payload(args) => args.run(),
        Command::Policy(command) => command.run(),
        Command::Source(command) => command.run(),
        Command::Doctor(args) => args.run(),
        Command::Warm(args) => args.run(),
        Command::Completions(args) => args.run(),
        Command::Man(args) => args.run(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) if closed_pipe(&error) => ExitCode::from(exit_code::CLOSED_PIPE),
        Err(error) => {
            eprintln!("hookbox: error: {error:#}");
            ExitCode::from(exit_code::for_error(&error))
        }
    }
}

/// Whether the command failed because its stdout's reader went away.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(stdout::is_closed_pipe)
}

/// The command line, with `python` put in front of the arguments when
/// hookbox runs under the name `python3` (or `python`): the drop-in for the
/// interpreter Hoop's agent calls.
fn arguments() -> Vec<std::ffi::OsString> {
    let mut arguments: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let called_as_python = arguments
        .first()
        .and_then(|first| std::path::Path::new(first).file_name())
        .and_then(|name| name.to_str())
        .is_some_and(|name| name == "python3" || name == "python");
    if called_as_python {
        arguments.insert(1, "python".into());
    }
    arguments
}

/// Logs go to stderr only (never into `--json` output), `warn` and up unless
/// `HOOKBOX_LOG` says otherwise (`hookbox serve`: `info`); one JSON object
/// per line with `--log-format json` or `HOOKBOX_LOG_FORMAT=json`.
fn init_logging(default_level: &str, format: LogFormat) {
    let mut filter =
        EnvFilter::try_from_env(env_names::LOG).unwrap_or_else(|_| EnvFilter::new(default_level));
    // wasmtime-wasi's bindings trace every argument a hook passes (URLs,
    // header values, bodies): whatever HOOKBOX_LOG asks, they stay at info.
    for quiet in ["wasmtime_wasi=info", "wasmtime_wasi_http=info"] {
        if let Ok(directive) = quiet.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// How hookbox's own logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Loads the runtime with settings from the environment.
fn load_runtime(
    engine: EngineOptions,
    ca_bundle: &[u8],
    ca_bundle_path: Option<&std::path::Path>,
) -> anyhow::Result<Runtime> {
    let cache_dir = settings::cache_dir(crate::env_names::from_process)?;
    let runtime = Runtime::load(&RuntimeOptions {
        guest: &crate::guest::GUEST,
        cache_dir,
        engine,
        show_progress: std::io::stderr().is_terminal(),
        ca_bundle: ca_bundle.to_vec(),
        ca_bundle_path: ca_bundle_path.map(std::path::Path::to_path_buf),
    })?;
    Ok(runtime)
}

/// A tokio runtime for one command.
fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
