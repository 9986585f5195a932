//! One fetch with gix: a shallow (depth 1), single-branch clone into a
//! temporary directory next to the snapshots, then the commit's
//! `hoop-hooks/` materialized. A fresh shallow clone per fetch follows
//! force-pushed branches for free and never pulls history.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::config::GitConfig;
use super::materialize::{Materialized, materialize};
use super::snapshot::{Snapshot, now};

/// How long one fetch may take, as in Hoop.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Fetches the configured branch (or the remote's HEAD, else `main`, else
/// `master`) and materializes it under `work/`; returns the snapshot made.
pub fn fetch(config: &GitConfig, work: &Path) -> Result<Snapshot, String> {
    let url = fetch_url(config)?;
    let candidates: Vec<Option<&str>> = match &config.branch {
        Some(branch) => vec![Some(branch.as_str())],
        None => vec![None, Some("main"), Some("master")],
    };
    let mut last_error = String::new();
    for (attempt, branch) in candidates.into_iter().enumerate() {
        let repo_dir = work.join(format!("clone-{attempt}"));
        match clone(&url, branch, &repo_dir) {
            Ok(repo) => return snapshot_of(&repo, work),
            Err(error) => last_error = error,
        }
    }
    Err(match &config.branch {
        Some(branch) => format!(
            "cannot fetch branch {branch:?} of {}: {last_error}",
            config.display_url()
        ),
        None => format!(
            "cannot fetch {} (tried its HEAD, main and master): {last_error}",
            config.display_url()
        ),
    })
}

fn fetch_url(config: &GitConfig) -> Result<String, String> {
    match config.local_path() {
        Some(path) => {
            let absolute =
                std::path::absolute(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if !absolute.exists() {
                return Err(format!(
                    "the repository {} does not exist",
                    absolute.display()
                ));
            }
            Ok(format!("file://{}", absolute.display()))
        }
        None => Ok(config.url.clone()),
    }
}

fn clone(url: &str, branch: Option<&str>, dir: &Path) -> Result<gix::Repository, String> {
    let interrupt = Arc::new(AtomicBool::new(false));
    let timer = {
        let interrupt = interrupt.clone();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            if wait.recv_timeout(FETCH_TIMEOUT).is_err() {
                interrupt.store(true, Ordering::SeqCst);
            }
        });
        (done, handle)
    };
    let result = (|| {
        let mut prepare = gix::prepare_clone_bare(url, dir)
            .map_err(|e| e.to_string())?
            .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN));
        if let Some(branch) = branch {
            prepare = prepare
                .with_ref_name(Some(branch))
                .map_err(|e| e.to_string())?;
        }
        let (repo, _outcome) = prepare
            .fetch_only(gix::progress::Discard, &interrupt)
            .map_err(|e| format!("{e}"))?;
        Ok(repo)
    })();
    let _ = timer.0.send(());
    let _ = timer.1.join();
    if interrupt.load(Ordering::SeqCst) {
        return Err(format!(
            "the fetch took longer than {}s",
            FETCH_TIMEOUT.as_secs()
        ));
    }
    result
}

fn snapshot_of(repo: &gix::Repository, work: &Path) -> Result<Snapshot, String> {
    let mut head = repo.head().map_err(|e| e.to_string())?;
    let branch = head
        .referent_name()
        .map(|name| name.shorten().to_string())
        .unwrap_or_else(|| "HEAD".into());
    let commit = head
        .peel_to_commit()
        .map_err(|e| format!("the branch has no commit: {e}"))?;
    let Materialized { files, refused } = materialize(repo, &commit, &work.join("staging"))?;
    Ok(Snapshot {
        commit: commit.id.to_string(),
        branch,
        fetched_at: now(),
        files,
        refused,
    })
}
