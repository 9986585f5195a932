//! A hook file on the local file system, checked before it is run: it must
//! exist and be a regular file of at most 1 MiB (as Hoop enforces); a Python
//! hook must be UTF-8, a `.wasm` hook is a compiled WASI command component.
//!
//! The folder the sandbox mounts is the one the path names, never one a
//! symlink leads to: a hook file that is a symlink must resolve inside that
//! folder, and the folder may hold only regular files, folders and symlinks
//! (which the sandbox follows only inside it), never a FIFO, socket or device
//! whose open or read could block past the wall clock ([`super::hook_folder`]).

use std::path::{Path, PathBuf};

use super::hook_folder::{self, FolderEntryError, PythonSources};
use super::regular_file::{self, RegularFileError};
use hookbox_record::Provenance;

/// The largest hook file accepted, as in Hoop.
pub const MAX_HOOK_FILE_BYTES: u64 = 1024 * 1024;

/// A hook file that passed the checks. Its directory is what the sandbox
/// mounts read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookFile {
    dir: PathBuf,
    file_name: String,
    kind: HookKind,
    source: HookSource,
    python_sources: PythonSources,
    provenance: Option<Provenance>,
}

/// A hook file's bytes as read when it was checked: what the run runs (the
/// Python runner asks the host for the source; a compiled hook is compiled
/// from them), so the code that runs, and the key its compiled code is kept
/// under, are those of the file checked.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HookSource(std::sync::Arc<[u8]>);

impl HookSource {
    /// The bytes (UTF-8 for a Python hook).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, shared.
    pub fn shared(&self) -> &std::sync::Arc<[u8]> {
        &self.0
    }
}

impl From<&[u8]> for HookSource {
    fn from(bytes: &[u8]) -> HookSource {
        HookSource(bytes.into())
    }
}

