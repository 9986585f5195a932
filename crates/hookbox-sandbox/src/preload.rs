//! What the Python runner sees while hookbox imports a hook folder's
//! packages into a snapshot of it (`runtime::preload`): the folders a run
//! sees, read-only, through hookbox's `preload` interface, and of WASI only
//! an empty environment and the random bytes the runner seeds `random` with.
//! Every other import traps, so nothing of that step (a file, a socket, a
//! clock reading) can be left in the snapshot. A run gets the `preload`
//! interface too, and finds nothing through it.

use std::path::{Component as PathPart, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use wasmtime::StoreContextMut;
use wasmtime::component::{ComponentType, Linker, Lower};

use super::SandboxState;
use super::limits::MemoryAccountant;
use super::wasi::{HOOK_BYTECODE_DIR_GUEST, HOOK_DIR_GUEST, STDLIB_DIR_GUEST};

/// hookbox's preload interface (`guest-sdk/wit/hookbox.wit`).
const PRELOAD_INTERFACE: &str = "hookbox:runner/preload@0.1.0";

/// WASI's environment and random interfaces (at the version the runner
/// imports them).
const ENVIRONMENT_INTERFACE: &str = "wasi:cli/environment";
const RANDOM_INTERFACE: &str = "wasi:random/random";

/// Most random bytes the runner's own seeding asks for.
const MAX_SEED_BYTES: u64 = 4096;

/// Largest file the import is served (a module's source or bytecode).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// The store of a preload: the files it reads, its memory limit.
pub struct PreloadState {
    files: PreloadFiles,
    /// The memory limit.
    pub memory: MemoryAccountant,
    /// Whether a file was asked for: from then on, package code may run.
    packages_started: bool,
    /// What it was doing, kept past a trap.
    trace: Arc<Mutex<PreloadTrace>>,
}

/// What a preload was doing when it stopped.
#[derive(Debug, Default, Clone)]
pub struct PreloadTrace {
    /// The package being imported.
    pub importing: Option<String>,
    /// The last module file read.
    pub last_read: Option<String>,
}

impl PreloadState {
    /// A preload reading `files`, its memory held to `memory_bytes`, noting
    /// in `trace` what it is doing.
    pub fn new(files: PreloadFiles, memory_bytes: u64, trace: Arc<Mutex<PreloadTrace>>) -> Self {
        PreloadState {
            files,
            memory: MemoryAccountant::new(memory_bytes),
            packages_started: false,
            trace,
        }
    }
}

/// Adds the `preload` interface to a run's linker: a run finds nothing
/// through it.
pub(super) fn add_to_run_linker(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    type Context<'a> = StoreContextMut<'a, SandboxState>;
    let mut preload = linker.instance(PRELOAD_INTERFACE)?;
    preload.func_wrap("status", |_: Context<'_>, (_,): (String,)| {
        Ok((None::<FileStatus>,))
    })?;
    preload.func_wrap("read-file", |_: Context<'_>, (_,): (String,)| {
        Ok((None::<Vec<u8>>,))
    })?;
    preload.func_wrap("list-folder", |_: Context<'_>, (_,): (String,)| {
        Ok((None::<Vec<String>>,))
    })?;
    preload.func_wrap("importing", |_: Context<'_>, (_,): (String,)| Ok(()))?;
    Ok(())
}

/// What the import reads: the folders a run sees, read-only, by their
/// paths in the sandbox. Of the hook's folder only the sources a package
/// may import are read (those its snapshot is keyed by), and of its
/// bytecode only theirs.
pub struct PreloadFiles {
    hook: Dir,
    /// Whether a source in the hook's folder (a path in it) may be read.
    importable: fn(&Path) -> bool,
    stdlib: Dir,
    bytecode: Option<Dir>,
}

/// Whether some part of `relative` in `dir` is a symlink (or cannot be
/// looked at).
fn through_symlink(dir: &Dir, relative: &Path) -> bool {
    let mut prefix = PathBuf::new();
    relative.components().any(|part| {
        prefix.push(part);
        dir.symlink_metadata(&prefix)
            .map_or(true, |metadata| metadata.is_symlink())
    })
}

