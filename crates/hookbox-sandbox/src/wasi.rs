//! The WASI context of one run: what of the host a hook can see.
//!
//! Secure by construction: the environment holds exactly the payload and the
//! variables the operator listed; the hook's directory and the standard library
//! are mounted read-only (the library is writable only while hookbox itself
//! compiles its bytecode), the run's own empty scratch folder is `/tmp`
//! (`scratch`), and nothing else of the host file system is; stdin is
//! empty; every raw TCP/UDP bind, connect and datagram is checked by the
//! egress gate (a TCP connect goes to a relay the host made); name lookups
//! are off; arguments carry only the hook's path inside the sandbox. WASI
//! cannot spawn processes.

use std::path::Path;

use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::egress::SocketCheck;
use super::output::CappedOutput;
use hookbox_core::env_names;

/// Where the hook's own directory appears inside the sandbox.
pub const HOOK_DIR_GUEST: &str = "/hook";
/// Where the pure-Python standard library appears inside the sandbox.
pub const STDLIB_DIR_GUEST: &str = "/python";
/// Where the bytecode hookbox compiled of the hook folder's Python sources
/// appears inside the sandbox (read-only; `runtime::hook_bytecode`).
pub const HOOK_BYTECODE_DIR_GUEST: &str = "/hook-bytecode";

/// Where the hook file named `file_name` (relative to its folder) appears
/// inside the sandbox: the runner's first argument.
pub fn hook_guest_path(file_name: &str) -> String {
    format!("{HOOK_DIR_GUEST}/{file_name}")
}

/// The Python runner's files: the extracted standard library, mounted at
/// [`STDLIB_DIR_GUEST`], and the runner's and SDK's own sources, mounted
/// read-only where the runner's snapshot names them (`/0`, `/1`) so their
/// traceback lines show.
#[derive(Debug, Clone, Copy)]
pub struct PythonFiles<'a> {
    /// The host directory of the standard library.
    pub stdlib: &'a Path,
    /// Writable only while hookbox compiles the library's bytecode itself
    /// (`runtime::bytecode`); a hook always gets it read-only.
    pub stdlib_writable: bool,
    /// The host directory holding the sources (`0/`, `1/`).
    pub sources: &'a Path,
    /// The bytecode of the hook folder's Python sources, if hookbox has it:
    /// mounted at [`HOOK_BYTECODE_DIR_GUEST`].
    pub hook_bytecode: Option<&'a Path>,
    /// Whether [`PythonFiles::hook_bytecode`] is writable: only while
    /// hookbox compiles it, into a folder of its own; a hook always gets it
    /// read-only.
    pub hook_bytecode_writable: bool,
}

/// The folders of [`PythonFiles::sources`], as the runner's snapshot names them.
const SOURCE_MOUNTS: [&str; 2] = ["0", "1"];

/// What a WASI context is made of.
pub struct WasiSpec<'a> {
    /// The host directory that holds the hook (mounted read-only).
    pub hook_dir: &'a Path,
    /// The hook's file name inside that directory.
    pub hook_file_name: &'a str,
    /// Arguments after the hook's path.
    pub args: &'a [String],
    /// The Python runner's files, for Python hooks.
    pub python: Option<PythonFiles<'a>>,
    /// The event JSON.
    pub payload: &'a str,
    /// Extra variables the operator chose to pass.
    pub env: &'a [(String, String)],
    /// Capture of the hook's stdout.
    pub stdout: CappedOutput,
    /// Capture of the hook's stderr.
    pub stderr: CappedOutput,
    /// The egress check every raw socket bind, connect and datagram passes.
    pub sockets: SocketCheck,
    /// The operator's CA bundle, where hooks see it.
    pub ca_bundle: Option<&'a CaBundleView>,
    /// The run's scratch folder, mounted writable at
    /// [`super::scratch::SCRATCH_DIR_GUEST`].
    pub scratch: Option<&'a Path>,
}

