//! Files `hookbox test` reads from the runbooks repository under test, which
//! may come from anyone who can open a pull request: each must resolve (links
//! followed) inside the repository, so that a fixture, payload or settings
//! file that is a symlink to a host file cannot bring that file's contents
//! into a hook's payload or an error message.

use std::path::{Path, PathBuf};

use hookbox_source::regular_file::{self, RegularFileError};

/// The largest repository file `hookbox test` reads (fixtures, payloads,
/// settings).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A repository file that resolves outside the repository.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} resolves to {resolved}, outside the repository {root}; \
     a repository's files must be inside it (copy the file in instead of linking to it)"
)]
pub struct OutsideRepository {
    /// The file as named.
    pub path: PathBuf,
    /// Where it resolves to.
    pub resolved: PathBuf,
    /// The repository.
    pub root: PathBuf,
}

/// `path` resolved, when it lies inside `root`. A path that does not exist
/// is returned as given, for the caller's read to report.
pub fn inside(root: &Path, path: &Path) -> Result<PathBuf, OutsideRepository> {
    let (Ok(root), Ok(resolved)) = (root.canonicalize(), path.canonicalize()) else {
        return Ok(path.to_path_buf());
    };
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(OutsideRepository {
            path: path.to_path_buf(),
            resolved,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_out_of_the_repository_is_refused_and_one_inside_is_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "token").unwrap();
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join("real.json"), "{}").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), repo.path().join("out.json"))
            .unwrap();
        std::os::unix::fs::symlink("real.json", repo.path().join("in.json")).unwrap();
        assert!(inside(repo.path(), &repo.path().join("out.json")).is_err());
        let followed = inside(repo.path(), &repo.path().join("in.json")).unwrap();
        assert!(followed.ends_with("real.json"));
    }
}

/// Why a repository file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryFileError {
    /// It resolves outside the repository.
    #[error(transparent)]
    Outside(#[from] OutsideRepository),
    /// It is not a regular file (a FIFO, a device, a folder).
    #[error("{path} is not a regular file")]
    NotAFile {
        /// The file as named.
        path: PathBuf,
    },
    /// It is larger than [`MAX_FILE_BYTES`].
    #[error("{path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge {
        /// The file as named.
        path: PathBuf,
    },
    /// It cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file as named.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Reads the repository file `path`: it must resolve inside `root`, be a
/// regular file (opened without blocking, then judged by what was opened)
/// and hold at most [`MAX_FILE_BYTES`].
pub fn read(root: &Path, path: &Path) -> Result<Vec<u8>, RepositoryFileError> {
    let resolved = inside(root, path)?;
    regular_file::read(&resolved, MAX_FILE_BYTES).map_err(|error| match error {
        RegularFileError::NotAFile => RepositoryFileError::NotAFile {
            path: path.to_path_buf(),
        },
        RegularFileError::TooLarge { .. } => RepositoryFileError::TooLarge {
            path: path.to_path_buf(),
        },
        RegularFileError::Io(source) => RepositoryFileError::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

hookbox_core::failure::categorized!(Usage: OutsideRepository, RepositoryFileError);
