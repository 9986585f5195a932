"""Routes ``urllib.request`` through :mod:`hookbox.http`.

The handler serves ``http`` and ``https`` URLs; urllib's own processors keep
their usual behaviour (``HTTPError`` for 4xx/5xx, redirects followed by making
a new request, which the egress policy checks again).
"""

from __future__ import annotations

import http.client
import io
import urllib.error
import urllib.request
import urllib.response

from . import http as _http


class HookboxHandler(urllib.request.HTTPHandler):
    """Opens ``http://`` and ``https://`` URLs through the sandbox's HTTP."""

    def http_open(self, req: urllib.request.Request):  # noqa: D102 - urllib protocol
        return self._open(req)

    def https_open(self, req: urllib.request.Request):  # noqa: D102 - urllib protocol
        return self._open(req)

    def _open(self, req: urllib.request.Request):
        headers = dict(req.header_items())
        # The host sets Host from the URL and manages the connection itself.
        headers.pop("Host", None)
        headers.pop("Connection", None)
        timeout = req.timeout if isinstance(req.timeout, (int, float)) else None
        try:
            response = _http.request(
                req.get_method(), req.full_url, data=req.data, headers=headers, timeout=timeout
            )
        except _http.HTTPError as error:
            raise urllib.error.URLError(error) from None
        message = http.client.HTTPMessage()
        for name, value in response.headers:
            message[name] = value
        result = urllib.response.addinfourl(
            io.BytesIO(response.body), message, req.full_url, response.status
        )
        result.msg = http.client.responses.get(response.status, "")
        return result


def install() -> None:
    """Makes ``urllib.request.urlopen`` use the sandbox's HTTP."""
    urllib.request.install_opener(urllib.request.build_opener(HookboxHandler))
