//! The bytecode of the Python sources in a hook's folder (packages such as
//! `requests` copied next to the hook), compiled once per version of them,
//! not on every import of every run.
//!
//! Keyed by the folder's [`PythonSources`] identity (every source's path,
//! inode and times, so no other content and no other folder can take a
//! compiled version's key), the bytecode is compiled by hookbox with the
//! bundled CPython, in a sandbox that sees the hook's folder read-only and
//! only a fresh staging folder writable; the staging folder is then renamed
//! into place. Hooks get it read-only at
//! [`HOOK_BYTECODE_DIR_GUEST`](hookbox_sandbox::wasi::HOOK_BYTECODE_DIR_GUEST),
//! where the runner's import system looks for it. Every file is a checked
//! hash-based `.pyc`: on import CPython compares it with the source it was
//! compiled from and compiles the source instead when they differ, so a
//! stale or foreign file can slow an import down but never change it.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Instantiation, RunRequest, Runtime};
use crate::config::SandboxConfig;
use hookbox_intake::Payload;
use hookbox_record::RunStatus;
use hookbox_sandbox::limits::Limits;
use hookbox_sandbox::wasi::PythonFiles;
use hookbox_source::HookFile;

/// The name the driver runs under, in the hook's folder.
const DRIVER_FILE_NAME: &str = "__hookbox_compile__.py";

/// Written in a compiled folder once it is complete.
const COMPLETE_MARKER: &str = ".hookbox-complete";

/// Written by the driver in a compiled folder: the sources that did not
/// compile, a line each (`/hook/path<TAB>error`).
const NOT_COMPILED: &str = "not-compiled.txt";

/// Most bytes of [`NOT_COMPILED`] read.
const MAX_NOT_COMPILED_BYTES: u64 = 64 << 10;

/// The sources of the compiled folder `bytecode` that did not compile, by
/// their path in the sandbox, with the compiler's error.
pub(super) fn not_compiled(bytecode: &Path) -> std::collections::HashMap<String, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let _ = fs::File::open(bytecode.join(NOT_COMPILED))
        .and_then(|file| file.take(MAX_NOT_COMPILED_BYTES).read_to_end(&mut bytes));
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(path, error)| (path.to_owned(), error.to_owned()))
        .collect()
}

/// Most compiled versions kept (a hook author's every save makes one); the
/// least recently used go first, as do all unused for a week.
const MAX_VERSIONS: usize = 64;

/// The versions being compiled now, so that runs of a new version that
/// start together compile it once (the others import from source).
#[derive(Debug, Default)]
pub struct Compiling(Mutex<HashSet<[u8; 32]>>);

impl Compiling {
    /// Claims `identity`, unless another run is compiling it.
    fn claim(&self, identity: [u8; 32]) -> Option<Claim<'_>> {
        let mut claimed = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Made only when claimed: a `Claim` made and dropped here would
        // release the other run's claim, and lock this mutex again.
        claimed.insert(identity).then(|| Claim(self, identity))
    }
}

/// A version being compiled; released when dropped.
struct Claim<'a>(&'a Compiling, [u8; 32]);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut claimed = (self.0).0.lock().unwrap_or_else(|e| e.into_inner());
        claimed.remove(&self.1);
    }
}

/// The folder of bytecode for `hook`'s packages, compiling it first when
/// this version of them has none yet; `None` when the hook has no packages,
/// or the folder cannot be made (its imports then compile from source, as
/// before, and the reason is logged).
///
/// The compile is held to the run's own limits: a folder crafted to compile
/// forever stops there, and its version is then marked done with what
/// compiled, so it is not tried again on every run.
pub async fn folder_for(runtime: &Runtime, hook: &HookFile, limits: &Limits) -> Option<PathBuf> {
    let sources = hook.packages()?;
    let root = runtime
        .cache_dir
        .join("hook-bytecode")
        .join(runtime.guest.python_version());
    let dir = root.join(hex::encode(sources.identity));
    let marker = dir.join(COMPLETE_MARKER);
    if marker.is_file() {
        super::cache::mark_used(&marker);
        return Some(dir);
    }
    let _claim = runtime.compiling.claim(sources.identity)?;
    match compile(runtime, hook, limits, &root, &dir).await {
        Ok(()) => Some(dir),
        Err(error) => {
            tracing::warn!(folder = %hook.dir().display(), %error, "the hook's packages could not be compiled to bytecode; they compile on import");
            None
        }
    }
}

