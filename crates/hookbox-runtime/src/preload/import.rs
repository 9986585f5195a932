//! The import of a folder's packages into an instrumented runner, and the
//! snapshot made of it: one attempt after another, each without the
//! packages the last one could not keep.

use std::path::Path;
use std::sync::{Arc, Mutex};

use component_init_transform::Invoker;
use wasmtime::component::Instance;
use wasmtime::{Engine, Store};

use super::{ARTIFACT, PreloadError, plan};
use crate::{Runtime, engine};
use hookbox_sandbox::limits::Limits;
use hookbox_sandbox::preload::{
    PreloadFiles, PreloadState, PreloadTrace, add_to_preload_linker, source_of_bytecode,
};
use hookbox_sandbox::wasi::{HOOK_BYTECODE_DIR_GUEST, HOOK_DIR_GUEST};
use hookbox_source::HookFile;
use hookbox_source::hook_folder::is_importable_source;

/// The compile cache's name for the runner instrumented to be snapshotted.
const INSTRUMENTED_ARTIFACT: &str = "python-runner-instrumented";

/// The runner's export that imports packages.
const PRELOAD_EXPORT: &str = "preload-packages";

/// Most snapshots kept in the cache (about 50 MB each), the most recently
/// used; a hook author's every change to a package makes one.
const KEPT_SNAPSHOTS: usize = 16;

/// What a snapshot holds besides the runner.
pub(super) struct Imported {
    /// The packages' modules imported, in the order imported.
    pub(super) modules: Vec<String>,
    /// The standard-library modules imported for the packages' functions.
    pub(super) when_called: Vec<String>,
    /// Those left out, which import on every run (`module: reason`).
    pub(super) left_out: Vec<String>,
}

/// Makes the snapshot of `hook`'s packages keyed `key`, importing
/// `modules` and the standard-library modules their functions import:
/// those that cannot be snapshotted are left out (one import after
/// another, each without the last that failed), and import on every run.
pub(super) async fn make(
    runtime: &Runtime,
    hook: &HookFile,
    key: &str,
    mut modules: Vec<String>,
    bytecode: Option<&Path>,
    limits: &Limits,
) -> Result<Imported, PreloadError> {
    let mut left_out = Vec::new();
    // Standard-library modules a package's function imports that could
    // not be kept: the packages are kept without them.
    let mut skip = Vec::new();
    let runner = runtime
        .guest
        .runner_component()
        .map_err(|e| super::super::cache::CacheError::Compile(e.into()))?;
    let (snapshot, when_called) = loop {
        if modules.is_empty() {
            return Err(PreloadError::NotImported(left_out));
        }
        let failed =
            match attempt(runtime, &runner, hook, &modules, &skip, bytecode, limits).await? {
                Attempt::Imported {
                    snapshot,
                    when_called,
                } => break (snapshot, when_called),
                Attempt::Failed(failures) => failures,
                Attempt::Trapped { module, error } => vec![format!("{module}: {error}")],
            };
        let progress = (modules.len(), skip.len());
        for line in &failed {
            let module = line.split_once(": ").map_or(line.as_str(), |(m, _)| m);
            if modules.iter().any(|listed| listed == module) {
                modules.retain(|listed| listed != module);
            } else if module != "*" && !skip.iter().any(|skipped| skipped == module) {
                skip.push(module.to_owned());
            }
        }
        left_out.extend(failed);
        // A failure that names no package (`*`) holds for all.
        if (modules.len(), skip.len()) == progress {
            return Err(PreloadError::NotImported(left_out));
        }
    };
    if plan(runtime, &reopened(hook)?).is_none_or(|(now, _)| now != key) {
        return Err(PreloadError::Changed);
    }
    runtime
        .cache
        .load_or_compile(&runtime.engine, ARTIFACT, key, &snapshot, || {
            crate::progress(
                runtime.show_progress,
                "compiling the runner with the hook's packages imported (once per change)...",
            )
        })?;
    let made = runtime.cache.artifact_path(&runtime.engine, ARTIFACT, key);
    runtime.cache.keep_recent(ARTIFACT, &made, KEPT_SNAPSHOTS);
    Ok(Imported {
        modules,
        when_called,
        left_out,
    })
}

