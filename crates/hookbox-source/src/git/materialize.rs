//! Copies a commit's `hoop-hooks/` out of git into a plain directory, refusing
//! what a hook folder must not contain: files over 1 MiB (as Hoop does),
//! symlinks that are absolute or lead outside `hoop-hooks/`, names that are
//! not plain (`..`, separators, non-UTF-8) and submodules. Symlinks that stay
//! inside become copies of what they point to, so the snapshot holds no links.
//!
//! A commit is cheap to make huge (git stores a blob or tree once however often
//! it is listed), so the copy is held to budgets before anything is written:
//! at most [`MAX_ENTRIES`] entries, [`MAX_DEPTH`] folders deep and
//! [`MAX_TOTAL_BYTES`] in all; a commit over them is refused whole.

use std::fs;
use std::path::{Component, Path, PathBuf};

use gix::objs::tree::EntryKind;

use super::snapshot::Refused;
use crate::MAX_HOOK_FILE_BYTES;
use crate::hook_folder::{MAX_DEPTH, MAX_ENTRIES};

/// The most bytes a snapshot's `hoop-hooks/` may hold.
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;

/// The folder of the repository that holds hooks.
pub const HOOKS_FOLDER: &str = "hoop-hooks";

/// Files and refusals of one materialization.
#[derive(Debug, Default)]
pub struct Materialized {
    /// Files written, relative to `hoop-hooks/`.
    pub files: Vec<String>,
    /// Entries left out, with the reason.
    pub refused: Vec<Refused>,
    /// Entries seen and bytes written so far, held to the budgets.
    entries: usize,
    bytes: u64,
}

impl Materialized {
    fn refuse(&mut self, path: &str, reason: &str) {
        self.refused.push(Refused {
            path: path.to_owned(),
            reason: reason.to_owned(),
        });
    }
}

/// Writes `commit`'s `hoop-hooks/` into `out/hoop-hooks/`. A commit without
/// the folder gives an empty one: a repository without hooks has no hooks.
pub fn materialize(
    repo: &gix::Repository,
    commit: &gix::Commit<'_>,
    out: &Path,
) -> Result<Materialized, String> {
    let root = commit
        .tree()
        .map_err(|e| format!("reading the commit's tree: {e}"))?;
    let target = out.join(HOOKS_FOLDER);
    fs::create_dir_all(&target).map_err(|e| e.to_string())?;
    let mut result = Materialized::default();
    let Some(entry) = root
        .lookup_entry_by_path(HOOKS_FOLDER)
        .map_err(|e| format!("looking for {HOOKS_FOLDER}/: {e}"))?
    else {
        return Ok(result);
    };
    if entry.mode().kind() != EntryKind::Tree {
        result.refused.push(Refused {
            path: String::new(),
            reason: format!("{HOOKS_FOLDER} is not a folder"),
        });
        return Ok(result);
    }
    let hooks_tree = repo
        .find_tree(entry.object_id())
        .map_err(|e| e.to_string())?;
    walk(
        repo,
        &hooks_tree,
        &hooks_tree,
        Path::new(""),
        &target,
        &mut result,
    )?;
    result.files.sort();
    Ok(result)
}

