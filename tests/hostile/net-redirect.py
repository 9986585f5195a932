# hostile: an allowed server redirects to the metadata service
# status: ok
# stdout: contained
# denied: 1

import os, urllib.request, urllib.error
try:
    urllib.request.urlopen(os.environ["REDIRECT_URL"], timeout=2)
    print("ESCAPED")
except urllib.error.URLError as error:
    print("contained", type(error.reason).__name__)