/// The folders a preload reads.
#[derive(Debug, Clone, Copy)]
enum Mount {
    Hook,
    Stdlib,
    HookBytecode,
}

/// The source in the hook's folder that `relative` (a file in the
/// bytecode folder: `hook/<folder>/__pycache__/<stem>.<tag>.pyc`) was
/// compiled from.
pub fn source_of_bytecode(relative: &Path) -> Option<PathBuf> {
    let inside = relative.strip_prefix("hook").ok()?;
    let file = inside.file_name()?.to_str()?;
    let cache = inside.parent()?;
    if cache.file_name()? != "__pycache__" || !file.ends_with(".pyc") {
        return None;
    }
    let stem = file.strip_suffix(".pyc")?.rsplit_once('.')?.0;
    Some(cache.parent()?.join(format!("{stem}.py")))
}

/// What the import system asks of a path.
#[derive(Debug, Clone, Copy, ComponentType, Lower)]
#[component(record)]
pub struct FileStatus {
    size: u64,
    #[component(name = "modified-ns")]
    modified_ns: u64,
    #[component(name = "is-folder")]
    is_folder: bool,
}

impl PreloadFiles {
    /// Opens the hook's folder, the standard library and the folder's
    /// bytecode, if any; of the hook's folder only the `.py` files
    /// `importable` accepts (and their bytecode) are read.
    pub fn open(
        hook: &Path,
        importable: fn(&Path) -> bool,
        stdlib: &Path,
        bytecode: Option<&Path>,
    ) -> std::io::Result<Self> {
        let open = |path: &Path| Dir::open_ambient_dir(path, ambient_authority());
        Ok(PreloadFiles {
            hook: open(hook)?,
            importable,
            stdlib: open(stdlib)?,
            bytecode: bytecode.map(open).transpose()?,
        })
    }

    /// The folder `guest` is in and its path there; `None` outside them.
    fn locate(&self, guest: &str) -> Option<(&Dir, PathBuf, Mount)> {
        let mounts = [
            (HOOK_DIR_GUEST, Some(&self.hook), Mount::Hook),
            (STDLIB_DIR_GUEST, Some(&self.stdlib), Mount::Stdlib),
            (
                HOOK_BYTECODE_DIR_GUEST,
                self.bytecode.as_ref(),
                Mount::HookBytecode,
            ),
        ];
        for (mount, dir, kind) in mounts {
            let Some(rest) = guest.strip_prefix(mount) else {
                continue;
            };
            if !(rest.is_empty() || rest.starts_with('/')) {
                continue;
            }
            let relative = Path::new(rest.trim_start_matches('/'));
            if !relative
                .components()
                .all(|part| matches!(part, PathPart::Normal(_)))
            {
                return None;
            }
            let relative = if relative.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                relative.to_path_buf()
            };
            return Some((dir?, relative, kind));
        }
        None
    }

    /// `guest` located, if it is served: no part of its path is a symlink
    /// (one could lead to a hook, or to files the snapshot is not keyed
    /// by), and it is no hook nor a hook's bytecode.
    fn served(&self, guest: &str) -> Option<(&Dir, PathBuf, Mount)> {
        let (dir, relative, mount) = self.locate(guest)?;
        if through_symlink(dir, &relative) {
            return None;
        }
        self.visible(&relative, mount)
            .then_some((dir, relative, mount))
    }

    /// Whether `relative` in `mount` may be seen at all.
    fn visible(&self, relative: &Path, mount: Mount) -> bool {
        let relative = relative.strip_prefix(".").unwrap_or(relative);
        let extension = relative.extension().and_then(|e| e.to_str());
        match mount {
            Mount::Hook => extension != Some("py") || (self.importable)(relative),
            Mount::HookBytecode => {
                extension != Some("pyc")
                    || source_of_bytecode(relative).is_some_and(|source| {
                        (self.importable)(&source) && !through_symlink(&self.hook, &source)
                    })
            }
            Mount::Stdlib => true,
        }
    }

    fn status(&self, guest: &str) -> Option<FileStatus> {
        let (dir, relative, _) = self.served(guest)?;
        let metadata = dir.metadata(&relative).ok()?;
        let modified = metadata.modified().ok()?.into_std();
        Some(FileStatus {
            size: metadata.len(),
            modified_ns: modified
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos() as u64),
            is_folder: metadata.is_dir(),
        })
    }

    /// A module's source or bytecode (of the hook's folder, only those).
    fn read(&self, guest: &str) -> Option<Vec<u8>> {
        let (dir, relative, mount) = self.served(guest)?;
        let extension = relative.extension().and_then(|e| e.to_str());
        let module = match mount {
            Mount::Hook => extension == Some("py"),
            Mount::HookBytecode => extension == Some("pyc"),
            Mount::Stdlib => true,
        };
        if !module || dir.metadata(&relative).ok()?.len() > MAX_FILE_BYTES {
            return None;
        }
        dir.read(&relative).ok()
    }

    fn list(&self, guest: &str) -> Option<Vec<String>> {
        let (dir, relative, mount) = self.served(guest)?;
        let entries = dir.read_dir(&relative).ok()?;
        Some(
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().into_string().ok())
                .filter(|name| self.visible(&relative.join(name), mount))
                .collect(),
        )
    }
}

