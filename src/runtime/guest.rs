//! The guests shipped inside the hookbox binary: the Python runner component
//! (CPython 3.14 for WASI with the runner snapshotted in) and the pure-Python
//! standard library it imports from at run time. Both are built by `build.rs`
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
/// `cache_dir`, extracting it first if needed.
///
/// Extraction goes to a temporary directory that is renamed into place, so a
/// crash mid-way leaves no half-written library behind; the marker file names
/// the archive's hash and is checked before a directory is used.
pub fn stdlib_dir(cache_dir: &Path) -> io::Result<PathBuf> {
    let dir = cache_dir.join(format!("stdlib-{}", &STDLIB_HASH[..16]));
    if is_complete(&dir) {
        return Ok(dir);
    }
    if dir.exists() {
        // Left by an older, interrupted or tampered-with extraction.
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(cache_dir)?;
    let staging = tempfile::Builder::new()
        .prefix(".stdlib-")
        .tempdir_in(cache_dir)?;
    tar::Archive::new(STDLIB_TAR).unpack(staging.path())?;
    fs::write(staging.path().join(COMPLETE_MARKER), STDLIB_HASH)?;
    match fs::rename(staging.path(), &dir) {
        Ok(()) => {
            let _ = staging.keep();
            Ok(dir)
        }
        // Another process published the same library first.
        Err(_) if is_complete(&dir) => Ok(dir),
        Err(error) => Err(error),
    }
}

fn is_complete(dir: &Path) -> bool {
    fs::read_to_string(dir.join(COMPLETE_MARKER)).is_ok_and(|hash| hash == STDLIB_HASH)
}
