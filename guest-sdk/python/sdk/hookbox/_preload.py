"""Imports a hook folder's packages into the interpreter before hookbox
snapshots it, so that each run of that version of the folder starts with
them imported.

This is hookbox's own step, run once per version of the packages and never
during a hook's run. The runner has no WASI then: every WASI call traps, so
no file, socket or clock reading can be left in the snapshot, and a package
that does anything but define things when imported (print, read the clock,
open a file) makes the step fail; its runs then import it as before. The
import system reads the files through the host's ``preload`` interface,
which serves the same read-only views a run gets: ``importlib``'s own path
finder and file loader run unchanged, over a stand-in for the ``os`` and
``io`` functions they call.

Then the standard-library modules the packages import inside their
functions (``requests`` imports ``netrc`` whenever it looks for
credentials) are imported too, under the same checks: a run that calls
such a function finds the module imported instead of reading it from the
standard library's folder.
"""

from __future__ import annotations

import codecs
import dis
import errno
import gc
import importlib
import importlib.machinery
import io
import logging
import os
import random
import socket
import stat
import sys
import types
from importlib import _bootstrap_external
from typing import Any, Iterator, NamedTuple

from hookbox import _host, _imports, _threads

HOOK_FOLDER = "/hook"


class _Status:
    """The part of ``os.stat_result`` the import system reads."""

    __slots__ = ("st_mode", "st_size", "st_mtime", "st_mtime_ns")

    def __init__(self, size: int, modified_ns: int, is_folder: bool) -> None:
        self.st_mode = (stat.S_IFDIR | 0o555) if is_folder else (stat.S_IFREG | 0o444)
        self.st_size = size
        self.st_mtime_ns = modified_ns
        self.st_mtime = modified_ns / 1e9


def _not_found(path: Any) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, "No such file or directory", path)


class _HostOs:
    """The ``os`` functions ``importlib`` calls, answered by the host; the
    rest are the real ones (pure functions, such as ``fspath``)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    @staticmethod
    def stat(path: Any, *args: Any, **kwargs: Any) -> _Status:
        found = _host.preload_status(str(path))
        if found is None:
            raise _not_found(path)
        return _Status(*found)

    @staticmethod
    def listdir(path: Any = ".") -> list[str]:
        names = _host.preload_list(str(path))
        if names is None:
            raise _not_found(path)
        return names

    @staticmethod
    def getcwd() -> str:
        return HOOK_FOLDER


class _HostIo:
    """The ``io`` functions ``importlib``'s file loader calls, answered by
    the host."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    @staticmethod
    def open_code(path: str) -> io.BytesIO:
        data = _host.preload_read(str(path))
        if data is None:
            raise _not_found(path)
        return io.BytesIO(data)

    @staticmethod
    def FileIO(path: Any, mode: str = "r") -> io.BytesIO:  # noqa: N802 - io's name
        return _HostIo.open_code(path)


class _EnvironmentReads:
    """Notes reads of ``os.environ`` while a package imports: the snapshot
    has no run's environment to give it, so such a package imports on every
    run instead, where it reads the run's."""

    _METHODS = ("__getitem__", "__iter__", "__len__", "__contains__", "copy", "__repr__")

    def __init__(self) -> None:
        self.read = False
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> "_EnvironmentReads":
        cls = type(os.environ)
        for name in self._METHODS:
            original = cls.__dict__.get(name)
            if original is None:
                continue
            self._saved[name] = original
            setattr(cls, name, self._noting(original))
        return self

    def _noting(self, original: Any) -> Any:
        def noted(*args: Any, **kwargs: Any) -> Any:
            self.read = True
            return original(*args, **kwargs)

        return noted

    def __exit__(self, *_: object) -> None:
        cls = type(os.environ)
        for name, original in self._saved.items():
            setattr(cls, name, original)


