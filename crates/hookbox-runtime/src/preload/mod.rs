//! Snapshots of the Python runner with a hook folder's packages imported:
//! a hook that does `import requests` starts with it imported, as it starts
//! with `json`, instead of running the package's module bodies on every run.
//!
//! Once per version of a folder's packages (keyed by
//! [`PythonSources::packages_identity`](hookbox_source::hook_folder::PythonSources),
//! which leaves the hooks themselves out), hookbox instruments the runner
//! component, instantiates it with no WASI at all (every WASI import traps,
//! so no file, socket, clock or random number of this step can be left in
//! the snapshot), imports the packages installed in the folder (those with a
//! `*.dist-info` record, as `pip install --target` leaves them) through the
//! `preload` interface (`sandbox::preload`), and writes what the memory and
//! globals then hold into a new component, compiled into the compile cache
//! beside the runner ([`import`]). A package that does anything at import
//! but define things (print, read the clock, a file or the environment,
//! draw random numbers, change what each run relies on) is left out and
//! imports on every run; a version none of whose packages can be kept, or
//! whose sources changed meanwhile, is not snapshotted.
//!
//! The step runs the folder's own code, so it runs under a hook's limits
//! (fuel, memory, the wall clock) and sees what a run sees, read-only: the
//! hook's folder, the standard library and the folder's bytecode. What it
//! leaves in the snapshot is what importing those packages leaves in every
//! run anyway; the hooks themselves are never read.

mod import;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Runner, Runtime};
use hookbox_sandbox::limits::Limits;
use hookbox_source::HookFile;
use hookbox_source::hook_folder::is_importable_source;

/// The compile cache's name for runner snapshots with packages imported.
pub(super) const ARTIFACT: &str = "python-runner-packages";

/// The cache's folder of versions whose snapshot was refused, and why.
const REFUSED_FOLDER: &str = "packages-refused";

/// Most packages imported into one snapshot.
const MAX_PACKAGES: usize = 64;

/// Most bytes of the installed packages' `RECORD`s read, all together.
const MAX_RECORD_BYTES: u64 = 4 << 20;

/// Why a snapshot with a folder's packages was not made.
#[derive(Debug, thiserror::Error)]
pub enum PreloadError {
    /// The runner could not be instrumented, run or snapshotted.
    #[error("importing the packages into a snapshot failed: {0:#}")]
    Snapshot(anyhow::Error),
    /// A package used the system while imported (printed, read a file or
    /// the clock, looked up a name).
    #[error(
        "{} when imported{} ({interface}): output, files, clocks and the network are not \
         available while packages are imported into a snapshot",
        what_it_did(interface),
        .reading.as_ref().map(|file| format!(", after reading {file}")).unwrap_or_default()
    )]
    UsedTheSystem {
        /// The WASI function it called.
        interface: String,
        /// The last file read before, naming the module.
        reading: Option<String>,
    },
    /// A package ran past a limit while imported.
    #[error(
        "a package {limit} while imported{}",
        .reading.as_ref().map(|file| format!(" (the last file read was {file})")).unwrap_or_default()
    )]
    Limit {
        /// Which limit.
        limit: &'static str,
        /// The last file read before, naming the module.
        reading: Option<String>,
    },
    /// An import read a source that does not compile (its bytecode could
    /// not be made); it fails on every run, as under `python3`.
    #[error("{file} does not compile ({error})")]
    DoesNotCompile {
        /// The source, as the sandbox names it.
        file: String,
        /// The compiler's error.
        error: String,
    },
    /// No package can be snapshotted.
    #[error("no package can be snapshotted: {}", .0.join("; "))]
    NotImported(Vec<String>),
    /// The folder's packages changed while they were imported.
    #[error("the packages changed while they were imported")]
    Changed,
    /// A folder to serve could not be opened.
    #[error("cannot open {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The snapshot could not be compiled or stored.
    #[error(transparent)]
    Cache(#[from] super::cache::CacheError),
}

/// What calling the WASI or hookbox function `interface` means, in words.
fn what_it_did(interface: &str) -> &'static str {
    let area = interface
        .split(['/', '@'])
        .take(2)
        .collect::<Vec<_>>()
        .join("/");
    match area.as_str() {
        "wasi:filesystem/preopens" | "wasi:filesystem/types" => "reads or opens a file",
        "wasi:clocks/wall-clock" | "wasi:clocks/monotonic-clock" => "reads the clock",
        "wasi:cli/stdin" | "wasi:cli/stdout" | "wasi:cli/stderr" | "wasi:io/streams" => {
            "prints (or reads its input)"
        }
        "hookbox:runner/egress" => "looks up a name or opens a connection",
        _ if area.starts_with("wasi:cli/terminal") => "prints (or reads its input)",
        _ if area.starts_with("wasi:sockets") || area.starts_with("wasi:http") => {
            "uses the network"
        }
        _ => "calls the system",
    }
}

