# Sends every session that opens to a syslog collector as one RFC 5424 message
# over TCP, framed by octet counting (RFC 6587):
#
#   MSG-LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
#
# e.g. (461 is the byte length of the message after it):
#   461 <109>1 2026-11-26T09:20:01.794Z hoop-host-1 hoop - session-open [hoop@32473 id="..." sid="..." user="alice@example.com" ...] session ... opened by alice@example.com on pg-prod-customers (connect)
#
# Severity 5 (notice). connection_envs (the connection's credentials) is never sent.
#
# Standard library only: Hoop runs this file with plain python3.
import datetime
import json
import os
import re
import socket
import sys

# Settings, from the environment (hookbox: --env or [env] in hookbox.toml).
# Hoop passes hooks no variables but the payload, HOME and PATH: there, edit
# the defaults here instead.
COLLECTOR = os.environ.get("SYSLOG_COLLECTOR") or "syslog.example.com:514"  # host:port, IPv6 as [addr]:port
HOSTNAME = os.environ.get("SYSLOG_HOSTNAME") or socket.gethostname()
APP_NAME = os.environ.get("SYSLOG_APP_NAME") or "hoop"
FACILITY = os.environ.get("SYSLOG_FACILITY") or "13"  # 13: log audit
SEVERITY = 5  # notice: someone opened a session
SD_ID = "hoop@32473"  # 32473 is the enterprise number reserved for examples (RFC 5612); use your own
MAX_INPUT = 2000  # characters of the session input forwarded


def header_field(value, limit):
    # Header fields are printable ASCII without spaces; "-" stands for none.
    # "(none)" is what a machine (or sandbox) without a hostname reports.
    value = "" if value == "(none)" else value
    return re.sub(r"[^\x21-\x7e]", "", value or "")[:limit] or "-"


def sd_value(value):
    # Inside a PARAM-VALUE, '"', '\' and ']' are escaped with a backslash.
    return re.sub(r'(["\\\]])', r"\\\1", str(value))


def syslog_message(msgid, params, text):
    if not FACILITY.isdigit() or int(FACILITY) > 23:
        sys.exit(f"syslog-tcp: SYSLOG_FACILITY must be a number from 0 to 23, not {FACILITY!r}")
    timestamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    header = " ".join([
        f"<{int(FACILITY) * 8 + SEVERITY}>1",
        timestamp.replace("+00:00", "Z"),
        header_field(HOSTNAME, 255),
        header_field(APP_NAME, 48),
        "-",  # PROCID
        header_field(msgid, 32),
    ])
    sd = "[" + SD_ID + "".join(f' {name}="{sd_value(value)}"' for name, value in params) + "]"
    # A UTF-8 MSG starts with a byte order mark (RFC 5424, 6.4); plain ASCII needs none.
    body = text if text.isascii() else "\ufeff" + text
    return f"{header} {sd} {body}".encode("utf-8")


def send(message):
    host, _, port = COLLECTOR.rpartition(":")
    if not host or not port.isdigit():
        sys.exit(f"syslog-tcp: SYSLOG_COLLECTOR must be host:port, not {COLLECTOR!r}")
    frame = str(len(message)).encode() + b" " + message  # octet counting
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5) as connection:
            connection.sendall(frame)
    except OSError as error:
        sys.exit(f"syslog-tcp: cannot send to {COLLECTOR}: {error}")


def main():
    payload = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
    opened = payload["event_session_open"]
    session_input = opened.get("input") or ""
    params = [
        ("id", payload["id"]),
        ("sid", payload["sid"]),
        ("user", opened.get("user_email")),
        ("verb", opened.get("verb")),
        ("connection", opened.get("connection_name")),
        ("type", opened.get("connection_type")),
        ("subtype", opened.get("connection_subtype")),
        ("reviewers", ",".join(opened.get("connection_reviewers") or [])),
        ("input", session_input[:MAX_INPUT]),
        ("input_truncated", str(len(session_input) > MAX_INPUT).lower()),
    ]
    text = (
        f"session {payload['sid']} opened by {opened.get('user_email')} "
        f"on {opened.get('connection_name')} ({opened.get('verb')})"
    )
    send(syslog_message("session-open", params, text))
    print(f"syslog-tcp: sent session-open of session {payload['sid']} to {COLLECTOR}")


main()
