//! The git source: real repositories made by the tests with `git`, fetched
//! with gix through a local path and `file://`, cached for the TTL. HTTP(S)
//! and SSH are in `git_transports`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use hookbox::intake::Event;
use hookbox::source::git::config::GitConfig;
use hookbox::source::git::fetch::FetchError;
use hookbox::source::git::snapshot::Clock;
use hookbox::source::git::{FIRST_BACKOFF, GitSource, SourceError};

/// A repository on disk, changed with the `git` command line.
pub struct TestRepo {
    dir: tempfile::TempDir,
}

impl TestRepo {
    /// An empty repository on `branch`.
    pub fn new(branch: &str) -> TestRepo {
        let repo = TestRepo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "-q", "-b", branch]);
        repo.git(&["config", "user.email", "ops@example.com"]);
        repo.git(&["config", "user.name", "ops"]);
        repo
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `git` in it; panics when git fails.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_with_input(args, "")
    }

    /// Runs `git` in it with `input` on its stdin; panics when git fails.
    pub fn git_with_input(&self, args: &[&str], input: &str) -> String {
        use std::io::Write;
        let mut child = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Writes a file of the work tree.
    pub fn write(&self, path: &str, contents: &[u8]) -> &Self {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
        self
    }

    /// Commits everything; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Signs the commits made from now on with the SSH key at `key` (git's
    /// `gpg.format=ssh`), as `git commit -S` does.
    pub fn sign_with(&self, key: &Path) -> &Self {
        self.git(&["config", "gpg.format", "ssh"]);
        self.git(&["config", "user.signingkey", &key.display().to_string()]);
        self.git(&["config", "commit.gpgsign", "true"]);
        self
    }

    /// Commits everything at `time` (seconds since the epoch, as author and
    /// committer); returns the commit id.
    pub fn commit_at(&self, message: &str, time: i64) -> String {
        self.git(&["add", "-A"]);
        let date = format!("{time} +0000");
        let status = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(["commit", "-q", "--allow-empty", "-m", message])
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .status()
            .unwrap();
        assert!(status.success(), "git commit at {date}");
        self.git(&["rev-parse", "HEAD"])
    }

    /// Commits everything without a signature; returns the commit id.
    pub fn commit_unsigned(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&[
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        ]);
        self.git(&["rev-parse", "HEAD"])
    }
}

fn source(url: String, branch: Option<&str>, ttl: Duration, cache: &Path) -> GitSource {
    GitSource::new(
        GitConfig {
            url,
            branch: branch.map(str::to_owned),
            ttl,
        },
        cache,
    )
}

/// A source for `repo` with a cache directory of its own.
fn source_of(
    repo: &TestRepo,
    branch: Option<&str>,
    ttl: Duration,
) -> (tempfile::TempDir, GitSource) {
    let cache = tempfile::tempdir().unwrap();
    let source = source(repo.path().display().to_string(), branch, ttl, cache.path());
    (cache, source)
}

/// The hook's text, waiting for any refresh the lookup started.
pub fn hook_text(source: &GitSource, event: Event) -> Option<String> {
    let lookup = source.hook(event).unwrap();
    if let Some(refresh) = lookup.refresh {
        refresh.wait();
    }
    lookup
        .hook
        .map(|hook| std::fs::read_to_string(hook.dir().join(hook.file_name())).unwrap())
}

#[test]
fn a_local_path_and_a_file_url_give_the_hooks() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-open.runbook.py", b"print('open v1')\n")
        .write("hoop-hooks/helpers.py", b"X = 1\n")
        .write("README.md", b"runbooks\n");
    let commit = repo.commit("v1");
    for url in [
        repo.path().display().to_string(),
        format!("file://{}", repo.path().display()),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let source = source(url, None, Duration::from_secs(3600), cache.path());
        let snapshot = source.fetch().unwrap();
        assert_eq!(snapshot.commit, commit);
        assert_eq!(snapshot.branch, "main");
        assert_eq!(
            snapshot.files,
            vec!["helpers.py", "session-open.runbook.py"]
        );
        assert_eq!(snapshot.hooks(), vec!["session-open"]);
        assert_eq!(
            hook_text(&source, Event::SessionOpen).as_deref(),
            Some("print('open v1')\n")
        );
        assert_eq!(
            hook_text(&source, Event::SessionClose),
            None,
            "no close hook: skipped"
        );
    }
}

