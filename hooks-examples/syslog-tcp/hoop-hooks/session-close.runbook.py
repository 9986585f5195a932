# Sends every session that closes to a syslog collector as one RFC 5424 message
# over TCP, framed by octet counting (RFC 6587):
#
#   MSG-LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
#
# Severity 6 (informational). The close event carries no user or connection:
# the collector joins it to the session-open message on the `sid` parameter.
# The session output (query results) is not sent, only its size.
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
SEVERITY = 6  # informational
SD_ID = "hoop@32473"  # 32473 is the enterprise number reserved for examples (RFC 5612); use your own


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
    closed = payload["event_session_close"]
    params = [
        ("id", payload["id"]),
        ("sid", payload["sid"]),
        ("exit_code", closed.get("exit_code")),
        ("output_bytes", len((closed.get("output") or "").encode("utf-8"))),
    ]
    text = f"session {payload['sid']} closed with exit code {closed.get('exit_code')}"
    send(syslog_message("session-close", params, text))
    print(f"syslog-tcp: sent session-close of session {payload['sid']} to {COLLECTOR}")


main()
