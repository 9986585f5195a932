//! Where hooks come from: a hook file on the local file system, or the
//! operator's runbooks git repository ([`git`]).

pub mod git;
mod hook_file;
pub mod hook_folder;
pub mod regular_file;

pub use hook_file::{HookFile, HookFileError, HookKind, HookSource, MAX_HOOK_FILE_BYTES};
