# hostile: reads a response that never ends, past its deadline
# status: timeout

import os, urllib.request
with urllib.request.urlopen(os.environ["ENDLESS_URL"]) as response:
    while response.read(1024):
        pass
print("ESCAPED")
