# hostile: looks for the host's environment
# status: ok
# stdout: contained

import os
# Besides the payload, only what the operator passed (here the corpus's
# receiver addresses) may be set.
passed = {"HOOP_RUNBOOK_HOOK_PAYLOAD", "REDIRECT_URL", "ENDLESS_URL", "RECEIVER_PORT"}
leaked = sorted(set(os.environ) - passed)
print("ESCAPED %s" % leaked if leaked else "contained")