class _Network:
    """``socket.socket`` while packages import. A package that probes what
    the system can do (urllib3 binds ``::1`` to learn whether it has IPv6)
    gets what a run gets, a refused ``bind``; one that reaches out notes
    it, and imports on every run instead, where its connection is the
    run's."""

    def __init__(self) -> None:
        self.reached = False
        self.active = False
        self.real: Any = None
        self.socket_class: Any = None
        self._forgotten: set[str] = set()
        self._reported_classes: set[type] = set()

    def __enter__(self) -> "_Network":
        network = self

        class PreloadSocket:
            family: int
            type: int

            def __new__(cls, *args: Any, **kwargs: Any) -> Any:
                # Kept somewhere past the import, it is the real one.
                if not network.active:
                    return network.real(*args, **kwargs)
                return super().__new__(cls)

            def __init__(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM, *_: Any, **__: Any) -> None:
                self.family, self.type = family, type

            def bind(self, address: Any) -> None:
                raise PermissionError(errno.EACCES, "Permission denied")

            def _reach(self, *_: Any, **__: Any) -> Any:
                network.reached = True
                raise PermissionError(errno.EACCES, "no network while packages are imported into a snapshot")

            connect = connect_ex = sendto = send = sendall = listen = _reach

            def setsockopt(self, *_: Any) -> None:
                pass

            def settimeout(self, *_: Any) -> None:
                pass

            def fileno(self) -> int:
                return -1

            def close(self) -> None:
                pass

            def __enter__(self) -> Any:
                return self

            def __exit__(self, *_: object) -> None:
                pass

        self.socket_class = PreloadSocket
        self.real = socket.socket
        self.active = True
        socket.socket = PreloadSocket  # type: ignore[misc]
        return self

    def __exit__(self, *_: object) -> None:
        self.active = False
        socket.socket = self.real  # type: ignore[misc]

    def forget(self, names: "list[str]") -> None:
        """Counts what ``names`` kept once (their import is reported)."""
        self._forgotten.update(names)

    def kept_by(self) -> "list[str]":
        """What kept the stand-in (``from socket import socket``) or made a
        class of it (``class Proxy(socket.socket)``), not reported before."""
        made = [
            f"{cls.__module__}.{cls.__qualname__}"
            for cls in self.socket_class.__subclasses__()
            if cls not in self._reported_classes
        ]
        self._reported_classes.update(self.socket_class.__subclasses__())
        kept = [
            name
            for name, module in list(sys.modules.items())
            if name not in self._forgotten
            and module is not socket
            and any(value is self.socket_class for value in list(getattr(module, "__dict__", {}).values()))
        ]
        return sorted(kept) + made


def _identity(value: Any) -> "tuple[int, ...]":
    """What a value is, down to the code of a function or method (a
    package can swap ``__code__`` and keep the function)."""
    function = getattr(value, "__func__", value)
    return (id(value), id(function), id(getattr(function, "__code__", None)))


def _identities(namespaces: "dict[str, Any]") -> "dict[str, dict[str, tuple[int, ...]]]":
    return {
        label: {name: _identity(value) for name, value in list(vars(ns).items())}
        for label, ns in namespaces.items()
    }


def _first_change(
    before: "dict[str, dict[str, tuple[int, ...]]]",
    after: "dict[str, dict[str, tuple[int, ...]]]",
    excused: "Any" = lambda label, name, identity: False,
) -> "str | None":
    """The first ``label.name`` whose identity in ``after`` is not the one
    in ``before`` (gone or added too), unless ``excused`` says why."""
    for label, names in before.items():
        now = after.get(label, {})
        for name in sorted(set(names) | set(now)):
            if names.get(name) != now.get(name) and not (name not in names and excused(label, name, now[name])):
                return f"{label}.{name}"
    return None


def _changed(before: "dict[str, dict[str, tuple[int, ...]]]", namespaces: "dict[str, Any]") -> "str | None":
    """The first name in ``namespaces`` whose value is not what it was."""
    return _first_change(before, _identities(namespaces))


# How a type's own attributes and its method resolution order are read
# without looking anything up through the type (a package's metaclass
# could answer a lookup).
_type_namespace = type.__dict__["__dict__"].__get__
_type_mro = type.__dict__["__mro__"].__get__
_type_qualname = type.__dict__["__qualname__"].__get__


def _is_behaviour(value: Any) -> bool:
    """Whether ``value`` is code a namespace holds (a function, a class, a
    descriptor or anything callable) rather than data, such as a module's
    lazily filled cache."""
    kind = type(value)
    return any("__call__" in _type_namespace(k) or "__get__" in _type_namespace(k) for k in _type_mro(kind))


def _standard_namespaces(stdlib: str) -> "dict[str, Any]":
    """The namespaces of every standard-library module imported so far, and
    of each class such a module defines, by name."""
    namespaces: "dict[str, Any]" = {}
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] not in sys.stdlib_module_names or not _from_standard_library(module, stdlib):
            continue
        namespace = vars(module)
        namespaces[name] = namespace
        for value in list(namespace.values()):
            if issubclass(type(value), type) and _type_namespace(value).get("__module__") == name:
                namespaces[f"{name}.{_type_qualname(value)}"] = _type_namespace(value)
    return namespaces


