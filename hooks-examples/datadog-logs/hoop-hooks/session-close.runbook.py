# Sends every session that closes to Datadog Logs (HTTP intake, API v2).
# The close event carries no user or connection: search on @hoop.sid to join
# it to the session-open log. The session output (query results) is not sent,
# only its size. A non-zero exit code is logged with status "warn".
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
    closed = payload["event_session_close"]
    if not API_KEY:
        sys.exit("datadog-logs: DD_API_KEY is not set; nothing was sent")

    exit_code = closed.get("exit_code")
    log = {
        "ddsource": "hoop",
        "service": SERVICE,
        # "(none)" is what a machine (or sandbox) without a hostname reports.
        "hostname": HOSTNAME if HOSTNAME and HOSTNAME != "(none)" else "hoop",
        "status": "info" if exit_code == 0 else "warn",
        "message": f"session {payload['sid']} closed with exit code {exit_code}",
        "ddtags": ",".join(["event:session-close"] + TAGS),
        "hoop": {
            "event": "session-close",
            "id": payload["id"],
            "sid": payload["sid"],
            "exit_code": exit_code,
            "output_bytes": len((closed.get("output") or "").encode("utf-8")),
        },
    }

    status = send([log])
    print(f"datadog-logs: sent session-close of session {payload['sid']} (HTTP {status})")


main()
