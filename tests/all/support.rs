//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hookbox::intake::{Payload, SecretPolicy};
use hookbox::record::RunOutcome;
use hookbox::runtime::config::SandboxConfig;
use hookbox::runtime::engine::EngineOptions;
use hookbox::runtime::{RunRequest, Runtime, RuntimeOptions};
use hookbox::sandbox::egress::policy::EgressPolicy;
use hookbox::sandbox::limits::Limits;
use hookbox::source::HookFile;

/// The sample session-close payload shipped with the examples.
pub const SESSION_CLOSE: &str = include_str!("../../hooks-examples/payloads/session-close.json");
/// The sample session-open payload shipped with the examples.
pub const SESSION_OPEN: &str = include_str!("../../hooks-examples/payloads/session-open.json");

/// The cache directory every test (and every `hookbox` the tests start) uses.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("hookbox-cache")
}

/// A path inside the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Copies the pinned pure-Python packages whose wheel names start with
/// `names` (tests/packages.txt; tests/run.sh downloads them) into `dir`, as
/// `pip install --target dir` lays them out.
pub fn install_packages(dir: &Path, names: &[&str]) {
    let wheels = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder")
        .join("test-packages");
    let python = hookbox_testkit::real_python3().expect("python3");
    for name in names {
        let wheel = std::fs::read_dir(&wheels)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{name}-")) && n.ends_with(".whl"))
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {name} wheel in {}: tests/run.sh downloads the test packages",
                    wheels.display()
                )
            });
        let status = std::process::Command::new(&python)
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(dir)
            .status()
            .expect("python3 unpacks a wheel");
        assert!(status.success(), "unpacking {}", wheel.display());
    }
}

/// The packages `requests` needs, with it.
pub const REQUESTS: &[&str] = &[
    "requests",
    "urllib3",
    "idna",
    "certifi",
    "charset_normalizer",
];

/// The packages `httpx` needs, with it.
pub const HTTPX: &[&str] = &[
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "sniffio",
    "idna",
    "certifi",
    "typing_extensions",
];

/// A `hookbox` command using the shared test cache.
pub fn hookbox() -> std::process::Command {
    // Make sure the runner is compiled (once) before any binary needs it.
    runtime();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hookbox"));
    command
        .env("HOOKBOX_CACHE_DIR", cache_dir())
        .env("HOOKBOX_PREPARE_IN_BACKGROUND", "0")
        .env_remove("HOOKBOX_LOG")
        .env_remove("HOOKBOX_CONFIG");
    command
}

/// The runtime shared by all tests of this process.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::load(&RuntimeOptions {
            guest: &hookbox::guest::GUEST,
            cache_dir: cache_dir(),
            engine: EngineOptions::default(),
            show_progress: false,
            ca_bundle: Vec::new(),
            ca_bundle_path: None,
        })
        .expect("loading the runtime")
    })
}

/// A hook written into a fresh directory of its own.
pub struct TestHook {
    /// The directory holding the hook (mounted read-only in the sandbox).
    pub dir: tempfile::TempDir,
    /// The hook file.
    pub path: PathBuf,
}

impl TestHook {
    /// Writes `source` as `session-close.runbook.py` in a new directory.
    pub fn new(source: &str) -> TestHook {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("session-close.runbook.py");
        std::fs::write(&path, source).expect("writing the hook");
        TestHook { dir, path }
    }

    /// Adds another file next to the hook.
    pub fn with_file(self, name: &str, contents: &str) -> TestHook {
        std::fs::write(self.dir.path().join(name), contents).expect("writing a file");
        self
    }

    /// Runs the hook with the sample session-close payload.
    pub async fn run(&self, limits: &Limits) -> RunOutcome {
        self.run_with(SESSION_CLOSE, &[], limits).await
    }

    /// Runs the hook with a given payload and extra environment.
    pub async fn run_with(
        &self,
        payload: &str,
        env: &[(String, String)],
        limits: &Limits,
    ) -> RunOutcome {
        self.run_on(runtime(), payload, env, limits, &[]).await
    }

    /// Runs the hook under the given egress rules.
    pub async fn run_allowing(&self, rules: &[&str]) -> RunOutcome {
        self.run_on(runtime(), SESSION_CLOSE, &[], &Limits::default(), rules)
            .await
    }

    /// Runs the hook on a given runtime with everything chosen.
    pub async fn run_on(
        &self,
        runtime: &Runtime,
        payload: &str,
        env: &[(String, String)],
        limits: &Limits,
        rules: &[&str],
    ) -> RunOutcome {
        let config = SandboxConfig {
            limits: limits.clone(),
            env: env.to_vec(),
            egress: Arc::new(EgressPolicy::parse(rules.iter().copied()).expect("rules")),
            secrets: SecretPolicy::default(),
            ..SandboxConfig::default()
        };
        self.run_configured(runtime, payload, &config).await
    }

    /// Runs the hook with a whole sandbox configuration.
    pub async fn run_configured(
        &self,
        runtime: &Runtime,
        payload: &str,
        config: &SandboxConfig,
    ) -> RunOutcome {
        let hook = HookFile::open(&self.path).expect("hook file");
        let payload = Payload::from_bytes(payload.as_bytes().to_vec(), "test").expect("payload");
        runtime
            .run(RunRequest {
                hook: &hook,
                payload: &payload,
                config,
                args: &[],
            })
            .await
    }
}

/// Runs a hook given as source with default limits.
pub async fn run_source(source: &str) -> RunOutcome {
    TestHook::new(source).run(&Limits::default()).await
}