def _behaviours(stdlib: str) -> "dict[str, dict[str, tuple[int, ...]]]":
    """What code each standard-library namespace holds under each name."""
    return {
        label: {name: _identity(value) for name, value in list(namespace.items()) if _is_behaviour(value)}
        for label, namespace in _standard_namespaces(stdlib).items()
    }


def _patched(before: "dict[str, dict[str, tuple[int, ...]]]", stdlib: str) -> "str | None":
    """The first standard-library function, class or method that is no
    longer the one ``before`` saw, or that an import added to a class or a
    module (but a submodule bound in its package, as every import of one
    does)."""
    def bound_submodule(label: str, name: str, identity: "tuple[int, ...]") -> bool:
        added = sys.modules.get(f"{label}.{name}")
        return added is not None and _identity(added) == identity

    return _first_change(before, _behaviours(stdlib), bound_submodule)


class _ProcessWideHooks:
    """Stands in for what registers code for the whole process and cannot be
    listed afterwards (audit hooks, codec search functions): while packages
    import, a call is noted and nothing registered; such a package imports
    on every run instead. After the step the stand-ins pass calls on."""

    def __init__(self) -> None:
        self.registered: "list[str]" = []
        self._active = False
        self._saved = (sys.addaudithook, codecs.register)

    def _stand_in(self, what: str, real: Any) -> Any:
        def register(*args: Any, **kwargs: Any) -> Any:
            if self._active:
                self.registered.append(what)
                return None
            return real(*args, **kwargs)

        return register

    def __enter__(self) -> "_ProcessWideHooks":
        self.registered.clear()
        self._active = True
        add_audit_hook, register_codec = self._saved
        sys.addaudithook = self._stand_in("an audit hook (sys.addaudithook)", add_audit_hook)
        codecs.register = self._stand_in("a codec search function (codecs.register)", register_codec)
        return self

    def __exit__(self, *_: object) -> None:
        self._active = False
        sys.addaudithook, codecs.register = self._saved


def _root_logger() -> "tuple[Any, ...]":
    """What every hook's logging goes through, which an import could set
    up for every hook of the folder (``logging.basicConfig``)."""
    root = logging.root
    return (list(root.handlers), list(root.filters), root.level, root.disabled)


def _left_running(threads_before: int) -> "str | None":
    """What an import left to run later, in every run on the snapshot
    (``threads_before``: the threads waiting to run before it, which an
    earlier import left and is blamed for)."""
    if len(_threads._queue) > threads_before:
        return "starts a thread"
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return "sets a trace or profile function"
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is not None and any(monitoring.get_tool(tool) is not None for tool in range(6)):
        return "registers a monitoring tool"
    return None


class Preloaded(NamedTuple):
    """What an import of a folder's packages did."""

    failed: "list[str]"
    """A line for each module that did not import or cannot be kept in a
    snapshot (``module: reason``), ``*: reason`` when none can."""
    imported_when_called: "list[str]"
    """The standard-library modules the packages import inside their
    functions, imported too."""


# Most standard-library modules imported for the packages' functions.
_MAX_IMPORTED_WHEN_CALLED = 32

# Standard-library modules that do something when imported (print, open a
# browser) or only exist for tooling: never imported ahead of a call.
_NEVER_AHEAD = frozenset({"this", "antigravity", "__hello__", "__phello__", "idlelib", "test", "tkinter", "turtle", "turtledemo"})

_IMPORT_LEVEL_OPS = frozenset({"LOAD_CONST", "LOAD_SMALL_INT"})


def _code_objects(module: types.ModuleType) -> "Iterator[types.CodeType]":
    """The code of the functions and methods ``module`` defines, and of
    what they define inside them; read from the namespaces as stored, so
    no attribute of the package runs."""
    name = module.__name__
    pending: "list[Any]" = []
    for value in list(vars(module).values()):
        if isinstance(value, type) and value.__dict__.get("__module__") == name:
            pending.extend(vars(value).values())
        else:
            pending.append(value)
    seen: "set[int]" = set()
    while pending:
        value = pending.pop()
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            pending.extend(f for f in (value.fget, value.fset, value.fdel) if f is not None)
            continue
        if isinstance(value, types.FunctionType):
            value = value.__code__
        if not isinstance(value, types.CodeType) or id(value) in seen:
            continue
        seen.add(id(value))
        yield value
        pending.extend(c for c in value.co_consts if isinstance(c, types.CodeType))


