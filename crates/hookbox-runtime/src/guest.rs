//! The guest programs a runtime runs, handed to it by whoever embeds them:
//! the Python runner component (CPython 3.14 for WASI with the runner
//! snapshotted in), the pure-Python standard library it imports from at run
//! time (with its bytecode, compiled once per machine by `crate::bytecode`),
//! the runner's and SDK's own sources, so their traceback lines show, and
//! the two scripts that compile bytecode. The hookbox binary builds them
//! from `guest-sdk/python/` and embeds them; nothing is downloaded at run
//! time.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The guest programs, as bytes the embedder holds for the life of the
/// process.
#[derive(Clone, Copy)]
pub struct Guest {
    /// The Python runner component (a WebAssembly component binary),
    /// zstd-compressed.
    pub runner_component_zst: &'static [u8],
    /// The identity of the runner (xxh3-128, hex) for the compile cache: a
    /// hash of what it is built from, so a rebuild from the same sources
    /// reuses the compiled runner.
    pub runner_hash: &'static str,
    /// The bundled CPython's version, e.g. `3.14.0`.
    pub python_version: &'static str,
    /// The pure-Python standard library, as a zstd-compressed tar archive.
    pub stdlib_tar_zst: &'static [u8],
    /// A hash of the standard library archive (xxh3-128, hex).
    pub stdlib_hash: &'static str,
    /// The runner's and the SDK's Python sources as a tar archive, named as
    /// the runner's snapshot names them (`0/` and `1/`, mounted at `/0` and
    /// `/1`).
    pub sources_tar: &'static [u8],
    /// The script that compiles the standard library to bytecode, run by
    /// hookbox with the bundled CPython (never by a hook).
    pub compile_stdlib: &'static str,
    /// The script that compiles a hook's folder to bytecode, likewise.
    pub compile_hook_folder: &'static str,
}

impl fmt::Debug for Guest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guest")
            .field("runner_hash", &self.runner_hash)
            .field("python_version", &self.python_version.trim())
            .field("stdlib_hash", &self.stdlib_hash)
            .finish_non_exhaustive()
    }
}

impl Guest {
    /// The Python runner component, decompressed: read only to compile it
    /// and to snapshot packages into it.
    pub fn runner_component(&self) -> io::Result<Vec<u8>> {
        zstd::decode_all(self.runner_component_zst)
    }

    /// The bundled CPython's version without surrounding blanks.
    pub fn python_version(&self) -> &'static str {
        self.python_version.trim()
    }

    /// Returns the directory holding the extracted standard library under
    /// `cache_dir`, extracting it and running `prepare` on it first if
    /// needed. `layout` names what `prepare` adds.
    pub fn stdlib_dir(
        &self,
        cache_dir: &Path,
        layout: &str,
        prepare: impl FnOnce(&Path) -> io::Result<()>,
    ) -> io::Result<PathBuf> {
        let archive = self.stdlib_tar_zst;
        extracted(
            cache_dir,
            "stdlib",
            || Ok(Box::new(zstd::Decoder::with_buffer(archive)?)),
            &format!("{} {layout}", self.stdlib_hash),
            prepare,
        )
    }

    /// Whether the standard library of `layout` is extracted (and prepared)
    /// under `cache_dir`, without extracting it.
    pub fn stdlib_ready(&self, cache_dir: &Path, layout: &str) -> bool {
        let marker = format!("{} {layout}", self.stdlib_hash);
        is_complete(&extracted_dir(cache_dir, "stdlib", &marker), &marker)
    }

    /// Returns the directory holding the runner's and the SDK's sources
    /// under `cache_dir` (subfolders `0` and `1`), extracting them first if
    /// needed.
    pub fn sources_dir(&self, cache_dir: &Path) -> io::Result<PathBuf> {
        let archive = self.sources_tar;
        extracted(
            cache_dir,
            "sources",
            || Ok(Box::new(archive)),
            self.runner_hash,
            |_| Ok(()),
        )
    }
}

/// A file written inside an extracted archive once it is complete.
const COMPLETE_MARKER: &str = ".hookbox-complete";

/// Returns the directory `<kind>-<hash of marker>` under `cache_dir` holding
/// the tar archive `archive` opens, extracting it and running `prepare` on
/// it first if needed.
///
/// Extraction and `prepare` work in a temporary directory that is renamed
/// into place, so a crash mid-way leaves nothing half-made behind; the
/// marker file is checked before a directory is used.
fn extracted(
    cache_dir: &Path,
    kind: &str,
    archive: impl FnOnce() -> io::Result<Box<dyn io::Read + 'static>>,
    marker: &str,
    prepare: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let dir = extracted_dir(cache_dir, kind, marker);
    if is_complete(&dir, marker) {
        super::cache::mark_used(&dir.join(COMPLETE_MARKER));
        return Ok(dir);
    }
    fs::create_dir_all(cache_dir)?;
    // One process prepares it; the others wait and then use it.
    let lock = fs::File::create(cache_dir.join(format!("{kind}.lock")))?;
    lock.lock()?;
    if is_complete(&dir, marker) {
        return Ok(dir);
    }
    if dir.exists() {
        // Left by an older, interrupted or tampered-with extraction.
        fs::remove_dir_all(&dir)?;
    }
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{kind}-"))
        .tempdir_in(cache_dir)?;
    tar::Archive::new(archive()?).unpack(staging.path())?;
    prepare(staging.path())?;
    fs::write(staging.path().join(COMPLETE_MARKER), marker)?;
    // As open as the cache folder (a shared cache's users read it).
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = super::cache::folder_mode(cache_dir);
        fs::set_permissions(staging.path(), fs::Permissions::from_mode(mode))?;
    }
    fs::rename(staging.path(), &dir)?;
    let _ = staging.keep();
    prune(cache_dir, kind, &dir);
    Ok(dir)
}

/// Removes the `kind` directories of other hookbox versions that no process
/// has used for [`super::cache::UNUSED_FOR`]. Best effort.
fn prune(cache_dir: &Path, kind: &str, keep: &Path) {
    let Ok(entries) = fs::read_dir(cache_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_library = entry
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("{kind}-"));
        let unused = fs::metadata(path.join(COMPLETE_MARKER))
            .and_then(|m| m.modified())
            .map_or(true, |time| {
                time.elapsed().unwrap_or_default() > super::cache::UNUSED_FOR
            });
        if is_library && path != keep && path.is_dir() && unused {
            tracing::info!(path = %path.display(), "removing an unused extracted archive");
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// Where the `kind` archive with `marker` is extracted: named by the
/// marker, so a directory another hookbox version is using is never removed
/// from under it.
fn extracted_dir(cache_dir: &Path, kind: &str, marker: &str) -> PathBuf {
    cache_dir.join(format!(
        "{kind}-{:016x}",
        xxhash_rust::xxh3::xxh3_64(marker.as_bytes())
    ))
}

fn is_complete(dir: &Path, marker: &str) -> bool {
    fs::read_to_string(dir.join(COMPLETE_MARKER)).is_ok_and(|found| found == marker)
}
