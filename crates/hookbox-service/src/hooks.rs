//! Where the service finds the hook for an event: a local runbooks folder
//! (read at every run, so an edit applies at once) or the configured git
//! source (TTL-cached snapshots, refreshed in the background).

use std::path::PathBuf;
use std::sync::Arc;

use hookbox_intake::Event;
use hookbox_source::HookFile;
use hookbox_source::git::GitSource;

/// The hooks the service runs.
#[derive(Clone)]
pub enum HookSource {
    /// A runbooks repository folder holding `hoop-hooks/`.
    Dir(PathBuf),
    /// The runbooks git repository.
    Git(Arc<GitSource>),
}

impl HookSource {
    /// The hook for `event`, `None` when there is none (the run is skipped),
    /// or why it cannot be found now (the run is retried).
    pub fn find(&self, event: Event) -> anyhow::Result<Option<HookFile>> {
        match self {
            HookSource::Dir(dir) => {
                let hooks = dir.join("hoop-hooks");
                for name in event.file_names() {
                    let path = hooks.join(&name);
                    if path.is_file() {
                        return Ok(Some(HookFile::open_within(dir, &path)?));
                    }
                }
                Ok(None)
            }
            // A refresh it starts goes on in the background.
            HookSource::Git(source) => Ok(source.hook(event)?.hook),
        }
    }

    /// The git source's figures; `None` for a local folder.
    pub fn git_figures(&self) -> Option<GitFigures> {
        match self {
            HookSource::Dir(_) => None,
            HookSource::Git(source) => {
                let status = source.status();
                Some(GitFigures {
                    snapshot_age: status
                        .snapshot
                        .map(|snapshot| source.age(&snapshot).as_secs_f64()),
                    fetch_failures: status.fetch.failures,
                    commits_refused: status.fetch.commits_refused,
                })
            }
        }
    }
}

/// How the git source is doing, for `/health` and `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct GitFigures {
    /// How old the snapshot in use is, in seconds (none before the first).
    pub snapshot_age: Option<f64>,
    /// Fetches that failed in a row.
    pub fetch_failures: u32,
    /// Fetched commits refused for their signature, ever, in this cache.
    pub commits_refused: u64,
}
