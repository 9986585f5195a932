"""``asyncio`` inside the sandbox.

The event loop is the standard one (``asyncio.run``, ``SelectorEventLoop``
over ``select.poll``): its timers, tasks, queues, streams and socket and
datagram transports work on the sandbox's WASI sockets as they are, every
connection through the host's egress gate as for ``socket``. What it takes
from the host operating system and the sandbox does not have, this module
replaces, in the classes themselves, so every way of making a loop
(``asyncio.run``, ``new_event_loop``, ``SelectorEventLoop()``) gets it:

- the self-pipe: a selector loop wakes itself through a ``socketpair`` when
  another thread or a signal hands it a callback. The sandbox has no
  ``socketpair`` (nor listening sockets) and only one thread, which is the
  loop's own, and no signals reach it: the loop needs no waking and has no
  self-pipe. ``add_signal_handler`` records the handler (it never runs),
  so hooks that set one up for a graceful shutdown run unchanged.
- threads: there are none, so ``run_in_executor`` with the default
  executor (``to_thread``, and the loop's own ``getaddrinfo``) runs the
  function on the loop, as a callback scheduled at once, and hands back a
  future its result or exception is set on; the loop waits while it runs.
  A ``ThreadPoolExecutor`` given explicitly does the same while threads
  cannot start; any other executor (or a thread pool once threads start)
  is used as given, and its future is waited for from the loop if nothing
  else completes it.
- OpenSSL: the host does TLS (see :mod:`hookbox._ssl`). A connection made
  with ``ssl=`` (``open_connection``, ``create_connection``, ``ssl=True``,
  ``server_hostname=``) is connected as plain TCP by the standard code, then
  wrapped with hookbox's ``ssl``: the host does the handshake towards the
  destination (verifying it as for every TLS connection) and the transport
  reads and writes cleartext on the wrapped socket. Its
  ``get_extra_info('ssl_object')`` is that ``SSLSocket`` (``version()``,
  ``cipher()``, ``getpeercert()``, ``selected_alpn_protocol()``), and
  ``'peercert'``, ``'cipher'``, ``'compression'`` and ``'sslcontext'`` are
  there as for the standard TLS transport. ``loop.start_tls`` (and so
  ``StreamWriter.start_tls``, STARTTLS) upgrades a plain connection the
  same way. The handshake is one host call: the loop waits for it.
- a refused connection: the host connects before ``connect`` returns, so
  the loop learns of a refusal at once; it is reported as the standard loop
  reports one it learns later (``ConnectionRefusedError: Connect call
  failed (host, port)``).

Libraries that do TLS themselves over a plain transport with
``ssl.MemoryBIO`` (anyio's TLS streams, under ``httpx.AsyncClient`` for
``https://``) get the host's TLS through :class:`hookbox._ssl.SSLObject`.

Not available: the server side (the sandbox cannot listen), TLS inside TLS, subprocesses from the loop
(``create_subprocess_exec`` says what works instead) and pipes.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import signal
import socket
import ssl
import threading
from asyncio import (
    base_events,
    constants,
    coroutines,
    events,
    futures,
    protocols,
    selector_events,
    sslproto,
    unix_events,
)
from typing import Any

__all__ = ["install"]

_installed = False
# The thread pool as the standard library defines it: one given to
# ``run_in_executor`` runs its functions on the loop while threads cannot
# start (another executor is used as given).
_ThreadPoolExecutor = concurrent.futures.ThreadPoolExecutor
_threads_start: "bool | None" = None


def _can_start_threads() -> bool:
    """Whether a thread starts in this run (never in the sandbox by itself;
    green threads, once installed, make them)."""
    global _threads_start
    if _threads_start is None:
        try:
            threading.Thread(target=lambda: None, name="hookbox-probe", daemon=True).start()
        except RuntimeError:
            _threads_start = False
        else:
            _threads_start = True
    return _threads_start


# -- the self-pipe -------------------------------------------------------------


def _make_self_pipe(self: Any) -> None:
    """No self-pipe: nothing but the loop's own thread can hand it work."""
    self._ssock = None
    self._csock = None


def _close_self_pipe(self: Any) -> None:
    self._ssock = None
    self._csock = None


def _write_to_self(self: Any) -> None:
    """Nothing to wake: a callback scheduled "from another thread" was
    scheduled by the loop's own, which looks at its ready queue next."""


def _check_signal(sig: Any) -> None:
    """The loop's own check, on the signals WASI's ``signal`` names (it has
    no ``valid_signals``)."""
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in {int(member) for member in signal.Signals}:
        raise ValueError(f"invalid signal number {sig}")


def add_signal_handler(self: Any, sig: int, callback: Any, *args: Any) -> None:
    """Records a handler for ``sig``, which no signal reaches in the sandbox."""
    if coroutines.iscoroutine(callback) or coroutines._iscoroutinefunction(callback):
        raise TypeError("coroutines cannot be used with add_signal_handler()")
    _check_signal(sig)
    self._check_closed()
    self._signal_handlers[sig] = events.Handle(callback, args, self, None)