/// What became of the snapshot of a hook's packages.
#[derive(Debug)]
pub enum PackagesSnapshot {
    /// The hook's folder has no installed packages (no `*.dist-info`).
    NoPackages,
    /// It was made before.
    Ready,
    /// It was made now.
    Made {
        /// The modules imported into it, in the order imported.
        imported: Vec<String>,
        /// The standard-library modules the packages import inside their
        /// functions, imported into it too.
        imported_when_called: Vec<String>,
        /// Those left out, which import on every run (`module: reason`).
        left_out: Vec<String>,
    },
    /// Another process or task is making it.
    InProgress,
    /// It cannot be made for this version of the packages, which its runs
    /// import as before; not tried again until they change.
    Refused(String),
}

/// Makes the snapshot of `hook`'s packages unless it was made or refused.
pub(super) async fn prepare(
    runtime: &Runtime,
    hook: &HookFile,
    bytecode: Option<&Path>,
    limits: &Limits,
) -> PackagesSnapshot {
    let Some((key, modules)) = plan(runtime, hook) else {
        return PackagesSnapshot::NoPackages;
    };
    if load(runtime, &key).is_some() {
        return PackagesSnapshot::Ready;
    }
    let refused = refusal_path(runtime, &key);
    if let Ok(reason) = std::fs::read_to_string(&refused) {
        return PackagesSnapshot::Refused(reason);
    }
    let Some(building) = claim(runtime, &key) else {
        return PackagesSnapshot::InProgress;
    };
    let made = import::make(runtime, hook, &key, modules, bytecode, limits).await;
    drop(building);
    let _ = std::fs::remove_file(making_path(runtime, &key));
    match made {
        Ok(made) => PackagesSnapshot::Made {
            imported: made.modules,
            imported_when_called: made.when_called,
            left_out: made.left_out,
        },
        // A change is a new version, with a key of its own.
        Err(PreloadError::Changed) => PackagesSnapshot::Refused(PreloadError::Changed.to_string()),
        Err(error) => {
            let reason = error.to_string();
            tracing::warn!(folder = %hook.dir().display(), %reason, "the hook's packages are imported on every run");
            if !matches!(error, PreloadError::Cache(_) | PreloadError::Io { .. }) {
                remember_refusal(&refused, &reason);
            }
            PackagesSnapshot::Refused(reason)
        }
    }
}

/// Whether a snapshot of `hook`'s packages is to be made: it has some,
/// their snapshot is neither made, nor refused, nor being made, and this
/// user may write the cache (a shared cache is warmed by its owner).
pub(super) fn wanted(runtime: &Runtime, hook: &HookFile) -> bool {
    let Some((key, _)) = plan(runtime, hook) else {
        return false;
    };
    let making = runtime
        .preparing
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&key);
    !making
        && !being_made(runtime, &key)
        && runtime.snapshots.get(&key).is_none()
        && !runtime
            .cache
            .artifact_path(&runtime.engine, ARTIFACT, &key)
            .is_file()
        && !refusal_path(runtime, &key).is_file()
        && crate::cache::writable(&runtime.cache_dir)
}

/// The snapshots this process is making in the background.
#[derive(Debug, Default)]
pub(super) struct Preparing(Mutex<std::collections::HashSet<String>>);

/// A snapshot being made in the background; released when dropped.
pub(super) struct PreparingClaim(Arc<Runtime>, String);

impl Preparing {
    /// Claims the making of `hook`'s snapshot, unless this process is
    /// making it already.
    pub(super) fn claim(runtime: &Arc<Runtime>, hook: &HookFile) -> Option<PreparingClaim> {
        let (key, _) = plan(runtime, hook)?;
        let mut making = runtime
            .preparing
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        making
            .insert(key.clone())
            .then(|| PreparingClaim(runtime.clone(), key))
    }
}

impl Drop for PreparingClaim {
    fn drop(&mut self) {
        let mut making = self.0.preparing.0.lock().unwrap_or_else(|e| e.into_inner());
        making.remove(&self.1);
    }
}

/// Where the reason a version's snapshot was refused is kept.
fn refusal_path(runtime: &Runtime, key: &str) -> PathBuf {
    runtime.cache_dir.join(REFUSED_FOLDER).join(key)
}

