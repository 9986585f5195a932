"""Fake ``hookbox:runner/code``."""

source = b""
cached = None
stored = []


def hook_source():
    return source, cached


def store(code):
    stored.append(code)
