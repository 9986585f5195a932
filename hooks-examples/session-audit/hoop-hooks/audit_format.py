"""Formats Hoop session events as one audit line (shared by both hooks)."""

import datetime


def audit_line(event: dict) -> str:
    """One human-readable line describing the event."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    opened = event.get("event_session_open")
    closed = event.get("event_session_close")
    if opened:
        reviewers = ", ".join(opened.get("connection_reviewers") or []) or "none"
        return (
            f"{now} session {event['sid']} opened by {opened['user_email']} "
            f"on {opened['connection_name']} ({opened['connection_type']}/"
            f"{opened['connection_subtype']}), reviewers: {reviewers}"
        )
    if closed:
        return f"{now} session {event['sid']} closed with exit code {closed['exit_code']}"
    raise ValueError("the payload has neither event_session_open nor event_session_close")
