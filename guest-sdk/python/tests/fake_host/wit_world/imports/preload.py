"""Fake ``hookbox:runner/preload``: serves ``files`` (path -> bytes) and
the folders they imply."""

from dataclasses import dataclass

files: "dict[str, bytes]" = {}
calls: "list[tuple[str, str]]" = []


@dataclass
class FileStatus:
    size: int
    modified_ns: int
    is_folder: bool


def _folders() -> "set[str]":
    found = set()
    for path in files:
        parts = path.split("/")
        for end in range(2, len(parts)):
            found.add("/".join(parts[:end]))
    return found


def status(path):
    calls.append(("status", path))
    if path in files:
        return FileStatus(len(files[path]), 1, False)
    if path in _folders():
        return FileStatus(0, 1, True)
    return None


def read_file(path):
    calls.append(("read", path))
    return files.get(path)


def list_folder(path):
    calls.append(("list", path))
    if path not in _folders():
        return None
    prefix = path.rstrip("/") + "/"
    return sorted({p[len(prefix):].split("/")[0] for p in [*files, *_folders()] if p.startswith(prefix)})


def importing(module):
    calls.append(("importing", module))
