"""``http.client`` served by the host's HTTP path.

Every ``HTTPConnection`` and ``HTTPSConnection`` (made directly, by
``urllib.request``'s handlers and openers, or by a library built on them) gets
a stand-in socket instead of a TCP connection. The request the standard
library writes to it is collected; once it is whole it is sent through
:mod:`hookbox.http` (the egress policy, TLS by the host, body caps, the egress
record), and the response is handed to ``HTTPResponse`` as the bytes a server
would have sent. So an ``http://`` or ``https://`` rule is all such a hook
needs, and urllib's redirects, auth handlers and error processors work as
usual, each request checked on its own.
"""

from __future__ import annotations

import http.client
import io
import socket
from typing import Optional

from . import _ssl as ssl  # the `ssl` hooks see (see _patches)
from . import http as _http
from ._errors import Kind, kind

# Headers the host manages itself (wasi:http refuses them from a guest).
_HOST_MANAGED = frozenset(
    {
        "host", "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", "http2-settings", "proxy-authorization",
        "proxy-authenticate", "expect",
    }
)
_RESPONSE_DROPPED = frozenset({"transfer-encoding", "connection", "keep-alive", "content-length"})


class _Request:
    """One whole request as the standard library wrote it."""

    def __init__(self, method: str, target: str, headers: list, body: bytes, size: int):
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.size = size


def _parse_request(buffer: bytearray) -> Optional[_Request]:
    """The first whole request in ``buffer``, or ``None`` while it is partial."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = bytes(buffer[:head_end]).decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: list = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    fields = {name.lower(): value for name, value in headers}
    start = head_end + 4
    if "chunked" in fields.get("transfer-encoding", "").lower():
        decoded = _dechunk(buffer, start)
        if decoded is None:
            return None
        body, end = decoded
    elif "content-length" in fields:
        end = start + int(fields["content-length"])
        if len(buffer) < end:
            return None
        body = bytes(buffer[start:end])
    else:
        body, end = b"", start
    return _Request(method, target, headers, body, end)


def _dechunk(buffer: bytearray, position: int):
    """The body of a chunked request and where it ends, or ``None`` if partial."""
    body = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0].strip() or b"0", 16)
        position = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", position)
            while trailer_end > position:  # skip trailer lines
                position = trailer_end + 2
                trailer_end = buffer.find(b"\r\n", position)
            if trailer_end < 0:
                return None
            return bytes(body), trailer_end + 2
        if len(buffer) < position + size + 2:
            return None
        body += buffer[position:position + size]
        position += size + 2


def _url(connection: http.client.HTTPConnection, scheme: str, target: str) -> str:
    if target.startswith(("http://", "https://")):
        return target  # absolute form, as written for a proxy
    host = f"[{connection.host}]" if ":" in connection.host else connection.host
    default_port = 443 if scheme == "https" else 80
    port = "" if connection.port in (None, default_port) else f":{connection.port}"
    return f"{scheme}://{host}{port}{target}"


def _as_stdlib_error(error: _http.HTTPError) -> OSError:
    """The exception ``http.client`` raises for the same failure on ``python3``."""
    message = str(error)
    failure = kind(error.code)
    if failure is Kind.CERTIFICATE:
        return ssl._certificate_verify_failed(message)
    if failure is Kind.TLS:
        return ssl.SSLError(message)
    if failure is Kind.CONNECT:
        return ConnectionRefusedError(message)
    if failure is Kind.TIMEOUT:
        return TimeoutError(message)
    if failure is Kind.NAME:
        return socket.gaierror(socket.EAI_NONAME, message)
    # A refusal stays EgressDenied; the rest are the SDK's HTTPError, an OSError.
    return error


def _response_bytes(method: str, response: _http.Response) -> bytes:
    reason = http.client.responses.get(response.status, "")
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    for name, value in response.headers:
        if name.lower() not in _RESPONSE_DROPPED:
            lines.append(f"{name}: {value}")
        elif method == "HEAD" and name.lower() == "content-length":
            lines.append(f"{name}: {value}")
    body = b"" if method == "HEAD" else response.body
    if method != "HEAD":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _HostSocket:
    """The stand-in socket of one connection: requests in, responses out."""

    def __init__(self, connection: http.client.HTTPConnection, scheme: str):
        self._connection = connection
        self._scheme = scheme
        self._sent = bytearray()
        self._responses: list = []

    def sendall(self, data) -> None:
        self._sent += data
        request = _parse_request(self._sent)
        if request is None:
            return
        del self._sent[: request.size]
        self._responses.append(self._exchange(request))

    def send(self, data) -> int:
        self.sendall(data)
        return len(data)

    def _exchange(self, request: _Request) -> bytes:
        url = _url(self._connection, self._scheme, request.target)
        headers = [(n, v) for n, v in request.headers if n.lower() not in _HOST_MANAGED]
        if request.body and not any(n.lower() == "content-length" for n, _ in headers):
            headers.append(("Content-Length", str(len(request.body))))
        timeout = self._connection.timeout
        context = getattr(self._connection, "_context", None)
        try:
            response = _http.request(
                request.method,
                url,
                data=request.body,
                headers=headers,
                timeout=timeout if isinstance(timeout, (int, float)) else None,
                verify=context is None or ssl._verifies(context),
                client_certificate=getattr(context, "_client_identity", None),
            )
        except _http.HTTPError as error:
            raise _as_stdlib_error(error) from None
        return _response_bytes(request.method, response)

    def makefile(self, mode: str = "rb", *args, **kwargs):
        if not self._responses:
            pending = f" ({len(self._sent)} bytes of it so far)" if self._sent else ""
            raise http.client.ResponseNotReady(
                f"hookbox: a response was asked for before a whole request was sent{pending}"
            )
        return io.BytesIO(self._responses.pop(0))

    def setsockopt(self, *args) -> None:
        pass

    def settimeout(self, timeout) -> None:
        pass

    def close(self) -> None:
        pass


def _connect(self: http.client.HTTPConnection) -> None:
    """``HTTPConnection.connect``: a stand-in socket, nothing on the network yet."""
    if self._tunnel_host:
        raise OSError(
            f"hookbox: proxies are not used in the sandbox (CONNECT to {self._tunnel_host} "
            f"through {self.host}); requests go straight to the host the egress policy allows"
        )
    https = isinstance(self, getattr(http.client, "HTTPSConnection", ()))
    self.sock = _HostSocket(self, "https" if https else "http")


def install() -> None:
    """Serves every ``http.client`` connection through the host."""
    http.client.HTTPConnection.connect = _connect
    http.client.HTTPSConnection.connect = _connect
