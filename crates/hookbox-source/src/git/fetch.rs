//! One fetch with gix: a shallow (depth 1), single-branch clone into a
//! temporary directory next to the snapshots, then the commit's
//! `hoop-hooks/` materialized. A fresh shallow clone per fetch follows
//! force-pushed branches for free and never pulls history.
//!
//! The clone is isolated from the machine's git configuration (global and
//! system files, `GIT_*` variables of git itself): only the settings hookbox
//! resolved decide how it connects. Local paths and `file://` go through
//! `git-upload-pack`, HTTP(S) through [`super::http`], SSH through
//! [`super::ssh`]. Every message a fetch produces is scrubbed of the secrets.
//!
//! With allowed signers, the fetched tip is verified before anything of it
//! is written; git's own policy (`git verify-commit` on what is checked out)
//! checks the tip alone, and so does a depth-1 fetch: history is neither
//! fetched nor trusted. A force-push is followed like any push: its tip must
//! be signed by an allowed key, whatever it replaced.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::allowed_signers::AllowedSigners;
use super::config::{GitConfig, GitSettings};
use super::http::HttpSession;
use super::materialize::{Materialized, materialize};
use super::signing::{self, SignatureRefusal, Unverified};
use super::snapshot::Snapshot;
use super::ssh::SshSession;
use super::transport::Transport;

/// How long one fetch may take, as in Hoop.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a fetch failed. Every message is scrubbed of the source's secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The transport could not be set up: the repository path, the key or
    /// the TLS settings.
    #[error("cannot fetch {url}: {reason}")]
    Setup {
        /// The repository (without credentials).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The server refused the credentials, or hookbox refused the server's
    /// host key: other branches are not tried.
    #[error("cannot fetch {url}: {reason}")]
    Refused {
        /// The repository (without credentials).
        url: String,
        /// What the server or the network said.
        reason: String,
    },
    /// The transfer failed (the server could not be reached, TLS failed, the
    /// connection broke) or took longer than [`FETCH_TIMEOUT`].
    #[error("cannot fetch {url}: {reason}")]
    Transfer {
        /// The repository (without credentials).
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The configured branch does not exist.
    #[error("cannot fetch branch {branch:?} of {url}: {reason}")]
    NoSuchBranch {
        /// The repository (without credentials).
        url: String,
        /// The branch configured.
        branch: String,
        /// What the server said.
        reason: String,
    },
    /// With no branch configured, neither the remote's HEAD nor `main` nor
    /// `master` could be fetched.
    #[error("cannot fetch {url} (tried its HEAD, main and master): {reason}")]
    NoDefaultBranch {
        /// The repository (without credentials).
        url: String,
        /// Why the last one failed.
        reason: String,
    },
    /// The fetched commit could not be turned into a snapshot.
    #[error("cannot use what was fetched from {url}: {reason}")]
    Snapshot {
        /// The repository (without credentials).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The fetched commit is not signed by an allowed key: it is not
    /// materialized, and the last verified snapshot keeps serving.
    #[error(
        "commit {commit} of {url} is not used: {refusal}{}",
        signed_by(key, refusal)
    )]
    Unverified {
        /// The repository (without credentials).
        url: String,
        /// The commit refused.
        commit: String,
        /// The key that signed it (fingerprint and listed principals), if any.
        key: Option<String>,
        /// Why it was refused.
        refusal: SignatureRefusal,
    },
    /// The snapshot could not be published into the cache.
    #[error("publishing the snapshot: {0}")]
    Publish(String),
}

fn signed_by(key: &Option<String>, refusal: &SignatureRefusal) -> String {
    match (key, refusal) {
        (Some(key), SignatureRefusal::BadSignature) => {
            format!(" (the signature claims key {key})")
        }
        (Some(key), _) => format!(" (signed by {key})"),
        (None, _) => String::new(),
    }
}

impl FetchError {
    /// The same error with `scrub` applied to the message it carries.
    fn scrubbed(mut self, scrub: impl Fn(&str) -> String) -> FetchError {
        use FetchError::*;
        let (Setup { reason, .. }
        | Refused { reason, .. }
        | Transfer { reason, .. }
        | NoSuchBranch { reason, .. }
        | NoDefaultBranch { reason, .. }
        | Snapshot { reason, .. }
        | Publish(reason)) = &mut self
        else {
            // Says nothing the source's secrets could be in.
            return self;
        };
        *reason = scrub(reason);
        self
    }
}