/// The operator's CA bundle (`--ca-bundle`) as hooks see it: at the path
/// the operator named, read-only, so a hook that names that file
/// (`verify="/etc/ssl/internal-ca.pem"`) finds it. The sandbox mounts a
/// private folder holding only a copy of the bundle at the bundle's folder:
/// nothing else of that folder is visible.
#[derive(Debug)]
pub struct CaBundleView {
    dir: tempfile::TempDir,
    guest_dir: String,
}

impl CaBundleView {
    /// The view of the bundle at `path` (its contents `pem`), or `None`
    /// when its folder cannot be shown where it is (the root, or a folder
    /// the sandbox already shows: the hook's, the library's).
    pub fn new(path: &Path, pem: &[u8]) -> std::io::Result<Option<CaBundleView>> {
        let path = std::path::absolute(path)?;
        let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(None);
        };
        let Some(guest_dir) = folder.to_str().map(str::to_owned) else {
            return Ok(None);
        };
        // The scratch folder may hold the bundle's folder (a path inside
        // it resolves to the most specific mount), but not be it.
        let taken = [
            HOOK_DIR_GUEST,
            STDLIB_DIR_GUEST,
            HOOK_BYTECODE_DIR_GUEST,
            "/0",
            "/1",
        ];
        let clashes = guest_dir == "/"
            || guest_dir == super::scratch::SCRATCH_DIR_GUEST
            || taken.iter().any(|mount| {
                guest_dir == *mount
                    || guest_dir.starts_with(&format!("{mount}/"))
                    || mount.starts_with(&format!("{guest_dir}/"))
            });
        if clashes {
            tracing::warn!(path = %path.display(), "the CA bundle's folder cannot be shown to hooks at its own path");
            return Ok(None);
        }
        let dir = tempfile::Builder::new().prefix("hookbox-ca-").tempdir()?;
        std::fs::write(dir.path().join(name), pem)?;
        Ok(Some(CaBundleView { dir, guest_dir }))
    }
}

/// Builds the context for one run.
pub fn build(spec: WasiSpec<'_>) -> wasmtime::Result<WasiCtx> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .arg(hook_guest_path(spec.hook_file_name))
        .args(spec.args)
        .env(env_names::HOOK_PAYLOAD, spec.payload)
        .stdout(spec.stdout)
        .stderr(spec.stderr)
        .allow_ip_name_lookup(false)
        // The hook's folder and the standard library are local, read-only
        // and small: opening or reading one of their files on the run's own
        // thread is quicker than a hop to tokio's blocking pool and back.
        .allow_blocking_current_thread(true)
        .preopened_dir(spec.hook_dir, HOOK_DIR_GUEST, FsPerms::ReadOnly)?;
    if let Some(python) = spec.python {
        let perms = if python.stdlib_writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder.preopened_dir(python.stdlib, STDLIB_DIR_GUEST, perms)?;
        if let Some(bytecode) = python.hook_bytecode {
            let perms = if python.hook_bytecode_writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder.preopened_dir(bytecode, HOOK_BYTECODE_DIR_GUEST, perms)?;
        }
        for mount in SOURCE_MOUNTS {
            builder.preopened_dir(
                python.sources.join(mount),
                format!("/{mount}"),
                FsPerms::ReadOnly,
            )?;
        }
    }
    if let Some(scratch) = spec.scratch {
        builder.preopened_dir(
            scratch,
            super::scratch::SCRATCH_DIR_GUEST,
            FsPerms::ReadWrite,
        )?;
    }
    if let Some(view) = spec.ca_bundle {
        builder.preopened_dir(view.dir.path(), &view.guest_dir, FsPerms::ReadOnly)?;
    }
    let check = spec.sockets;
    builder
        .allow_tcp(true)
        .allow_udp(true)
        .socket_addr_check(move |address, usage| {
            let allowed = check.check(address, usage);
            Box::pin(async move { allowed })
        });
    for (name, value) in spec.env {
        builder.env(name, value);
    }
    Ok(builder.build())
}