/// How one import of the packages ended.
enum Attempt {
    /// All imported: the snapshot component, and the standard-library
    /// modules imported for the packages' functions.
    Imported {
        /// The snapshot component.
        snapshot: Vec<u8>,
        /// The standard-library modules imported for the packages' functions.
        when_called: Vec<String>,
    },
    /// These did not import or cannot be snapshotted (`module: reason`).
    Failed(Vec<String>),
    /// The runner trapped while `module` was imported.
    Trapped {
        /// The package being imported.
        module: String,
        /// What it did.
        error: PreloadError,
    },
}

/// Imports `modules` into an instrumented `runner` (and what their
/// functions import, but `skip`) and snapshots it.
async fn attempt(
    runtime: &Runtime,
    runner: &[u8],
    hook: &HookFile,
    modules: &[String],
    skip: &[String],
    bytecode: Option<&Path>,
    limits: &Limits,
) -> Result<Attempt, PreloadError> {
    let files = PreloadFiles::open(
        hook.dir(),
        is_importable_source,
        &runtime.stdlib_dir,
        bytecode,
    )
    .map_err(|source| PreloadError::Io {
        path: hook.dir().to_path_buf(),
        source,
    })?;
    let imported = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let trace = Arc::new(Mutex::new(PreloadTrace::default()));
    let run = Preload {
        engine: runtime.engine.clone(),
        cache: runtime.cache.clone(),
        runner_hash: runtime.guest.runner_hash,
        files,
        modules: modules.to_vec(),
        skip: skip.to_vec(),
        limits: limits.clone(),
        imported: imported.clone(),
        trace: trace.clone(),
    };
    let snapshot = component_init_transform::initialize(runner, move |instrumented| {
        Box::pin(run.import(instrumented))
    })
    .await;
    let trace = trace.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (failed, when_called) =
        std::mem::take(&mut *imported.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(match snapshot {
        Ok(_) if !failed.is_empty() => Attempt::Failed(failed),
        Ok(snapshot) => Attempt::Imported {
            snapshot,
            when_called,
        },
        Err(error) => {
            let not_compiled = bytecode.map(crate::hook_bytecode::not_compiled);
            let error = explain(error, trace.last_read, not_compiled.unwrap_or_default());
            match trace.importing {
                Some(module) => Attempt::Trapped { module, error },
                // Before any package: nothing to leave out.
                None => return Err(error),
            }
        }
    })
}

/// Why the import failed: a WASI call names what the package did, and the
/// last module read (as its source) which one did it; a source that does
/// not compile is named as such.
fn explain(
    error: anyhow::Error,
    last_read: Option<String>,
    mut not_compiled: std::collections::HashMap<String, String>,
) -> PreloadError {
    let last_read = last_read.map(|path| {
        path.strip_prefix(HOOK_BYTECODE_DIR_GUEST)
            .and_then(|inside| source_of_bytecode(Path::new(inside.trim_start_matches('/'))))
            .map_or(path.clone(), |source| {
                format!("{HOOK_DIR_GUEST}/{}", source.display())
            })
    });
    let text = format!("{error:#}");
    let called = text
        .split("unknown import: `")
        .nth(1)
        .and_then(|rest| rest.split('`').next());
    if let Some(function) = called {
        // The parser opens a source again to show a syntax error's line,
        // which the step cannot: the compiler's error, not the package's
        // doing.
        if let Some(file) = last_read.as_ref()
            && let Some(error) = not_compiled.remove(file)
        {
            return PreloadError::DoesNotCompile {
                file: file.clone(),
                error,
            };
        }
        return PreloadError::UsedTheSystem {
            interface: function.to_owned(),
            reading: last_read,
        };
    }
    let trap = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<wasmtime::Trap>());
    let limit = match trap {
        Some(wasmtime::Trap::OutOfFuel) => "ran out of fuel",
        Some(wasmtime::Trap::Interrupt) => "ran past the time limit",
        _ if text.contains("deadline has elapsed") => "ran past the time limit",
        _ if text.contains("memory") && text.contains("grow") => "ran out of memory",
        // What the host refused says why itself; the wasm backtrace that
        // comes with it names only the interpreter's and C library's frames.
        _ if trap.is_none() && error.downcast_ref::<wasmtime::WasmBacktrace>().is_some() => {
            return PreloadError::Snapshot(anyhow::anyhow!("{}", error.root_cause()));
        }
        _ => return PreloadError::Snapshot(error),
    };
    PreloadError::Limit {
        limit,
        reading: last_read,
    }
}

