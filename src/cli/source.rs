//! `hookbox source fetch|status`: the runbooks repository as hookbox sees it.

use super::stdout::outln;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::env_names;
use crate::settings::ConfigFile;
use crate::source::git::config::{GitConfig, GitSection};
use crate::source::git::snapshot::Snapshot;
use crate::source::git::{GitSource, SourceStatus};

/// Commands on the git source of hooks.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Fetch the repository now and show the snapshot made.
    Fetch(SourceArgs),
    /// Show the snapshot in use, its age and the last fetch's result.
    Status(SourceArgs),
}

/// Where the source is configured.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// A configuration file with a [git] section [env: HOOKBOX_CONFIG]; the
    /// GIT_* variables (GIT_URL, GIT_BRANCH, GIT_HOOK_CONFIG_TTL, GIT_USER, ...) win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Whether a repository is named at all (`GIT_URL` or `[git] url`); without
/// one there is no git source to fetch or check.
pub fn repository_configured(section: &GitSection) -> bool {
    env_names::from_process(env_names::GIT_URL).is_some_and(|url| !url.is_empty())
        || section.url.is_some()
}

/// The git source from a `[git]` section and the `GIT_*` variables.
pub fn git_source_from(section: &GitSection) -> anyhow::Result<GitSource> {
    let config = GitConfig::resolve(section, env_names::from_process)?;
    let cache_dir = crate::settings::cache_dir(env_names::from_process)?;
    Ok(GitSource::new(config, &cache_dir))
}

impl SourceCommand {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<u8> {
        let (SourceCommand::Fetch(args) | SourceCommand::Status(args)) = &self;
        let file = ConfigFile::find(args.config.as_deref(), None, env_names::from_process)?;
        let source = git_source_from(&file.git)?;
        outln!("repository {}", source.config().display_url());
        if let Some(signers) = &source.settings().signers {
            outln!(
                "signatures required: {} signers in {}",
                signers.signers().len(),
                signers
                    .file()
                    .map_or_else(|| "(given)".into(), |f| f.display().to_string())
            );
        }
        match self {
            SourceCommand::Fetch(_) => {
                let snapshot = source.fetch()?;
                print_snapshot(&snapshot, &source);
            }
            SourceCommand::Status(_) => print_status(&source.status(), &source),
        }
        Ok(crate::exit_code::OK)
    }
}

fn print_snapshot(snapshot: &Snapshot, source: &GitSource) {
    outln!("commit {} on {}", snapshot.commit, snapshot.branch);
    if let Some(signer) = &snapshot.signer {
        outln!("signed by {signer}");
    }
    let hooks = snapshot.hooks();
    outln!(
        "hooks {}",
        if hooks.is_empty() {
            "none".to_owned()
        } else {
            hooks.join(", ")
        }
    );
    outln!(
        "fetched {} ago (ttl {})",
        humantime::format_duration(source.age(snapshot)),
        humantime::format_duration(source.config().ttl)
    );
    for refused in &snapshot.refused {
        outln!("refused hoop-hooks/{}: {}", refused.path, refused.reason);
    }
}

fn print_status(status: &SourceStatus, source: &GitSource) {
    match &status.snapshot {
        Some(snapshot) => {
            print_snapshot(snapshot, source);
            outln!(
                "state {}",
                if status.stale {
                    "stale (the next lookup fetches)"
                } else {
                    "fresh"
                }
            );
        }
        None => outln!("no snapshot yet"),
    }
    if let Some(refused) = &status.fetch.refused_commit {
        outln!(
            "refused commit {}{}: {}",
            refused.commit,
            refused
                .key
                .as_ref()
                .map(|key| format!(" signed by {key}"))
                .unwrap_or_default(),
            refused.reason
        );
    }
    if let Some(error) = &status.fetch.last_error {
        outln!(
            "last fetch failed ({} in a row): {error}",
            status.fetch.failures
        );
    }
}
