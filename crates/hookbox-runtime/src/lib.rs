//! The runtime: one engine, the Python runner it is handed compiled (or loaded
//! from the cache) and pre-linked once, and the per-run flow that puts a hook into a
//! fresh sandbox and turns what happened into a [`RunOutcome`].
//!
//! - [`engine`]: engine configuration and the shared epoch ticker;
//! - [`guest`]: the guest programs the embedder hands the runtime;
//! - [`config`]: the operator's settings every run follows;
//! - [`cache`]: the on-disk cache of compiled components;
//! - `bytecode`: the standard library compiled to bytecode once, in the sandbox;
//! - [`hook_component`]: `.wasm` hooks, compiled and linked once per content.

mod bytecode;
pub mod cache;
pub mod config;
pub mod engine;
pub mod guest;
mod hook_bytecode;
pub mod hook_component;
mod preload;
pub use preload::{PackagesSnapshot, PreloadError};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use wasmtime::Engine;
use wasmtime::component::{ComponentExportIndex, InstancePre, Linker};
use wasmtime_wasi::p2::bindings::CommandPre;

use cache::{CacheError, CacheResult, ComponentCache};
use config::SandboxConfig;
use engine::{EngineOptions, EpochTicker};
use guest::Guest;
use hook_component::HookComponents;
use hookbox_crypto::tls::TlsSettings;
use hookbox_intake::Payload;
use hookbox_record::{RunOutcome, RunStatus};
use hookbox_sandbox::code_cache::CodeCache;
use hookbox_sandbox::limits::Limits;
use hookbox_sandbox::wasi::{CaBundleView, PythonFiles};
use hookbox_sandbox::{CallEnd, Sandbox, SandboxSpec, SandboxState, classify};
use hookbox_source::{HookFile, HookKind};

/// The name of the runner's export that runs a hook and returns its exit code.
const RUN_HOOK_EXPORT: &str = "run-hook";

/// Errors that keep the runtime from starting.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine could not be created with hookbox's configuration.
    #[error("cannot create the WebAssembly engine: {0:#}")]
    Engine(anyhow::Error),
    /// The compiled runner could not be loaded or produced.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The standard library or the runner's sources could not be extracted
    /// into the cache, or the library compiled to bytecode there.
    #[error("cannot prepare the Python runner's files in {path}: {source}")]
    Stdlib {
        /// The cache directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The operator's CA bundle cannot be used.
    #[error("cannot use the CA bundle: {0}")]
    CaBundle(String),
    /// The runner does not fit the host's imports (a build problem).
    #[error("the Python runner cannot be linked: {0:#}")]
    Link(anyhow::Error),
}

/// How to set up a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled components and the standard library are cached.
    pub cache_dir: PathBuf,
    /// Engine choices.
    pub engine: EngineOptions,
    /// Show a progress indicator on a terminal while compiling.
    pub show_progress: bool,
    /// Extra CA certificates (PEM) trusted for HTTPS besides the system's.
    pub ca_bundle: Vec<u8>,
    /// Where the operator keeps that bundle: hooks see the file there
    /// (read-only), so one that names it (`verify=`, `cafile=`) finds it.
    pub ca_bundle_path: Option<PathBuf>,
    /// The guest programs runs use: the Python runner, its standard
    /// library and what compiles their bytecode.
    pub guest: &'static Guest,
}

/// A loaded runtime: create once, run many hooks, concurrently if you like.
pub struct Runtime {
    guest: &'static Guest,
    engine: Engine,
    linker: Linker<SandboxState>,
    hook_linker: Linker<SandboxState>,
    /// The shipped runner, once loaded: a run whose hook has a snapshot of
    /// its packages, or is a compiled hook, never needs it.
    runner: RwLock<Option<LoadedRunner>>,
    cache: ComponentCache,
    runs_started: AtomicU64,
    runs_in_flight: AtomicUsize,
    stdlib_dir: PathBuf,
    sources_dir: PathBuf,
    cache_dir: PathBuf,
    show_progress: bool,
    ca_bundle_view: Option<CaBundleView>,
    compiling: hook_bytecode::Compiling,
    max_memory_bytes: u64,
    background_teardown: bool,
    tls: Arc<TlsSettings>,
    code_cache: Arc<CodeCache>,
    hook_components: HookComponents,
    snapshots: Snapshots,
    preparing: preload::Preparing,
    plans: preload::Plans,
    _ticker: EpochTicker,
}