/// `hook` as its folder is now.
fn reopened(hook: &HookFile) -> Result<HookFile, PreloadError> {
    HookFile::open(&hook.path()).map_err(|error| PreloadError::Snapshot(error.into()))
}

/// One import of packages into an instrumented runner.
struct Preload {
    engine: Engine,
    cache: crate::cache::ComponentCache,
    /// The identity of the runner the instrumented one is made from.
    runner_hash: &'static str,
    files: PreloadFiles,
    modules: Vec<String>,
    /// Standard-library modules not to import for the packages' functions.
    skip: Vec<String>,
    limits: Limits,
    /// What did not import, and the standard-library modules imported for
    /// the packages' functions.
    imported: Arc<Mutex<(Vec<String>, Vec<String>)>>,
    /// What it was doing, kept past a trap.
    trace: Arc<Mutex<PreloadTrace>>,
}

impl Preload {
    /// Instantiates the instrumented runner and imports the packages; what
    /// it then holds is read through the returned invoker.
    async fn import(self, instrumented: Vec<u8>) -> anyhow::Result<Box<dyn Invoker>> {
        // The same for every version of every folder, so compiled once.
        // (Its exports come out in varying order, so it is keyed by what it
        // is made of; the transform reads them by name.)
        let (component, _) = self.cache.load_or_compile(
            &self.engine,
            INSTRUMENTED_ARTIFACT,
            self.runner_hash,
            &instrumented,
            || Box::new(|| {}),
        )?;
        let mut linker = wasmtime::component::Linker::new(&self.engine);
        let imports: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        add_to_preload_linker(&mut linker, &imports)?;
        linker.define_unknown_imports_as_traps(&component)?;
        let mut store = Store::new(
            &self.engine,
            PreloadState::new(self.files, self.limits.memory_bytes, self.trace),
        );
        store.limiter(|state| &mut state.memory);
        store.set_fuel(self.limits.fuel)?;
        store.set_epoch_deadline(engine::deadline_ticks(self.limits.timeout));
        let instance = tokio::time::timeout(
            self.limits.timeout,
            linker.instantiate_async(&mut store, &component),
        )
        .await??;
        let preload = instance
            .get_typed_func::<(Vec<String>, Vec<String>), ((Vec<String>, Vec<String>),)>(
                &mut store,
                PRELOAD_EXPORT,
            )?;
        let (imported,) = tokio::time::timeout(
            self.limits.timeout,
            preload.call_async(&mut store, (self.modules, self.skip)),
        )
        .await??;
        *self.imported.lock().unwrap_or_else(|e| e.into_inner()) = imported;
        Ok(Box::new(Snapshot { store, instance }))
    }
}

/// The instrumented runner after the import, read by the transform.
struct Snapshot {
    store: Store<PreloadState>,
    instance: Instance,
}

impl Snapshot {
    async fn call<T>(&mut self, function: &str) -> anyhow::Result<T>
    where
        T: wasmtime::component::Lift + Send + Sync + 'static,
        (T,): wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
    {
        let func = self
            .instance
            .get_typed_func::<(), (T,)>(&mut self.store, function)?;
        let (value,) = func.call_async(&mut self.store, ()).await?;
        Ok(value)
    }
}

#[async_trait::async_trait]
impl Invoker for Snapshot {
    async fn call_s32(&mut self, function: &str) -> anyhow::Result<i32> {
        self.call(function).await
    }
    async fn call_s64(&mut self, function: &str) -> anyhow::Result<i64> {
        self.call(function).await
    }
    async fn call_f32(&mut self, function: &str) -> anyhow::Result<f32> {
        self.call(function).await
    }
    async fn call_f64(&mut self, function: &str) -> anyhow::Result<f64> {
        self.call(function).await
    }
    async fn call_list_u8(&mut self, function: &str) -> anyhow::Result<Vec<u8>> {
        self.call(function).await
    }
}
