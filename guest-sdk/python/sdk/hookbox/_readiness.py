"""Exact readability for stream sockets in the sandbox.

The sandbox reports a TCP socket as readable for as long as its last read
did not find it empty: after a read that took everything there was, a poll
still says "readable" though nothing is. Clients that probe a kept-alive
connection with a zero-timeout poll before reusing it (urllib3's
``is_connection_dropped``, and so ``requests``) then take it for closed and
open a new connection for every request.

So a zero-timeout poll or select that reports a stream socket readable is
checked: the socket is read without blocking, and what came (data, or the
empty read of a closed connection) is kept and handed to the next
``recv``/``recv_into`` before anything else; an empty socket is not readable.
A socket with kept bytes is readable at once, whatever the timeout.
"""

from __future__ import annotations

import select
import socket
import weakref
from typing import Any

_recv = socket.socket.recv
_recv_into = socket.socket.recv_into
_recvfrom = socket.socket.recvfrom
_select = select.select
_poll = select.poll

# What a check read from a socket and the next read hands out.
_kept: "weakref.WeakKeyDictionary[socket.socket, bytes]" = weakref.WeakKeyDictionary()
# Stream sockets that were read from, by descriptor: clients (httpcore)
# poll a descriptor number, not the socket.
_by_fd: "weakref.WeakValueDictionary[int, socket.socket]" = weakref.WeakValueDictionary()


def _stream(obj: Any) -> "socket.socket | None":
    """The stream socket ``obj`` is, or whose descriptor it is."""
    if isinstance(obj, socket.socket):
        return obj if obj.type == socket.SOCK_STREAM else None
    if isinstance(obj, int):
        sock = _by_fd.get(obj)
        if sock is not None and sock.fileno() == obj:
            return sock
    return None


def _seen(sock: socket.socket) -> None:
    if sock.type == socket.SOCK_STREAM:
        _by_fd[sock.fileno()] = sock


def _really_readable(sock: socket.socket) -> bool:
    """Whether ``sock`` has data or is closed; what a check reads is kept."""
    if sock in _kept:
        return True
    timeout = sock.gettimeout()
    try:
        sock.setblocking(False)
        data = _recv(sock, 65536)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True  # the error is what a read will find
    finally:
        sock.settimeout(timeout)
    _kept[sock] = data
    return True


def _take(sock: socket.socket, size: int, flags: int) -> "bytes | None":
    """Up to ``size`` of the bytes a check read from ``sock``, if any (left
    in place for ``MSG_PEEK``)."""
    data = _kept.get(sock)
    if data is None:
        return None
    if not flags & socket.MSG_PEEK:
        rest = data[size:]
        if rest:
            _kept[sock] = rest
        else:
            del _kept[sock]
    return data[:size]


def hand_over(old: socket.socket, new: socket.socket) -> None:
    """Moves what a check read from ``old`` to ``new``, which took over its
    connection (``ssl``'s ``wrap_socket``)."""
    data = _kept.pop(old, None)
    if data is not None:
        _kept[new] = data


def recv(self: socket.socket, bufsize: int, flags: int = 0) -> bytes:
    """``socket.recv``, handing out first what a readability check read."""
    data = _take(self, bufsize, flags)
    if data is None:
        _seen(self)
        return _recv(self, bufsize, flags)
    return data


def recvfrom(self: socket.socket, bufsize: int, flags: int = 0) -> tuple:
    """``socket.recvfrom``, handing out first what a readability check read."""
    data = _take(self, bufsize, flags)
    if data is None:
        return _recvfrom(self, bufsize, flags)
    return data, None


def recv_into(self: socket.socket, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
    """``socket.recv_into``, handing out first what a readability check read."""
    view = memoryview(buffer).cast("B")
    chunk = _take(self, nbytes or len(view), flags)
    if chunk is None:
        _seen(self)
        return _recv_into(self, buffer, nbytes, flags)
    view[: len(chunk)] = chunk
    return len(chunk)


def select_(rlist: Any, wlist: Any, xlist: Any, timeout: Any = None) -> tuple:
    """``select.select`` with exact readability of stream sockets."""
    kept = [obj for obj in rlist if _stream(obj) in _kept]
    if kept:
        _, writable, exceptional = _select([], wlist, xlist, 0)
        return kept, writable, exceptional
    readable, writable, exceptional = _select(rlist, wlist, xlist, timeout)
    if timeout == 0:
        readable = [obj for obj in readable if _stream(obj) is None or _really_readable(_stream(obj))]
    return readable, writable, exceptional


class Poll:
    """``select.poll()`` with exact readability of stream sockets."""

    def __init__(self) -> None:
        self._poll = _poll()
        self._streams: "dict[int, weakref.ref]" = {}

    def register(self, fd: Any, eventmask: int = select.POLLIN | select.POLLPRI | select.POLLOUT) -> None:
        sock = _stream(fd)
        if sock is not None:
            self._streams[sock.fileno()] = weakref.ref(sock)
        self._poll.register(fd, eventmask)

    def modify(self, fd: Any, eventmask: int) -> None:
        self._poll.modify(fd, eventmask)

    def unregister(self, fd: Any) -> None:
        number = fd if isinstance(fd, int) else fd.fileno()
        self._streams.pop(number, None)
        self._poll.unregister(fd)

    def _stream(self, fd: int) -> "socket.socket | None":
        ref = self._streams.get(fd)
        return ref() if ref is not None else None

    def poll(self, timeout: Any = None) -> list:
        kept = [(fd, select.POLLIN) for fd in self._streams if self._stream(fd) in _kept]
        if kept:
            return kept
        events = self._poll.poll(timeout)
        if timeout != 0:
            return events
        checked = []
        for fd, mask in events:
            sock = self._stream(fd)
            if sock is not None and mask & select.POLLIN and not _really_readable(sock):
                mask &= ~select.POLLIN
                if not mask:
                    continue
            checked.append((fd, mask))
        return checked


def install() -> None:
    """Makes zero-timeout readability checks of stream sockets exact."""
    socket.socket.recv = recv
    socket.socket.recv_into = recv_into
    socket.socket.recvfrom = recvfrom
    select.select = select_
    select.poll = Poll
