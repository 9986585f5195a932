"""``socket`` inside the sandbox: raw TCP/UDP reach only what a ``tcp://`` or
``udp://`` rule names by address, so ``getaddrinfo`` answers numeric hosts
itself and refuses to look names up (a lookup alone could carry data out).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any


def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> list:
    """``socket.getaddrinfo`` for IP address literals only."""
    text = host.decode() if isinstance(host, bytes) else str(host or "127.0.0.1")
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        raise socket.gaierror(
            socket.EAI_NONAME,
            f"cannot look up {text!r}: name lookups are off in the hookbox sandbox; "
            "connect to the collector's IP address (allowed by a tcp:// or udp:// rule)",
        ) from None
    address_family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    if family not in (0, socket.AF_UNSPEC, address_family):
        raise socket.gaierror(socket.EAI_FAMILY, "address family does not match the address")
    number = int(port) if port not in (None, "") else 0
    kinds = [type] if type else [socket.SOCK_STREAM, socket.SOCK_DGRAM]
    results = []
    for kind in kinds:
        protocol = proto or (socket.IPPROTO_TCP if kind == socket.SOCK_STREAM else socket.IPPROTO_UDP)
        target = (str(address), number) if address.version == 4 else (str(address), number, 0, 0)
        results.append((address_family, kind, protocol, "", target))
    return results


def install() -> None:
    """Makes ``socket.getaddrinfo`` (and so ``create_connection``) work on IPs."""
    socket.getaddrinfo = getaddrinfo
