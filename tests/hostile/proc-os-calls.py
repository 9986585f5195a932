# hostile: forks, signals and execs through os
# status: ok
# stdout: contained 4

import os
contained = 0
for attempt in [lambda: os.fork(), lambda: os.kill(1, 9), lambda: os.execv("/bin/sh", ["sh"]), lambda: os.system("id")]:
    try:
        result = attempt()
        if result in (None, 0):
            print("ESCAPED", result)
        else:
            contained += 1
    except (AttributeError, OSError, NotImplementedError):
        contained += 1
print("contained", contained)
