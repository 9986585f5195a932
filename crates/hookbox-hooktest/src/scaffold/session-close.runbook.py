# Forwards every session that closes, with its exit code, to the SIEM.
# Runs unchanged under Hoop's python3 and inside hookbox.
import json
import os
import sys
import urllib.request

SIEM_URL = os.environ.get("SIEM_URL", "https://siem.example.com/events")
SIEM_TOKEN = os.environ.get("SIEM_TOKEN", "")

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
closed = event["event_session_close"]

record = {
    "kind": "session-close",
    "id": event["id"],
    "sid": event["sid"],
    "exit_code": closed["exit_code"],
    "failed": closed["exit_code"] != 0,
}

request = urllib.request.Request(
    SIEM_URL,
    data=json.dumps(record).encode(),
    headers={"Content-Type": "application/json", "Authorization": f"Bearer {SIEM_TOKEN}"},
    method="POST",
)
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        print(f"forwarded session {event['sid']} close: HTTP {response.status}")
except Exception as error:
    print(f"could not forward session {event['sid']}: {error}", file=sys.stderr)
    sys.exit(1)