/// Keeps `reason` at `path`, and drops reasons kept for a week. Best effort.
fn remember_refusal(path: &Path, reason: &str) {
    let Some(folder) = path.parent() else {
        return;
    };
    let _ = std::fs::create_dir_all(folder);
    let _ = std::fs::write(path, reason);
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().unwrap_or_default() > super::cache::UNUSED_FOR);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether another process holds the lock of the making of `key`'s
/// snapshot.
fn being_made(runtime: &Runtime, key: &str) -> bool {
    std::fs::File::open(making_path(runtime, key))
        .is_ok_and(|file| matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
}

/// The lock file of the making of `key`'s snapshot.
fn making_path(runtime: &Runtime, key: &str) -> PathBuf {
    runtime
        .cache
        .artifact_path(&runtime.engine, ARTIFACT, key)
        .with_extension("making")
}

/// Takes the lock that makes one process at a time make `key`'s snapshot;
/// `None` when another holds it.
fn claim(runtime: &Runtime, key: &str) -> Option<std::fs::File> {
    std::fs::create_dir_all(&runtime.cache_dir).ok()?;
    let file = std::fs::File::create(making_path(runtime, key)).ok()?;
    file.try_lock().ok()?;
    Some(file)
}

/// What a snapshot of `hook`'s packages is keyed by, and which top-level
/// modules it imports; `None` when the folder has no installed packages.
pub(super) fn plan(runtime: &Runtime, hook: &HookFile) -> Option<(String, Vec<String>)> {
    let sources = hook.packages()?;
    // A run, its background preparation and the service's next runs ask
    // for the same folder version: its RECORDs are read once.
    let version = (hook.dir().to_path_buf(), sources.packages_identity);
    let lock = || runtime.plans.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(plan) = lock().get(&version) {
        return plan.clone();
    }
    // Read with no lock held: the runs of other hooks look up their plans
    // meanwhile. Two runs of a new version may both read it; one plan is kept.
    let plan = plan_of(runtime, hook.dir(), &sources.packages_identity);
    let mut plans = lock();
    if plans.len() >= MAX_PLANS {
        plans.clear();
    }
    plans.entry(version).or_insert(plan).clone()
}

/// The plans kept in memory, one per folder version.
const MAX_PLANS: usize = 256;

/// Plans remembered by folder and version of its packages.
pub(super) type Plans =
    Mutex<std::collections::HashMap<(PathBuf, [u8; 32]), Option<(String, Vec<String>)>>>;

/// [`plan`] for the packages in `folder`, of version `identity`.
fn plan_of(runtime: &Runtime, folder: &Path, identity: &[u8; 32]) -> Option<(String, Vec<String>)> {
    let modules = installed_packages(folder);
    if modules.is_empty() {
        return None;
    }
    let mut key = Vec::new();
    for part in [
        runtime.guest.runner_hash.as_bytes(),
        runtime.stdlib_dir.as_os_str().as_encoded_bytes(),
        identity,
    ] {
        key.extend_from_slice(&(part.len() as u64).to_le_bytes());
        key.extend_from_slice(part);
    }
    for module in &modules {
        key.extend_from_slice(module.as_bytes());
        key.push(0);
    }
    Some((hex::encode(hookbox_crypto::digest::sha256(&key)), modules))
}

/// The top-level modules of the packages installed in `folder`: the first
/// part of each path in their `*.dist-info/RECORD` that is a module or a
/// package there, sorted.
pub(super) fn installed_packages(folder: &Path) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut budget = MAX_RECORD_BYTES;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().ends_with(".dist-info") || budget == 0 {
            continue;
        }
        let mut record = String::new();
        let read = std::fs::File::open(entry.path().join("RECORD"))
            .and_then(|file| file.take(budget).read_to_string(&mut record));
        if read.is_err() {
            continue;
        }
        budget = budget.saturating_sub(record.len() as u64);
        for line in record.lines() {
            let path = line.split(',').next().unwrap_or_default();
            let module = match path.split_once('/') {
                Some((first, _)) => first,
                None => match path.strip_suffix(".py") {
                    Some(stem) => stem,
                    None => continue,
                },
            };
            if !module.starts_with('_') && is_importable_source(Path::new(&format!("{module}.py")))
            {
                names.insert(module.to_owned());
            }
        }
    }
    // Each name once, and a bounded number of them, before the folder is
    // asked whether it has them.
    names
        .into_iter()
        .filter(|module| {
            folder.join(format!("{module}.py")).is_file()
                || folder.join(module).join("__init__.py").is_file()
        })
        .take(MAX_PACKAGES)
        .collect()
}

/// The runner snapshotted with `hook`'s packages imported, if it was made.
pub(super) fn load(runtime: &Runtime, key: &str) -> Option<Arc<Runner>> {
    if let Some(runner) = runtime.snapshots.get(key) {
        return Some(runner);
    }
    let component = runtime
        .cache
        .load_existing(&runtime.engine, ARTIFACT, key)?;
    let runner = Runner::link(&runtime.linker, &component, format!("{ARTIFACT}-{key}"))
        .inspect_err(|error| tracing::warn!(%error, "a runner snapshot does not link"))
        .ok()?;
    Some(runtime.snapshots.insert(key, runner))
}

impl hookbox_core::failure::Categorized for PreloadError {
    fn failure(&self) -> hookbox_core::failure::Failure {
        use hookbox_core::failure::Failure;
        match self {
            PreloadError::Cache(error) => error.failure(),
            PreloadError::Io { .. } => Failure::Internal,
            PreloadError::Snapshot(_)
            | PreloadError::UsedTheSystem { .. }
            | PreloadError::Limit { .. }
            | PreloadError::DoesNotCompile { .. }
            | PreloadError::NotImported(_)
            | PreloadError::Changed => Failure::Usage,
        }
    }
}
