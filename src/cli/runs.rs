//! `hookbox runs`: read and replay the service's runs from its spool.

use super::stdout::outln;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use std::sync::Arc;

use crate::service::spool::{RunFilter, RunState, Spool, SpoolError, SpoolLocation, now_millis};
use crate::settings;

/// Read and replay the runs of `hookbox serve` (from its spool; the service
/// may be running).
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List(ListArgs),
    /// Show one run with its payload and every attempt (JSON).
    Show(RunArgs),
    /// Run a run's event again as a new run.
    Replay(RunArgs),
}

/// Where the spool is.
#[derive(Debug, Args)]
pub struct SpoolArgs {
    /// The service's data directory [env: HOOKBOX_DATA_DIR; default:
    /// $XDG_DATA_HOME/hookbox].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The PostgreSQL spool instances share, instead of --data-dir [env:
    /// HOOKBOX_SPOOL; its password: HOOKBOX_SPOOL_PASSWORD].
    #[arg(long, value_name = "URL")]
    spool: Option<String>,
}

/// `hookbox runs list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only runs in this state.
    #[arg(long, value_parser = state_parser())]
    status: Option<RunState>,
    /// Only runs of this event.
    #[arg(long, value_enum)]
    event: Option<super::event_arg::EventArg>,
    /// Only runs of this Hoop event id: every firing of one event (Hoop
    /// fires `session-open` again for one session when a review is
    /// approved) and their replays.
    #[arg(long, value_name = "ID")]
    event_id: Option<String>,
    /// Only runs of this session.
    #[arg(long, value_name = "SID")]
    sid: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print JSON instead of lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    spool: SpoolArgs,
}

/// `hookbox runs show|replay ID`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The run id.
    id: String,
    #[command(flatten)]
    spool: SpoolArgs,
}

impl SpoolArgs {
    async fn open(&self) -> anyhow::Result<Arc<dyn Spool>> {
        let host_env = crate::env_names::from_process;
        let dir = settings::data_dir(self.data_dir.as_deref(), host_env)?;
        let location = settings::spool_location(self.spool.clone(), None, None, &dir, host_env)?;
        if let SpoolLocation::Embedded(dir) = &location
            && !dir.join(crate::service::spool::sqlite::FILE_NAME).exists()
        {
            return Err(SpoolError::NoSpool { dir: dir.clone() }.into());
        }
        Ok(crate::service::open_spool(&location, &[], "hookbox-runs").await?)
    }
}

impl RunsCommand {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<u8> {
        super::tokio_runtime()?.block_on(self.run_on_spool())
    }

    async fn run_on_spool(self) -> anyhow::Result<u8> {
        match self {
            RunsCommand::List(args) => {
                let spool = args.spool.open().await?;
                let filter = RunFilter {
                    state: args.status,
                    event: args
                        .event
                        .map(|e| crate::intake::Event::from(e).name().to_owned()),
                    event_id: args.event_id,
                    sid: args.sid,
                    limit: args.limit,
                    ..RunFilter::default()
                };
                let runs = spool.list(&filter).await?;
                if args.json {
                    outln!("{}", serde_json::to_string_pretty(&runs)?);
                } else {
                    for run in runs {
                        outln!(
                            "{}  {:<9}  {:<13}  event {}  attempts {}  {}  {}",
                            run.id,
                            run.state.as_str(),
                            run.event,
                            run.event_id,
                            run.attempts,
                            run.created_at,
                            run.last_note.unwrap_or_default()
                        );
                    }
                }
            }
            RunsCommand::Show(args) => match args.spool.open().await?.show(&args.id).await? {
                Some(detail) => outln!("{}", serde_json::to_string_pretty(&detail)?),
                None => return Err(SpoolError::NoRun { id: args.id }.into()),
            },
            RunsCommand::Replay(args) => match args
                .spool
                .open()
                .await?
                .replay(&args.id, now_millis())
                .await?
            {
                Some(run_id) => outln!("replayed {} as run {run_id}", args.id),
                None => return Err(SpoolError::NoRun { id: args.id }.into()),
            },
        }
        Ok(crate::exit_code::OK)
    }
}

/// Parses a run state as the spool names it (`pending`, `dead`, ...).
fn state_parser() -> impl clap::builder::TypedValueParser<Value = RunState> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(RunState::ALL.map(RunState::as_str))
        // Only the names just listed get here.
        .map(|name| RunState::parse(&name).unwrap_or(RunState::Pending))
}
