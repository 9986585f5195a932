"""Fake ``wasi:cli/environment``."""

arguments = ["/hook/session-open.runbook.py"]
variables = []


def get_arguments():
    return list(arguments)


def get_environment():
    return list(variables)
