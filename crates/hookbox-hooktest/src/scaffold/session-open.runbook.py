# Forwards every session that opens to the SIEM as one JSON event.
# Runs unchanged under Hoop's python3 and inside hookbox.
import json
import os
import sys
import urllib.request

SIEM_URL = os.environ.get("SIEM_URL", "https://siem.example.com/events")
SIEM_TOKEN = os.environ.get("SIEM_TOKEN", "")

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
opened = event["event_session_open"]

record = {
    "kind": "session-open",
    "id": event["id"],
    "sid": event["sid"],
    "user": opened["user_email"],
    "connection": opened["connection_name"],
    "connection_type": opened["connection_type"],
    "verb": opened["verb"],
    "reviewers": opened.get("connection_reviewers") or [],
}

request = urllib.request.Request(
    SIEM_URL,
    data=json.dumps(record).encode(),
    headers={"Content-Type": "application/json", "Authorization": f"Bearer {SIEM_TOKEN}"},
    method="POST",
)
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        print(f"forwarded session {event['sid']} open: HTTP {response.status}")
except Exception as error:
    print(f"could not forward session {event['sid']}: {error}", file=sys.stderr)
    sys.exit(1)