/// The preload interface, and the only WASI a preload has: the runner's
/// first call asks for its environment and arguments (there are none) and
/// seeds `random` (every run seeds it again). The bytes it is seeded with
/// are zeros, so nothing in the snapshot is derived from a secret, and they
/// are given only until the first file is asked for: a package that draws
/// random bytes when imported traps.
pub fn add_to_preload_linker(
    linker: &mut wasmtime::component::Linker<PreloadState>,
    imports: &[String],
) -> anyhow::Result<()> {
    type Context<'a> = wasmtime::StoreContextMut<'a, PreloadState>;
    let mut preload = linker.instance(PRELOAD_INTERFACE)?;
    preload.func_wrap("status", |mut store: Context<'_>, (path,): (String,)| {
        store.data_mut().packages_started = true;
        Ok((store.data().files.status(&path),))
    })?;
    preload.func_wrap("read-file", |mut store: Context<'_>, (path,): (String,)| {
        store.data_mut().packages_started = true;
        let read = store.data().files.read(&path);
        if read.is_some() {
            let mut trace = store.data().trace.lock().unwrap_or_else(|e| e.into_inner());
            trace.last_read = Some(path);
        }
        Ok((read,))
    })?;
    preload.func_wrap(
        "list-folder",
        |mut store: Context<'_>, (path,): (String,)| {
            store.data_mut().packages_started = true;
            Ok((store.data().files.list(&path),))
        },
    )?;
    preload.func_wrap("importing", |store: Context<'_>, (module,): (String,)| {
        let mut trace = store.data().trace.lock().unwrap_or_else(|e| e.into_inner());
        *trace = PreloadTrace {
            importing: Some(module),
            last_read: None,
        };
        Ok(())
    })?;
    let imported = |interface: &str| {
        imports
            .iter()
            .find(|name| name.split('@').next() == Some(interface))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the runner does not import {interface}"))
    };
    let mut environment = linker.instance(&imported(ENVIRONMENT_INTERFACE)?)?;
    environment.func_wrap("get-environment", |_: Context<'_>, (): ()| {
        Ok((Vec::<(String, String)>::new(),))
    })?;
    environment.func_wrap("get-arguments", |_: Context<'_>, (): ()| {
        Ok((Vec::<String>::new(),))
    })?;
    let mut random = linker.instance(&imported(RANDOM_INTERFACE)?)?;
    random.func_wrap(
        "get-random-bytes",
        |store: Context<'_>, (length,): (u64,)| {
            if store.data().packages_started || length > MAX_SEED_BYTES {
                wasmtime::bail!("a package draws random bytes when imported");
            }
            // Public bytes: whatever a package derives from them at import
            // is no secret its runs would share.
            Ok((vec![0u8; length as usize],))
        },
    )?;
    Ok(())
}