impl hookbox_core::failure::Categorized for FetchError {
    fn failure(&self) -> hookbox_core::failure::Failure {
        use FetchError::*;
        match self {
            Setup { .. }
            | Refused { .. }
            | Transfer { .. }
            | NoSuchBranch { .. }
            | NoDefaultBranch { .. }
            | Snapshot { .. }
            | Unverified { .. } => hookbox_core::failure::Failure::Unavailable,
            Publish(_) => hookbox_core::failure::Failure::Internal,
        }
    }
}

/// Fetches the configured branch (or the remote's HEAD, else `main`, else
/// `master`) and materializes it under `work/`; returns the snapshot made,
/// stamped `fetched_at` (seconds since the Unix epoch).
///
/// With allowed signers, `last_verified` (the commit in use and its
/// committer time) refuses a tip committed before it: a branch moved back to
/// an older signed commit is not followed.
pub fn fetch(
    settings: &GitSettings,
    work: &Path,
    fetched_at: u64,
    last_verified: Option<&(String, i64)>,
) -> Result<Snapshot, FetchError> {
    fetch_unscrubbed(settings, work, fetched_at, last_verified)
        .map_err(|error| error.scrubbed(|text| settings.access.scrub(text)))
}

fn fetch_unscrubbed(
    settings: &GitSettings,
    work: &Path,
    fetched_at: u64,
    last_verified: Option<&(String, i64)>,
) -> Result<Snapshot, FetchError> {
    let config = &settings.config;
    let url = || config.display_url();
    let session =
        Session::new(settings, work).map_err(|reason| FetchError::Setup { url: url(), reason })?;
    let candidates: Vec<Option<&str>> = match &config.branch {
        Some(branch) => vec![Some(branch.as_str())],
        None => vec![None, Some("main"), Some("master")],
    };
    let mut last_error = String::new();
    for (attempt, branch) in candidates.into_iter().enumerate() {
        let repo_dir = work.join(format!("clone-{attempt}"));
        let error = match clone(&session, branch, &repo_dir) {
            Ok(repo) => match snapshot_of(
                &repo,
                work,
                fetched_at,
                settings.signers.as_ref(),
                last_verified,
            ) {
                Err(Unusable::Unverified { commit, unverified }) => {
                    return Err(FetchError::Unverified {
                        url: url(),
                        commit,
                        key: unverified.key,
                        refusal: unverified.refusal,
                    });
                }
                // A remote HEAD on a branch without commits falls back too.
                Err(Unusable::Other(error)) if branch.is_none() && config.branch.is_none() => error,
                Err(Unusable::Other(reason)) => {
                    return Err(FetchError::Snapshot { url: url(), reason });
                }
                Ok(snapshot) => return Ok(snapshot),
            },
            Err(CloneError {
                message,
                missing_ref,
            }) => {
                // Refused credentials or host keys, and a server that cannot
                // be reached, will not do better for another branch.
                if let Some(reason) = session.refusal() {
                    return Err(FetchError::Refused { url: url(), reason });
                }
                let message = match session.detail() {
                    Some(detail) => format!("{message} ({detail})"),
                    None => message,
                };
                if !missing_ref {
                    return Err(FetchError::Transfer {
                        url: url(),
                        reason: message,
                    });
                }
                message
            }
        };
        last_error = error;
    }
    Err(match &config.branch {
        Some(branch) => FetchError::NoSuchBranch {
            url: url(),
            branch: branch.clone(),
            reason: last_error,
        },
        None => FetchError::NoDefaultBranch {
            url: url(),
            reason: last_error,
        },
    })
}

/// How one fetch reaches the repository.
enum Session {
    Local(String),
    Http(HttpSession),
    Ssh(SshSession),
}

impl Session {
    fn new(settings: &GitSettings, work: &Path) -> Result<Session, String> {
        let url = &settings.config.url;
        Ok(match Transport::of(url)? {
            Transport::Local => Session::Local(local_url(&settings.config)?),
            Transport::Http => Session::Http(HttpSession::new(url, &settings.access)?),
            Transport::Ssh => Session::Ssh(SshSession::new(url, &settings.access, work)?),
        })
    }

    fn prepare(&self, dir: &Path) -> Result<gix::clone::PrepareFetch, String> {
        let overrides = match self {
            Session::Ssh(ssh) => ssh.config_overrides(),
            Session::Local(_) | Session::Http(_) => Vec::new(),
        };
        let open = gix::open::Options::isolated().config_overrides(overrides);
        let create = gix::create::Options::default();
        let kind = gix::create::Kind::Bare;
        let prepare = match self {
            Session::Local(url) => {
                gix::clone::PrepareFetch::new(url.as_str(), dir, kind, create, open)
            }
            Session::Http(http) => {
                gix::clone::PrepareFetch::new(http.url(), dir, kind, create, open)
                    .map(|prepare| http.configure(prepare))
            }
            Session::Ssh(ssh) => gix::clone::PrepareFetch::new(ssh.url(), dir, kind, create, open),
        };
        prepare.map_err(|e| describe(&e))
    }

