//! The on-disk cache of compiled components.
//!
//! Compiling the 22 MB Python runner with Cranelift takes seconds; loading the
//! compiled artifact takes milliseconds. An artifact is stored under a key made
//! of the engine's compatibility hash (wasmtime version, target, settings) and
//! the component's hash, next to a checksum of its bytes. Before an artifact is
//! trusted its checksum is verified, once: a verified artifact is stamped with
//! a modification time only that verification gives it, which any later write
//! replaces; a corrupt, truncated or unloadable file is compiled anew. Writers take a file lock and publish with an atomic rename,
//! so concurrent processes compile once and never read a half-written file.
//! Artifacts nobody used for a week are removed when a new one is compiled.
//!
//! A compiled artifact is native code that runs outside the sandbox, and its
//! checksum only guards against accidents: whoever can write the cache folder
//! can run code as hookbox. So a cache folder is used only when it belongs to
//! the current user (or to root, for a cache shared read-only) and no one
//! else may write to it ([`check_trusted`]).

#![allow(unsafe_code)]

use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use wasmtime::Engine;
use wasmtime::component::Component;
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

/// Errors of the compile cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache directory or a file in it could not be used.
    #[error(
        "cannot use the cache at {path}: {source} (set HOOKBOX_CACHE_DIR to a writable directory)"
    )]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The cache lacks what must be compiled, and this user may not write
    /// to it (a shared cache its owner has not warmed).
    #[error(
        "the cache at {path} is not writable by this user and lacks the compiled runner: run \
         `hookbox warm` as its owner, or set HOOKBOX_CACHE_DIR to a folder of your own"
    )]
    ReadOnly {
        /// The folder.
        path: PathBuf,
    },
    /// The cache folder may be written by someone other than its user, who
    /// could plant native code there.
    #[error(
        "refusing the cache at {path}: {reason}; compiled code in it runs outside the sandbox, \
         so only its owner may write to it (chmod go-w it, or set HOOKBOX_CACHE_DIR to a folder \
         of your own)"
    )]
    Untrusted {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Cranelift could not compile the component.
    #[error("compiling the component failed: {0:#}")]
    Compile(anyhow::Error),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
}

/// How [`ComponentCache::load_or_compile`] obtained the component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    /// A verified artifact was loaded.
    Hit,
    /// No usable artifact existed; the component was compiled and stored.
    Compiled,
    /// An artifact existed but failed verification; it was replaced.
    Replaced,
}

