"""Fake of componentize-py's result types: a WIT error arrives as ``Err``."""


class Err(Exception):
    """A WIT ``result``'s error, carrying its value."""

    def __init__(self, value=None):
        super().__init__(value)
        self.value = value
