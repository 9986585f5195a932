//! `hookbox test`: runs a runbooks repository's hooks against the built-in
//! sample payloads and the fixtures in `hoop-hooks/tests/`, in the sandbox
//! production uses, with egress answered by the recording receiver unless
//! asked to go live, and checks every expectation.
//!
//! - [`fixture`]: the fixture files;
//! - [`expect`]: expectations against an outcome;
//! - [`report`]: the lines (or JSON) a person (or CI) reads;
//! - [`scaffold`]: `hookbox init`'s starting repository.

pub mod expect;
pub mod fixture;
pub mod report;
pub mod repository;
pub mod scaffold;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use expect::Mismatch;
use fixture::{Expect, Fixture};
use hookbox_intake::Event;
use hookbox_intake::Payload;
use hookbox_intake::hoop_payload;
use hookbox_record::RunOutcome;
use hookbox_runtime::config::SandboxConfig;
use hookbox_runtime::{RunRequest, Runtime};
use hookbox_sandbox::egress::recording::{CannedResponse, EgressMode};
use hookbox_source::HookFile;

/// The folder of hooks in a runbooks repository.
pub const HOOKS_DIR: &str = "hoop-hooks";
/// The folder of fixtures inside [`HOOKS_DIR`].
pub const FIXTURES_DIR: &str = "tests";

/// Why a repository cannot be tested at all.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The folder does not exist.
    #[error("{0} does not exist or is not a folder: give the runbooks repository's folder")]
    NoSuchFolder(PathBuf),
    /// There is no `hoop-hooks/` folder.
    #[error(
        "{0} has no hoop-hooks/ folder: run `hookbox test` in a runbooks repository, or `hookbox init` to start one"
    )]
    NoHooksDir(PathBuf),
    /// The folder holds neither hook.
    #[error(
        "{0} holds no session-open or session-close hook (session-open.runbook.py, session-close.runbook.py or their .wasm forms)"
    )]
    NoHooks(PathBuf),
    /// The fixtures folder cannot be listed.
    #[error("cannot list the fixtures in {path}: {source}")]
    Fixtures {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// One case to run: a hook, a payload, what to expect.
#[derive(Debug)]
pub struct Case {
    /// The hook's file name (`session-open.runbook.py`).
    pub hook_name: String,
    /// `sample payload` or the fixture's path under the repository.
    pub name: String,
    plan: Result<Planned, String>,
}

#[derive(Debug)]
struct Planned {
    hook: HookFile,
    payload: Payload,
    env: Vec<(String, String)>,
    secrets: Vec<(String, String)>,
    responses: Vec<CannedResponse>,
    expect: Expect,
}

/// What one case did.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The hook's file name.
    pub hook: String,
    /// The case's name.
    pub case: String,
    /// Whether every expectation held.
    pub passed: bool,
    /// Why the case could not run (a bad fixture, a missing hook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every expectation that did not hold.
    pub mismatches: Vec<Mismatch>,
    /// The run's outcome, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
}

/// The repository's hooks that open (inside `dir`, as [`discover`] opens
/// them).
pub fn hooks(dir: &Path) -> Vec<HookFile> {
    let hooks_dir = dir.join(HOOKS_DIR);
    Event::ALL
        .into_iter()
        .filter_map(|event| {
            let name = hook_file_name(&hooks_dir, event)?;
            HookFile::open_within(dir, &hooks_dir.join(name)).ok()
        })
        .collect()
}

/// The file in `hooks_dir` that holds `event`'s hook, if one does.
fn hook_file_name(hooks_dir: &Path, event: Event) -> Option<String> {
    event
        .file_names()
        .into_iter()
        .find(|name| hooks_dir.join(name).is_file())
}

