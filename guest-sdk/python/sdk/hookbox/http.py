"""HTTP from a hook, through the host's egress policy (``wasi:http``).

Every request is checked by hookbox before anything leaves the machine: a
refusal raises :class:`EgressDenied` carrying the reason, a transport failure
(refused connection, timeout, TLS) raises :class:`HTTPError`. Redirects are
not followed here; ``urllib.request`` and ``curl -L`` follow them by making a
new request, which is checked again.
"""

from __future__ import annotations

import base64
import json as _json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Union
from urllib.parse import urlsplit

from . import _host
from ._host import Err, StreamError_Closed, outgoing_handler, types

_CHUNK = 4096  # the most blocking_write_and_flush accepts at once
_READ = 64 * 1024

Headers = Union[Mapping[str, str], Iterable[tuple[str, str]]]


class HTTPError(OSError):
    """The request could not be completed (connection, timeout, TLS, size cap)."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code


class EgressDenied(HTTPError):
    """hookbox's egress policy refused the request; ``reason`` says why.

    The message shows the URL as hookbox shows URLs everywhere (no user
    info or query, a webhook's secret path masked); ``url`` is the hook's own.
    """

    def __init__(self, url: str, reason: str):
        super().__init__(f"egress denied: {shown_url(url)}: {reason}", "HttpRequestDenied")
        self.url = url
        self.reason = reason


def shown_url(url: str) -> str:
    """``url`` as it may appear in a message: without user info or query,
    a webhook's secret path masked (the host's one rule for every text)."""
    return _host.shown_url(url)


@dataclass
class Response:
    """An HTTP response: status, headers (in order) and the whole body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    url: str

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of a header, case-insensitively.

        >>> post("https://siem.example.com/events", json={}).header("content-type")
        """
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    def text(self, encoding: str = "utf-8") -> str:
        """The body decoded as text.

        >>> get("https://siem.example.com/health").text()
        """
        return self.body.decode(encoding, errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        >>> get("https://siem.example.com/status").json()["ok"]
        """
        return _json.loads(self.body)

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300


_METHODS = {
    "GET": types.Method_Get,
    "HEAD": types.Method_Head,
    "POST": types.Method_Post,
    "PUT": types.Method_Put,
    "DELETE": types.Method_Delete,
    "CONNECT": types.Method_Connect,
    "OPTIONS": types.Method_Options,
    "TRACE": types.Method_Trace,
    "PATCH": types.Method_Patch,
}


def _method(name: str) -> types.Method:
    factory = _METHODS.get(name.upper())
    return factory() if factory else types.Method_Other(name)


def _header_list(headers: Optional[Headers]) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(k), str(v)) for k, v in items]


def _has(headers: list[tuple[str, str]], name: str) -> bool:
    return any(k.lower() == name for k, _ in headers)


def _error_name(code: object) -> str:
    return type(code).__name__.removeprefix("ErrorCode_")


def _raise_for(code: object, url: str) -> None:
    if isinstance(code, types.ErrorCode_HttpRequestDenied):
        reason = _host.last_denial() or "refused by the egress policy"
        raise EgressDenied(url, reason)
    detail = getattr(code, "value", None)
    if isinstance(code, (types.ErrorCode_HttpRequestBodySize, types.ErrorCode_HttpResponseBodySize)):
        which = "request" if isinstance(code, types.ErrorCode_HttpRequestBodySize) else "response"
        cap = f"{detail}-byte " if detail is not None else ""
        raise HTTPError(
            f"the {which} body is over hookbox's {cap}cap (--max-http-body) ({shown_url(url)})",
            _error_name(code),
        )
    suffix = f": {detail}" if detail not in (None, "") else ""
    raise HTTPError(f"{_error_name(code)}{suffix} ({shown_url(url)})", _error_name(code))


def _seconds_to_ns(seconds: float) -> int:
    return max(1, int(seconds * 1_000_000_000))


def _write_body(outgoing: types.OutgoingBody, body: bytes) -> None:
    with outgoing.write() as stream:
        for offset in range(0, len(body), _CHUNK):
            stream.blocking_write_and_flush(body[offset : offset + _CHUNK])
    types.OutgoingBody.finish(outgoing, None)


def _read_body(response: types.IncomingResponse) -> bytes:
    chunks = []
    incoming = response.consume()
    with incoming.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(_READ))
            except Err as error:
                if isinstance(error.value, StreamError_Closed):
                    break
                raise HTTPError(f"reading the response failed: {error.value}", "ResponseBody") from None
    types.IncomingBody.finish(incoming)
    return b"".join(chunks)