def _imports_inside(code: types.CodeType) -> "Iterator[str]":
    """The modules ``code`` imports by absolute name (``import x.y``,
    ``from x import y``), if it names a standard-library module at all."""
    if not any(name.partition(".")[0] in sys.stdlib_module_names for name in code.co_names):
        return
    instructions = list(dis.get_instructions(code))
    for at, instruction in enumerate(instructions):
        if instruction.opname != "IMPORT_NAME" or at < 2:
            continue
        level = instructions[at - 2]
        if level.opname in _IMPORT_LEVEL_OPS and level.argval == 0:
            yield instruction.argval


def _imported_when_called(modules: "list[types.ModuleType]", stdlib: str) -> "list[str]":
    """The standard-library modules ``modules`` import inside functions
    (``from netrc import netrc`` when asked for credentials) that no one
    imported yet and the hook's folder does not shadow: a run that calls
    the function would import them, every time."""
    found: "set[str]" = set()
    for module in modules:
        for code in _code_objects(module):
            found.update(_imports_inside(code))
    eligible = []
    for name in sorted(found):
        top = name.partition(".")[0]
        if name in sys.modules or top not in sys.stdlib_module_names or top in _NEVER_AHEAD:
            continue
        if top in sys.modules:
            origin = getattr(sys.modules[top], "__file__", None) or ""
        else:
            spec = importlib.machinery.PathFinder.find_spec(top, [HOOK_FOLDER, stdlib])
            origin = (spec.origin or "") if spec is not None else ""
        if origin.startswith(stdlib + "/"):
            eligible.append(name)
    return eligible[:_MAX_IMPORTED_WHEN_CALLED]


def _from_standard_library(module: Any, stdlib: str) -> bool:
    """Whether ``module`` is one of the interpreter's own: built in, frozen,
    or from the standard library's folder ``stdlib`` (read from the
    module's namespace as stored, so no attribute of a package runs)."""
    if not isinstance(module, types.ModuleType):
        return False
    namespace = vars(module)
    spec = namespace.get("__spec__")
    if isinstance(spec, importlib.machinery.ModuleSpec) and spec.origin in ("built-in", "frozen"):
        return True
    file = namespace.get("__file__")
    return isinstance(file, str) and file.startswith((stdlib + "/", _INTERPRETERS_LIBRARY))


# The folder the interpreter's own standard library came from (in the
# sandbox, the same read-only `/python`).
_INTERPRETERS_LIBRARY = os.path.dirname(os.__file__) + "/"


def _import_system_change(
    modules: "dict[str, Any]", finders: "tuple[list[Any], list[Any]]", stdlib: str
) -> "str | None":
    """What an import changed of how the imports after it resolve, in
    every run on the snapshot: a module imported before replaced, a finder
    added, or a module of its own under a standard-library name."""
    if (list(sys.meta_path), list(sys.path_hooks)) != finders:
        return "changes how modules are found (sys.meta_path or sys.path_hooks)"
    for name, module in list(sys.modules.items()):
        if name in modules:
            if modules[name] is not module:
                return f"replaces the module {name}"
        elif name.partition(".")[0] in sys.stdlib_module_names and not (
            _from_standard_library(module, stdlib) or _registered_by_its_parent(name, module, stdlib)
        ):
            return f"puts a module of its own in place of the standard library's {name}"
    return None


def _registered_by_its_parent(name: str, module: Any, stdlib: str) -> bool:
    """Whether a standard-library module ``name``'s parent registered it,
    as ``xml.parsers.expat`` registers ``pyexpat``'s ``model`` and
    ``errors`` under its own name."""
    parent, _, child = name.rpartition(".")
    owner = sys.modules.get(parent)
    return _from_standard_library(owner, stdlib) and vars(owner).get(child) is module