#[test]
fn within_the_ttl_nothing_is_fetched_and_after_it_a_push_is_picked_up() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-close.runbook.py", b"print('v1')\n");
    repo.commit("v1");
    let (_cache, source) = source_of(&repo, None, Duration::from_secs(2));
    let clock = Clock::manual(1_800_000_000);
    let source = source.with_clock(clock.clone());
    assert_eq!(
        hook_text(&source, Event::SessionClose).as_deref(),
        Some("print('v1')\n")
    );

    repo.write("hoop-hooks/session-close.runbook.py", b"print('v2')\n");
    let v2 = repo.commit("v2");
    assert_eq!(
        hook_text(&source, Event::SessionClose).as_deref(),
        Some("print('v1')\n"),
        "still within the TTL"
    );
    clock.advance(Duration::from_secs(1));
    assert!(!source.status().stale, "1 s into a 2 s TTL");

    clock.advance(Duration::from_secs(1));
    assert!(source.status().stale);
    // Past the TTL the current snapshot is served at once while a refresh runs.
    let lookup = source.hook(Event::SessionClose).unwrap();
    let hook = lookup.hook.as_ref().unwrap();
    let served = std::fs::read_to_string(hook.dir().join(hook.file_name())).unwrap();
    assert_eq!(served, "print('v1')\n");
    lookup.refresh.expect("a background refresh").wait();
    assert_eq!(source.status().snapshot.unwrap().commit, v2);
    assert_eq!(
        hook_text(&source, Event::SessionClose).as_deref(),
        Some("print('v2')\n")
    );
}

#[test]
fn a_hook_pushed_after_the_snapshot_runs_on_its_first_event_once_the_ttl_is_past() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-close.runbook.py", b"print('close')\n");
    repo.commit("close only");
    let (_cache, source) = source_of(&repo, None, Duration::from_secs(2));
    let clock = Clock::manual(1_800_000_000);
    let source = source.with_clock(clock.clone());
    source.fetch().unwrap();
    // Past the TTL, a refresh that brings no hook for the event is a skip,
    // as before: only not knowing is an error.
    clock.advance(Duration::from_secs(2));
    assert!(source.hook(Event::SessionOpen).unwrap().hook.is_none());
    repo.write("hoop-hooks/session-open.runbook.py", b"print('open')\n");
    let added = repo.commit("an open hook");
    // Within the TTL the snapshot decides, as Hoop's own cache would.
    assert_eq!(hook_text(&source, Event::SessionOpen), None);
    // Past it, a snapshot without the hook does not: the lookup waits for
    // the refresh and finds the new hook, not a skip.
    clock.advance(Duration::from_secs(2));
    let lookup = source.hook(Event::SessionOpen).unwrap();
    let hook = lookup.hook.expect("the hook pushed since the snapshot");
    assert_eq!(
        std::fs::read_to_string(hook.dir().join(hook.file_name())).unwrap(),
        "print('open')\n"
    );
    assert_eq!(source.status().snapshot.unwrap().commit, added);
}

#[test]
fn a_stale_snapshot_without_the_hook_and_no_way_to_refresh_it_is_not_a_skip() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-close.runbook.py", b"print('close')\n");
    let commit = repo.commit("close only");
    let moved: PathBuf = repo.path().with_extension("moved");
    let (_cache, source) = source_of(&repo, None, Duration::from_secs(1));
    let clock = Clock::manual(1_800_000_000);
    let source = source.with_clock(clock.clone());
    source.fetch().unwrap();
    std::fs::rename(repo.path(), &moved).unwrap();
    clock.advance(Duration::from_secs(1));
    // The fetch fails, and then waits for its backoff: either way, not
    // knowing is an error (a service retries the run), never a skip.
    for _ in 0..2 {
        match source.hook(Event::SessionOpen) {
            Err(SourceError::Stale {
                event, commit: at, ..
            }) => {
                assert_eq!(event, "session-open");
                assert_eq!(at, commit);
            }
            other => panic!("{other:?}"),
        }
    }
    // The hook that is there is served all the same.
    assert_eq!(
        hook_text(&source, Event::SessionClose).as_deref(),
        Some("print('close')\n")
    );
    std::fs::rename(&moved, repo.path()).unwrap();
}