/// The Python runner, loaded and pre-linked. The pool keeps the memory of
/// slots it ran in warm for its next runs until it is dropped.
struct Runner {
    pre: InstancePre<SandboxState>,
    run_hook: ComponentExportIndex,
    /// Which runner this is (the shipped one, or a snapshot of it with a
    /// folder's packages): code a run on one compiled is never handed to a
    /// run on another.
    identity: String,
    /// The memory an instance starts with (a snapshot's is what its
    /// imports left behind).
    initial_memory_bytes: u64,
}

/// The shipped runner, loaded, and how the compile cache had it.
struct LoadedRunner {
    runner: Arc<Runner>,
    found: CacheResult,
}

/// The size of a WebAssembly memory page.
const WASM_PAGE_BYTES: u64 = 64 * 1024;

/// The compile cache's name for the runner.
const RUNNER_ARTIFACT: &str = "python-runner";

impl Runner {
    /// Loads the runner from `cache` (compiling it there when missing) and
    /// links it.
    fn load(
        guest: &Guest,
        engine: &Engine,
        linker: &Linker<SandboxState>,
        cache: &ComponentCache,
        show_progress: bool,
    ) -> Result<(Runner, CacheResult), RuntimeError> {
        let (component, cache_result) = cache.load_or_compile_with(
            engine,
            RUNNER_ARTIFACT,
            guest.runner_hash,
            || {
                guest
                    .runner_component()
                    .map(std::borrow::Cow::Owned)
                    .map_err(|e| CacheError::Compile(e.into()))
            },
            || {
                tracing::info!("compiling the Python runner component (once per hookbox version)");
                progress(
                    show_progress,
                    "compiling the bundled Python runner (one time, about 7 s)...",
                )
            },
        )?;
        let identity = format!("{RUNNER_ARTIFACT}-{}", guest.runner_hash);
        Ok((Runner::link(linker, &component, identity)?, cache_result))
    }

    /// Links a compiled runner (the shipped one, or a snapshot of it).
    fn link(
        linker: &Linker<SandboxState>,
        component: &wasmtime::component::Component,
        identity: String,
    ) -> Result<Runner, RuntimeError> {
        let pre = linker
            .instantiate_pre(component)
            .map_err(|e| RuntimeError::Link(e.into()))?;
        let run_hook = component
            .get_export_index(None, RUN_HOOK_EXPORT)
            .ok_or_else(|| RuntimeError::Link(anyhow::anyhow!("no `{RUN_HOOK_EXPORT}` export")))?;
        let initial_memory_bytes = component
            .resources_required()
            .and_then(|required| required.max_initial_memory_size)
            .map_or(0, |pages| pages.saturating_mul(WASM_PAGE_BYTES));
        Ok(Runner {
            pre,
            run_hook,
            identity,
            initial_memory_bytes,
        })
    }
}

/// The runner snapshots with packages imported that were loaded, the most
/// recently used last.
#[derive(Default)]
struct Snapshots(std::sync::Mutex<Vec<(String, Arc<Runner>)>>);

/// Most runner snapshots kept loaded (each keeps its memory slots warm).
const LOADED_SNAPSHOTS: usize = 8;

impl Snapshots {
    fn get(&self, key: &str) -> Option<Arc<Runner>> {
        let mut loaded = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let index = loaded.iter().position(|(k, _)| k == key)?;
        let entry = loaded.remove(index);
        let runner = entry.1.clone();
        loaded.push(entry);
        Some(runner)
    }

