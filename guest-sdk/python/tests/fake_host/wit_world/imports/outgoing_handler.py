"""Fake ``wasi:http/outgoing-handler``: every request fails with ``error``."""

from componentize_py_types import Err

from . import types

requests = []
error = types.ErrorCode_HttpRequestDenied()


def handle(request, options):
    requests.append(request)
    raise Err(error)
