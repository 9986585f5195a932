# hostile: floods both output streams
# status: ok
# truncated: stdout stderr

import sys
line = "x" * 1023 + "\n"
for _ in range(16 * 1024):
    sys.stdout.write(line)
    sys.stderr.write(line)
