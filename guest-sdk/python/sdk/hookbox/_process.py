"""What a hook can ask about its process and machine, answered the same way
on every host, so a run reveals nothing of the host's names and behaves
alike wherever it runs:

- ``socket.gethostname()``, ``platform.node()`` and ``os.uname().nodename``
  are ``hookbox``;
- ``getpass.getuser()`` is the ``LOGNAME``/``USER``/``LNAME``/``USERNAME``
  variable the operator passed, if any (as under ``python3``), else
  ``hookbox`` (``python3`` would look the user up in the password database,
  which the sandbox does not have);
- ``signal.alarm(seconds)`` keeps its timer as under ``python3`` (it returns
  the seconds left of the previous one; ``alarm(0)`` cancels) and
  ``SIGALRM`` is delivered when the hook sleeps (``time.sleep``) past it:
  the handler set with ``signal.signal`` runs then, and without one the run
  ends with exit code 142 (128 + SIGALRM, as a shell reports a process the
  signal killed). While the hook waits for anything else, only the run's
  wall-clock limit (``--timeout``) can stop it.
- ``signal.raise_signal(signum)`` runs the handler set with
  ``signal.signal``; without one it does what the signal's default action
  would to a ``python3`` process: nothing for those ignored by default
  (``SIGCHLD``, ``SIGURG``, ``SIGWINCH``, ``SIGCONT``), else the run ends
  with exit code 128 + the signal's number (``SIGTERM`` 143); ``os.abort()``
  ends it with 134 (``SIGABRT``). The sandbox's C library would abort the
  interpreter instead, which reads as hookbox's failure, not the hook's.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import time

from . import _host

NAME = "hookbox"
"""The host and user name a hook sees."""

_USER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")

# The clock and the sleep the alarm is timed by (a test puts fake ones here).
_clock = time.monotonic
_original_sleep = time.sleep
_alarm_at: float | None = None


def gethostname() -> str:
    """``socket.gethostname()`` in the sandbox."""
    return NAME


def getuser() -> str:
    """``getpass.getuser()`` in the sandbox."""
    for name in _USER_VARIABLES:
        user = os.environ.get(name)
        if user:
            return user
    return NAME


def _uname(original=os.uname):
    result = original()
    return os.uname_result((result.sysname, NAME, result.release, result.version, result.machine))


def alarm(seconds: int) -> int:
    """``signal.alarm``: arms (or with 0 cancels) the run's one alarm and
    returns the whole seconds that were left of the previous one."""
    global _alarm_at
    seconds = int(seconds)
    if seconds < 0:
        raise OverflowError("alarm() seconds must not be negative")
    now = _clock()
    left = 0 if _alarm_at is None else max(1, math.ceil(_alarm_at - now))
    _alarm_at = now + seconds if seconds else None
    return left


# Signals whose default action leaves a process running.
_IGNORED_BY_DEFAULT = frozenset(
    getattr(signal, name) for name in ("SIGCHLD", "SIGURG", "SIGWINCH", "SIGCONT") if hasattr(signal, name)
)

_original_raise_signal = signal.raise_signal


def raise_signal(signum: int) -> None:
    """``signal.raise_signal``: the signal's handler, or its default action
    on the run."""
    signum = int(signum)
    handler = signal.getsignal(signum)
    if handler == signal.SIG_IGN:
        return
    if handler in (signal.SIG_DFL, None):
        if signum not in _IGNORED_BY_DEFAULT:
            _host.exit(128 + signum)
        return
    _original_raise_signal(signum)


def abort() -> None:
    """``os.abort``: the run ends as a process ``SIGABRT`` killed."""
    _host.exit(128 + signal.SIGABRT)


def _deliver_alarm() -> None:
    global _alarm_at
    _alarm_at = None
    handler = signal.getsignal(signal.SIGALRM)
    if handler == signal.SIG_IGN:
        return
    if handler in (signal.SIG_DFL, None):
        _host.exit(128 + signal.SIGALRM)
    _original_raise_signal(signal.SIGALRM)


def sleep(seconds: float) -> None:
    """``time.sleep``, delivering an alarm that falls due meanwhile; the
    rest of the sleep follows once its handler returns, as under
    ``python3``."""
    if _alarm_at is None:
        return _original_sleep(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    end = _clock() + seconds
    while _alarm_at is not None and _alarm_at <= end:
        _original_sleep(max(0.0, _alarm_at - _clock()))
        _deliver_alarm()
    left = end - _clock()
    if left > 0:
        _original_sleep(left)


def install() -> None:
    """Puts these answers in place of the host's."""
    import getpass

    socket.gethostname = gethostname
    getpass.getuser = getuser
    os.uname = _uname
    signal.alarm = alarm
    signal.raise_signal = raise_signal
    os.abort = abort
    time.sleep = sleep
