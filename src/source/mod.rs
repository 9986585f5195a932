//! Where hooks come from. Today: a hook file on the local file system.

mod hook_file;

pub use hook_file::{HookFile, HookFileError, MAX_HOOK_FILE_BYTES};