impl ComponentCache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ComponentCache { dir: dir.into() }
    }

    /// The path of the artifact for `name`/`component_hash` on `engine`.
    pub fn artifact_path(&self, engine: &Engine, name: &str, component_hash: &str) -> PathBuf {
        let mut hasher = Xxh3::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hasher.finish();
        self.dir.join(format!(
            "{name}-{engine_key:016x}-{}.cwasm",
            &component_hash[..component_hash.len().min(32)]
        ))
    }

    /// Loads the artifact for `name`/`component_hash` if it was compiled
    /// (and verifies it); `None` when it was not, or is unusable.
    pub fn load_existing(
        &self,
        engine: &Engine,
        name: &str,
        component_hash: &str,
    ) -> Option<Component> {
        let artifact = self.artifact_path(engine, name, component_hash);
        if !artifact.is_file() || check_trusted(&self.dir).is_err() {
            return None;
        }
        let component = load_verified(engine, &artifact)
            .inspect_err(|reason| tracing::warn!(path = %artifact.display(), %reason, "cached component is unusable"))
            .ok()?;
        mark_used(&checksum_path(&artifact));
        Some(component)
    }

    /// Loads the compiled form of `wasm` or compiles and stores it.
    /// `on_compile` is called before a compile starts (to show progress).
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        name: &str,
        component_hash: &str,
        wasm: &[u8],
        on_compile: impl FnOnce() -> Box<dyn FnOnce()>,
    ) -> Result<(Component, CacheResult), CacheError> {
        let wasm = || Ok(std::borrow::Cow::Borrowed(wasm));
        self.load_or_compile_with(engine, name, component_hash, wasm, on_compile)
    }

    /// [`ComponentCache::load_or_compile`] for a component that `wasm`
    /// makes (decompresses, say) only when it must be compiled.
    pub fn load_or_compile_with<'w>(
        &self,
        engine: &Engine,
        name: &str,
        component_hash: &str,
        wasm: impl FnOnce() -> Result<std::borrow::Cow<'w, [u8]>, CacheError>,
        on_compile: impl FnOnce() -> Box<dyn FnOnce()>,
    ) -> Result<(Component, CacheResult), CacheError> {
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o755)
            .create(&self.dir)
            .map_err(io_error(&self.dir))?;
        check_trusted(&self.dir)?;
        let artifact = self.artifact_path(engine, name, component_hash);
        let lock_path = artifact.with_extension("lock");
        // A shared cache this user may only read (warmed by its owner) is
        // used as it is: its lock is taken through a read-only handle.
        let lock = File::create(&lock_path)
            .or_else(|error| match error.kind() {
                std::io::ErrorKind::PermissionDenied => File::open(&lock_path),
                _ => Err(error),
            })
            .map_err(io_error(&lock_path))?;
        lock.lock().map_err(io_error(&lock_path))?;

        let existed = artifact.exists();
        if existed {
            match load_verified(engine, &artifact) {
                Ok(component) => {
                    mark_used(&checksum_path(&artifact));
                    return Ok((component, CacheResult::Hit));
                }
                Err(reason) => {
                    tracing::warn!(path = %artifact.display(), %reason, "cached component is unusable; compiling it again");
                }
            }
        }

        if !writable(&self.dir) {
            return Err(CacheError::ReadOnly {
                path: self.dir.clone(),
            });
        }
        let wasm = wasm()?;
        let done = on_compile();
        let compiled = engine
            .precompile_component(&wasm)
            .map_err(|e| CacheError::Compile(e.into()));
        done();
        let bytes = compiled?;
        store(&artifact, &bytes)?;
        // Load from the stored file so the code is mapped, not copied.
        let component = load_verified(engine, &artifact)
            .map_err(|reason| CacheError::Compile(anyhow::anyhow!(reason)))?;
        let result = if existed {
            CacheResult::Replaced
        } else {
            CacheResult::Compiled
        };
        self.prune(name, &artifact);
        Ok((component, result))
    }
}

impl ComponentCache {
    /// Removes artifacts of `name` other than `keep` that no process has used
    /// for [`UNUSED_FOR`] (older hookbox versions, older engines). Best effort.
    fn prune(&self, name: &str, keep: &Path) {
        for (path, last_used) in self.artifacts(name) {
            let unused =
                last_used.is_none_or(|time| time.elapsed().unwrap_or_default() > UNUSED_FOR);
            if path != keep && unused {
                remove_artifact(&path);
            }
        }
    }

    /// Removes the artifacts of `name` beyond the `count` most recently
    /// used, `keep` always kept. Best effort.
    pub fn keep_recent(&self, name: &str, keep: &Path, count: usize) {
        let mut artifacts: Vec<_> = self
            .artifacts(name)
            .into_iter()
            .filter(|(path, _)| path != keep)
            .collect();
        artifacts.sort_by_key(|(_, last_used)| std::cmp::Reverse(*last_used));
        for (path, _) in artifacts.into_iter().skip(count.saturating_sub(1)) {
            remove_artifact(&path);
        }
    }

    /// The artifacts of `name` (of any engine) and when each was last used.
    fn artifacts(&self, name: &str) -> Vec<(PathBuf, Option<SystemTime>)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let prefix = format!("{name}-");
        entries
            .flatten()
            .filter_map(|entry| {
                let file_name = entry.file_name().into_string().ok()?;
                // `{name}-{engine key, 16 hex digits}-...`: not another name
                // that starts with this one.
                let rest = file_name.strip_prefix(&prefix)?;
                let engine_key = rest.get(..17)?;
                let is_artifact = file_name.ends_with(".cwasm")
                    && engine_key.ends_with('-')
                    && engine_key[..16].bytes().all(|b| b.is_ascii_hexdigit());
                if !is_artifact {
                    return None;
                }
                let path = entry.path();
                let last_used = fs::metadata(checksum_path(&path))
                    .or_else(|_| fs::metadata(&path))
                    .and_then(|m| m.modified())
                    .ok();
                Some((path, last_used))
            })
            .collect()
    }
}