/// Compiles `hook`'s folder into a staging folder under `root`, then
/// renames it to `dir`.
async fn compile(
    runtime: &Runtime,
    hook: &HookFile,
    limits: &Limits,
    root: &Path,
    dir: &Path,
) -> io::Result<()> {
    fs::create_dir_all(root)?;
    let staging = tempfile::Builder::new()
        .prefix(".compile-")
        .tempdir_in(root)?;
    let done = super::progress(
        runtime.show_progress,
        "compiling the Python packages next to the hook to bytecode (once per change)...",
    );
    let driver = hook.substitute(DRIVER_FILE_NAME, runtime.guest.compile_hook_folder);
    let config = SandboxConfig {
        limits: limits.clone(),
        ..SandboxConfig::default()
    };
    let payload = Payload::from_value(&serde_json::json!({}));
    let request = RunRequest {
        hook: &driver,
        payload: &payload,
        config: &config,
        args: &[],
    };
    let python = PythonFiles {
        stdlib: &runtime.stdlib_dir,
        stdlib_writable: false,
        sources: &runtime.sources_dir,
        hook_bytecode: Some(staging.path()),
        hook_bytecode_writable: true,
    };
    let outcome = Box::pin(runtime.execute(request, Instantiation::Prelinked, python, None)).await;
    done();
    if outcome.status != RunStatus::Ok {
        // What compiled is kept (those files import from bytecode); the
        // rest compile on import, as they would without this step.
        tracing::warn!(
            folder = %hook.dir().display(),
            status = outcome.status.as_str(),
            error = outcome.error.as_deref().unwrap_or_default(),
            stderr = outcome.stderr.trim(),
            "some of the hook's packages have no bytecode"
        );
    }
    fs::write(staging.path().join(COMPLETE_MARKER), "")?;
    let renamed = match fs::rename(staging.path(), dir) {
        Ok(()) => {
            let _ = staging.keep();
            Ok(())
        }
        // Another run compiled the same version first.
        Err(_) if dir.join(COMPLETE_MARKER).is_file() => Ok(()),
        Err(error) => Err(error),
    };
    prune(root, dir);
    renamed
}

/// Removes the compiled versions beyond the [`MAX_VERSIONS`] most recently
/// used, and those unused for a week. Best effort.
fn prune(root: &Path, keep: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let mut versions: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path != keep && path.is_dir())
        .filter(|path| {
            !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .map(|path| {
            let used = fs::metadata(path.join(COMPLETE_MARKER))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (used, path)
        })
        .collect();
    versions.sort_by_key(|version| std::cmp::Reverse(version.0));
    for (index, (used, path)) in versions.into_iter().enumerate() {
        let unused = used.elapsed().unwrap_or_default() > super::cache::UNUSED_FOR;
        if unused || index + 1 >= MAX_VERSIONS {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a folder's file names can put in the listing (a tab, a line
    /// break, bytes that are not UTF-8) never makes another source's entry:
    /// a name holds no `/`, so no injected line names a path under `/hook`.
    #[test]
    fn odd_names_in_the_listing_name_no_other_source() {
        let dir = tempfile::tempdir().unwrap();
        let mut listing = b"/hook/a\tb.py\tinvalid syntax\n".to_vec();
        listing.extend_from_slice(b"/hook/x\xff.py\tinvalid syntax (x\xff.py, line 1)\n");
        listing.extend_from_slice(b"/hook/c\nfake.py\tinvalid syntax\n");
        std::fs::write(dir.path().join(NOT_COMPILED), listing).unwrap();
        let found = not_compiled(dir.path());
        assert_eq!(found["/hook/a"], "b.py\tinvalid syntax");
        assert!(found.contains_key("/hook/x\u{fffd}.py"), "{found:?}");
        assert_eq!(found["fake.py"], "invalid syntax");
        assert!(
            found
                .keys()
                .all(|path| path == "fake.py" || path.starts_with("/hook/"))
        );
        assert!(not_compiled(&dir.path().join("missing")).is_empty());
        // Cut at the cap inside a two-byte character: what came before holds.
        let mut long = "/hook/big.py\tinvalid syntax\n".to_owned();
        long.push_str(&"\u{e9}".repeat(MAX_NOT_COMPILED_BYTES as usize));
        std::fs::write(dir.path().join(NOT_COMPILED), long).unwrap();
        assert_eq!(not_compiled(dir.path())["/hook/big.py"], "invalid syntax");
    }
}
