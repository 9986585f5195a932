# Sends every session that opens to Datadog Logs (HTTP intake, API v2): who
# opened which connection, how, with which reviewers, and the session input.
# connection_envs (the connection's credentials) is never sent.
#
# Standard library only: Hoop runs this file with plain python3.
import json
import os
import socket
import sys
import urllib.error
import urllib.request

# Settings, from the environment (hookbox: --env or [env] in hookbox.toml).
# Hoop passes hooks no variables but the payload, HOME and PATH: there, edit
# the defaults here instead.
API_KEY = os.environ.get("DD_API_KEY") or ""  # required; never printed
SITE = os.environ.get("DD_SITE") or "datadoghq.com"  # e.g. datadoghq.eu, us5.datadoghq.com
INTAKE_URL = os.environ.get("DD_LOGS_URL") or f"https://http-intake.logs.{SITE}/api/v2/logs"
SERVICE = os.environ.get("DD_SERVICE") or "hoop"
HOSTNAME = os.environ.get("DD_HOSTNAME") or socket.gethostname()
TAGS = [t.strip() for t in (os.environ.get("DD_TAGS") or "").split(",") if t.strip()]
MAX_INPUT = 10000  # characters of the session input forwarded


def send(logs):
    request = urllib.request.Request(
        INTAKE_URL,
        data=json.dumps(logs).encode("utf-8"),
        headers={"DD-API-KEY": API_KEY, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:300]
        sys.exit(f"datadog-logs: {INTAKE_URL} answered HTTP {error.code}: {detail}")
    except (urllib.error.URLError, OSError) as error:
        sys.exit(f"datadog-logs: cannot reach {INTAKE_URL}: {getattr(error, 'reason', error)}")


def main():
    payload = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
    opened = payload["event_session_open"]
    if not API_KEY:
        sys.exit("datadog-logs: DD_API_KEY is not set; nothing was sent")

    user = opened.get("user_email")
    connection = opened.get("connection_name")
    session_input = opened.get("input") or ""
    tags = [
        "event:session-open",
        f"connection:{connection}",
        f"connection_type:{opened.get('connection_type')}",
        f"connection_subtype:{opened.get('connection_subtype')}",
    ]
    log = {
        "ddsource": "hoop",
        "service": SERVICE,
        # "(none)" is what a machine (or sandbox) without a hostname reports.
        "hostname": HOSTNAME if HOSTNAME and HOSTNAME != "(none)" else "hoop",
        "status": "info",
        "message": f"session {payload['sid']} opened by {user} on {connection} ({opened.get('verb')})",
        "ddtags": ",".join(tags + TAGS),
        "usr": {"email": user},
        "hoop": {
            "event": "session-open",
            "id": payload["id"],
            "sid": payload["sid"],
            "verb": opened.get("verb"),
            "connection_name": connection,
            "connection_type": opened.get("connection_type"),
            "connection_subtype": opened.get("connection_subtype"),
            "reviewers": opened.get("connection_reviewers") or [],
            "input": session_input[:MAX_INPUT],
            "input_truncated": len(session_input) > MAX_INPUT,
        },
    }

    status = send([log])
    print(f"datadog-logs: sent session-open of session {payload['sid']} (HTTP {status})")


main()