#[test]
fn a_lookup_waits_for_anothers_refresh_no_longer_than_its_bound() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-close.runbook.py", b"print('close')\n");
    let commit = repo.commit("close only");
    let (cache, source) = source_of(&repo, None, Duration::from_secs(1));
    let clock = Clock::manual(1_800_000_000);
    let source = source
        .with_clock(clock.clone())
        .with_refresh_wait(Duration::from_millis(300));
    source.fetch().unwrap();
    clock.advance(Duration::from_secs(1));
    // Another process's refresh holds the fetch lock and never ends.
    let store = std::fs::read_dir(cache.path().join("source"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let held = std::fs::File::create(store.join("fetch.lock")).unwrap();
    held.lock().unwrap();
    let (done, looked_up) = std::sync::mpsc::channel();
    let looking = source.clone();
    std::thread::spawn(move || {
        let _ = done.send(looking.hook(Event::SessionOpen).map(|lookup| lookup.hook));
    });
    match looked_up.recv_timeout(Duration::from_secs(30)) {
        Ok(Err(SourceError::Stale {
            commit: at, reason, ..
        })) => {
            assert_eq!(at, commit);
            assert!(reason.contains("did not end within 300ms"), "{reason}");
        }
        Err(_) => panic!("the lookup still waited after 30 s, past its 300 ms bound"),
        Ok(other) => panic!("{other:?}"),
    }
    // Once the other refresh ends, the lookup decides on what it brought;
    // a bound past what the clock holds is no deadline, not a panic.
    held.unlock().unwrap();
    clock.advance(Duration::from_secs(1));
    let unbounded = source.clone().with_refresh_wait(Duration::MAX);
    assert!(unbounded.hook(Event::SessionOpen).unwrap().hook.is_none());
    assert_eq!(hook_text(&source, Event::SessionOpen), None);
}

#[test]
fn a_force_pushed_branch_is_followed() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-open.runbook.py", b"print('old')\n");
    repo.commit("old");
    let (_cache, source) = source_of(&repo, Some("main"), Duration::from_secs(3600));
    source.fetch().unwrap();
    // Rewrite history: a new root commit replaces the branch.
    repo.git(&["checkout", "-q", "--orphan", "rewritten"]);
    repo.write(
        "hoop-hooks/session-open.runbook.py",
        b"print('rewritten')\n",
    );
    let rewritten = repo.commit("rewritten");
    repo.git(&["branch", "-q", "-f", "main", "rewritten"]);
    repo.git(&["checkout", "-q", "main"]);
    let snapshot = source.fetch().unwrap();
    assert_eq!(snapshot.commit, rewritten);
    assert_eq!(
        hook_text(&source, Event::SessionOpen).as_deref(),
        Some("print('rewritten')\n")
    );
}

#[test]
fn a_gone_remote_keeps_serving_the_last_good_snapshot() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-close.runbook.py", b"print('good')\n");
    let good = repo.commit("good");
    let moved: PathBuf = repo.path().with_extension("moved");
    let (_cache, source) = source_of(&repo, None, Duration::from_secs(1));
    let clock = Clock::manual(1_800_000_000);
    let source = source.with_clock(clock.clone());
    source.fetch().unwrap();
    std::fs::rename(repo.path(), &moved).unwrap();
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        hook_text(&source, Event::SessionClose).as_deref(),
        Some("print('good')\n")
    );
    let status = source.status();
    assert_eq!(status.snapshot.unwrap().commit, good);
    assert_eq!(status.fetch.failures, 1);
    assert!(status.fetch.last_error.unwrap().contains("does not exist"));
    // Backoff: the next lookup does not try again at once, nor just before
    // the first backoff is over; once it is, it does (and fails again).
    hook_text(&source, Event::SessionClose);
    assert_eq!(source.status().fetch.failures, 1);
    clock.advance(FIRST_BACKOFF - Duration::from_secs(1));
    hook_text(&source, Event::SessionClose);
    assert_eq!(source.status().fetch.failures, 1);
    clock.advance(Duration::from_secs(1));
    hook_text(&source, Event::SessionClose);
    assert_eq!(source.status().fetch.failures, 2);
    // The remote is back: the doubled backoff still holds off the retry.
    std::fs::rename(&moved, repo.path()).unwrap();
    clock.advance(FIRST_BACKOFF);
    hook_text(&source, Event::SessionClose);
    assert_eq!(source.status().fetch.failures, 2);
    clock.advance(FIRST_BACKOFF);
    hook_text(&source, Event::SessionClose);
    assert_eq!(source.status().fetch.failures, 0, "fetched again");
}