def request(
    method: str,
    url: str,
    *,
    json: Any = None,
    data: Union[bytes, str, None] = None,
    headers: Optional[Headers] = None,
    timeout: Optional[float] = None,
    verify: bool = True,
    client_certificate: "Optional[tuple[bytes, bytes]]" = None,
) -> Response:
    """Sends one request and returns the response (any status).

    ``json`` is serialized and sent with ``Content-Type: application/json``;
    ``data`` is sent as is (``str`` as UTF-8). ``timeout`` (seconds) bounds the
    connect and each wait for data; the hook's own deadline always applies.
    ``verify=False`` asks not to verify the server's certificate, which the
    host grants only where the operator's ``unverified_tls`` rules name the
    destination; elsewhere it verifies all the same. ``client_certificate``
    is a certificate chain and its unencrypted key, PEM, offered if the
    server asks for one.

    >>> request("PUT", "https://siem.example.com/events/1", json={"ok": True}).status
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} in {shown_url(url)!r}; use http or https")
    if not parts.hostname:
        raise ValueError(f"no host in URL {shown_url(url)!r}")
    header_list = _header_list(headers)
    body = b""
    if json is not None:
        body = _json.dumps(json).encode()
        if not _has(header_list, "content-type"):
            header_list.append(("Content-Type", "application/json"))
    elif data is not None:
        body = data.encode() if isinstance(data, str) else bytes(data)
    if parts.username is not None and not _has(header_list, "authorization"):
        credentials = f"{parts.username}:{parts.password or ''}".encode()
        header_list.append(("Authorization", "Basic " + base64.b64encode(credentials).decode()))
    if body and not _has(header_list, "content-length"):
        header_list.append(("Content-Length", str(len(body))))

    try:
        fields = types.Fields.from_list([(k, v.encode()) for k, v in header_list])
    except Err as error:
        raise ValueError(f"header not allowed: {type(error.value).__name__.removeprefix('HeaderError_')}") from None
    outgoing = types.OutgoingRequest(fields)
    authority = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port is not None:
        authority = f"{authority}:{parts.port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The host refuses what HTTP cannot carry (a method or path with control
    # characters, say) without a reason; say which part it was.
    for setter, value, what in (
        (outgoing.set_method, _method(method), f"HTTP method {method!r}"),
        (outgoing.set_authority, authority, f"host in URL {shown_url(url)!r}"),
        (outgoing.set_path_with_query, path, f"path in URL {shown_url(url)!r}"),
    ):
        try:
            setter(value)
        except Err:
            raise ValueError(f"invalid {what}") from None
    outgoing.set_scheme(types.Scheme_Https() if scheme == "https" else types.Scheme_Http())

    options = None
    if timeout is not None:
        options = types.RequestOptions()
        options.set_connect_timeout(_seconds_to_ns(timeout))
        options.set_first_byte_timeout(_seconds_to_ns(timeout))
        options.set_between_bytes_timeout(_seconds_to_ns(timeout))

    outgoing_body = outgoing.body()
    _host.verify_next_request(verify or scheme != "https")
    _host.identify_next_request(client_certificate if scheme == "https" else None)
    try:
        future = outgoing_handler.handle(outgoing, options)
    except Err as error:
        _raise_for(error.value, url)
    try:
        _write_body(outgoing_body, body)
    except Err:
        pass  # the request failed; the response future says why
    with future:
        while True:
            result = future.get()
            if result is not None:
                break
            with future.subscribe() as pollable:
                pollable.block()
    if isinstance(result, Err):
        raise HTTPError(f"the response was already taken ({shown_url(url)})")
    inner = result.value
    if isinstance(inner, Err):
        _raise_for(inner.value, url)
    with inner.value as response:
        status = response.status()
        with response.headers() as fields:
            response_headers = [(k, v.decode("latin-1")) for k, v in fields.entries()]
        response_body = _read_body(response)
    return Response(status=status, headers=response_headers, body=response_body, url=url)


def get(url: str, **kwargs: Any) -> Response:
    """``request("GET", url, ...)``.

    >>> get("https://siem.example.com/health").ok
    """
    return request("GET", url, **kwargs)


def post(url: str, **kwargs: Any) -> Response:
    """``request("POST", url, ...)``.

    >>> post("https://siem.example.com/events", json=hookbox.event().raw).status
    """
    return request("POST", url, **kwargs)
