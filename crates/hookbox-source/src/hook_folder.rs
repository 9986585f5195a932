//! The check a local hook folder passes before the sandbox mounts it: only
//! regular files, folders and symlinks, a bounded number of them, each
//! named in UTF-8.
//!
//! A FIFO, socket or device would be opened and read by a host call that no
//! wall clock can interrupt (wasmtime-wasi's file calls block the thread they
//! run on), so one `mkfifo` in a runbooks folder could hold a run, and a
//! service's worker, for as long as nobody writes to it. Symlinks are left
//! to the sandbox's own file layer, which follows them only inside the
//! mounted folder; what they lead to inside is itself an entry checked here.
//! Snapshots of the git source are written by hookbox as regular files only
//! (`source::git::materialize`) and pass trivially.
//!
//! The walk also identifies the folder's Python sources (packages copied
//! next to the hook), for the bytecode hookbox keeps of them
//! (`runtime::hook_bytecode`).

use std::fs::{FileType, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Entries a hook folder may hold, counting those of its subfolders: enough
/// for packages copied next to a hook, and a bound on the walk for a hook
/// placed in a crowded folder.
pub const MAX_ENTRIES: usize = 20_000;

/// Folder depth below the hook's folder that is checked and allowed.
pub const MAX_DEPTH: usize = 32;

/// Why a hook folder cannot be mounted.
#[derive(Debug, thiserror::Error)]
pub enum FolderEntryError {
    /// An entry that is not a regular file, folder or symlink.
    #[error(
        "the hook's folder holds {path}, {kind}: the sandbox mounts only regular files and \
         folders; remove it, or keep the hook in a folder of its own"
    )]
    Special {
        /// The entry.
        path: PathBuf,
        /// What it is ("a FIFO", ...).
        kind: &'static str,
    },
    /// An entry whose name is not UTF-8: the sandbox's file layer cannot
    /// list a folder holding one, so every import from it would fail.
    #[error(
        "the hook's folder holds {}, whose name is not UTF-8: the sandbox cannot list a folder \
         with such a name in it (every import from the folder would fail); rename it",
        path.display()
    )]
    NotUtf8Name {
        /// The entry.
        path: PathBuf,
    },
    /// Too many entries, or too deep, to check.
    #[error(
        "the hook's folder {folder} holds more than {MAX_ENTRIES} entries or folders nested \
         deeper than {MAX_DEPTH}; keep the hook in a folder of its own"
    )]
    TooBig {
        /// The hook's folder.
        folder: PathBuf,
    },
    /// The folder could not be listed.
    #[error("cannot list the hook's folder {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The Python sources of a hook folder, as found by [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PythonSources {
    /// How many `.py` files the folder holds, the hook's own included.
    pub files: usize,
    /// SHA-256 over each one's path in the folder and the identity of the
    /// version of it that is there: device, inode, size, and modification
    /// and change times in nanoseconds. The change time is set by the
    /// kernel on every write and cannot be set back, so no other content
    /// can take the identity of a file that was compiled.
    pub identity: [u8; 32],
    /// The same over the sources a package may import
    /// ([`is_importable_source`]): the hooks themselves are left out, so
    /// editing a hook keeps its packages' version.
    pub packages_identity: [u8; 32],
}

/// Whether the `.py` file at `relative` (a path in a hook folder) can be
/// imported as a module: not a file at the top whose name is no Python
/// identifier (`session-open.runbook.py`, a hook).
pub fn is_importable_source(relative: &Path) -> bool {
    let mut components = relative.components();
    let (Some(first), None) = (components.next(), components.next()) else {
        return true;
    };
    let stem = Path::new(first.as_os_str())
        .file_stem()
        .and_then(|stem| stem.to_str());
    stem.is_some_and(is_identifier)
}

