"""The hookbox SDK for Python hooks.

``hookbox.event()`` gives the event as a typed object; ``hookbox.http`` sends
HTTP requests through the host's egress policy.
"""

from . import http as http
from .event import Event as Event
from .event import SessionClose as SessionClose
from .event import SessionOpen as SessionOpen
from .event import event as event

__all__ = ["Event", "SessionClose", "SessionOpen", "event", "http"]
