# hostile: a name a rule allows that resolves to loopback (DNS rebinding)
# status: ok
# stdout: contained
# denied: 1

import os, urllib.request, urllib.error
try:
    urllib.request.urlopen("http://localhost:%s/" % os.environ["RECEIVER_PORT"], timeout=2)
    print("ESCAPED")
except urllib.error.URLError as error:
    print("contained", type(error.reason).__name__)