#[test]
fn with_no_snapshot_a_failed_fetch_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let source = source(
        "/nonexistent/runbooks".into(),
        None,
        Duration::from_secs(60),
        cache.path(),
    );
    match source.hook(Event::SessionOpen) {
        Err(SourceError::NoSnapshot(cause)) => assert!(
            cause.contains("/nonexistent/runbooks does not exist"),
            "{cause}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_wrong_branch_is_named_in_the_error() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-open.runbook.py", b"print(1)\n");
    repo.commit("one");
    let (_cache, source) = source_of(&repo, Some("production"), Duration::from_secs(60));
    match source.fetch() {
        Err(SourceError::Fetch(FetchError::NoSuchBranch { branch, .. })) => {
            assert_eq!(branch, "production")
        }
        other => panic!("{other:?}"),
    }
    let error = source.fetch().unwrap_err().to_string();
    assert!(
        error.contains("cannot fetch branch \"production\""),
        "{error}"
    );
}

#[test]
fn the_default_branch_falls_back_to_master() {
    let repo = TestRepo::new("master");
    repo.write(
        "hoop-hooks/session-open.runbook.py",
        b"print('on master')\n",
    );
    repo.commit("one");
    let (_cache, source) = source_of(&repo, None, Duration::from_secs(60));
    assert_eq!(source.fetch().unwrap().branch, "master");
}

