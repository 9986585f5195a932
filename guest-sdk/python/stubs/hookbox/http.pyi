"""HTTP from a hook, through the host's egress policy (``wasi:http``).

Every request is checked by hookbox before anything leaves the machine: a
refusal raises :class:`EgressDenied` carrying the reason, a transport failure
(refused connection, timeout, TLS) raises :class:`HTTPError`. Redirects are
not followed here.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

Headers: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]

class HTTPError(OSError):
    """The request could not be completed (connection, timeout, TLS, size cap)."""

    code: str
    def __init__(self, message: str, code: str = "") -> None: ...

class EgressDenied(HTTPError):
    """hookbox's egress policy refused the request; ``reason`` says why."""

    url: str
    reason: str
    def __init__(self, url: str, reason: str) -> None: ...

def shown_url(url: str) -> str:
    """``url`` as it may appear in a message: without user info or query,
    a webhook's secret path masked (the host's one rule for every text)."""
    ...

@dataclass
class Response:
    """An HTTP response: status, headers (in order) and the whole body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    url: str
    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of a header, case-insensitively."""

    def text(self, encoding: str = "utf-8") -> str:
        """The body decoded as text."""

    def json(self) -> Any:
        """The body parsed as JSON."""

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""

def request(
    method: str,
    url: str,
    *,
    json: Any = None,
    data: bytes | str | None = None,
    headers: Headers | None = None,
    timeout: float | None = None,
    verify: bool = True,
    client_certificate: tuple[bytes, bytes] | None = None,
) -> Response:
    """Sends one request and returns the response (any status)."""

def get(url: str, **kwargs: Any) -> Response:
    """``request("GET", url, ...)``."""

def post(url: str, **kwargs: Any) -> Response:
    """``request("POST", url, ...)``."""
