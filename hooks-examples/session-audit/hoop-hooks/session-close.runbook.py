# Prints an audit line for every session that closes.
import json
import os

from audit_format import audit_line

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
print(audit_line(event))
