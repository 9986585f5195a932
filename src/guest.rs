//! The guest programs shipped inside the hookbox binary, built by `build.rs`
//! from `guest-sdk/python/` and handed to the runtime: the Python runner
//! component, the pure-Python standard library, the runner's and SDK's
//! sources and the scripts that compile bytecode.

use crate::runtime::guest::Guest;

/// The guests embedded in this binary.
pub static GUEST: Guest = Guest {
    runner_component_zst: include_bytes!(concat!(env!("OUT_DIR"), "/runner.wasm.zst")),
    runner_hash: include_str!(concat!(env!("OUT_DIR"), "/runner.hash")),
    python_version: include_str!(concat!(env!("OUT_DIR"), "/python-version")),
    stdlib_tar_zst: include_bytes!(concat!(env!("OUT_DIR"), "/python-lib.tar.zst")),
    stdlib_hash: include_str!(concat!(env!("OUT_DIR"), "/python-lib.hash")),
    sources_tar: include_bytes!(concat!(env!("OUT_DIR"), "/guest-sources.tar")),
    compile_stdlib: include_str!("../guest-sdk/python/bytecode/compile_stdlib.py"),
    compile_hook_folder: include_str!("../guest-sdk/python/bytecode/compile_hook_folder.py"),
};
