//! Hooks from the operator's runbooks git repository, cached for the TTL Hoop
//! uses (`GIT_HOOK_CONFIG_TTL`).
//!
//! - [`config`]: the `GIT_*` settings, with [`access`] (credentials) and
//!   [`transport`] (what a URL names);
//! - [`fetch`]: one shallow fetch with gix, over a local path, [`http`] or [`ssh`];
//! - [`signing`]: with `GIT_ALLOWED_SIGNERS`, only commits signed by an
//!   allowed key ([`allowed_signers`]) are materialized;
//! - [`materialize`]: `hoop-hooks/` out of git, safely;
//! - [`snapshot`]: immutable snapshots, the current one, fetch status.
//!
//! Within the TTL nothing touches the network. After it, a lookup serves the
//! current snapshot at once and starts one background refresh; a failed
//! refresh keeps the last good snapshot and is retried with backoff. Only one
//! fetch runs at a time, across processes too.

pub mod access;
pub mod allowed_signers;
pub mod config;
pub mod fetch;
pub mod http;
pub mod materialize;
pub mod signing;
pub mod snapshot;
pub mod ssh;
pub mod transport;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use access::GitAccess;
use config::{GitConfig, GitSettings};
use snapshot::{Clock, FetchStatus, Snapshot, Store};

use crate::{HookFile, HookFileError};
use hookbox_intake::Event;

/// The first retry after a failed fetch waits this long; each further failure
/// doubles it, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait between retries after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why no hook could be looked up.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No snapshot exists and fetching one failed.
    #[error("no snapshot of the runbooks repository: {0}")]
    NoSnapshot(String),
    /// A fetch failed (the last good snapshot, if any, is kept).
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    /// The snapshot is past its TTL, lacks the event's hook, and no newer
    /// one could be fetched: the hook may exist upstream.
    #[error(
        "the runbooks snapshot (commit {commit}) is {age} s old, past its TTL, and has no hook \
         for {event}; whether the repository has one now is not known, as no newer snapshot \
         could be fetched ({reason})"
    )]
    Stale {
        /// The event.
        event: String,
        /// The snapshot's commit.
        commit: String,
        /// Its age, in seconds.
        age: u64,
        /// Why no newer one came.
        reason: String,
    },
    /// The hook exists in the repository but was not materialized.
    #[error("hoop-hooks/{path} was refused when fetched: {reason}")]
    Refused {
        /// The hook's path in `hoop-hooks/`.
        path: String,
        /// Why.
        reason: String,
    },
    /// The materialized hook cannot be run.
    #[error(transparent)]
    Hook(#[from] HookFileError),
    /// The cache directory cannot be used.
    #[error("cannot use the source cache {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// What `hookbox source status` shows.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    /// The snapshot in use.
    pub snapshot: Option<Snapshot>,
    /// Recent fetch results.
    pub fetch: FetchStatus,
    /// Whether the snapshot is older than the TTL.
    pub stale: bool,
}

/// The git source of hooks.
#[derive(Debug, Clone)]
pub struct GitSource {
    settings: GitSettings,
    store: Store,
    clock: Clock,
    /// The longest a lookup waits for a refresh ([`REFRESH_WAIT`]).
    refresh_wait: Duration,
}

impl GitSource {
    /// The source for `settings` (a [`GitConfig`] alone for a repository
    /// that needs no credentials), cached under `cache_dir/source/`.
    pub fn new(settings: impl Into<GitSettings>, cache_dir: &Path) -> GitSource {
        let settings = settings.into();
        let config = &settings.config;
        // Snapshots verified under one signer list are never served under
        // another: removing a key stops its commits at the next lookup.
        let mut identity = format!("{}\n{:?}", config.url, config.branch);
        if let Some(signers) = &settings.signers {
            identity.push_str(&format!("\nsigners {:016x}", signers.digest()));
        }
        let key = xxhash_rust::xxh3::xxh3_64(identity.as_bytes());
        let store = Store::new(cache_dir.join("source").join(format!("{key:016x}")));
        GitSource {
            settings,
            store,
            clock: Clock::system(),
            refresh_wait: REFRESH_WAIT,
        }
    }

