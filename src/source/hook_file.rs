//! A hook file on the local file system, checked before it is run: it must
//! exist and be a regular file of at most 1 MiB (as Hoop enforces); a Python
//! hook must be UTF-8, a `.wasm` hook is a compiled WASI command component.

use std::path::{Path, PathBuf};

/// The largest hook file accepted, as in Hoop.
pub const MAX_HOOK_FILE_BYTES: u64 = 1024 * 1024;

/// A hook file that passed the checks. Its directory is what the sandbox
/// mounts read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookFile {
    dir: PathBuf,
    file_name: String,
    kind: HookKind,
}

/// What kind of program a hook file holds, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// A Python script (`.runbook.py`, or any other name), run by the bundled
    /// CPython.
    Python,
    /// A WASI 0.2 command component (`.wasm`), run directly.
    Component,
}

impl HookKind {
    /// The kind of the file named `file_name`.
    pub fn of(file_name: &str) -> HookKind {
        if file_name.ends_with(".wasm") {
            HookKind::Component
        } else {
            HookKind::Python
        }
    }
}

/// Why a hook file cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum HookFileError {
    /// No file at that path.
    #[error("hook file {path} does not exist")]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The path is a directory or something else that is not a file.
    #[error("hook file {path} is not a regular file")]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_HOOK_FILE_BYTES`].
    #[error("hook file {path} is {size} bytes; hooks are limited to {MAX_HOOK_FILE_BYTES} bytes")]
    TooLarge {
        /// The path given.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The file's contents are not UTF-8.
    #[error(
        "hook file {path} is not valid UTF-8 (invalid byte at offset {offset}); save it as UTF-8"
    )]
    NotUtf8 {
        /// The path given.
        path: PathBuf,
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// The file name cannot be represented inside the sandbox.
    #[error("hook file {path} has a file name that is not UTF-8; rename it")]
    BadName {
        /// The path given.
        path: PathBuf,
    },
    /// Any other I/O error.
    #[error("cannot read hook file {path}: {source}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl HookFile {
    /// Checks the hook file at `path`.
    pub fn open(path: &Path) -> Result<HookFile, HookFileError> {
        let io = |source: std::io::Error| match source.kind() {
            std::io::ErrorKind::NotFound => HookFileError::NotFound {
                path: path.to_path_buf(),
            },
            _ => HookFileError::Io {
                path: path.to_path_buf(),
                source,
            },
        };
        let canonical = path.canonicalize().map_err(io)?;
        let metadata = std::fs::metadata(&canonical).map_err(io)?;
        if !metadata.is_file() {
            return Err(HookFileError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        if metadata.len() > MAX_HOOK_FILE_BYTES {
            return Err(HookFileError::TooLarge {
                path: path.to_path_buf(),
                size: metadata.len(),
            });
        }
        let file_name = canonical
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| HookFileError::BadName {
                path: path.to_path_buf(),
            })?
            .to_owned();
        let kind = HookKind::of(&file_name);
        if kind == HookKind::Python {
            let bytes = std::fs::read(&canonical).map_err(io)?;
            if let Err(error) = std::str::from_utf8(&bytes) {
                return Err(HookFileError::NotUtf8 {
                    path: path.to_path_buf(),
                    offset: error.valid_up_to(),
                });
            }
        }
        let dir = canonical
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        Ok(HookFile {
            dir,
            file_name,
            kind,
        })
    }

    /// What kind of program the hook is.
    pub fn kind(&self) -> HookKind {
        self.kind
    }

    /// The hook's full path on the host.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.file_name)
    }

    /// The directory holding the hook (absolute, symlinks resolved).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The hook's file name.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }
}

crate::failure::categorized!(Usage: HookFileError);
