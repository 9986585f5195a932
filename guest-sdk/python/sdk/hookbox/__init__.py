"""The hookbox SDK for Python hooks.

``hookbox.event()`` gives the event as a typed object; ``hookbox.http`` sends
HTTP requests through the host's egress policy. Plain ``os.environ`` +
``json``, ``urllib.request`` and ``subprocess.run(["curl", ...])`` keep working
as well: they go through the same path.
"""

from . import http
from .event import Event, SessionClose, SessionOpen, event

__all__ = ["Event", "SessionClose", "SessionOpen", "event", "http"]