    fn insert(&self, key: &str, runner: Runner) -> Arc<Runner> {
        let runner = Arc::new(runner);
        // Dropping a runner releases its memory slots, which takes a while:
        // the ones pushed out are dropped after the lock is released.
        let mut evicted = Vec::new();
        {
            let mut loaded = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(index) = loaded.iter().position(|(k, _)| k == key) {
                evicted.push(loaded.remove(index));
            }
            if loaded.len() >= LOADED_SNAPSHOTS {
                evicted.push(loaded.remove(0));
            }
            loaded.push((key.to_owned(), runner.clone()));
        }
        drop(evicted);
        runner
    }

    fn clear(&self) {
        let dropped = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        drop(dropped);
    }
}

/// Where a run enters the guest.
enum Entry {
    /// A compiled hook's `wasi:cli/run`.
    Compiled(CommandPre<SandboxState>),
    /// The Python runner's entry point: the shipped runner, or a snapshot
    /// of it with the hook's packages imported.
    Python(Arc<Runner>),
}

/// Counts a run as in flight until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What [`Runtime::prepare_hook`] prepared.
#[derive(Debug)]
pub struct HookPreparation {
    /// The folder of the packages' bytecode; `None` without packages.
    pub bytecode: Option<PathBuf>,
    /// The runner snapshotted with the packages imported.
    pub snapshot: PackagesSnapshot,
}

/// One hook run to perform.
#[derive(Debug, Clone, Copy)]
pub struct RunRequest<'a> {
    /// The hook file.
    pub hook: &'a HookFile,
    /// The event payload.
    pub payload: &'a Payload,
    /// The operator's sandbox settings.
    pub config: &'a SandboxConfig,
    /// Arguments after the hook's path (its `sys.argv[1:]`); usually none.
    pub args: &'a [String],
}

/// How a run instantiates the runner; the benchmark compares the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instantiation {
    /// From the pre-linked `InstancePre` (imports resolved once).
    Prelinked,
    /// Through the linker every time (imports resolved per run).
    Linker,
}

impl Runtime {
    /// Creates the engine and prepares the cache: the runner is compiled
    /// now if it never was, else loaded when a run first needs it
    /// ([`Runtime::load_runner`] loads it at once).
    pub fn load(options: &RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let tls = TlsSettings::new(&options.ca_bundle).map_err(RuntimeError::CaBundle)?;
        let ca_bundle_view = match &options.ca_bundle_path {
            Some(path) => CaBundleView::new(path, &options.ca_bundle)
                .map_err(|e| RuntimeError::CaBundle(format!("{}: {e}", path.display())))?,
            None => None,
        };
        let engine =
            engine::new_engine(options.engine).map_err(|e| RuntimeError::Engine(e.into()))?;
        let cache = ComponentCache::new(&options.cache_dir);
        let show_progress = options.show_progress;
        let link = |e: wasmtime::Error| RuntimeError::Link(e.into());
        let mut linker = Linker::new(&engine);
        hookbox_sandbox::add_to_runner_linker(&mut linker).map_err(link)?;
        let mut hook_linker = Linker::new(&engine);
        hookbox_sandbox::add_to_hook_linker(&mut hook_linker).map_err(link)?;
        // A runner compiled earlier is loaded when a run first needs it (a
        // one-shot run from a snapshot never does); one to compile is
        // compiled now, while the progress shows.
        let guest = options.guest;
        let compiled = cache.artifact_path(&engine, RUNNER_ARTIFACT, guest.runner_hash);
        let runner = match compiled.is_file() {
            true => {
                // Refused now, as loading the runner would: nothing is
                // extracted into a cache others may write to.
                cache::check_trusted(&options.cache_dir)?;
                None
            }
            false => {
                let (runner, found) = Runner::load(guest, &engine, &linker, &cache, show_progress)?;
                Some(LoadedRunner {
                    runner: Arc::new(runner),
                    found,
                })
            }
        };
        let ticker = EpochTicker::start(&engine);
        let sources_dir =
            guest
                .sources_dir(&options.cache_dir)
                .map_err(|source| RuntimeError::Stdlib {
                    path: options.cache_dir.clone(),
                    source,
                })?;
        let mut runtime = Runtime {
            guest,
            engine,
            linker,
            hook_linker,
            runner: RwLock::new(runner),
            cache: cache.clone(),
            runs_started: AtomicU64::new(0),
            runs_in_flight: AtomicUsize::new(0),
            stdlib_dir: PathBuf::new(),
            sources_dir,
            cache_dir: options.cache_dir.clone(),
            show_progress,
            ca_bundle_view,
            compiling: Default::default(),
            max_memory_bytes: options.engine.max_memory_bytes,
            background_teardown: options.engine.background_teardown,
            tls: Arc::new(tls),
            code_cache: Arc::default(),
            hook_components: HookComponents::new(cache),
            snapshots: Snapshots::default(),
            preparing: Default::default(),
            plans: Default::default(),
            _ticker: ticker,
        };
        runtime.stdlib_dir = guest
            .stdlib_dir(&options.cache_dir, &bytecode::layout(guest), |staging| {
                let done = progress(show_progress, bytecode::PROGRESS_MESSAGE);
                let compiled = bytecode::compile(&runtime, staging);
                done();
                compiled
            })
            .map_err(|source| RuntimeError::Stdlib {
                path: options.cache_dir.clone(),
                source,
            })?;
        Ok(runtime)
    }

