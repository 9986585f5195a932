//! Snapshots of the repository's `hoop-hooks/` folder: immutable directories
//! keyed by commit, a `current.json` that names the one in use (replaced
//! atomically), a `history.json` with the order they were published in, and
//! a `status.json` with the last fetch's result.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Event;
use hookbox_record::{Provenance, Signer};
use serde::{Deserialize, Serialize};

/// What one fetch produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The commit the snapshot was made from.
    pub commit: String,
    /// The branch it was on.
    pub branch: String,
    /// When it was fetched (seconds since the Unix epoch).
    pub fetched_at: u64,
    /// The files materialized, relative to `hoop-hooks/`.
    pub files: Vec<String>,
    /// Entries that were not materialized, with the reason.
    pub refused: Vec<Refused>,
    /// Who signed the commit, when signed commits are required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
    /// The commit's committer time (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<i64>,
}

/// An entry of `hoop-hooks/` that was not materialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// Its path relative to `hoop-hooks/`.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// The outcome of recent fetch attempts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchStatus {
    /// When the last attempt started (seconds since the epoch).
    pub last_attempt_at: u64,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// The last commit refused for its signature, until a fetch succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_commit: Option<RefusedCommit>,
    /// Commits refused for their signature, ever, in this cache.
    #[serde(default)]
    pub commits_refused: u64,
}

/// A fetched commit that was not used for its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedCommit {
    /// The commit.
    pub commit: String,
    /// The key that signed it (fingerprint and listed principals), if any.
    pub key: Option<String>,
    /// Why it was refused.
    pub reason: String,
}

impl Snapshot {
    /// How long ago it was fetched, by `clock`.
    pub fn age(&self, clock: &Clock) -> Duration {
        Duration::from_secs(clock.now().saturating_sub(self.fetched_at))
    }

    /// Where a hook of this snapshot comes from, for run records.
    pub fn provenance(&self) -> Provenance {
        Provenance {
            commit: self.commit.clone(),
            branch: self.branch.clone(),
            signer: self.signer.clone(),
        }
    }

    /// Whether the two hook files are present, by event name.
    pub fn hooks(&self) -> Vec<&str> {
        [Event::SessionOpen, Event::SessionClose]
            .into_iter()
            .filter(|event| {
                event
                    .file_names()
                    .iter()
                    .any(|name| self.files.contains(name))
            })
            .map(Event::name)
            .collect()
    }
}

/// The time a source goes by for its TTL and its backoff, in whole seconds
/// since the Unix epoch: the system's, or one moved by hand (for tests, which
/// must not wait out a TTL).
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicU64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock standing at `start` until [`Clock::advance`] moves it.
    pub fn manual(start: u64) -> Clock {
        Clock(Some(Arc::new(AtomicU64::new(start))))
    }

    /// Moves a manual clock (and every clone of it) forward; the system
    /// clock cannot be moved and ignores it.
    pub fn advance(&self, by: Duration) {
        if let Some(seconds) = &self.0 {
            seconds.fetch_add(by.as_secs(), Ordering::SeqCst);
        }
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        match &self.0 {
            Some(seconds) => seconds.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

/// The on-disk layout of one source.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `dir`.
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    /// The source's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `hoop-hooks/` directory of a snapshot.
    pub fn hooks_dir(&self, snapshot: &Snapshot) -> PathBuf {
        self.dir
            .join("snapshots")
            .join(&snapshot.commit)
            .join("hoop-hooks")
    }

    /// The snapshot in use, if any.
    pub fn current(&self) -> Option<Snapshot> {
        read_json(&self.dir.join("current.json"))
    }

    /// The recent fetch results.
    pub fn status(&self) -> FetchStatus {
        read_json(&self.dir.join("status.json")).unwrap_or_default()
    }

    /// Records a fetch result.
    pub fn set_status(&self, status: &FetchStatus) -> std::io::Result<()> {
        write_json_atomically(&self.dir.join("status.json"), status)
    }

    /// Publishes a materialized `staging` directory (holding `hoop-hooks/`) as
    /// the snapshot of its commit and makes it current.
    pub fn publish(&self, staging: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
        let snapshots = self.dir.join("snapshots");
        fs::create_dir_all(&snapshots)?;
        let target = snapshots.join(&snapshot.commit);
        if !target.exists() {
            // A snapshot, once published, never changes: a run that started in
            // it keeps seeing exactly what it saw.
            if let Err(error) = fs::rename(staging, &target)
                && !target.exists()
            {
                return Err(error);
            }
        }
        write_json_atomically(&self.dir.join("current.json"), snapshot)?;
        self.prune(&snapshot.commit);
        Ok(())
    }

    /// Removes snapshots beyond the current one and the [`KEEP_PREVIOUS`]
    /// published before it (by the order `history.json` records, not by file
    /// times, which some file systems keep coarsely), and fetch leftovers of
    /// crashed processes. Best effort: a failure is logged, never fatal.
    fn prune(&self, current: &str) {
        let history_path = self.dir.join("history.json");
        let mut history: Vec<String> = read_json(&history_path).unwrap_or_default();
        history.retain(|commit| commit != current);
        history.push(current.to_owned());
        let keep = history.split_off(history.len().saturating_sub(KEEP_PREVIOUS + 1));
        if let Err(error) = write_json_atomically(&history_path, &keep) {
            tracing::warn!(path = %history_path.display(), %error, "cannot record the snapshot history");
            return;
        }
        let old = fs::read_dir(self.dir.join("snapshots"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| {
                !keep
                    .iter()
                    .any(|commit| entry.file_name() == commit.as_str())
            })
            .map(|entry| entry.path());
        let leftovers = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(".fetch-"))
            .filter(|entry| {
                entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|modified| modified.elapsed().unwrap_or_default() > LEFTOVER_AGE)
            })
            .map(|entry| entry.path());
        for path in old.chain(leftovers) {
            if let Err(error) = fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), %error, "cannot remove an old snapshot");
            }
        }
    }
}

/// Snapshots kept besides the current one, so runs that started in an older
/// snapshot finish in it.
pub const KEEP_PREVIOUS: usize = 3;
/// Age after which a fetch's temporary directory is a crash's leftover.
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(&mut file, value)?;
    file.write_all(b"\n")?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
