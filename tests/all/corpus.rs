//! The hostile-hook corpus (`tests/hostile/*.py`): each hook tries one way
//! out of the sandbox or one way to exhaust the host, and says in its header
//! what it must get. All run under one policy and one set of tight limits,
//! four at a time, on the runtime every other test uses; afterwards a
//! trivial hook still runs. A hook that prints `ESCAPED` got out.
//!
//! Header lines (`# key: value`), all but `hostile` and `status` optional:
//! - `hostile`: what the hook tries;
//! - `status`: the run status it must end with (`failed|error`: either; a
//!   CPU hog may meet its wall-clock limit before its fuel on a busy machine);
//! - `exit`: its exit code; `stdout`, `stderr`: text its output must hold;
//! - `denied`: at least this many egress attempts refused by the policy;
//! - `truncated`: the streams (`stdout`, `stderr`) that must be cut at the cap;
//! - `symlink: NAME -> TARGET`: planted in the hook's folder before the run;
//! - `host-absent`: a host path that must not exist after the run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hookbox::intake::SecretPolicy;
use hookbox::record::RunOutcome;
use hookbox::runtime::config::SandboxConfig;
use hookbox::sandbox::egress::policy::EgressPolicy;
use hookbox::sandbox::limits::Limits;

use crate::receiver::{Receiver, Reply};
use crate::support::{SESSION_OPEN, TestHook, repo_path, run_source, runtime};

/// What one corpus hook must get.
#[derive(Debug, Default)]
struct Expected {
    what: String,
    statuses: Vec<String>,
    exit: Option<i32>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    denied: usize,
    truncated: Vec<String>,
    symlinks: Vec<(String, String)>,
    host_absent: Vec<PathBuf>,
}

impl Expected {
    fn read(path: &Path, source: &str) -> Expected {
        let mut expected = Expected::default();
        for line in source.lines().map_while(|line| line.strip_prefix("# ")) {
            let (key, value) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("{}: header line {line:?}", path.display()));
            let value = value.trim().to_owned();
            match key {
                "hostile" => expected.what = value,
                "status" => expected.statuses = value.split('|').map(str::to_owned).collect(),
                "exit" => expected.exit = Some(value.parse().unwrap()),
                "stdout" => expected.stdout.push(value),
                "stderr" => expected.stderr.push(value),
                "denied" => expected.denied = value.parse().unwrap(),
                "truncated" => expected.truncated = value.split(' ').map(str::to_owned).collect(),
                "symlink" => {
                    let (name, target) = value.split_once(" -> ").unwrap();
                    expected.symlinks.push((name.into(), target.into()));
                }
                "host-absent" => expected.host_absent.push(value.into()),
                other => panic!("{}: unknown header {other:?}", path.display()),
            }
        }
        assert!(
            !expected.what.is_empty() && !expected.statuses.is_empty(),
            "{}: a corpus hook says what it tries (hostile:) and what it must get (status:)",
            path.display()
        );
        expected
    }

    /// Everything about `outcome` that is not as expected.
    fn misses(&self, outcome: &RunOutcome) -> Vec<String> {
        let mut misses = Vec::new();
        let status = outcome.status.as_str();
        if !self.statuses.iter().any(|s| s == status) {
            misses.push(format!("status {status}, not {}", self.statuses.join("|")));
        }
        if self.exit.is_some() && outcome.exit_code != self.exit {
            misses.push(format!("exit {:?}, not {:?}", outcome.exit_code, self.exit));
        }
        for (stream, wanted, seen) in [
            ("stdout", &self.stdout, &outcome.stdout),
            ("stderr", &self.stderr, &outcome.stderr),
        ] {
            for text in wanted {
                if !seen.contains(text.as_str()) {
                    misses.push(format!("{stream} lacks {text:?}"));
                }
            }
        }
        if outcome.stdout.contains("ESCAPED") {
            misses.push("it printed ESCAPED".into());
        }
        let denied = outcome.egress.iter().filter(|a| !a.allowed).count();
        if denied < self.denied {
            misses.push(format!(
                "{denied} egress attempts denied, not {}",
                self.denied
            ));
        }
        for stream in &self.truncated {
            let cut = match stream.as_str() {
                "stdout" => outcome.stdout_truncated,
                "stderr" => outcome.stderr_truncated,
                other => panic!("truncated: unknown stream {other:?}"),
            };
            if !cut {
                misses.push(format!("{stream} was not cut at the cap"));
            }
        }
        for path in &self.host_absent {
            if path.exists() {
                misses.push(format!("{} exists on the host", path.display()));
            }
        }
        misses
    }
}

/// Tight limits, so that every bomb goes off quickly.
fn corpus_limits() -> Limits {
    Limits {
        // Long enough that only the hooks that wait end on it, even on a busy
        // machine; the CPU hogs meet their fuel first.
        timeout: Duration::from_secs(8),
        fuel: 10_000_000_000,
        memory_bytes: 64 * 1024 * 1024,
        output_bytes: 4 * 1024,
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_hook_is_contained_and_the_host_keeps_working() {
    let redirect = Receiver::http(Reply::Redirect(
        "http://169.254.169.254/latest/meta-data/".into(),
    ))
    .await;
    let endless = Receiver::http(Reply::Endless).await;
    let rules = [
        format!("http://127.0.0.1:{}", redirect.port()),
        format!("http://127.0.0.1:{}", endless.port()),
        // A name rule: whatever `localhost` resolves to, it is loopback.
        format!("http://localhost:{}", redirect.port()),
    ];
    let config = Arc::new(SandboxConfig {
        limits: corpus_limits(),
        env: vec![
            (
                "REDIRECT_URL".into(),
                format!("http://127.0.0.1:{}/", redirect.port()),
            ),
            (
                "ENDLESS_URL".into(),
                format!("http://127.0.0.1:{}/", endless.port()),
            ),
            ("RECEIVER_PORT".into(), redirect.port().to_string()),
        ],
        egress: Arc::new(EgressPolicy::parse(rules.iter().map(String::as_str)).unwrap()),
        secrets: SecretPolicy::default(),
        ..SandboxConfig::default()
    });

    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo_path("tests/hostile"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "py"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 30, "the corpus has {} hooks", paths.len());

    let at_once = Arc::new(tokio::sync::Semaphore::new(4));
    let mut runs = Vec::new();
    for path in paths {
        let source = std::fs::read_to_string(&path).unwrap();
        let expected = Expected::read(&path, &source);
        let hook = TestHook::new(&source);
        for (name, target) in &expected.symlinks {
            std::os::unix::fs::symlink(target, hook.dir.path().join(name)).unwrap();
        }
        let (config, at_once) = (config.clone(), at_once.clone());
        runs.push(tokio::spawn(async move {
            let _turn = at_once.acquire().await.unwrap();
            let outcome = hook.run_configured(runtime(), SESSION_OPEN, &config).await;
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, expected, outcome)
        }));
    }
    let mut failures = Vec::new();
    for run in runs {
        let (name, expected, outcome) = run.await.unwrap();
        let misses = expected.misses(&outcome);
        if !misses.is_empty() {
            failures.push(format!(
                "{name} ({}): {}\n  stdout: {:?}\n  stderr: {:?}\n  error: {:?}",
                expected.what,
                misses.join("; "),
                outcome.stdout.chars().take(300).collect::<String>(),
                outcome.stderr.chars().take(600).collect::<String>(),
                outcome.error,
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        run_source("print('still here')\n").await.stdout,
        "still here\n"
    );
}
