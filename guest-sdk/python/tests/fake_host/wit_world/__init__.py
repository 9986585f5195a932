"""Fake of the runner's world: the export's base class."""


class WitWorld:
    """What the runner's export subclasses."""