    /// Whether everything a first run would prepare in `cache_dir` is there
    /// (the runner compiled for this machine's engine, the standard library
    /// with its bytecode), without preparing any of it.
    pub fn is_warm(guest: &Guest, cache_dir: &Path) -> Result<bool, RuntimeError> {
        let engine = engine::new_engine(EngineOptions::default())
            .map_err(|e| RuntimeError::Engine(e.into()))?;
        let runner = ComponentCache::new(cache_dir).artifact_path(
            &engine,
            RUNNER_ARTIFACT,
            guest.runner_hash,
        );
        Ok(runner.is_file() && guest.stdlib_ready(cache_dir, &bytecode::layout(guest)))
    }

    /// Prepares what `hook`'s runs use of the packages next to it, as its
    /// first runs would (`hookbox warm`): their bytecode, then the runner
    /// snapshotted with them imported ([`PackagesSnapshot`]), each made
    /// when missing. `limits` hold the import of the packages.
    pub async fn prepare_hook(&self, hook: &HookFile, limits: &Limits) -> HookPreparation {
        match hook.kind() {
            HookKind::Python => {
                let bytecode = hook_bytecode::folder_for(self, hook, limits).await;
                let snapshot = preload::prepare(self, hook, bytecode.as_deref(), limits).await;
                HookPreparation { bytecode, snapshot }
            }
            HookKind::Component => HookPreparation {
                bytecode: None,
                snapshot: PackagesSnapshot::NoPackages,
            },
        }
    }

    /// Ends a runtime whose process exits next: removes the files it made
    /// on the host for runs (the CA bundle's view) and leaves the rest, the
    /// engine's code and memories, to the exit, which frees them faster
    /// than unmapping them one by one would.
    pub fn end_with_process(mut self) {
        drop(self.ca_bundle_view.take());
        std::mem::forget(self);
    }

    /// Whether `hook` has installed packages whose snapshot is neither made,
    /// nor refused, nor being made: what [`Runtime::prepare_hook`] would
    /// make now.
    pub fn packages_snapshot_wanted(&self, hook: &HookFile) -> bool {
        hook.kind() == HookKind::Python && preload::wanted(self, hook)
    }

