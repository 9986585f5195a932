"""``socket`` inside the sandbox: raw TCP/UDP reach only what ``tcp://`` or
``udp://`` rules allow. ``getaddrinfo`` answers IP literals itself and asks the
host to look up a name, which it does only when a socket rule names it (a
lookup alone could carry data out); the addresses it returns are the ones that
rule then reaches. A refused ``connect`` or ``sendto`` raises
``PermissionError`` naming the destination and the host's reason, not a bare
errno.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any

from . import _host
from ._host import Err


def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> list:
    """``socket.getaddrinfo`` through the sandbox's egress rules."""
    text = host.decode() if isinstance(host, bytes) else str(host or "127.0.0.1")
    try:
        addresses = [ipaddress.ip_address(text.strip("[]"))]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a) for a in _host.resolve(text)]
        except Err as refused:
            raise socket.gaierror(socket.EAI_NONAME, f"cannot look up {text!r}: {refused.value}") from None
    results = []
    for address in addresses:
        results.extend(_entries(address, port, family, type, proto))
    if not results:
        raise socket.gaierror(socket.EAI_FAMILY, f"{text!r} has no address of the family asked for")
    return results


def _entries(address: Any, port: Any, family: int, type: int, proto: int) -> list:
    address_family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    if family not in (0, socket.AF_UNSPEC, address_family):
        return []
    number = int(port) if port not in (None, "") else 0
    kinds = [type] if type else [socket.SOCK_STREAM, socket.SOCK_DGRAM]
    results = []
    for kind in kinds:
        protocol = proto or (socket.IPPROTO_TCP if kind == socket.SOCK_STREAM else socket.IPPROTO_UDP)
        target = (str(address), number) if address.version == 4 else (str(address), number, 0, 0)
        results.append((address_family, kind, protocol, "", target))
    return results


def _refused(sock: socket.socket, address: Any) -> PermissionError:
    scheme = "tcp" if sock.type == socket.SOCK_STREAM else "udp"
    host, port = address[0], address[1]
    host = f"[{host}]" if ":" in str(host) else host
    reason = _host.last_denial() or "refused by the egress policy"
    return PermissionError(errno.EACCES, f"egress denied: {scheme}://{host}:{port}: {reason}")


_connect = socket.socket.connect
_sendto = socket.socket.sendto


def _checked_connect(self: socket.socket, address: Any) -> None:
    try:
        _connect(self, address)
    except PermissionError:
        raise _refused(self, address) from None


def _checked_sendto(self: socket.socket, data: Any, *args: Any) -> int:
    try:
        return _sendto(self, data, *args)
    except PermissionError:
        raise _refused(self, args[-1]) from None


def install() -> None:
    """Makes ``socket.getaddrinfo`` (and so ``create_connection``) use the
    host, and refusals say what was refused and why."""
    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = _checked_connect
    socket.socket.sendto = _checked_sendto
