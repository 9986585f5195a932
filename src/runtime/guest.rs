//! The guests shipped inside the hookbox binary: the Python runner component
//! (CPython 3.14 for WASI with the runner snapshotted in) and the pure-Python
//! standard library it imports from at run time (with its bytecode, compiled
//! once per machine by [`super::bytecode`]). Both are built by `build.rs`
//! from `guest-sdk/python/`; nothing is downloaded at run time.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The Python runner component (WebAssembly component binary).
pub static RUNNER_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/runner.wasm"));

/// The identity of [`RUNNER_COMPONENT`] (xxh3-128, hex) for the compile cache:
/// a hash of what it is built from, so a rebuild from the same sources reuses
/// the compiled runner.
pub const RUNNER_HASH: &str = include_str!(concat!(env!("OUT_DIR"), "/runner.hash"));

/// The pure-Python standard library, as a tar archive.
static STDLIB_TAR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/python-lib.tar"));

/// A hash of the standard library archive (xxh3-128, hex).
const STDLIB_HASH: &str = include_str!(concat!(env!("OUT_DIR"), "/python-lib.hash"));

/// A file written inside an extracted standard library once it is complete.
const COMPLETE_MARKER: &str = ".hookbox-complete";

/// Returns the directory holding the extracted standard library under
/// `cache_dir`, extracting it and running `prepare` on it first if needed.
///
/// Extraction and `prepare` work in a temporary directory that is renamed
/// into place, so a crash mid-way leaves no half-made library behind; the
/// marker file names the archive's hash and `layout` (what `prepare` adds)
/// and is checked before a directory is used.
pub fn stdlib_dir(
    cache_dir: &Path,
    layout: &str,
    prepare: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let marker = format!("{STDLIB_HASH} {layout}");
    // Named by both, so a library another hookbox version is using is never
    // removed from under it.
    let dir = cache_dir.join(format!(
        "stdlib-{:016x}",
        xxhash_rust::xxh3::xxh3_64(marker.as_bytes())
    ));
    if is_complete(&dir, &marker) {
        super::cache::mark_used(&dir.join(COMPLETE_MARKER));
        return Ok(dir);
    }
    fs::create_dir_all(cache_dir)?;
    // One process prepares it; the others wait and then use it.
    let lock = fs::File::create(cache_dir.join("stdlib.lock"))?;
    lock.lock()?;
    if is_complete(&dir, &marker) {
        return Ok(dir);
    }
    if dir.exists() {
        // Left by an older, interrupted or tampered-with extraction.
        fs::remove_dir_all(&dir)?;
    }
    let staging = tempfile::Builder::new()
        .prefix(".stdlib-")
        .tempdir_in(cache_dir)?;
    tar::Archive::new(STDLIB_TAR).unpack(staging.path())?;
    prepare(staging.path())?;
    fs::write(staging.path().join(COMPLETE_MARKER), &marker)?;
    fs::rename(staging.path(), &dir)?;
    let _ = staging.keep();
    prune(cache_dir, &dir);
    Ok(dir)
}

/// Removes the libraries of other hookbox versions that no process has used
/// for [`super::cache::UNUSED_FOR`]. Best effort.
fn prune(cache_dir: &Path, keep: &Path) {
    let Ok(entries) = fs::read_dir(cache_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_library = entry.file_name().to_string_lossy().starts_with("stdlib-");
        let unused = fs::metadata(path.join(COMPLETE_MARKER))
            .and_then(|m| m.modified())
            .map_or(true, |time| {
                time.elapsed().unwrap_or_default() > super::cache::UNUSED_FOR
            });
        if is_library && path != keep && path.is_dir() && unused {
            tracing::info!(path = %path.display(), "removing an unused standard library");
            let _ = fs::remove_dir_all(&path);
        }
    }
}

fn is_complete(dir: &Path, marker: &str) -> bool {
    fs::read_to_string(dir.join(COMPLETE_MARKER)).is_ok_and(|found| found == marker)
}
