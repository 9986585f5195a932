"""The hookbox runner: runs one Hoop hook file as ``__main__`` in the sandbox.

This module is imported once, when the runner component is built, and the
interpreter is snapshotted afterwards: everything imported here is already in
memory when a hook starts. At run time the host calls ``run-hook`` with the
hook's path as the first argument and the hook's environment, and gets back the
exit code ``python3 hook.py`` would have returned.
"""

import sys

# hookbox's changes to the standard library (its `ssl` first, so that
# `http.client` defines `HTTPSConnection` and urllib its `HTTPSHandler`, as on
# a host with OpenSSL), before the modules below are imported.
from hookbox import _patches

_patches.apply()

# Modules hooks commonly use, loaded into the snapshot so a typical hook pays
# no import cost. Anything else in the standard library is imported at run time
# from the read-only mount at STDLIB_DIR, from bytecode hookbox compiled once.
import argparse
import base64
import binascii
import builtins
import calendar
import collections
import copy
import csv
import dataclasses
import datetime
import decimal
import email.message
import email.mime.multipart
import email.mime.text
import email.utils
import enum
import errno
import functools
import gc
import gzip
import hashlib
import hmac
import html
import http.client
import io
import ipaddress
import itertools
import json
import logging
import logging.handlers
import math
import os
import pathlib
import queue
import random
import re
import secrets
import shlex
import smtplib
import socket
import ssl
import string
import struct
import subprocess
import textwrap
import time
import traceback
import types
import typing
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree
import zlib
import zoneinfo

# What the common HTTP packages copied next to hooks (requests, urllib3,
# httpx) import from the standard library: about a third of `import
# requests` otherwise.
import encodings.idna
import http.cookiejar
import http.cookies
import importlib.metadata
import importlib.resources
import mimetypes
import stringprep
import zipfile

import atexit
import codecs
import marshal

# Every TLS connection encodes its server's name with the "idna" codec (as
# CPython's own `ssl` does): its lookup, cached by the interpreter, is made
# here once instead of in each run.
codecs.lookup("idna")


# componentize-py's asyncio event loop over wasi:io/poll and its wasi:http
# helpers; in the snapshot so hooks (and the SDK) can use them directly.
import asyncio
import poll_loop

# The SDK; the standard ways to reach the network (http.client, and so every
# urllib opener, sockets and subprocess.run(["curl", ...])) go through it.
import hookbox
from hookbox import _host, _preload, _threads

STDLIB_DIR = "/python"
"""Where the host mounts the pure-Python standard library (read-only)."""


# What reports a run's end, as the runner's build found it: a hook may
# replace or break the modules' own (``builtins.print = None``).
_print = builtins.print
_print_exception = traceback.print_exception


def _reported(report: typing.Callable[[], object]) -> None:
    """Runs ``report`` (a traceback, a message); if the hook broke what it
    uses, says so in one line instead, so the run still ends with its own
    code."""
    try:
        report()
    except MemoryError:
        os.write(2, b"hookbox: the hook's end could not be reported (no memory was left to report it)\n")
    except BaseException:  # noqa: BLE001 - nothing the hook did may escape the run
        os.write(2, b"hookbox: the hook's end could not be reported (the hook changed what reports it)\n")


def _exit_code(code: object) -> int:
    """Maps a ``SystemExit`` code to a process exit code as CPython does."""
    if code is None:
        return 0
    if isinstance(code, bool):
        return int(code)
    if isinstance(code, int):
        # CPython reads the code as a C long long (-1 when it does not fit)
        # and exits with its low byte.
        if not -(2**63) <= code < 2**63:
            return 0xFF
        return code & 0xFF
    _reported(lambda: _print(code, file=sys.stderr))
    return 1


# What the sandbox shows a hook of the file system: its own folder, the
# standard library and the SDK's sources, read-only, and its scratch folder.
SCRATCH_DIR = "/tmp"
_VISIBLE_ROOTS = ("/hook", STDLIB_DIR, "/hook-bytecode", "/0", "/1", SCRATCH_DIR)
# Errors the sandbox gives for a write it does not allow (WASI's "not
# capable" is 76).
_READ_ONLY_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, 76)


def _explain_file_error(error: BaseException) -> None:
    """Notes, on a file error the hook did not catch, what the sandbox did:
    ``python3`` would have seen the host's file system, the hook does not."""
    filename = getattr(error, "filename", None)
    if not isinstance(error, OSError) or not isinstance(filename, str):
        return
    path = os.path.normpath(os.path.join(os.getcwd(), filename))
    visible = any(path == root or path.startswith(root + "/") for root in _VISIBLE_ROOTS)
    if not visible:
        _add_note(
            error,
            f"hookbox: {path} is outside what the hook can see: the sandbox shows it "
            f"only its own folder, read-only, at /hook, a scratch folder of its own at "
            f"{SCRATCH_DIR} (and the operator's CA bundle, --ca-bundle, at its own path: "
            f"that is how to trust a CA)"
        )
    elif error.errno in _READ_ONLY_ERRNOS:
        _add_note(
            error,
            f"hookbox: {path} is read-only in the sandbox (only the scratch folder "
            f"{SCRATCH_DIR} can be written)",
        )


def _add_note(error: BaseException, note: str) -> None:
    try:
        error.add_note(note)
    except TypeError:
        pass  # the hook set ``__notes__`` to something else


