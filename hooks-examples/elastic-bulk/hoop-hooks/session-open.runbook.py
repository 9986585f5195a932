# Indexes every session that opens into Elasticsearch or OpenSearch through the
# _bulk API. The document id is the payload's `id`, which Hoop derives from the
# session: when a session with reviews opens twice, the second document replaces
# the first instead of duplicating it. connection_envs (the connection's
# credentials) is never indexed.
#
# Standard library only: Hoop runs this file with plain python3.
import datetime
import json
import os
import sys
import urllib.error
import urllib.request

# Settings, from the environment (hookbox: --env or [env] in hookbox.toml).
# Hoop passes hooks no variables but the payload, HOME and PATH: there, edit
# the defaults here instead.
ELASTIC_URL = os.environ.get("ELASTIC_URL") or "https://elastic.example.com:9200"
API_KEY = os.environ.get("ELASTIC_API_KEY") or ""  # the encoded key; required; never printed
INDEX = os.environ.get("ELASTIC_INDEX") or "hoop-sessions"
MAX_INPUT = 10000  # characters of the session input forwarded


def bulk(lines):
    url = ELASTIC_URL.rstrip("/") + "/_bulk"
    body = "".join(json.dumps(line) + "\n" for line in lines)  # NDJSON ends with a newline
    request = urllib.request.Request(
        url,
        data=body.encode("utf-8"),
        headers={"Authorization": "ApiKey " + API_KEY, "Content-Type": "application/x-ndjson"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:300]
        sys.exit(f"elastic-bulk: {url} answered HTTP {error.code}: {detail}")
    except (urllib.error.URLError, OSError) as error:
        sys.exit(f"elastic-bulk: cannot reach {url}: {getattr(error, 'reason', error)}")
    except ValueError:
        sys.exit(f"elastic-bulk: {url} answered with something that is not JSON")
    # _bulk answers 200 even when it rejected documents: `errors` says so.
    if answer.get("errors"):
        reasons = []
        for item in answer.get("items", []):
            for result in item.values():
                error = result.get("error") or {}
                if error:
                    reasons.append(f"{error.get('type')}: {error.get('reason')}")
        sys.exit("elastic-bulk: the cluster rejected the document: " + "; ".join(reasons or ["no reason given"]))


def main():
    payload = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
    opened = payload["event_session_open"]
    if not API_KEY:
        sys.exit("elastic-bulk: ELASTIC_API_KEY is not set; nothing was sent")

    now = datetime.datetime.now(datetime.timezone.utc)
    session_input = opened.get("input") or ""
    document = {
        "@timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "event": {"kind": "event", "action": "session-open", "id": payload["id"]},
        "user": {"email": opened.get("user_email")},
        "hoop": {
            "sid": payload["sid"],
            "verb": opened.get("verb"),
            "connection": {
                "name": opened.get("connection_name"),
                "type": opened.get("connection_type"),
                "subtype": opened.get("connection_subtype"),
            },
            "reviewers": opened.get("connection_reviewers") or [],
            "input": session_input[:MAX_INPUT],
            "input_truncated": len(session_input) > MAX_INPUT,
        },
    }
    target = {"_index": INDEX, "_id": payload["id"]}

    bulk([{"index": target}, document])
    print(f"elastic-bulk: indexed session-open of session {payload['sid']} into {INDEX}")


main()