    /// The same source waiting at most `limit` for a refresh before a
    /// lookup on a stale snapshot gives up (default [`REFRESH_WAIT`]).
    pub fn with_refresh_wait(self, limit: Duration) -> GitSource {
        GitSource {
            refresh_wait: limit,
            ..self
        }
    }

    /// The same source going by `clock` for its TTL and backoff.
    pub fn with_clock(self, clock: Clock) -> GitSource {
        GitSource { clock, ..self }
    }

    /// How long ago `snapshot` was fetched.
    pub fn age(&self, snapshot: &Snapshot) -> Duration {
        snapshot.age(&self.clock)
    }

    /// The repository, branch and TTL in use.
    pub fn config(&self) -> &GitConfig {
        &self.settings.config
    }

    /// Everything the source was resolved from.
    pub fn settings(&self) -> &GitSettings {
        &self.settings
    }

    /// How the source authenticates (secrets redacted in `Debug`).
    pub fn access(&self) -> &GitAccess {
        &self.settings.access
    }

    /// The current snapshot and recent fetch results.
    pub fn status(&self) -> SourceStatus {
        let snapshot = self.store.current();
        let stale = snapshot
            .as_ref()
            .is_none_or(|s| self.age(s) >= self.settings.config.ttl);
        SourceStatus {
            snapshot,
            fetch: self.store.status(),
            stale,
        }
    }

    /// Fetches now (waiting for a fetch another process is running) and makes
    /// the result current.
    pub fn fetch(&self) -> Result<Snapshot, SourceError> {
        let _lock = self.lock(true)?;
        self.fetch_locked()
    }

