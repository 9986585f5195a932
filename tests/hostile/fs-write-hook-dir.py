# hostile: rewrites its own hook and drops files beside it
# status: ok
# stdout: contained 3

import os
contained = 0
for attempt in [lambda: open("/hook/session-close.runbook.py", "a").write("# owned"),
                lambda: open("/hook/dropped", "w").write("x"),
                lambda: os.rename("/hook/session-close.runbook.py", "/hook/x")]:
    try:
        attempt()
        print("ESCAPED")
    except OSError:
        contained += 1
print("contained", contained)