/// Whether `name` is a Python identifier (ASCII only: a module name in a
/// package is almost always, and the rule only decides what is left out).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Checks every entry under `folder` (symlinks are not followed) and
/// identifies its Python sources.
pub fn check(folder: &Path) -> Result<PythonSources, FolderEntryError> {
    let mut pending = vec![(folder.to_path_buf(), 0usize)];
    let mut seen = 0usize;
    let mut python = Vec::new();
    while let Some((dir, depth)) = pending.pop() {
        // A subfolder that cannot be listed is refused too: its entries can
        // still be opened by name if it can be searched.
        let entries = std::fs::read_dir(&dir).map_err(|source| FolderEntryError::Io {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| FolderEntryError::Io {
                path: dir.clone(),
                source,
            })?;
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(FolderEntryError::TooBig {
                    folder: folder.to_path_buf(),
                });
            }
            if entry.file_name().to_str().is_none() {
                return Err(FolderEntryError::NotUtf8Name { path: entry.path() });
            }
            let file_type = entry.file_type().map_err(|source| FolderEntryError::Io {
                path: entry.path(),
                source,
            })?;
            if file_type.is_dir() {
                if depth + 1 > MAX_DEPTH {
                    return Err(FolderEntryError::TooBig {
                        folder: folder.to_path_buf(),
                    });
                }
                pending.push((entry.path(), depth + 1));
            } else if let Some(kind) = special_kind(file_type) {
                return Err(FolderEntryError::Special {
                    path: entry.path(),
                    kind,
                });
            } else if entry.path().extension().is_some_and(|e| e == "py") {
                // What a symlink leads to is what gets imported.
                if let Ok(metadata) = std::fs::metadata(entry.path()) {
                    python.push((entry.path(), metadata));
                }
            }
        }
    }
    Ok(identify(folder, python))
}

/// The identity of the Python sources found under `folder`.
fn identify(folder: &Path, mut files: Vec<(PathBuf, Metadata)>) -> PythonSources {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut listing = Vec::new();
    let mut packages = Vec::new();
    for (path, metadata) in &files {
        let relative = path.strip_prefix(folder).unwrap_or(path);
        let start = listing.len();
        listing.extend_from_slice(relative.as_os_str().as_encoded_bytes());
        listing.push(0);
        for number in [
            metadata.dev(),
            metadata.ino(),
            metadata.size(),
            metadata.mtime() as u64,
            metadata.mtime_nsec() as u64,
            metadata.ctime() as u64,
            metadata.ctime_nsec() as u64,
        ] {
            listing.extend_from_slice(&number.to_le_bytes());
        }
        if is_importable_source(relative) {
            packages.extend_from_slice(&listing[start..]);
        }
    }
    PythonSources {
        files: files.len(),
        identity: hookbox_crypto::digest::sha256(&listing),
        packages_identity: hookbox_crypto::digest::sha256(&packages),
    }
}

/// What an entry is when it is neither a regular file, a folder nor a symlink.
fn special_kind(file_type: FileType) -> Option<&'static str> {
    if file_type.is_file() || file_type.is_dir() || file_type.is_symlink() {
        None
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_socket() {
        Some("a Unix socket")
    } else if file_type.is_char_device() || file_type.is_block_device() {
        Some("a device")
    } else {
        Some("neither a file nor a folder")
    }
}

hookbox_core::failure::categorized!(Usage: FolderEntryError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_folders_and_links_pass() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/helper.py"), "x = 1\n").unwrap();
        std::os::unix::fs::symlink("lib/helper.py", dir.path().join("link.py")).unwrap();
        assert_eq!(check(dir.path()).unwrap().files, 2);
    }

    #[test]
    fn any_change_to_a_python_source_changes_the_identity() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg/mod.py"), "x = 1\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "a").unwrap();
        let first = check(dir.path()).unwrap();
        assert_eq!(first, check(dir.path()).unwrap(), "stable");
        std::fs::write(dir.path().join("notes.txt"), "b").unwrap();
        assert_eq!(
            first,
            check(dir.path()).unwrap(),
            "only Python sources count"
        );
        // Replaced by a file of the same size and modification time: a
        // different file (inode) all the same.
        let source = dir.path().join("pkg/mod.py");
        let modified = std::fs::metadata(&source).unwrap().modified().unwrap();
        let replacement = dir.path().join("pkg/new.tmp");
        std::fs::write(&replacement, "x = 2\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&replacement)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        std::fs::rename(&replacement, &source).unwrap();
        assert_ne!(first.identity, check(dir.path()).unwrap().identity);
    }

    #[test]
    fn a_socket_deep_inside_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        let socket = dir.path().join("a/b/s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        match check(dir.path()) {
            Err(FolderEntryError::Special { path, kind }) => {
                assert_eq!(path, socket);
                assert_eq!(kind, "a Unix socket");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_folder_too_deep_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let deep: PathBuf = (0..=MAX_DEPTH).map(|i| format!("d{i}")).collect();
        std::fs::create_dir_all(dir.path().join(deep)).unwrap();
        assert!(matches!(
            check(dir.path()),
            Err(FolderEntryError::TooBig { .. })
        ));
    }
}
