//! The standard library's bytecode, compiled once per extracted library.
//!
//! A module outside the runner's snapshot would otherwise be compiled from
//! source on every import, in every run (30-470 million fuel units each). So
//! when the library is extracted, hookbox runs `compile_stdlib.py` with the
//! bundled CPython itself (the bytecode must match the interpreter), in
//! sandboxes like a hook's but with the staging copy of the library writable,
//! one per core. Hooks only ever get the finished library read-only, so no
//! hook can change what the next one imports.

use std::io;
use std::path::Path;
use std::time::Duration;

use super::{Instantiation, RunRequest, Runtime};
use crate::config::SandboxConfig;
use crate::guest::Guest;
use hookbox_intake::Payload;
use hookbox_record::RunStatus;
use hookbox_sandbox::limits::Limits;
use hookbox_sandbox::wasi::PythonFiles;
use hookbox_source::HookFile;

const DRIVER_FILE_NAME: &str = "compile_stdlib.py";

/// Names what the compile step adds to an extracted library, so a library
/// prepared by another version of the step is not taken for this one's.
pub fn layout(guest: &Guest) -> String {
    format!(
        "bytecode-{:016x}",
        xxhash_rust::xxh3::xxh3_64(guest.compile_stdlib.as_bytes())
    )
}

/// What the spinner says while the library compiles.
pub const PROGRESS_MESSAGE: &str =
    "compiling the Python standard library to bytecode (one time, about 4 s)...";

/// The driver's exit code when some files did not compile (the rest did).
const SOME_FAILED: i32 = 3;

/// Compiles every module of the library in `dir` to bytecode beside it.
pub fn compile(runtime: &Runtime, dir: &Path) -> io::Result<()> {
    let driver_dir = tempfile::tempdir()?;
    let driver_path = driver_dir.path().join(DRIVER_FILE_NAME);
    std::fs::write(&driver_path, runtime.guest.compile_stdlib)?;
    let driver = HookFile::open(&driver_path).map_err(io::Error::other)?;
    let shares = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let outcomes = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..shares)
            .map(|share| {
                let driver = &driver;
                scope.spawn(move || compile_share(runtime, driver, dir, share, shares))
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("panicked")))
            })
            .collect::<Vec<_>>()
    });
    outcomes.into_iter().collect()
}

/// Runs the driver on one share of the files, on a thread of its own (the
/// caller may itself be inside an async runtime).
fn compile_share(
    runtime: &Runtime,
    driver: &HookFile,
    dir: &Path,
    share: usize,
    shares: usize,
) -> io::Result<()> {
    let config = SandboxConfig {
        limits: Limits {
            timeout: Duration::from_secs(600),
            fuel: u64::MAX,
            memory_bytes: 512 * 1024 * 1024,
            ..Limits::default()
        },
        env: vec![(
            hookbox_core::env_names::COMPILE_SHARE.to_owned(),
            format!("{share}/{shares}"),
        )],
        ..SandboxConfig::default()
    };
    let payload = Payload::from_value(&serde_json::json!({}));
    let request = RunRequest {
        hook: driver,
        payload: &payload,
        config: &config,
        args: &[],
    };
    let python = PythonFiles {
        stdlib: dir,
        stdlib_writable: true,
        sources: &runtime.sources_dir,
        hook_bytecode: None,
        hook_bytecode_writable: false,
    };
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(runtime.execute(request, Instantiation::Prelinked, python, None));
    match (outcome.status, outcome.exit_code) {
        (RunStatus::Ok, _) => Ok(()),
        (RunStatus::Failed, Some(SOME_FAILED)) => {
            // Those modules compile from source when imported, as before.
            tracing::warn!(failed = %outcome.stderr.trim(), "some standard modules have no bytecode");
            Ok(())
        }
        _ => Err(io::Error::other(format!(
            "compiling its bytecode failed ({}): {}{}",
            outcome.status.as_str(),
            outcome.error.unwrap_or_default(),
            outcome.stderr.trim()
        ))),
    }
}