def remove_signal_handler(self: Any, sig: int) -> bool:
    """Forgets the handler for ``sig``; whether there was one."""
    _check_signal(sig)
    return self._signal_handlers.pop(sig, None) is not None


# -- connecting ------------------------------------------------------------------


def _sock_connect(self: Any, fut: Any, sock: socket.socket, address: Any) -> None:
    """The loop's ``_sock_connect``; a connection refused at once (the
    sandbox's host connects before ``connect`` returns) fails as the
    standard loop reports it when it learns it later, from ``SO_ERROR``."""
    fd = sock.fileno()
    try:
        sock.connect(address)
    except (BlockingIOError, InterruptedError):
        self._ensure_fd_no_transport(fd)
        handle = self._add_writer(fd, self._sock_connect_cb, fut, sock, address)
        fut.add_done_callback(functools.partial(self._sock_write_done, fd, handle=handle))
    except (SystemExit, KeyboardInterrupt):
        raise
    except (ConnectionError, TimeoutError) as error:
        fut.set_exception(OSError(error.errno, f"Connect call failed {address}"))
    except BaseException as error:  # noqa: BLE001 - the future carries it
        fut.set_exception(error)
    else:
        fut.set_result(None)
    finally:
        fut = None


# -- executors -----------------------------------------------------------------


def _run_on_loop(loop: Any, func: Any, args: tuple) -> "futures.Future":
    """A future for ``func(*args)``, called by ``loop`` at its next turn in
    a fresh context (as a pool thread would be)."""
    future = loop.create_future()

    def run() -> None:
        if future.cancelled():
            return
        try:
            result = func(*args)
        except StopIteration as error:
            # A future cannot hold StopIteration (concurrent.futures' would
            # become a RuntimeError when chained to it, too).
            future.set_exception(RuntimeError(f"{func!r} raised StopIteration: {error!r}"))
        except BaseException as error:  # noqa: BLE001 - a pool thread keeps it all
            future.set_exception(error)
        else:
            future.set_result(result)

    loop.call_soon(run, context=contextvars.Context())
    return future


def _drive(future: "concurrent.futures.Future") -> None:
    """Waits for ``future`` on the loop (an executor that runs its functions
    when they are waited for)."""
    if not future.done():
        try:
            future.exception()
        except BaseException:  # noqa: BLE001 - cancellation: what the future says
            pass


def run_in_executor(self: Any, executor: Any, func: Any, *args: Any) -> "futures.Future":
    """``loop.run_in_executor`` where threads may not start (see the module)."""
    self._check_closed()
    if self._debug:
        self._check_callback(func, "run_in_executor")
    if executor is None:
        executor = self._default_executor
        self._check_default_executor()
        if executor is None:
            return _run_on_loop(self, func, args)
    if type(executor) is _ThreadPoolExecutor and not _can_start_threads():
        if executor._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        return _run_on_loop(self, func, args)
    source = executor.submit(func, *args)
    future = futures.wrap_future(source, loop=self)
    if not source.done():
        self.call_soon(_drive, source)
    return future


_shutdown_default_executor = base_events.BaseEventLoop.shutdown_default_executor


async def shutdown_default_executor(self: Any, timeout: Any = None) -> None:
    """Shuts the default executor down on the loop when no thread could do it."""
    if self._default_executor is None or _can_start_threads():
        await _shutdown_default_executor(self, timeout)
        return
    self._executor_shutdown_called = True
    self._default_executor.shutdown(wait=True)


# -- TLS by the host -------------------------------------------------------------


class _TLSTransport(selector_events._SelectorSocketTransport):
    """A socket transport on a connection the host speaks TLS on: it
    carries cleartext, and says what the TLS session is as the standard TLS
    transport does."""

    _start_tls_compatible = False

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("SSL doesn't support half-closes")


class _Unannounced(protocols.Protocol):
    """Stands in for the protocol while a transport is made for one that is
    already connected (``start_tls``: its ``connection_made`` is not called
    again)."""


def _tls_socket(rawsock: socket.socket, sslcontext: Any, server_hostname: Any) -> Any:
    """``rawsock``'s connection with the host speaking TLS on it, the
    handshake done; closed if the handshake failed."""
    tls = sslcontext.wrap_socket(rawsock, server_hostname=server_hostname or None, do_handshake_on_connect=False)
    try:
        tls.do_handshake()
    except BaseException:
        tls.close()
        raise
    return tls


def _tls_extra(tls: Any, sslcontext: Any) -> dict:
    return {
        "sslcontext": sslcontext,
        "ssl_object": tls,
        "peercert": tls.getpeercert(),
        "cipher": tls.cipher(),
        "compression": tls.compression(),
    }