/// Finds every case of the repository at `dir`.
pub fn discover(dir: &Path) -> Result<Vec<Case>, SuiteError> {
    if !dir.is_dir() {
        return Err(SuiteError::NoSuchFolder(dir.to_path_buf()));
    }
    let hooks_dir = dir.join(HOOKS_DIR);
    if !hooks_dir.is_dir() {
        return Err(SuiteError::NoHooksDir(dir.to_path_buf()));
    }
    let hook_for = |event: Event| hook_file_name(&hooks_dir, event);
    let mut cases = Vec::new();
    for event in [Event::SessionOpen, Event::SessionClose] {
        if let Some(name) = hook_for(event) {
            let plan = HookFile::open_within(dir, &hooks_dir.join(&name))
                .map_err(|e| e.to_string())
                .map(|hook| Planned {
                    hook,
                    payload: Payload::from_value(&hoop_payload::sample(event)),
                    env: Vec::new(),
                    secrets: Vec::new(),
                    responses: Vec::new(),
                    expect: Expect::default(),
                });
            cases.push(Case {
                hook_name: name,
                name: "sample payload".into(),
                plan,
            });
        }
    }
    if cases.is_empty() {
        return Err(SuiteError::NoHooks(hooks_dir));
    }
    let fixtures_dir = hooks_dir.join(FIXTURES_DIR);
    if !fixtures_dir.exists() {
        return Ok(cases);
    }
    let listing = std::fs::read_dir(&fixtures_dir).map_err(|source| SuiteError::Fixtures {
        path: fixtures_dir.clone(),
        source,
    })?;
    let mut fixtures: Vec<PathBuf> = listing
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    fixtures.sort();
    for path in fixtures {
        let name = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let (hook_name, plan) = match plan_fixture(dir, &path, &hooks_dir, hook_for) {
            Ok((hook_name, planned)) => (hook_name, Ok(planned)),
            Err((hook_name, error)) => (hook_name, Err(error)),
        };
        cases.push(Case {
            hook_name,
            name,
            plan,
        });
    }
    Ok(cases)
}

fn plan_fixture(
    root: &Path,
    path: &Path,
    hooks_dir: &Path,
    hook_for: impl Fn(Event) -> Option<String>,
) -> Result<(String, Planned), (String, String)> {
    let fixture = Fixture::load(root, path).map_err(|e| ("?".to_owned(), e.to_string()))?;
    let event = Event::from(fixture.hook);
    let hook_name = hook_for(event).ok_or_else(|| {
        (
            event.file_name(),
            format!(
                "the fixture is for {} but hoop-hooks/ has no {}",
                event.name(),
                event.file_name()
            ),
        )
    })?;
    let fail = |error: String| (hook_name.clone(), error);
    let hook = HookFile::open_within(root, &hooks_dir.join(&hook_name))
        .map_err(|e| fail(e.to_string()))?;
    let payload = fixture
        .payload(root, path)
        .map_err(|e| fail(e.to_string()))?;
    Ok((
        hook_name.clone(),
        Planned {
            hook,
            payload: Payload::from_value(&payload),
            env: fixture.env.into_iter().collect(),
            secrets: fixture.secrets.into_iter().collect(),
            responses: fixture.respond,
            expect: fixture.expect,
        },
    ))
}

/// Runs the cases one after another (their output stays in order).
/// `live` sends allowed traffic for real instead of recording it.
pub async fn run(
    runtime: &Runtime,
    base: &SandboxConfig,
    live: bool,
    cases: Vec<Case>,
) -> Vec<CaseResult> {
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let secrets = case.plan.and_then(|planned| {
            let values = planned
                .secrets
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()));
            let secrets = base.injected_secrets.with_values(values)?;
            Ok((planned, secrets))
        });
        let (planned, secrets) = match secrets {
            Ok(planned) => planned,
            Err(error) => {
                results.push(CaseResult {
                    hook: case.hook_name,
                    case: case.name,
                    passed: false,
                    error: Some(error),
                    mismatches: Vec::new(),
                    outcome: None,
                });
                continue;
            }
        };
        let mut config = base.clone();
        config.injected_secrets = Arc::new(secrets);
        for (name, value) in planned.env {
            config.env.retain(|(n, _)| *n != name);
            config.env.push((name, value));
        }
        config.egress_mode = if live {
            EgressMode::Live
        } else {
            EgressMode::Record(Arc::new(planned.responses))
        };
        let outcome = runtime
            .run(RunRequest {
                hook: &planned.hook,
                payload: &planned.payload,
                config: &config,
                args: &[],
            })
            .await;
        let mismatches = expect::check(&planned.expect, &outcome);
        results.push(CaseResult {
            hook: case.hook_name,
            case: case.name,
            passed: mismatches.is_empty(),
            error: None,
            mismatches,
            outcome: Some(outcome),
        });
    }
    results
}

hookbox_core::failure::categorized!(Usage: SuiteError);
