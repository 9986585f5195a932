# Posts a Slack message when a session opens on a production database, so the
# team sees who is in production right now. Any other session sends nothing and
# says why on stdout.
#
# A session is "production" when BOTH hold:
#   - connection_type is "database", and
#   - connection_name matches PROD_CONNECTION_REGEX (case-insensitive). The default
#     matches "prod" or "production" as a whole word of the name, separated by
#     "-", "_" or ".": pg-prod-customers, prod_mysql, orders.production match;
#     product-catalog and reproduce-bug do not.
#
# Standard library only: Hoop runs this file with plain python3.
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

# Settings, from the environment (hookbox: --env or [env] in hookbox.toml).
# Hoop passes hooks no variables but the payload, HOME and PATH: there, edit
# the defaults here instead.
WEBHOOK_URL = os.environ.get("SLACK_WEBHOOK_URL") or ""  # required; a secret, never printed
PROD_REGEX = os.environ.get("PROD_CONNECTION_REGEX") or r"(^|[-_.])prod(uction)?([-_.]|$)"


def why_not_production(opened):
    """None for a production database session, else the reason it is not one."""
    if (opened.get("connection_type") or "").lower() != "database":
        return "is not a database connection"
    if not re.search(PROD_REGEX, opened.get("connection_name") or "", re.IGNORECASE):
        return f"does not match PROD_CONNECTION_REGEX {PROD_REGEX!r}"
    return None


def escape(text):
    # Slack's mrkdwn treats &, < and > as markup.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def post(message):
    host = urllib.parse.urlsplit(WEBHOOK_URL).hostname  # the path is the secret part
    request = urllib.request.Request(
        WEBHOOK_URL,
        data=json.dumps(message).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:300]
        sys.exit(f"slack-prod-alert: the Slack webhook at {host} answered HTTP {error.code}: {detail}")
    except (urllib.error.URLError, OSError) as error:
        reason = str(getattr(error, "reason", error)).replace(WEBHOOK_URL, f"https://{host}/...")
        sys.exit(f"slack-prod-alert: cannot reach the Slack webhook at {host}: {reason}")


def main():
    payload = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
    opened = payload["event_session_open"]
    connection = opened.get("connection_name")
    try:
        why_not = why_not_production(opened)
    except re.error as error:
        sys.exit(f"slack-prod-alert: PROD_CONNECTION_REGEX {PROD_REGEX!r} is not a valid regex: {error}")
    if why_not:
        print(f"slack-prod-alert: no alert: connection {connection!r} {why_not}")
        return
    if not WEBHOOK_URL:
        sys.exit("slack-prod-alert: SLACK_WEBHOOK_URL is not set; no alert was sent")

    reviewers = opened.get("connection_reviewers") or []
    kind = f"{opened.get('connection_type')}/{opened.get('connection_subtype')}"
    # The session input and connection_envs are left out: a channel is no place for either.
    lines = [
        ":rotating_light: *Production database session opened*",
        f"*User:* {escape(opened.get('user_email'))}",
        f"*Verb:* {escape(opened.get('verb'))}",
        f"*Connection:* {escape(connection)} ({escape(kind)})",
        "*Reviewers:* " + (escape(", ".join(reviewers)) if reviewers else "none (no review required)"),
        f"*Session:* {escape(payload['sid'])}",
    ]
    status = post({"text": "\n".join(lines)})
    print(f"slack-prod-alert: alerted on session {payload['sid']} on {connection} (HTTP {status})")


main()