/// Removes an artifact with its checksum and lock. Best effort.
fn remove_artifact(path: &Path) {
    tracing::info!(path = %path.display(), "removing a compiled component");
    for stale in [
        path.to_path_buf(),
        checksum_path(path),
        path.with_extension("lock"),
    ] {
        let _ = fs::remove_file(stale);
    }
}

/// How long an artifact may go unused before a compile of the same component
/// name removes it.
pub const UNUSED_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// Records that a cache entry was used (the time of `checksum`, its checksum
/// or marker file), at most once a day so loading stays read-only almost
/// always.
pub(crate) fn mark_used(checksum: &Path) {
    let stale = fs::metadata(checksum)
        .and_then(|m| m.modified())
        .is_ok_and(|time| time.elapsed().unwrap_or_default() > Duration::from_secs(24 * 3600));
    if stale && let Ok(file) = File::options().append(true).open(checksum) {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn checksum_path(artifact: &Path) -> PathBuf {
    artifact.with_extension("cwasm.xxh3")
}

/// Whether this user may create files in `dir`.
pub fn writable(dir: &Path) -> bool {
    tempfile::Builder::new()
        .prefix(".hookbox-write-check-")
        .tempfile_in(dir)
        .is_ok()
}

/// The mode of a file stored in `dir`: readable by whoever may read the
/// folder (a shared cache's users), writable by its owner only.
pub(crate) fn file_mode(dir: &Path) -> u32 {
    0o600 | (mode_of(dir) & 0o044)
}

/// The mode of a folder made in `dir`: open to whoever may open `dir`,
/// writable by its owner only.
pub(crate) fn folder_mode(dir: &Path) -> u32 {
    0o700 | (mode_of(dir) & 0o055)
}

fn mode_of(dir: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(dir).map_or(0o700, |m| m.permissions().mode())
}

fn store(artifact: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = artifact.parent().unwrap_or(Path::new("."));
    let mode = fs::Permissions::from_mode(file_mode(dir));
    let write = |path: &Path, contents: &[u8]| -> Result<(), CacheError> {
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
        file.as_file()
            .set_permissions(mode.clone())
            .map_err(io_error(path))?;
        file.write_all(contents).map_err(io_error(path))?;
        file.as_file().sync_all().map_err(io_error(path))?;
        file.persist(path).map_err(|e| CacheError::Io {
            path: path.to_path_buf(),
            source: e.error,
        })?;
        Ok(())
    };
    // The checksum goes first: an artifact without a matching checksum is
    // never trusted, so a crash between the two renames only costs a compile.
    write(&checksum_path(artifact), checksum_line(bytes).as_bytes())?;
    write(artifact, bytes)
}

fn checksum_line(bytes: &[u8]) -> String {
    format!("{:032x} {}\n", xxh3_128(bytes), bytes.len())
}

/// Refuses `path` unless it belongs to the current user or to root and
/// neither its group nor others may write to it.
pub fn check_trusted(path: &Path) -> Result<(), CacheError> {
    use std::os::unix::fs::MetadataExt;
    let metadata = fs::metadata(path).map_err(io_error(path))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let untrusted = |reason: String| CacheError::Untrusted {
        path: path.to_path_buf(),
        reason,
    };
    if metadata.uid() != me && metadata.uid() != 0 {
        return Err(untrusted(format!(
            "it belongs to user {}, not to this user ({me}) or root",
            metadata.uid()
        )));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(untrusted(format!(
            "its group or other users may write to it (mode {mode:04o})"
        )));
    }
    Ok(())
}

fn load_verified(engine: &Engine, artifact: &Path) -> Result<Component, String> {
    let expected = fs::read_to_string(checksum_path(artifact))
        .map_err(|e| format!("no checksum file: {e}"))?;
    let stamp = verified_stamp(&expected);
    let metadata = fs::metadata(artifact).map_err(|e| e.to_string())?;
    let stamped = metadata.modified().is_ok_and(|time| time == stamp)
        && checksum_size(&expected) == Some(metadata.len());
    if !stamped {
        let file = File::open(artifact).map_err(|e| e.to_string())?;
        // SAFETY: the file is only read while mapped; hookbox replaces cache
        // files by renaming new ones into place, never by writing into them.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| e.to_string())?;
        if checksum_line(&map) != expected {
            return Err("checksum mismatch (corrupt or truncated file)".into());
        }
        drop(map);
        // Best effort: a cache hookbox may not change is verified every time.
        let _ = File::options()
            .append(true)
            .open(artifact)
            .and_then(|file| file.set_modified(stamp));
    }
    // SAFETY: the bytes were produced by `Engine::precompile_component` on a
    // compatible engine (the key says so) and verified against the checksum
    // written with them, now or when the verified stamp was set; wasmtime also
    // checks the artifact's header.
    unsafe { Component::deserialize_file(engine, artifact) }.map_err(|e| format!("{e:#}"))
}

/// The modification time a verified artifact carries: derived from its
/// checksum and far in the past, so any later write to the file (which sets
/// the current time) makes it differ. Hashing the whole 40 MB runner on every
/// start was a sixth of a one-shot run; checking this stamp costs one `stat`.
fn verified_stamp(checksum: &str) -> SystemTime {
    let hash = xxh3_128(checksum.as_bytes());
    let seconds = 1_000_000_000 + (hash % 1_000_000) as u64;
    let nanos = ((hash >> 64) % 1_000_000_000) as u32;
    SystemTime::UNIX_EPOCH + Duration::new(seconds, nanos)
}

/// The size a checksum line records.
fn checksum_size(checksum: &str) -> Option<u64> {
    checksum.split_whitespace().nth(1)?.parse().ok()
}

impl hookbox_core::failure::Categorized for CacheError {
    fn failure(&self) -> hookbox_core::failure::Failure {
        match self {
            CacheError::Untrusted { .. } | CacheError::ReadOnly { .. } => {
                hookbox_core::failure::Failure::Usage
            }
            CacheError::Io { .. } | CacheError::Compile(_) => {
                hookbox_core::failure::Failure::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes an artifact of `name` last used `days` ago.
    fn artifact(dir: &Path, name: &str, hash: &str, days: u64) -> PathBuf {
        let path = dir.join(format!("{name}-0123456789abcdef-{hash}.cwasm"));
        fs::write(&path, b"code").unwrap();
        let checksum = checksum_path(&path);
        let file = File::create(&checksum).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(days * 24 * 3600))
            .unwrap();
        path
    }

    #[test]
    fn only_the_most_recently_used_are_kept_and_other_names_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::new(dir.path());
        let old: Vec<PathBuf> = (0..4)
            .map(|day| {
                artifact(
                    dir.path(),
                    "python-runner-packages",
                    &format!("a{day}"),
                    day,
                )
            })
            .collect();
        let runner = artifact(dir.path(), "python-runner", "r", 30);
        let keep = artifact(dir.path(), "python-runner-packages", "new", 40);
        cache.keep_recent("python-runner-packages", &keep, 3);
        let left: Vec<bool> = old.iter().map(|path| path.exists()).collect();
        assert_eq!(
            left,
            [true, true, false, false],
            "the two most recent and `keep`"
        );
        assert!(keep.exists() && runner.exists());

        // A longer name that starts with `python-runner` is not the runner's.
        cache.prune("python-runner", &dir.path().join("none"));
        assert!(!runner.exists(), "unused for a month");
        assert!(old[0].exists() && keep.exists());
    }
}
