"""The Hoop event a hook runs for, read from ``HOOP_RUNBOOK_HOOK_PAYLOAD``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

PAYLOAD_VARIABLE = "HOOP_RUNBOOK_HOOK_PAYLOAD"


@dataclass(frozen=True)
class SessionOpen:
    """The ``event_session_open`` part of a session-open event."""

    verb: str
    connection_name: str
    connection_type: str
    connection_subtype: str
    user_email: str
    connection_envs: dict[str, str]
    connection_reviewers: Optional[list[str]]
    input: str


@dataclass(frozen=True)
class SessionClose:
    """The ``event_session_close`` part of a session-close event."""

    exit_code: int
    output: Optional[str]


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
    open: Optional[SessionOpen]
    close: Optional[SessionClose]
    raw: dict[str, Any] = field(repr=False)
    payload: str = field(repr=False)

    @property
    def name(self) -> str:
        """``"session-open"`` or ``"session-close"``."""
        return "session-open" if self.open is not None else "session-close"


def _open_part(data: Optional[dict[str, Any]]) -> Optional[SessionOpen]:
    if not data:
        return None
    return SessionOpen(
        verb=data.get("verb", ""),
        connection_name=data.get("connection_name", ""),
        connection_type=data.get("connection_type", ""),
        connection_subtype=data.get("connection_subtype", ""),
        user_email=data.get("user_email", ""),
        connection_envs=dict(data.get("connection_envs") or {}),
        connection_reviewers=data.get("connection_reviewers"),
        input=data.get("input", ""),
    )


def _close_part(data: Optional[dict[str, Any]]) -> Optional[SessionClose]:
    if not data:
        return None
    return SessionClose(exit_code=int(data.get("exit_code", -2)), output=data.get("output"))


def parse(payload: str) -> Event:
    """Parses a payload text into an :class:`Event`.

    >>> parse('{"id": "1", "sid": "s", "event_session_close": {"exit_code": 0}}').close.exit_code
    0
    """
    raw = json.loads(payload)
    if not isinstance(raw, dict):
        raise ValueError("the payload is not a JSON object")
    return Event(
        id=raw.get("id", ""),
        sid=raw.get("sid", ""),
        command=list(raw.get("command") or []),
        input_file=raw.get("input_file", ""),
        open=_open_part(raw.get("event_session_open")),
        close=_close_part(raw.get("event_session_close")),
        raw=raw,
        payload=payload,
    )


def event() -> Event:
    """The event this hook runs for.

    >>> e = event()
    >>> print(e.sid, e.name)
    """
    return parse(os.environ[PAYLOAD_VARIABLE])
