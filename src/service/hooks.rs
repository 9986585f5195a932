//! Where the service finds the hook for an event: a local runbooks folder
//! (read at every run, so an edit applies at once) or the configured git
//! source (TTL-cached snapshots, refreshed in the background).

use std::path::PathBuf;
use std::sync::Arc;

use crate::intake::Event;
use crate::source::HookFile;
use crate::source::git::GitSource;

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

    /// How old the current git snapshot is, in seconds, and how many fetches
    /// in a row failed; `None` for a local folder or before the first fetch.
    pub fn snapshot_age(&self) -> Option<(f64, u32)> {
        match self {
            HookSource::Dir(_) => None,
            HookSource::Git(source) => {
                let status = source.status();
                let snapshot = status.snapshot?;
                Some((source.age(&snapshot).as_secs_f64(), status.fetch.failures))
            }
        }
    }
}
