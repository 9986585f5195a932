"""Imports from the hook's own folder: packages copied next to the hook load
from the bytecode hookbox compiled of them, and a native extension, which
cannot load here, is named in the error.

hookbox compiles the folder's ``.py`` files once per version of them (outside
the hook's reach) and mounts the result read-only at ``BYTECODE``, laid out as
``BYTECODE`` + the ``__pycache__`` path CPython would use beside each source.
The files are checked hash-based ``.pyc``: CPython compares each with its
source on import and compiles the source instead when they differ.
"""

from __future__ import annotations

import os
import sys
from importlib import _bootstrap_external
from typing import Any

HOOK_FOLDER = "/hook/"
BYTECODE = "/hook-bytecode"

_cache_from_source = _bootstrap_external.cache_from_source


def bytecode_location(source: str) -> str:
    """Where the bytecode of ``source`` (a file under the hook's folder) is."""
    head, _, tail = source.rpartition("/")
    stem = tail.rpartition(".")[0] or tail
    return f"{BYTECODE}{head}/__pycache__/{stem}.{sys.implementation.cache_tag}.pyc"


def cache_from_source(path: Any, debug_override: Any = None, *, optimization: Any = None) -> str:
    """The import system's ``cache_from_source``, pointing files under the
    hook's folder to the bytecode hookbox compiled."""
    text = os.path.abspath(os.fspath(path))
    if text.startswith(HOOK_FOLDER) and debug_override is None and optimization is None and not sys.flags.optimize:
        return bytecode_location(text)
    return _cache_from_source(path, debug_override, optimization=optimization)


_NATIVE_SUFFIXES = (".so", ".pyd", ".dylib")


STDLIB = "/python"

# Each folder's listing, as first read in this run (every run starts from
# the runner's snapshot, where it is empty; the folders are read-only).
_listings: "dict[str, list[str]]" = {}


def _listing(folder: str) -> "list[str]":
    if folder not in _listings:
        try:
            _listings[folder] = os.listdir(folder)
        except (OSError, TypeError):
            _listings[folder] = []
    return _listings[folder]


class NativeExtensionFinder:
    """Last on ``sys.meta_path``: for a module no other finder found, looks
    for a native extension of that name and, if there is one, says why it
    cannot load. (The standard library here has none.)"""

    @classmethod
    def find_spec(cls, fullname: str, path: Any = None, target: Any = None) -> None:
        name = fullname.rpartition(".")[2]
        for entry in path if path is not None else sys.path:
            if not isinstance(entry, str) or entry == STDLIB or entry.startswith(STDLIB + "/"):
                continue
            for file in _listing(entry or "."):
                if file.startswith(name + ".") and file.endswith(_NATIVE_SUFFIXES):
                    found = os.path.join(entry or ".", file)
                    raise ModuleNotFoundError(
                        f"{fullname} is a native extension ({found}), which cannot load in "
                        f"hookbox's sandbox: its Python runs as WebAssembly. Use a pure-Python "
                        f"build of the package (a py3-none-any wheel: pip install --target DIR "
                        f"--only-binary :all: --platform any ...), or one that falls back to "
                        f"Python without it",
                        name=fullname,
                        path=found,
                    )
        return None


class MissingBuiltinFinder:
    """First on ``sys.meta_path``: modules ``python3`` has built in on Linux,
    which this interpreter lacks, fail to import at once. ``python3`` never
    looks for them in the hook's folder (its built-in module comes first),
    so neither does hookbox; and ``os.path.expanduser``, which tries
    ``import pwd`` on each call when ``HOME`` is not set (a hook's
    environment has only what the operator passes), does not search two
    folders for it every time."""

    NAMES = frozenset({"pwd"}) - frozenset(sys.builtin_module_names)

    @classmethod
    def find_spec(cls, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname in cls.NAMES:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def install() -> None:
    """Points the hook folder's imports to hookbox's bytecode and names
    native extensions that cannot load."""
    _bootstrap_external.cache_from_source = cache_from_source
    if not any(finder is NativeExtensionFinder for finder in sys.meta_path):
        sys.meta_path.append(NativeExtensionFinder)
    if not any(finder is MissingBuiltinFinder for finder in sys.meta_path):
        sys.meta_path.insert(0, MissingBuiltinFinder)