    /// Why the server refused us, when it did.
    fn refusal(&self) -> Option<String> {
        match self {
            Session::Local(_) => None,
            Session::Http(http) => http.refusal(),
            Session::Ssh(ssh) => ssh.refusal(),
        }
    }

    /// Anything else the transport said about a failure.
    fn detail(&self) -> Option<String> {
        match self {
            Session::Ssh(ssh) => ssh.detail(),
            Session::Local(_) | Session::Http(_) => None,
        }
    }
}

fn local_url(config: &GitConfig) -> Result<String, String> {
    let path = config
        .local_path()
        .ok_or_else(|| "not a local repository".to_owned())?;
    let absolute = std::path::absolute(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !absolute.exists() {
        return Err(format!(
            "the repository {} does not exist",
            absolute.display()
        ));
    }
    Ok(format!("file://{}", absolute.display()))
}

/// A gix error with its causes, on one line.
fn describe(error: &gix::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        let line = error.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = error.source();
    }
    text
}

/// Why a clone failed, and whether because the branch asked for is missing.
struct CloneError {
    message: String,
    missing_ref: bool,
}

fn clone(
    session: &Session,
    branch: Option<&str>,
    dir: &Path,
) -> Result<gix::Repository, CloneError> {
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
    let failed = |error: gix::Error| CloneError {
        missing_ref: error.dominant_class() == Some(gix::error::Class::NotFound),
        message: describe(&error),
    };
    let result = (|| {
        let mut prepare = session
            .prepare(dir)
            .map_err(|message| CloneError {
                message,
                missing_ref: false,
            })?
            .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN));
        if let Some(branch) = branch {
            prepare = prepare.with_ref_name(Some(branch)).map_err(failed)?;
        }
        let (repo, _outcome) = prepare
            .fetch_only(gix::progress::Discard, &interrupt)
            .map_err(failed)?;
        Ok(repo)
    })();
    let _ = timer.0.send(());
    let _ = timer.1.join();
    if interrupt.load(Ordering::SeqCst) {
        return Err(CloneError {
            message: format!("the fetch took longer than {}s", FETCH_TIMEOUT.as_secs()),
            missing_ref: false,
        });
    }
    result
}

/// Why a fetched commit gives no snapshot.
enum Unusable {
    /// Its signature does not let it be used.
    Unverified {
        commit: String,
        unverified: Unverified,
    },
    /// Anything else.
    Other(String),
}

impl From<String> for Unusable {
    fn from(error: String) -> Unusable {
        Unusable::Other(error)
    }
}

/// The snapshot of the fetched branch's commit; with `signers`, only if
/// they let the commit be used (checked before anything is written).
fn snapshot_of(
    repo: &gix::Repository,
    work: &Path,
    fetched_at: u64,
    signers: Option<&AllowedSigners>,
    last_verified: Option<&(String, i64)>,
) -> Result<Snapshot, Unusable> {
    let mut head = repo.head().map_err(|e| e.to_string())?;
    let branch = head
        .referent_name()
        .map(|name| name.shorten().to_string())
        .unwrap_or_else(|| "HEAD".into());
    let commit = head
        .peel_to_commit()
        .map_err(|e| format!("the branch has no commit: {e}"))?;
    let committed_at = commit
        .committer()
        .and_then(|committer| committer.time())
        .map(|time| time.seconds)
        .ok();
    let refused = |unverified| Unusable::Unverified {
        commit: commit.id.to_string(),
        unverified,
    };
    let signer = match signers {
        Some(signers) => Some(signing::verify(signers, &commit).map_err(refused)?),
        None => None,
    };
    if let (Some((last, last_time)), Some(time)) = (last_verified, committed_at)
        && time < *last_time
    {
        return Err(refused(Unverified {
            key: None,
            refusal: SignatureRefusal::Older { last: last.clone() },
        }));
    }
    let Materialized { files, refused, .. } = materialize(repo, &commit, &work.join("staging"))?;
    Ok(Snapshot {
        commit: commit.id.to_string(),
        branch,
        fetched_at,
        files,
        refused,
        signer,
        committed_at,
    })
}
