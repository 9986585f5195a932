//! `hookbox init`: a runbooks repository layout that passes `hookbox test`
//! out of the box: two hooks forwarding to a SIEM, fixtures for both, and the
//! policy they need.

use std::path::{Path, PathBuf};

/// The files written, relative to the target folder.
const FILES: &[(&str, &str)] = &[
    ("README.md", include_str!("scaffold/README.md")),
    ("hookbox.toml", include_str!("scaffold/hookbox.toml")),
    (
        "hoop-hooks/session-open.runbook.py",
        include_str!("scaffold/session-open.runbook.py"),
    ),
    (
        "hoop-hooks/session-close.runbook.py",
        include_str!("scaffold/session-close.runbook.py"),
    ),
    (
        "hoop-hooks/tests/session-open-production.toml",
        include_str!("scaffold/session-open-production.toml"),
    ),
    (
        "hoop-hooks/tests/session-close-siem-down.toml",
        include_str!("scaffold/session-close-siem-down.toml"),
    ),
];

/// Why the layout was not written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// Files that would be overwritten exist; nothing was written.
    #[error("{} already exist{}; nothing was written (choose an empty folder)", .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "), if .0.len() == 1 { "s" } else { "" })]
    Exists(Vec<PathBuf>),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Writes the layout into `dir` (created if needed) and returns the files
/// written. Refuses, writing nothing, if any of them exists.
pub fn init(dir: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    let targets: Vec<PathBuf> = FILES.iter().map(|(path, _)| dir.join(path)).collect();
    let existing: Vec<PathBuf> = targets.iter().filter(|p| p.exists()).cloned().collect();
    if !existing.is_empty() {
        return Err(ScaffoldError::Exists(existing));
    }
    for (target, (_, contents)) in targets.iter().zip(FILES) {
        let write = || -> std::io::Result<()> {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(target, contents)
        };
        write().map_err(|source| ScaffoldError::Write {
            path: target.clone(),
            source,
        })?;
    }
    Ok(targets)
}

hookbox_core::failure::categorized!(Usage: ScaffoldError);
