"""What hookbox changes in the standard library so that hooks written for
``python3`` run unchanged in the sandbox: one registry, in the order the
changes must be made, each made once however often it is applied.

The runner applies them at build time, before it imports the modules hooks
use, so they are in the snapshot every run starts from:

1. ``ssl``: hookbox's module takes the place of the standard one (CPython for
   WASI has no ``_ssl``). First, because ``http.client`` defines
   ``HTTPSConnection`` (and ``urllib`` its handler) only if ``ssl`` imports
   when they are first imported: applying it later is refused.
2. ``socket``: names are looked up by the host, refusals say why.
3. ``http.client``: every connection goes through the host's egress gate.
4. ``subprocess``: ``curl`` command lines are served, other programs are
   "not found".
5. ``os._exit``: ends the run at once with its code.
6. process: host and user names, ``signal.alarm`` (delivered at sleeps).
7. threads: ``threading``, ``queue`` and ``ThreadPoolExecutor`` run
   cooperatively on the one thread the sandbox has (after ``process``,
   whose ``time.sleep`` they wait in).
8. imports: modules in the hook's folder load from the bytecode hookbox
   compiled of them; a native extension that cannot load is named.
9. readiness: a zero-timeout ``select``/``poll`` of a stream socket says
   whether it really has something to read (keep-alive probes).
10. ``asyncio``: its selector loop runs without a self-pipe, does TLS
    through the host's ``ssl`` and runs executor functions (after ``ssl``).
"""

from __future__ import annotations

import os
import sys
from typing import Callable, NamedTuple, NoReturn

from . import _host


class Patch(NamedTuple):
    """One change: its name (what it changes) and how to make it."""

    name: str
    apply: Callable[[], None]


def _ssl() -> None:
    if "http.client" in sys.modules or "urllib.request" in sys.modules:
        raise ImportError(
            "hookbox's ssl must replace the standard one before http.client or "
            "urllib.request is imported"
        )
    from . import _ssl as module

    sys.modules["ssl"] = module
    module.install()


def _socket() -> None:
    from . import _socket as module

    module.install()


def _http_client() -> None:
    from . import _httpclient as module

    module.install()


def _subprocess() -> None:
    from . import _subprocess as module

    module.install()


def _hard_exit(code: int) -> NoReturn:
    """``os._exit``: ends the run at once, skipping all cleanup, with the
    exit code ``python3`` would give (the low byte)."""
    _host.exit(int(code) & 0xFF)
    raise AssertionError("the host ends the run")


def _os_exit() -> None:
    os._exit = _hard_exit


def _process() -> None:
    from . import _process as module

    module.install()


def _threads() -> None:
    from . import _threads as module

    module.install()


def _imports() -> None:
    from . import _imports as module

    module.install()


def _readiness() -> None:
    from . import _readiness as module

    module.install()


def _asyncio() -> None:
    from . import _asyncio as module

    module.install()


PATCHES: tuple[Patch, ...] = (
    Patch("ssl", _ssl),
    Patch("socket", _socket),
    Patch("http.client", _http_client),
    Patch("subprocess", _subprocess),
    Patch("os._exit", _os_exit),
    Patch("process", _process),
    Patch("threads", _threads),
    Patch("imports", _imports),
    Patch("readiness", _readiness),
    Patch("asyncio", _asyncio),
)

_applied: list[str] = []


def apply() -> None:
    """Makes every change not made yet, in order."""
    for patch in PATCHES:
        if patch.name not in _applied:
            patch.apply()
            _applied.append(patch.name)


def applied() -> tuple[str, ...]:
    """The changes made so far, in the order they were made."""
    return tuple(_applied)
