"""Fake ``wasi:io/streams`` errors."""


class StreamError_Closed:
    """The stream ended."""