fn walk(
    repo: &gix::Repository,
    hooks_root: &gix::Tree<'_>,
    tree: &gix::Tree<'_>,
    relative: &Path,
    out: &Path,
    result: &mut Materialized,
) -> Result<(), String> {
    if relative.components().count() > MAX_DEPTH {
        return Err(format!(
            "{HOOKS_FOLDER}/ nests folders deeper than {MAX_DEPTH}; the commit is not used"
        ));
    }
    for entry in tree.iter() {
        let entry =
            entry.map_err(|e| format!("reading {HOOKS_FOLDER}/{}: {e}", relative.display()))?;
        result.entries += 1;
        if result.entries > MAX_ENTRIES {
            return Err(format!(
                "{HOOKS_FOLDER}/ holds more than {MAX_ENTRIES} entries; the commit is not used"
            ));
        }
        let name = entry.filename();
        let shown = relative.join(String::from_utf8_lossy(name).as_ref());
        let shown = shown.to_string_lossy().into_owned();
        let Ok(name) = std::str::from_utf8(name) else {
            result.refuse(&shown, "the name is not UTF-8");
            continue;
        };
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            result.refuse(&shown, "the name is not a plain file name");
            continue;
        }
        let path = relative.join(name);
        match entry.mode().kind() {
            EntryKind::Tree => {
                fs::create_dir_all(out.join(&path)).map_err(|e| e.to_string())?;
                let subtree = repo
                    .find_tree(entry.object_id())
                    .map_err(|e| e.to_string())?;
                walk(repo, hooks_root, &subtree, &path, out, result)?;
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                copy_blob(repo, entry.object_id(), &path, out, result)?;
            }
            EntryKind::Link => {
                let target = repo
                    .find_blob(entry.object_id())
                    .map_err(|e| e.to_string())?;
                let target = String::from_utf8_lossy(&target.data).into_owned();
                match resolve_link(relative, &target) {
                    Some(inside) => match hooks_root.lookup_entry_by_path(&inside).ok().flatten() {
                        Some(found)
                            if matches!(
                                found.mode().kind(),
                                EntryKind::Blob | EntryKind::BlobExecutable
                            ) =>
                        {
                            copy_blob(repo, found.object_id(), &path, out, result)?;
                        }
                        _ => result.refuse(
                            &shown,
                            "a symlink that does not lead to a file inside hoop-hooks/",
                        ),
                    },
                    None => result.refuse(
                        &shown,
                        &format!("a symlink to {target:?}, outside hoop-hooks/"),
                    ),
                }
            }
            EntryKind::Commit => result.refuse(&shown, "a submodule"),
        }
    }
    Ok(())
}

fn copy_blob(
    repo: &gix::Repository,
    id: gix::ObjectId,
    path: &Path,
    out: &Path,
    result: &mut Materialized,
) -> Result<(), String> {
    let size = repo.find_header(id).map_err(|e| e.to_string())?.size();
    if size > MAX_HOOK_FILE_BYTES {
        let shown = path.to_string_lossy().into_owned();
        result.refuse(
            &shown,
            &format!("{size} bytes, over the {MAX_HOOK_FILE_BYTES}-byte limit"),
        );
        return Ok(());
    }
    result.bytes += size;
    if result.bytes > MAX_TOTAL_BYTES {
        return Err(format!(
            "{HOOKS_FOLDER}/ holds more than {MAX_TOTAL_BYTES} bytes; the commit is not used"
        ));
    }
    let blob = repo.find_blob(id).map_err(|e| e.to_string())?;
    fs::write(out.join(path), &blob.data).map_err(|e| e.to_string())?;
    result.files.push(path.to_string_lossy().into_owned());
    Ok(())
}

/// Resolves a relative symlink target against the link's folder, staying
/// inside `hoop-hooks/`; `None` for absolute targets or ones that escape.
fn resolve_link(link_dir: &Path, target: &str) -> Option<PathBuf> {
    let target = Path::new(target);
    if target.is_absolute() {
        return None;
    }
    let mut resolved: Vec<&std::ffi::OsStr> = link_dir.iter().collect();
    for component in target.components() {
        match component {
            Component::Normal(part) => resolved.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(resolved.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_or_not_at_all() {
        assert_eq!(
            resolve_link(Path::new(""), "helpers.py"),
            Some(PathBuf::from("helpers.py"))
        );
        assert_eq!(
            resolve_link(Path::new("lib"), "../helpers.py"),
            Some(PathBuf::from("helpers.py"))
        );
        assert_eq!(resolve_link(Path::new(""), "../secrets.env"), None);
        assert_eq!(resolve_link(Path::new("lib"), "../../x"), None);
        assert_eq!(resolve_link(Path::new(""), "/etc/passwd"), None);
    }
}