impl std::fmt::Debug for HookSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HookSource({} bytes)", self.0.len())
    }
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
    /// The hook file is a symlink to a file outside its own folder, which
    /// the sandbox would otherwise mount in its place.
    #[error(
        "hook file {path} is a symlink to {target}, outside the hook's folder {folder}; \
         copy the file into the folder instead of linking to it"
    )]
    SymlinkOutside {
        /// The path given.
        path: PathBuf,
        /// Where the link leads.
        target: PathBuf,
        /// The folder the sandbox would mount.
        folder: PathBuf,
    },
    /// The hook's folder lies outside the runbooks folder it was looked up in
    /// (`hoop-hooks` is a symlink leading elsewhere).
    #[error(
        "the hook folder {folder} resolves to {resolved}, outside the runbooks folder {root}; \
         make hoop-hooks a real folder inside it"
    )]
    FolderOutside {
        /// The hook's folder as named.
        folder: PathBuf,
        /// Where it resolves to.
        resolved: PathBuf,
        /// The runbooks folder.
        root: PathBuf,
    },
    /// The hook's folder holds something the sandbox must not mount.
    #[error(transparent)]
    Folder(#[from] FolderEntryError),
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
    /// Checks the hook file at `path`; the sandbox mounts the folder `path`
    /// names.
    pub fn open(path: &Path) -> Result<HookFile, HookFileError> {
        HookFile::open_checked(path, None)
    }

    /// [`HookFile::open`] for a hook looked up inside the runbooks folder
    /// `root`: the hook's folder must resolve inside `root` too.
    pub fn open_within(root: &Path, path: &Path) -> Result<HookFile, HookFileError> {
        HookFile::open_checked(path, Some(root))
    }

    fn open_checked(path: &Path, root: Option<&Path>) -> Result<HookFile, HookFileError> {
        let io = |source: std::io::Error| io_error(path, source);
        let named_folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let folder = named_folder.canonicalize().map_err(io)?;
        if let Some(root) = root {
            let root = root.canonicalize().map_err(io)?;
            if !folder.starts_with(&root) {
                return Err(HookFileError::FolderOutside {
                    folder: named_folder.to_path_buf(),
                    resolved: folder,
                    root,
                });
            }
        }
        let link_name = path.file_name().ok_or_else(|| HookFileError::NotAFile {
            path: path.to_path_buf(),
        })?;
        let named = folder.join(link_name);
        let resolved = named.canonicalize().map_err(io)?;
        let Some(relative) = resolved
            .strip_prefix(&folder)
            .ok()
            .filter(|inside| !inside.as_os_str().is_empty())
        else {
            return Err(HookFileError::SymlinkOutside {
                path: path.to_path_buf(),
                target: resolved,
                folder,
            });
        };
        let file_name = relative
            .to_str()
            .ok_or_else(|| HookFileError::BadName {
                path: path.to_path_buf(),
            })?
            .to_owned();
        let bytes = match regular_file::read(&resolved, MAX_HOOK_FILE_BYTES) {
            Ok(bytes) => bytes,
            Err(RegularFileError::NotAFile) => {
                return Err(HookFileError::NotAFile {
                    path: path.to_path_buf(),
                });
            }
            Err(RegularFileError::TooLarge { size }) => {
                return Err(HookFileError::TooLarge {
                    path: path.to_path_buf(),
                    size,
                });
            }
            Err(RegularFileError::Io(error)) => return Err(io(error)),
        };
        // The file first: a path that names no hook file is refused as such
        // whatever folder it is in.
        let python_sources = hook_folder::check(&folder)?;
        let kind = HookKind::of(&file_name);
        if kind == HookKind::Python
            && let Err(error) = std::str::from_utf8(&bytes)
        {
            return Err(HookFileError::NotUtf8 {
                path: path.to_path_buf(),
                offset: error.valid_up_to(),
            });
        }
        let source = HookSource(bytes.into());
        Ok(HookFile {
            dir: folder,
            file_name,
            kind,
            source,
            python_sources,
            provenance: None,
        })
    }

    /// The same hook, taken from a commit of the runbooks repository.
    pub fn from_commit(self, provenance: Provenance) -> HookFile {
        HookFile {
            provenance: Some(provenance),
            ..self
        }
    }

    /// The commit the hook was taken from, when it came from git.
    pub fn provenance(&self) -> Option<&Provenance> {
        self.provenance.as_ref()
    }

    /// The same folder running `source` as `file_name` instead of the hook:
    /// for hookbox's own steps over a hook's folder (compiling its packages).
    pub fn substitute(&self, file_name: &str, source: &str) -> HookFile {
        HookFile {
            file_name: file_name.to_owned(),
            kind: HookKind::Python,
            source: HookSource(source.as_bytes().into()),
            ..self.clone()
        }
    }

    /// The Python sources of the hook's folder besides the hook itself
    /// (packages and modules copied next to it), if it has any.
    pub fn packages(&self) -> Option<&PythonSources> {
        let own = usize::from(self.kind == HookKind::Python);
        (self.python_sources.files > own).then_some(&self.python_sources)
    }

    /// The hook file's bytes, as read when it was checked: what runs.
    pub fn source(&self) -> &HookSource {
        &self.source
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

    /// The hook's file name, relative to [`HookFile::dir`] (a path inside
    /// it when the named file is a symlink into a subfolder).
    pub fn file_name(&self) -> &str {
        &self.file_name
    }
}

fn io_error(path: &Path, source: std::io::Error) -> HookFileError {
    match source.kind() {
        std::io::ErrorKind::NotFound => HookFileError::NotFound {
            path: path.to_path_buf(),
        },
        _ => HookFileError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

hookbox_core::failure::categorized!(Usage: HookFileError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_names_no_file_is_refused_as_such_before_its_folder_is_walked() {
        // The folder would be refused too (it holds a socket), but the
        // path's own fault is the one to report.
        let dir = tempfile::tempdir().unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("s.sock")).unwrap();
        std::fs::create_dir(dir.path().join("session-open.runbook.py")).unwrap();
        assert!(matches!(
            HookFile::open(&dir.path().join("session-open.runbook.py")),
            Err(HookFileError::NotAFile { .. })
        ));
        std::fs::write(dir.path().join("hook.py"), "print(1)\n").unwrap();
        assert!(matches!(
            HookFile::open(&dir.path().join("hook.py")),
            Err(HookFileError::Folder(_))
        ));
    }
}