def _print_hook_traceback(error: BaseException, hook_path: str) -> None:
    """Prints a traceback without the runner's own frames, as ``python3`` would."""
    _explain_file_error(error)
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != hook_path:
        tb = tb.tb_next
    # The hook's own ``sys.excepthook`` reports it, as under ``python3``
    # (one that sends the failure somewhere, say).
    excepthook = getattr(sys, "excepthook", None)
    if excepthook is not None and excepthook is not sys.__excepthook__:
        try:
            excepthook(type(error), error, tb)
            return
        except BaseException as hook_error:  # noqa: BLE001 - reported as python3 does
            _print("Error in sys.excepthook:", file=sys.stderr)
            _print_exception(type(hook_error), hook_error, hook_error.__traceback__, file=sys.stderr)
            _print("\nOriginal exception was:", file=sys.stderr)
    _print_exception(type(error), error, tb, file=sys.stderr)


def _join_threads(code: int, raised: BaseException | None, hook_path: str) -> int:
    """What ``python3`` does when the main code ends, before ``atexit``: it
    waits for the threads still running (here: runs those still queued).
    A deadlock among them fails the run, reported once."""
    try:
        _threads.run_remaining()
    except _threads.ThreadDeadlock as error:
        if error is not raised:
            _reported(lambda: _print_hook_traceback(error, hook_path))
        return 1
    except BaseException as error:  # noqa: BLE001 - as python3 reports it
        # ``python3`` reports anything else raised while threads shut down
        # (a ``SystemExit`` an exit hook raised too) and keeps its code.
        _reported(lambda: _print_unraisable("Exception ignored on threading shutdown", error))
    return code


def _print_unraisable(message: str, error: BaseException) -> None:
    _print(f"{message}:", file=sys.stderr)
    _print_exception(type(error), error, error.__traceback__, file=sys.stderr)


def _finalize() -> None:
    """What ``python3`` does at interpreter exit that a hook can notice: it
    runs the ``atexit`` callbacks (``logging`` flushing and closing its
    handlers among them), reporting errors as ignored, then drops the hook's
    globals, so their destructors run."""
    atexit._run_exitfuncs()
    if _main is not None:
        _main.__dict__.clear()


def _reset_process_state(args: list[str], env: list[tuple[str, str]]) -> None:
    """Replaces what the snapshot captured at build time with this run's values."""
    sys.argv = list(args)
    os.environ.clear()
    for name, value in env:
        os.environ[name] = value
    hook_dir = os.path.dirname(args[0]) or "/"
    sys.path[:] = [hook_dir, STDLIB_DIR]
    # The snapshot would otherwise hand every run the same random sequence.
    random.seed()
    # And date every log record from the runner's build.
    logging._startTime = time.time_ns()
    os.chdir(hook_dir)


def _compiled_hook(hook_path: str) -> types.CodeType:
    """The hook's code, from the source the host checked: compiled by an
    earlier run of the same source (kept by the host), else compiled now and
    offered to the host before it runs."""
    source, cached = _host.hook_source()
    if cached is not None:
        try:
            code = marshal.loads(cached)
            if isinstance(code, types.CodeType) and code.co_filename == hook_path:
                return code
        except (EOFError, ValueError, TypeError):
            pass
    try:
        code = compile(source, hook_path, "exec", dont_inherit=True)
    except BaseException:
        # Close this run's one offer before anything else can run.
        _host.store_code(b"")
        raise
    _host.store_code(marshal.dumps(code))
    return code


# The hook's module (whatever ``sys.modules["__main__"]`` says later).
_main: types.ModuleType | None = None


def _run_as_main(hook_path: str) -> None:
    code = _compiled_hook(hook_path)
    main = types.ModuleType("__main__")
    main.__file__ = hook_path
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    global _main
    _main = main
    exec(code, main.__dict__)


class WitWorld(_host.World):
    """The component's export: one call runs one hook."""

    def run_hook(self) -> int:
        args = _host.arguments()
        if not args:
            print("hookbox runner: no hook path given", file=sys.stderr)
            return 2
        _reset_process_state(args, _host.environment())
        hook_path = args[0]
        raised = None
        try:
            _run_as_main(hook_path)
            code = 0
        except SystemExit as exit:
            code = _exit_code(exit.code)
        except BaseException as error:  # noqa: BLE001 - reported like python3 does
            _reported(lambda: _print_hook_traceback(error, hook_path))
            code, raised = 1, error
        code = _join_threads(code, raised, hook_path)
        _reported(_finalize)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed stream must not hide the code
                pass
        return code

    def preload_packages(self, modules: list[str], skip: list[str]) -> tuple[list[str], list[str]]:
        runner = sys.modules[__name__]
        guarded = {
            "the runner": runner,
            "random": random,
            "random.Random": random.Random,
            "os": os,
            "os.environ": type(os.environ),
            "time": time,
            "logging": logging,
            "hookbox._host": _host,
            "hookbox._threads": _threads,
            "builtins": builtins,
            "sys": sys,
        }
        return tuple(_preload.preload(modules, STDLIB_DIR, guarded, skip))


# The build's import finders (each caching a build directory's listing) mean
# nothing in the sandbox; dropped here, no run pays for freeing them.
sys.path_importer_cache.clear()
sys.dont_write_bytecode = True

# Everything above lives in the snapshot. Moving it to the permanent
# generation keeps the cyclic GC of a run from walking (and so copying, page
# by page) the whole snapshot heap.
gc.collect()
gc.freeze()