#[test]
fn oversized_files_and_escaping_symlinks_are_never_materialized() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-open.runbook.py", b"import helpers\n")
        .write("hoop-hooks/helpers.py", b"X = 1\n")
        .write("hoop-hooks/big.bin", &vec![b'x'; 2 * 1024 * 1024])
        .write("secrets.env", b"TOKEN=abc\n");
    std::os::unix::fs::symlink("../secrets.env", repo.path().join("hoop-hooks/escape.env"))
        .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", repo.path().join("hoop-hooks/passwd")).unwrap();
    std::os::unix::fs::symlink("helpers.py", repo.path().join("hoop-hooks/alias.py")).unwrap();
    repo.commit("hostile");
    let (_cache, source) = source_of(&repo, None, Duration::from_secs(60));
    let snapshot = source.fetch().unwrap();
    assert_eq!(
        snapshot.files,
        vec!["alias.py", "helpers.py", "session-open.runbook.py"]
    );
    let refused: Vec<&str> = snapshot.refused.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(refused.len(), 3, "{:?}", snapshot.refused);
    for path in ["big.bin", "escape.env", "passwd"] {
        assert!(
            refused.contains(&path),
            "{path} not refused: {:?}",
            snapshot.refused
        );
    }
    let hook = source.hook(Event::SessionOpen).unwrap().hook.unwrap();
    let dir = hook.dir();
    assert_eq!(
        std::fs::read_to_string(dir.join("alias.py")).unwrap(),
        "X = 1\n"
    );
    assert!(
        !std::fs::symlink_metadata(dir.join("alias.py"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!dir.join("escape.env").exists());
    assert!(!dir.join("passwd").exists());
}

#[test]
fn a_refused_hook_is_an_error_not_a_skip() {
    let repo = TestRepo::new("main");
    let mut big = b"print('x')\n".to_vec();
    big.resize(1024 * 1024 + 1, b'#');
    repo.write("hoop-hooks/session-close.runbook.py", &big);
    repo.commit("big hook");
    let (_cache, source) = source_of(&repo, None, Duration::from_secs(60));
    assert!(matches!(
        source.hook(Event::SessionClose),
        Err(SourceError::Refused { .. })
    ));
}

fn hookbox_with_repo(repo: &Path, cache: &Path, args: &[&str]) -> Output {
    crate::support::runtime();
    Command::new(env!("CARGO_BIN_EXE_hookbox"))
        .env("HOOKBOX_CACHE_DIR", crate::support::cache_dir())
        .env("GIT_URL", repo)
        .env("GIT_HOOK_CONFIG_TTL", "300")
        .env_remove("GIT_BRANCH")
        .env("XDG_CACHE_HOME", cache)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_cli_fetches_shows_status_and_runs_the_events_hook() {
    let repo = TestRepo::new("main");
    repo.write(
        "hoop-hooks/session-close.runbook.py",
        b"import hookbox\nprint('closed', hookbox.event().sid)\n",
    );
    let commit = repo.commit("close hook");
    let cache = tempfile::tempdir().unwrap();
    let fetched = hookbox_with_repo(repo.path(), cache.path(), &["source", "fetch"]);
    let text = String::from_utf8_lossy(&fetched.stdout);
    assert_eq!(
        fetched.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    assert!(text.contains(&format!("commit {commit} on main")), "{text}");
    assert!(text.contains("hooks session-close"), "{text}");

    let status = hookbox_with_repo(repo.path(), cache.path(), &["source", "status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("state fresh"));

    let payload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(payload.path(), crate::support::SESSION_CLOSE).unwrap();
    let payload_arg = payload.path().display().to_string();
    let ran = hookbox_with_repo(
        repo.path(),
        cache.path(),
        &["run", "--event", "session-close", "--payload", &payload_arg],
    );
    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "closed 8c59a347-62bd-4db2-a456-2b25963dfebf\n"
    );

    let skipped = hookbox_with_repo(
        repo.path(),
        cache.path(),
        &["run", "--event", "session-open", "--payload", &payload_arg],
    );
    assert_eq!(skipped.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&skipped.stderr).contains("no hook for this event"));
}

#[test]
fn the_cli_names_a_missing_source() {
    let cache = tempfile::tempdir().unwrap();
    let payload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(payload.path(), crate::support::SESSION_CLOSE).unwrap();
    let payload_arg = payload.path().display().to_string();
    let output = hookbox_with_repo(
        Path::new("/nonexistent/runbooks"),
        cache.path(),
        &["run", "--event", "session-close", "--payload", &payload_arg],
    );
    assert_eq!(output.status.code(), Some(69));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("no snapshot of the runbooks repository"),
        "{err}"
    );
    assert!(
        err.contains("/nonexistent/runbooks does not exist"),
        "{err}"
    );
}

#[test]
fn old_snapshots_are_pruned_keeping_the_recent_ones() {
    let repo = TestRepo::new("main");
    let (cache, source) = source_of(&repo, None, Duration::from_secs(3600));
    let mut commits = Vec::new();
    for version in 0..6 {
        repo.write(
            "hoop-hooks/session-open.runbook.py",
            format!("print({version})\n").as_bytes(),
        );
        commits.push(repo.commit(&format!("v{version}")));
        source.fetch().unwrap();
    }
    // A commit published again becomes the newest: v0 is kept, v1 goes.
    repo.git(&["reset", "-q", "--hard", &commits[0]]);
    source.fetch().unwrap();
    let snapshots_dir = cache.path().join("source");
    let mut kept: Vec<String> = std::fs::read_dir(
        std::fs::read_dir(&snapshots_dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("snapshots"),
    )
    .unwrap()
    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
    .collect();
    kept.sort();
    let mut expected: Vec<String> = vec![
        commits[0].clone(),
        commits[3].clone(),
        commits[4].clone(),
        commits[5].clone(),
    ];
    expected.sort();
    assert_eq!(
        kept, expected,
        "the current snapshot and the three published before it"
    );
    assert_eq!(
        hook_text(&source, Event::SessionOpen).as_deref(),
        Some("print(0)\n")
    );
}

#[test]
fn a_remote_head_on_a_branch_without_commits_falls_back_to_main() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-open.runbook.py", b"print('main')\n");
    let commit = repo.commit("one");
    repo.git(&["symbolic-ref", "HEAD", "refs/heads/unborn"]);
    let (_cache, source) = source_of(&repo, None, Duration::from_secs(60));
    let snapshot = source.fetch().unwrap();
    assert_eq!(
        (snapshot.branch.as_str(), snapshot.commit),
        ("main", commit)
    );
}

/// A commit that lists one blob and one tree many times is tiny in git and
/// huge on disk: it is refused whole before anything is written, and the
/// previous snapshot keeps serving.
#[test]
fn a_commit_that_would_fill_the_disk_is_refused_whole() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-open.runbook.py", b"print('good')\n");
    repo.commit("good");
    let (_cache, source) = source_of(&repo, None, Duration::ZERO);
    assert_eq!(
        hook_text(&source, Event::SessionOpen).as_deref(),
        Some("print('good')\n")
    );

    // 150 folders of 150 names for one blob: 22,650 entries.
    let blob = repo.git_with_input(&["hash-object", "-w", "--stdin"], "print('bomb')\n");
    let listing = |kind: &str, id: &str, prefix: &str| -> String {
        (0..150)
            .map(|i| {
                format!(
                    "{} {kind} {id}\t{prefix}{i}\n",
                    if kind == "tree" { "040000" } else { "100644" }
                )
            })
            .collect()
    };
    let inner = repo.git_with_input(&["mktree"], &listing("blob", &blob, "f"));
    let bomb = repo.git_with_input(&["mktree"], &listing("tree", &inner, "d"));
    let hooks_tree = repo.git_with_input(
        &["mktree"],
        &format!("040000 tree {bomb}\tbomb\n100644 blob {blob}\tsession-open.runbook.py\n"),
    );
    let root = repo.git_with_input(
        &["mktree"],
        &format!("040000 tree {hooks_tree}\thoop-hooks\n"),
    );
    let parent = repo.git(&["rev-parse", "HEAD"]);
    let commit = repo.git(&["commit-tree", &root, "-p", &parent, "-m", "bomb"]);
    repo.git(&["update-ref", "refs/heads/main", &commit]);

    let lookup = source.hook(Event::SessionOpen).unwrap();
    if let Some(refresh) = lookup.refresh {
        refresh.wait();
    }
    let status = source.status();
    let failure = status.fetch.last_error.unwrap_or_default();
    assert!(failure.contains("more than 20000 entries"), "{failure}");
    assert_eq!(
        hook_text(&source, Event::SessionOpen).as_deref(),
        Some("print('good')\n"),
        "the last good snapshot keeps serving"
    );
}

#[test]
fn warm_prepares_the_runner_and_the_snapshot_and_is_idempotent() {
    let repo = TestRepo::new("main");
    repo.write(
        "hoop-hooks/session-open.runbook.py",
        b"import helpers\nhelpers.say()\n",
    )
    .write("hoop-hooks/helpers.py", b"def say():\n    print('warm')\n");
    let commit = repo.commit("open hook with a helper");
    let cache = tempfile::tempdir().unwrap();
    for pass in ["first", "second"] {
        let warmed = hookbox_with_repo(repo.path(), cache.path(), &["warm"]);
        let text = String::from_utf8_lossy(&warmed.stdout);
        assert_eq!(
            warmed.status.code(),
            Some(0),
            "{pass}: {text}{}",
            String::from_utf8_lossy(&warmed.stderr)
        );
        // The shared test cache has the runner compiled already.
        assert!(
            text.contains("runner: ready (compiled earlier)"),
            "{pass}: {text}"
        );
        assert!(
            text.contains("a hook ran in the sandbox in "),
            "{pass}: {text}"
        );
        assert!(
            text.contains(&format!("at {commit} on main"))
                && text.contains("(hooks: session-open)"),
            "{pass}: {text}"
        );
        assert!(
            text.contains("session-open.runbook.py: bytecode of the packages next to it ready"),
            "{pass}: {text}"
        );
    }
    let payload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(payload.path(), crate::support::SESSION_OPEN).unwrap();
    let ran = hookbox_with_repo(
        repo.path(),
        cache.path(),
        &[
            "run",
            "--event",
            "session-open",
            "--payload",
            &payload.path().display().to_string(),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "warm\n");
}

#[test]
fn warm_without_a_repository_says_it_fetched_nothing() {
    crate::support::runtime();
    let output = Command::new(env!("CARGO_BIN_EXE_hookbox"))
        .env("HOOKBOX_CACHE_DIR", crate::support::cache_dir())
        .env_remove("GIT_URL")
        .env_remove("HOOKBOX_CONFIG")
        .arg("warm")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("runbooks: no repository configured"),
        "{text}"
    );
}

#[test]
fn warm_says_which_hook_it_could_not_prepare_and_prepares_the_other() {
    let repo = TestRepo::new("main");
    repo.write(
        "hoop-hooks/session-close.runbook.py",
        b"import helpers\nhelpers.say()\n",
    )
    .write("hoop-hooks/helpers.py", b"def say():\n    print('close')\n");
    std::os::unix::fs::symlink(
        "/etc/passwd",
        repo.path().join("hoop-hooks/session-open.runbook.py"),
    )
    .unwrap();
    repo.commit("an escaping open hook and a good close hook");
    let cache = tempfile::tempdir().unwrap();
    let warmed = hookbox_with_repo(repo.path(), cache.path(), &["warm"]);
    let text = String::from_utf8_lossy(&warmed.stdout);
    assert_eq!(warmed.status.code(), Some(2), "{text}");
    assert!(text.contains("session-open: not prepared: "), "{text}");
    assert!(
        text.contains("session-close.runbook.py: bytecode of the packages next to it ready"),
        "{text}"
    );
}
