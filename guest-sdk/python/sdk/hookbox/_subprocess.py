"""``subprocess`` inside the sandbox: there are no processes to start, so
``curl`` command lines are served by :mod:`hookbox._curl` and any other program
behaves like a binary that is not installed (``FileNotFoundError``).

Replacing ``subprocess.Popen`` is enough: ``run``, ``call``, ``check_call``
and ``check_output`` all create their process through it.
"""

from __future__ import annotations

import errno
import io
import os
import shlex
import subprocess
import sys
from typing import Any, Optional

from . import _curl

_real_popen = subprocess.Popen


class SandboxPopen:
    """A finished-on-first-wait stand-in for :class:`subprocess.Popen`."""

    def __init__(
        self,
        args: Any,
        bufsize: int = -1,
        executable: Optional[str] = None,
        stdin: Any = None,
        stdout: Any = None,
        stderr: Any = None,
        *,
        shell: bool = False,
        text: Optional[bool] = None,
        universal_newlines: Optional[bool] = None,
        encoding: Optional[str] = None,
        errors: Optional[str] = None,
        **_ignored: Any,
    ):
        if isinstance(args, (str, bytes)):
            argv = shlex.split(os.fsdecode(args)) if shell else [os.fsdecode(args)]
        else:
            argv = [os.fsdecode(a) for a in args]
        program = executable or (argv[0] if argv else "")
        if os.path.basename(program) != "curl":
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
        self.args = args
        self.argv = argv
        self.pid = 0
        self.returncode: Optional[int] = None
        self._text = bool(text or universal_newlines or encoding or errors)
        self._encoding = encoding or "utf-8"
        self._errors = errors or "strict"
        self._stdin_spec, self._stdout_spec, self._stderr_spec = stdin, stdout, stderr
        self.stdin = io.BytesIO() if stdin == subprocess.PIPE else None
        self.stdout: Any = None
        self.stderr: Any = None
        self._result: Optional[tuple[bytes, bytes]] = None

    def _run(self, input_data: Optional[bytes]) -> tuple[bytes, bytes]:
        if self._result is None:
            data = input_data if input_data is not None else b""
            if self.stdin is not None and not data:
                data = self.stdin.getvalue()
            self.returncode, out, err = _curl.run(self.argv, data)
            if self._stderr_spec == subprocess.STDOUT:
                out, err = out + err, b""
            self._result = (self._route(out, self._stdout_spec, sys.stdout), self._route(err, self._stderr_spec, sys.stderr))
            if self._stdout_spec == subprocess.PIPE:
                self.stdout = self._stream(self._result[0])
            if self._stderr_spec == subprocess.PIPE:
                self.stderr = self._stream(self._result[1])
        return self._result

    def _route(self, data: bytes, spec: Any, inherited: Any) -> bytes:
        if spec == subprocess.PIPE:
            return data
        if spec in (None,) and data:
            inherited.flush()
            getattr(inherited, "buffer", inherited).write(data)
            inherited.flush()
        elif spec not in (subprocess.DEVNULL, subprocess.STDOUT, None) and data:
            target = spec if hasattr(spec, "write") else os.fdopen(spec, "wb", closefd=False)
            target.write(data if "b" in getattr(target, "mode", "b") else data.decode())
        return b""

    def _stream(self, data: bytes) -> Any:
        return io.StringIO(self._decode(data)) if self._text else io.BytesIO(data)

    def _decode(self, data: bytes) -> str:
        return data.decode(self._encoding, self._errors)

    def communicate(self, input: Any = None, timeout: Optional[float] = None) -> tuple[Any, Any]:
        """Runs the command (once) and returns the captured stdout and stderr."""
        if isinstance(input, str):
            input = input.encode(self._encoding)
        out, err = self._run(input)
        out_value = (self._decode(out) if self._text else out) if self._stdout_spec == subprocess.PIPE else None
        err_value = (self._decode(err) if self._text else err) if self._stderr_spec == subprocess.PIPE else None
        return out_value, err_value

    def wait(self, timeout: Optional[float] = None) -> int:
        """Runs the command (once) and returns its exit code."""
        self._run(None)
        assert self.returncode is not None
        return self.returncode

    def poll(self) -> Optional[int]:
        """The exit code (the command runs to its end when first waited on)."""
        return self.wait()

    def kill(self) -> None:
        """Nothing to kill: the command has finished or not started."""

    terminate = kill

    def send_signal(self, sig: int) -> None:
        """Nothing to signal."""

    def __enter__(self) -> "SandboxPopen":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wait()


def install() -> None:
    """Makes ``subprocess`` serve curl and refuse everything else."""
    subprocess.Popen = SandboxPopen  # type: ignore[misc, assignment]