def _import_checked(name: str, stdlib: str, guarded: "dict[str, Any]", network: _Network) -> "list[str]":
    """Imports ``name``; returns why it cannot be kept in a snapshot, if
    it cannot (``module: reason`` lines)."""
    _host.preload_importing(name)
    network.reached = False
    identities = _identities(guarded)
    random_state = random.getstate()
    modules = dict(sys.modules)
    finders = (list(sys.meta_path), list(sys.path_hooks))
    behaviours = _behaviours(stdlib)
    root_logger = _root_logger()
    threads_before = len(_threads._queue)
    try:
        with _EnvironmentReads() as environment, _ProcessWideHooks() as process_wide:
            importlib.import_module(name)
    except Exception as error:  # noqa: BLE001 - each is reported, the rest go on
        return [f"{name}: {type(error).__name__}: {error}"]
    failed = []
    changed = _changed(identities, guarded)
    if changed is not None:
        failed.append(f"{name}: changes {changed}, which each run relies on, when imported")
    import_system = _import_system_change(modules, finders, stdlib)
    if import_system is not None:
        failed.append(f"{name}: {import_system} when imported, for every hook of the folder")
    # Said once: what replaced a guarded name or a module also changed what
    # the standard library holds.
    patched = None if failed else _patched(behaviours, stdlib)
    if patched is not None:
        failed.append(f"{name}: replaces or adds {patched} of the standard library when imported, for every hook of the folder")
    for what in process_wide.registered[:1]:
        failed.append(f"{name}: registers {what} when imported, for every hook of the folder")
    if _root_logger() != root_logger:
        failed.append(f"{name}: configures the root logger when imported, for every hook of the folder")
    if random.getstate() != random_state:
        # The runner seeded it for this step; every run would draw the
        # same numbers.
        failed.append(f"{name}: draws random numbers when imported")
    if environment.read:
        failed.append(f"{name}: reads the environment when imported")
    if network.reached:
        failed.append(f"{name}: reaches the network when imported")
    left = _left_running(threads_before)
    if left is not None:
        failed.append(f"{name}: {left} when imported, which would run in every hook of the folder")
    kept = network.kept_by()
    if kept:
        failed.append(f"{name}: keeps socket.socket from when it was imported ({', '.join(kept)})")
        network.forget(kept)
    return failed


def preload(modules: "list[str]", stdlib: str, guarded: "dict[str, Any]", skip: "list[str] | None" = None) -> Preloaded:
    """Imports ``modules`` as a run would find them (the hook's folder, then
    the standard library), then the standard-library modules their
    functions import when called (but those in ``skip``, which an earlier
    attempt could not keep).

    ``guarded`` names the namespaces whose values each run relies on
    (what resets the process for a run, seeds ``random``, hands over the
    environment): a package that changes one when imported would change
    every run on the snapshot before the run resets it, which an import in
    the run itself never does."""
    real_os, real_io = _bootstrap_external._os, _bootstrap_external._io
    saved_path, saved_meta_path = sys.path[:], sys.meta_path[:]
    failed: "list[str]" = []
    imported_when_called: "list[str]" = []
    sys.path[:] = [HOOK_FOLDER, stdlib]
    # What it would list, it would list through WASI.
    sys.meta_path[:] = [f for f in saved_meta_path if f is not _imports.NativeExtensionFinder]
    sys.path_importer_cache.clear()
    _bootstrap_external._os, _bootstrap_external._io = _HostOs(real_os), _HostIo(real_io)
    before = set(sys.modules)
    try:
        with _Network() as network:
            for name in modules:
                failed.extend(_import_checked(name, stdlib, guarded, network))
            packages = [
                module
                for name, module in list(sys.modules.items())
                if name not in before
                and isinstance(module, types.ModuleType)
                and str(getattr(module, "__file__", None) or "").startswith(HOOK_FOLDER + "/")
            ]
            for name in _imported_when_called(packages, stdlib):
                if name in (skip or ()):
                    continue
                not_kept = _import_checked(name, stdlib, guarded, network)
                failed.extend(not_kept)
                if not not_kept:
                    imported_when_called.append(name)
    finally:
        _bootstrap_external._os, _bootstrap_external._io = real_os, real_io
        sys.path[:], sys.meta_path[:] = saved_path, saved_meta_path
        # The finders made here cache listings a run must read afresh.
        sys.path_importer_cache.clear()
        _imports._listings.clear()
    restored = (
        type(_bootstrap_external) is types.ModuleType
        and object.__getattribute__(_bootstrap_external, "_os") is real_os
        and object.__getattribute__(_bootstrap_external, "_io") is real_io
        and type(socket) is types.ModuleType
        and object.__getattribute__(socket, "socket") is network.real
    )
    if not restored:
        failed.append("*: a package kept the import system's stand-ins in place")
    gc.collect()
    gc.freeze()
    return Preloaded(failed, imported_when_called)
