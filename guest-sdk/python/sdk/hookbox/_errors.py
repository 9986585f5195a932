"""One taxonomy of what can go wrong on the way to the network.

The host reports a failed request as a ``wasi:http`` error code
(``HTTPError.code``); each code is one :class:`Kind`, named here once. Each
shim then says what a kind means to what it stands in for: ``curl``'s exit
codes (:mod:`hookbox._curl`), the standard library's exceptions
(:mod:`hookbox._httpclient`).
"""

from __future__ import annotations

import enum


class Kind(enum.Enum):
    """What kind of failure a ``wasi:http`` error code is."""

    REFUSED = "the egress policy refused it"
    NAME = "the name does not resolve"
    CONNECT = "the connection was refused"
    UNREACHABLE = "the destination cannot be reached"
    TIMEOUT = "it took too long"
    CERTIFICATE = "the server's certificate is not trusted"
    TLS = "the TLS handshake failed"
    REQUEST_TOO_LARGE = "the request body is over the cap"
    RESPONSE_TOO_LARGE = "the response body is over the cap"
    OTHER = "anything else"


_BY_CODE = {
    "HttpRequestDenied": Kind.REFUSED,
    "DnsError": Kind.NAME,
    "DnsTimeout": Kind.NAME,
    "DestinationNotFound": Kind.NAME,
    "ConnectionRefused": Kind.CONNECT,
    "DestinationUnavailable": Kind.UNREACHABLE,
    "DestinationIpUnroutable": Kind.UNREACHABLE,
    "ConnectionTimeout": Kind.TIMEOUT,
    "ConnectionReadTimeout": Kind.TIMEOUT,
    "ConnectionWriteTimeout": Kind.TIMEOUT,
    "HttpResponseTimeout": Kind.TIMEOUT,
    "TlsCertificateError": Kind.CERTIFICATE,
    "TlsProtocolError": Kind.TLS,
    "TlsAlertReceived": Kind.TLS,
    "HttpRequestBodySize": Kind.REQUEST_TOO_LARGE,
    "HttpResponseBodySize": Kind.RESPONSE_TOO_LARGE,
}


def kind(code: str) -> Kind:
    """The kind of the ``wasi:http`` error ``code`` (``ConnectionRefused``...)."""
    return _BY_CODE.get(code, Kind.OTHER)