    fn lock(&self, wait: bool) -> Result<Option<FetchLock>, SourceError> {
        let io = |source| SourceError::Io {
            path: self.store.dir().to_path_buf(),
            source,
        };
        std::fs::create_dir_all(self.store.dir()).map_err(io)?;
        let file = File::create(self.store.dir().join("fetch.lock")).map_err(io)?;
        if wait {
            file.lock().map_err(io)?;
            return Ok(Some(FetchLock(file)));
        }
        match file.try_lock() {
            Ok(()) => Ok(Some(FetchLock(file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(error)) => Err(io(error)),
        }
    }

    fn fetch_locked(&self) -> Result<Snapshot, SourceError> {
        let io = |source| SourceError::Io {
            path: self.store.dir().to_path_buf(),
            source,
        };
        let mut status = self.store.status();
        status.last_attempt_at = self.clock.now();
        let work = tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(self.store.dir())
            .map_err(io)?;
        // With signed commits, the branch may not move back to an older one.
        let last_verified = self
            .settings
            .signers
            .as_ref()
            .and_then(|_| self.store.current())
            .and_then(|current| Some((current.commit.clone(), current.committed_at?)));
        let result = fetch::fetch(
            &self.settings,
            work.path(),
            status.last_attempt_at,
            last_verified.as_ref(),
        )
        .and_then(|snapshot| {
            self.store
                .publish(&work.path().join("staging"), &snapshot)
                .map_err(|e| fetch::FetchError::Publish(e.to_string()))?;
            Ok(snapshot)
        });
        match &result {
            Ok(snapshot) => {
                status.failures = 0;
                status.last_error = None;
                status.refused_commit = None;
                tracing::info!(commit = %snapshot.commit, branch = %snapshot.branch, "fetched the runbooks repository");
            }
            Err(error) => {
                status.failures += 1;
                status.last_error = Some(error.to_string());
                if let fetch::FetchError::Unverified {
                    commit,
                    key,
                    refusal,
                    ..
                } = error
                {
                    status.commits_refused += 1;
                    status.refused_commit = Some(snapshot::RefusedCommit {
                        commit: commit.clone(),
                        key: key.clone(),
                        reason: refusal.to_string(),
                    });
                }
                tracing::warn!(%error, failures = status.failures, "fetching the runbooks repository failed");
            }
        }
        self.store.set_status(&status).map_err(io)?;
        result.map_err(SourceError::Fetch)
    }

    /// The snapshot to serve now, at once: the current one (fresh or not).
    /// After the TTL, a refresh starts in the background unless one is
    /// running (in any process) or the backoff after failures says wait; a
    /// failed refresh leaves the current snapshot in place. With no snapshot at
    /// all, a fetch must succeed first.
    pub fn snapshot(&self) -> Result<(Snapshot, Option<Refresh>), SourceError> {
        let Some(current) = self.store.current() else {
            let fetched = self
                .fetch()
                .map_err(|e| SourceError::NoSnapshot(e.to_string()))?;
            return Ok((fetched, None));
        };
        if self.age(&current) < self.settings.config.ttl || !self.retry_due() {
            return Ok((current, None));
        }
        let Some(lock) = self.lock(false)? else {
            return Ok((current, None));
        };
        let source = self.clone();
        let serving = current.commit.clone();
        let refresh = std::thread::Builder::new()
            .name("hookbox-git-refresh".into())
            .spawn(move || {
                let _lock = lock;
                if let Err(error) = source.fetch_locked() {
                    tracing::warn!(%error, commit = %serving, "serving the last good snapshot");
                }
            })
            .map_err(|source| SourceError::Io {
                path: self.store.dir().to_path_buf(),
                source,
            })?;
        Ok((current, Some(Refresh(refresh))))
    }

    fn retry_due(&self) -> bool {
        let status = self.store.status();
        let backoff =
            hookbox_core::backoff::exponential(FIRST_BACKOFF, MAX_BACKOFF, status.failures);
        self.clock.now() >= status.last_attempt_at + backoff.as_secs()
    }

    /// The hook for `event` (`None` when the repository has none: Hoop skips
    /// the event then), with the background refresh the lookup started.
    ///
    /// A snapshot past its TTL that lacks the hook does not decide that
    /// there is none: the hook may have been pushed since. The lookup waits
    /// for the refresh (its own, or the one another lookup or process runs;
    /// at most [`REFRESH_WAIT`] by default) and decides on the snapshot that brings.
    /// When none comes (the fetch failed, waits for its backoff, or took
    /// too long), whether there is a hook is not known:
    /// [`SourceError::Stale`], so a service retries the run rather than
    /// skip it.
    pub fn hook(&self, event: Event) -> Result<Lookup, SourceError> {
        let (snapshot, refresh) = self.snapshot()?;
        if let Some(hook) = self.hook_in(&snapshot, event)? {
            return Ok(Lookup {
                hook: Some(hook),
                refresh,
            });
        }
        if self.age(&snapshot) < self.settings.config.ttl {
            return Ok(Lookup {
                hook: None,
                refresh,
            });
        }
        let waited = match refresh {
            Some(refresh) => refresh.wait_at_most(self.refresh_wait),
            // Another's refresh holds the lock until it ends.
            None => self.wait_for_lock(self.refresh_wait)?,
        };
        let current = self.store.current().unwrap_or_else(|| snapshot.clone());
        // A fetch that ended after the stale snapshot made a newer one
        // (fetched_at is when it began): it decides.
        if current.fetched_at > snapshot.fetched_at {
            return Ok(Lookup {
                hook: self.hook_in(&current, event)?,
                refresh: None,
            });
        }
        let status = self.store.status();
        let reason = if !waited {
            format!(
                "the refresh did not end within {}",
                humantime::format_duration(self.refresh_wait)
            )
        } else if let Some(error) = status.last_error {
            error
        } else {
            "the next fetch waits for its backoff".into()
        };
        Err(SourceError::Stale {
            event: event.name().to_owned(),
            commit: snapshot.commit.clone(),
            age: self.age(&snapshot).as_secs(),
            reason,
        })
    }

    /// Waits until no one holds the fetch lock (another lookup's or
    /// process's refresh), at most `limit`; whether it was released.
    fn wait_for_lock(&self, limit: Duration) -> Result<bool, SourceError> {
        // A limit past what the clock can hold waits without a deadline.
        let deadline = std::time::Instant::now().checked_add(limit);
        loop {
            if self.lock(false)?.is_some() {
                return Ok(true);
            }
            if deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
                return Ok(false);
            }
            std::thread::sleep(LOCK_POLL);
        }
    }

    /// The hook for `event` in `snapshot`, if it has one (a refused one is
    /// an error).
    fn hook_in(&self, snapshot: &Snapshot, event: Event) -> Result<Option<HookFile>, SourceError> {
        for file_name in event.file_names() {
            if let Some(refused) = snapshot.refused.iter().find(|r| r.path == file_name) {
                return Err(SourceError::Refused {
                    path: refused.path.clone(),
                    reason: refused.reason.clone(),
                });
            }
            if snapshot.files.contains(&file_name) {
                let hook = HookFile::open(&self.store.hooks_dir(snapshot).join(&file_name))?
                    .from_commit(snapshot.provenance());
                return Ok(Some(hook));
            }
        }
        Ok(None)
    }
}

/// The lock that lets one fetch of a source run at a time, across processes.
/// It is released explicitly: a child process forked meanwhile (git, ssh, a
/// hook runner) shares the open file until it execs, and closing ours alone
/// would leave the lock held that long.
#[derive(Debug)]
struct FetchLock(File);

impl Drop for FetchLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// What a lookup found.
#[derive(Debug)]
pub struct Lookup {
    /// The hook, if the snapshot has one for the event.
    pub hook: Option<HookFile>,
    /// The refresh the lookup started, if the snapshot was stale.
    pub refresh: Option<Refresh>,
}

/// A refresh running in the background. A service lets it finish on its own;
/// a one-shot command waits for it before exiting, so the next one finds the
/// new snapshot.
#[derive(Debug)]
pub struct Refresh(std::thread::JoinHandle<()>);

impl Refresh {
    /// Waits for the refresh to end (successfully or not).
    pub fn wait(self) {
        let _ = self.0.join();
    }

