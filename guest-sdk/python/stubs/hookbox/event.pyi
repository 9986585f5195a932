"""The Hoop event a hook runs for, read from ``HOOP_RUNBOOK_HOOK_PAYLOAD``."""

from dataclasses import dataclass
from typing import Any

PAYLOAD_VARIABLE: str
"""``"HOOP_RUNBOOK_HOOK_PAYLOAD"``: the environment variable holding the payload."""

@dataclass(frozen=True)
class SessionOpen:
    """The ``event_session_open`` part of a session-open event."""

    verb: str
    connection_name: str
    connection_type: str
    connection_subtype: str
    user_email: str
    connection_envs: dict[str, str]
    connection_reviewers: list[str] | None
    input: str

@dataclass(frozen=True)
class SessionClose:
    """The ``event_session_close`` part of a session-close event."""

    exit_code: int
    output: str | None

@dataclass(frozen=True)
class Event:
    """One Hoop session event.

    ``id`` is deterministic per event (a repeated session-open has the same
    id), so receivers can de-duplicate on it. ``open`` or ``close`` is set,
    depending on the event. ``raw`` is the whole payload as parsed JSON and
    ``payload`` the exact text Hoop sent.
    """

    id: str
    sid: str
    command: list[str]
    input_file: str
    open: SessionOpen | None
    close: SessionClose | None
    raw: dict[str, Any]
    payload: str
    @property
    def name(self) -> str:
        """``"session-open"`` or ``"session-close"``."""

def parse(payload: str) -> Event:
    """Parses a payload text into an :class:`Event`."""

def event() -> Event:
    """The event this hook runs for."""
