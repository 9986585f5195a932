# hostile: reads the connection's stored credentials from the payload
# status: ok
# stdout: contained

import json, os
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
values = set(event["event_session_open"]["connection_envs"].values())
print("contained" if values == {"[redacted by hookbox]"} else "ESCAPED %r" % values)