def _make_ssl_transport(
    self: Any,
    rawsock: socket.socket,
    protocol: Any,
    sslcontext: Any,
    waiter: Any = None,
    *,
    server_side: bool = False,
    server_hostname: Any = None,
    extra: Any = None,
    server: Any = None,
    ssl_handshake_timeout: Any = constants.SSL_HANDSHAKE_TIMEOUT,
    ssl_shutdown_timeout: Any = constants.SSL_SHUTDOWN_TIMEOUT,
) -> _TLSTransport:
    """A transport on ``rawsock``'s connection with TLS done by the host."""
    self._ensure_fd_no_transport(rawsock)
    if sslcontext is None:
        sslcontext = sslproto._create_transport_context(server_side, server_hostname)
    if server_side:
        sslcontext.wrap_socket(rawsock, server_side=True)  # refused, saying why
    tls = _tls_socket(rawsock, sslcontext, server_hostname)
    info = _tls_extra(tls, sslcontext)
    info.update(extra or {})
    return _TLSTransport(self, tls, protocol, waiter, info, server)


async def start_tls(
    self: Any,
    transport: Any,
    protocol: Any,
    sslcontext: Any,
    *,
    server_side: bool = False,
    server_hostname: Any = None,
    ssl_handshake_timeout: Any = None,
    ssl_shutdown_timeout: Any = None,
) -> _TLSTransport:
    """Upgrades ``transport``'s connection to TLS, done by the host; returns
    the new transport ``protocol`` is to use from now on."""
    if not isinstance(sslcontext, ssl.SSLContext):
        raise TypeError(f"sslcontext is expected to be an instance of ssl.SSLContext, got {sslcontext!r}")
    if isinstance(transport, _TLSTransport):
        raise TypeError(
            f"transport {transport!r} is not supported by start_tls(): it is already TLS, "
            "and hookbox's host does not run TLS inside TLS"
        )
    if not isinstance(transport, selector_events._SelectorSocketTransport):
        raise TypeError(f"transport {transport!r} is not supported by start_tls()")
    if server_side:
        sslcontext.wrap_socket(transport.get_extra_info("socket"), server_side=True)  # refused, saying why
    if transport.get_write_buffer_size():
        await transport._make_empty_waiter()
    if transport.is_closing():
        raise ConnectionResetError("Connection lost")
    fd = transport._sock_fd
    self._remove_reader(fd)
    self._remove_writer(fd)
    try:
        tls = _tls_socket(transport._sock, sslcontext, server_hostname)
    except BaseException:
        transport.close()
        raise
    # The old transport reads and writes nothing more: its connection is the
    # TLS socket's now.
    old_sock = transport._sock
    transport._closing = True
    transport._conn_lost += 1
    transport._sock = None
    old_sock.detach()
    high, low = transport._high_water, transport._low_water
    waiter = self.create_future()
    new = _TLSTransport(self, tls, _Unannounced(), waiter, _tls_extra(tls, sslcontext), None)
    new.set_protocol(protocol)
    new.set_write_buffer_limits(high=high, low=low)
    # As with the standard loop, closing the old transport closes the
    # connection (its TLS layer with it).
    transport.close = new.close
    transport.abort = new.abort
    transport.is_closing = new.is_closing
    try:
        await waiter
    except BaseException:
        new.close()
        raise
    return new


# -- subprocesses -----------------------------------------------------------------

_NO_SUBPROCESS = (
    "asyncio subprocesses (create_subprocess_exec, create_subprocess_shell) are not "
    "available in hookbox's sandbox; subprocess.run(['curl', ...]) is, and runs from a "
    "coroutine with await asyncio.to_thread(subprocess.run, [...])"
)


async def _make_subprocess_transport(self: Any, protocol: Any, args: Any, shell: Any, *rest: Any, **kwargs: Any) -> None:
    """Refused, saying what works instead (the standard one needs pipes and
    a thread to wait for the child)."""
    raise NotImplementedError(_NO_SUBPROCESS)


def install() -> None:
    """Makes ``asyncio``'s selector loop run in the sandbox (see the module).
    Patches the classes ``asyncio`` already imported; applied once."""
    global _installed
    if _installed:
        return
    loop = selector_events.BaseSelectorEventLoop
    loop._make_self_pipe = _make_self_pipe
    loop._close_self_pipe = _close_self_pipe
    loop._write_to_self = _write_to_self
    loop._make_ssl_transport = _make_ssl_transport
    loop.start_tls = start_tls
    loop.run_in_executor = run_in_executor
    loop._sock_connect = _sock_connect
    loop.shutdown_default_executor = shutdown_default_executor
    unix_events._UnixSelectorEventLoop.add_signal_handler = add_signal_handler
    unix_events._UnixSelectorEventLoop.remove_signal_handler = remove_signal_handler
    unix_events._UnixSelectorEventLoop._make_subprocess_transport = _make_subprocess_transport
    _installed = True
