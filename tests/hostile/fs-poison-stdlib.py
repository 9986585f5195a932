# hostile: overwrites a standard-library module for the next hook
# status: ok
# stdout: contained

import json, os
try:
    with open(json.__file__, "a") as module:
        module.write("raise SystemExit('poisoned')")
    print("ESCAPED")
except OSError as error:
    print("contained", type(error).__name__)