    /// Waits for the refresh to end, at most `limit`; whether it ended.
    pub fn wait_at_most(self, limit: Duration) -> bool {
        // A limit past what the clock can hold waits without a deadline.
        let deadline = std::time::Instant::now().checked_add(limit);
        while !self.0.is_finished() {
            if deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
                return false;
            }
            std::thread::sleep(LOCK_POLL);
        }
        let _ = self.0.join();
        true
    }
}

/// The longest a lookup waits for a refresh before it decides a stale
/// snapshot cannot say whether a hook exists: a fetch gives up after
/// [`fetch::FETCH_TIMEOUT`]; materializing takes a little more.
pub const REFRESH_WAIT: Duration = Duration::from_secs(fetch::FETCH_TIMEOUT.as_secs() + 15);

/// How often a waiting lookup looks whether a refresh ended.
const LOCK_POLL: Duration = Duration::from_millis(50);

impl hookbox_core::failure::Categorized for SourceError {
    fn failure(&self) -> hookbox_core::failure::Failure {
        use hookbox_core::failure::Failure;
        match self {
            SourceError::NoSnapshot(_) | SourceError::Fetch(_) | SourceError::Stale { .. } => {
                Failure::Unavailable
            }
            SourceError::Refused { .. } | SourceError::Hook(_) => Failure::Usage,
            SourceError::Io { .. } => Failure::Internal,
        }
    }
}
