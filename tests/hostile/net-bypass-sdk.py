# hostile: calls wasi:http directly, around every Python wrapper
# status: ok
# stdout: contained
# denied: 1

import http.client
try:
    connection = http.client.HTTPConnection("10.0.0.1", 80, timeout=2)
    connection.request("GET", "/")
    connection.getresponse()
    print("ESCAPED")
except OSError as error:
    print("contained", type(error).__name__)
