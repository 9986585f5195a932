# Forwards every session that closes to Splunk's HTTP Event Collector (HEC).
# The close event carries no user or connection: Splunk joins it to the
# session-open event on `sid`. The session output (query results) is not
# forwarded, only its size.
#
# Standard library only: Hoop runs this file with plain python3.
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

# Settings, from the environment (hookbox: --env or [env] in hookbox.toml).
# Hoop passes hooks no variables but the payload, HOME and PATH: there, edit
# the defaults here instead.
HEC_URL = os.environ.get("SPLUNK_HEC_URL") or "https://hec.example.com:8088"
HEC_TOKEN = os.environ.get("SPLUNK_HEC_TOKEN") or ""  # required; never printed
INDEX = os.environ.get("SPLUNK_INDEX") or ""  # empty: the token's default index
HOST = os.environ.get("SPLUNK_HOST") or socket.gethostname()


def send(event):
    url = HEC_URL.rstrip("/") + "/services/collector/event"
    request = urllib.request.Request(
        url,
        data=json.dumps(event).encode("utf-8"),
        headers={"Authorization": "Splunk " + HEC_TOKEN, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:300]
        sys.exit(f"splunk-hec: {url} answered HTTP {error.code}: {detail}")
    except (urllib.error.URLError, OSError) as error:
        sys.exit(f"splunk-hec: cannot reach {url}: {getattr(error, 'reason', error)}")


def main():
    payload = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
    closed = payload["event_session_close"]
    if not HEC_TOKEN:
        sys.exit("splunk-hec: SPLUNK_HEC_TOKEN is not set; nothing was sent")

    event = {
        "time": round(time.time(), 3),
        # "(none)" is what a machine (or sandbox) without a hostname reports.
        "host": HOST if HOST and HOST != "(none)" else "hoop",
        "source": "hoop",
        "sourcetype": "hoop:session",
        "event": {
            "action": "session-close",
            "id": payload["id"],
            "sid": payload["sid"],
            "exit_code": closed.get("exit_code"),
            "output_bytes": len((closed.get("output") or "").encode("utf-8")),
        },
    }
    if INDEX:
        event["index"] = INDEX

    status = send(event)
    print(f"splunk-hec: forwarded session-close of session {payload['sid']} (HTTP {status})")


main()