    /// [`Runtime::prepare_hook`] on a thread of its own, when
    /// [`Runtime::packages_snapshot_wanted`]: the runs that start meanwhile
    /// import the packages as before, the runs after it start with them.
    pub fn prepare_hook_in_background(self: &Arc<Self>, hook: &HookFile, limits: &Limits) {
        if !self.packages_snapshot_wanted(hook) {
            return;
        }
        let Some(claim) = preload::Preparing::claim(self, hook) else {
            return;
        };
        let (runtime, hook, limits) = (self.clone(), hook.clone(), limits.clone());
        let spawned = std::thread::Builder::new()
            .name("hookbox-prepare".into())
            .spawn(move || {
                let _claim = claim;
                let tokio = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match tokio {
                    Ok(tokio) => drop(tokio.block_on(runtime.prepare_hook(&hook, &limits))),
                    Err(error) => tracing::warn!(%error, "cannot prepare the hook's packages"),
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot prepare the hook's packages");
        }
    }

    /// Loads the runner now, if no run has yet (verifying what the compile
    /// cache holds, compiling it when that is missing or unusable), and
    /// says how the cache had it.
    pub fn load_runner(&self) -> Result<CacheResult, RuntimeError> {
        self.base_runner().map(|(_, found)| found)
    }

    /// The shipped runner, loaded when first needed.
    fn base_runner(&self) -> Result<(Arc<Runner>, CacheResult), RuntimeError> {
        let loaded = |slot: &Option<LoadedRunner>| {
            slot.as_ref()
                .map(|loaded| (loaded.runner.clone(), loaded.found))
        };
        if let Some(found) = loaded(&self.runner.read().unwrap_or_else(|e| e.into_inner())) {
            return Ok(found);
        }
        let mut slot = self.runner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = loaded(&slot) {
            return Ok(found);
        }
        let loaded = self.load_fresh_runner(self.show_progress)?;
        let found = (loaded.runner.clone(), loaded.found);
        *slot = Some(loaded);
        Ok(found)
    }

    /// Loads the runner from the compile cache (compiling it there when
    /// missing or unusable).
    fn load_fresh_runner(&self, show_progress: bool) -> Result<LoadedRunner, RuntimeError> {
        let (runner, found) = Runner::load(
            self.guest,
            &self.engine,
            &self.linker,
            &self.cache,
            show_progress,
        )?;
        Ok(LoadedRunner {
            runner: Arc::new(runner),
            found,
        })
    }

    /// Runs started so far.
    pub fn runs_started(&self) -> u64 {
        self.runs_started.load(Ordering::SeqCst)
    }

    /// Runs started and not yet finished.
    pub fn runs_in_flight(&self) -> usize {
        self.runs_in_flight.load(Ordering::SeqCst)
    }

    /// Bytes the instance pool keeps resident in memory slots no run is
    /// using, warm for the next runs.
    pub fn warm_memory_bytes(&self) -> usize {
        self.engine
            .pooling_allocator_metrics()
            .map_or(0, |pool| pool.unused_memory_bytes_resident())
    }

    /// Returns the memory kept warm for the next runs to the system: the
    /// runner is loaded again from the compile cache (here, on the
    /// caller's thread, not on a run's), and the pool releases the slots
    /// the previous one ran in once no run uses it any more. The next run
    /// takes its page faults again (a few milliseconds). Compiled `.wasm`
    /// hooks and package snapshots are loaded again when next run, for the
    /// same reason.
    pub fn release_warm_memory(&self) -> Result<(), RuntimeError> {
        let fresh = self.load_fresh_runner(false)?;
        let previous = self
            .runner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .replace(fresh);
        // Outside the lock: the last reference releases the pool's slots.
        drop(previous);
        self.hook_components.clear();
        self.snapshots.clear();
        Ok(())
    }

    /// The extracted standard library directory.
    pub fn stdlib_dir(&self) -> &Path {
        &self.stdlib_dir
    }

    /// Runs one hook in a fresh sandbox. Never panics on guest behaviour: every
    /// way a hook can end is reported in the outcome.
    pub async fn run(&self, request: RunRequest<'_>) -> RunOutcome {
        self.run_with(request, Instantiation::Prelinked).await
    }

    /// [`Runtime::run`], choosing how the runner is instantiated.
    pub async fn run_with(&self, request: RunRequest<'_>, how: Instantiation) -> RunOutcome {
        let hook_bytecode = match request.hook.kind() {
            HookKind::Python => {
                hook_bytecode::folder_for(self, request.hook, &request.config.limits).await
            }
            HookKind::Component => None,
        };
        let python = PythonFiles {
            stdlib: &self.stdlib_dir,
            stdlib_writable: false,
            sources: &self.sources_dir,
            hook_bytecode: hook_bytecode.as_deref(),
            hook_bytecode_writable: false,
        };
        let hook = request.hook;
        // A snapshot starts with what its packages allocated: a run whose
        // memory limit it would not fit in imports them itself, as under
        // `python3`, counted against its limit.
        let memory_limit = request.config.limits.memory_bytes;
        let runner = preload::plan(self, hook)
            .and_then(|(key, _)| preload::load(self, &key))
            .filter(|runner| runner.initial_memory_bytes <= memory_limit);
        let mut outcome = self.execute(request, how, python, runner).await;
        outcome.provenance = hook.provenance().cloned();
        outcome
    }

    /// Runs one hook with the Python runner's files mounted as given.
    async fn execute(
        &self,
        request: RunRequest<'_>,
        how: Instantiation,
        python: PythonFiles<'_>,
        runner: Option<Arc<Runner>>,
    ) -> RunOutcome {
        self.runs_started.fetch_add(1, Ordering::SeqCst);
        let _in_flight = InFlight::start(&self.runs_in_flight);
        // The engine cannot give one memory more than its maximum; holding the
        // run to that keeps a refused growth reported as the memory limit.
        let config = request.config;
        let limits = &Limits {
            memory_bytes: config.limits.memory_bytes.min(self.max_memory_bytes),
            ..config.limits.clone()
        };
        let payload = config.secrets.redact(request.payload);
        let entry = match request.hook.kind() {
            HookKind::Python => match runner.map_or_else(|| self.base_runner().map(|(r, _)| r), Ok)
            {
                Ok(runner) => Entry::Python(runner),
                Err(error) => return RunOutcome::not_started(error.to_string()),
            },
            HookKind::Component => {
                match self
                    .hook_components
                    .get(&self.engine, &self.hook_linker, request.hook)
                    .await
                {
                    Ok(pre) => Entry::Compiled(pre),
                    Err(error) => return RunOutcome::not_started(error.to_string()),
                }
            }
        };
        let compiled = matches!(entry, Entry::Compiled(_));
        let runner_identity = match &entry {
            Entry::Python(runner) => runner.identity.clone(),
            Entry::Compiled(_) => String::new(),
        };
        let started = Instant::now();
        let sandbox = Sandbox::new(
            &self.engine,
            SandboxSpec {
                hook_dir: request.hook.dir(),
                hook_file_name: request.hook.file_name(),
                args: request.args,
                python: (!compiled).then_some((python, request.hook.source().shared())),
                payload: payload.as_str(),
                env: &config.env,
                limits,
                deadline_ticks: engine::deadline_ticks(limits.timeout),
                deadline: tokio::time::Instant::from_std(started) + limits.timeout,
                policy: config.egress.clone(),
                identities: config.client_identities.clone(),
                egress_mode: &config.egress_mode,
                tls: self.tls.clone(),
                code_cache: self.code_cache.clone(),
                runner_identity: &runner_identity,
                url_masks: config.url_masks.clone(),
                secrets: config.injected_secrets.clone(),
                ca_bundle: self.ca_bundle_view.as_ref(),
                scratch: !python.stdlib_writable && !python.hook_bytecode_writable,
            },
        );
        let mut sandbox = match sandbox {
            Ok(sandbox) => sandbox,
            Err(error) => {
                return RunOutcome::not_started(format!("cannot set up the sandbox: {error:#}"));
            }
        };

        let end = self.call(&mut sandbox, entry, how, limits.timeout).await;
        let duration = started.elapsed();
        if let Some(fault) = end.hooks_own_fault() {
            sandbox.stderr.write_line(&fault);
        }
        let (mut status, mut exit_code, error) = classify(end, sandbox.memory_refused(), limits);
        if compiled && status == RunStatus::Error {
            // A compiled hook's trap is its own failure (a Rust panic aborts
            // with one), as an uncaught exception is a Python hook's.
            (status, exit_code) = (RunStatus::Failed, Some(1));
        }
        if let Some(error) = &error {
            tracing::info!(status = status.as_str(), %error, "hook stopped");
        }
        let stdout = sandbox.stdout.finish();
        let stderr = sandbox.stderr.finish();
        let fuel_consumed = sandbox.fuel_consumed();
        let peak_memory_bytes = sandbox.peak_memory();
        let scratch_bytes_written = sandbox.scratch_written();
        let (egress, egress_unrecorded) = sandbox.finish_egress(self.background_teardown).await;
        RunOutcome {
            provenance: None,
            status,
            exit_code,
            stdout: stdout.text,
            stderr: stderr.text,
            stdout_truncated: stdout.truncated,
            stderr_truncated: stderr.truncated,
            duration_ms: duration.as_secs_f64() * 1000.0,
            fuel_consumed,
            peak_memory_bytes,
            scratch_bytes_written,
            egress,
            egress_unrecorded,
            error,
        }
    }

    /// Calls the hook in `sandbox` (a compiled hook's `wasi:cli/run`, else
    /// the Python runner's entry point) until it ends or `timeout` passes.
    async fn call(
        &self,
        sandbox: &mut Sandbox,
        entry: Entry,
        how: Instantiation,
        timeout: std::time::Duration,
    ) -> CallEnd {
        let call = async {
            let runner = match entry {
                Entry::Compiled(pre) => {
                    let command = pre.instantiate_async(&mut sandbox.store).await?;
                    // WASI 0.2's exit carries success or failure, not a code.
                    let ended = command.wasi_cli_run().call_run(&mut sandbox.store).await?;
                    return wasmtime::Result::Ok(if ended.is_ok() { 0 } else { 1 });
                }
                Entry::Python(runner) => runner,
            };
            let instance = match how {
                Instantiation::Prelinked => {
                    runner.pre.instantiate_async(&mut sandbox.store).await?
                }
                Instantiation::Linker => {
                    self.linker
                        .instantiate_async(&mut sandbox.store, runner.pre.component())
                        .await?
                }
            };
            let run_hook =
                instance.get_typed_func::<(), (i32,)>(&mut sandbox.store, &runner.run_hook)?;
            let (code,) = run_hook.call_async(&mut sandbox.store, ()).await?;
            wasmtime::Result::Ok(code)
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(code)) => CallEnd::Exited(code),
            Ok(Err(error)) => CallEnd::Failed(error),
            Err(_elapsed) => CallEnd::DeadlinePassed,
        }
    }
}

/// Shows a spinner with `message` on stderr (only on a terminal) until the
/// returned function is called.
fn progress(show: bool, message: &'static str) -> Box<dyn FnOnce() + Send> {
    if !show {
        return Box::new(|| {});
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    Box::new(move || spinner.finish_and_clear())
}

impl hookbox_core::failure::Categorized for RuntimeError {
    fn failure(&self) -> hookbox_core::failure::Failure {
        use hookbox_core::failure::Failure;
        match self {
            RuntimeError::CaBundle(_) => Failure::Usage,
            RuntimeError::Cache(error) => error.failure(),
            RuntimeError::Engine(_) | RuntimeError::Stdlib { .. } | RuntimeError::Link(_) => {
                Failure::Internal
            }
        }
    }
}
