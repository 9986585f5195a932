# hostile: opens a raw TCP connection to a host service
# status: ok
# stdout: contained
# denied: 1

import socket
try:
    socket.create_connection(("127.0.0.1", 22), timeout=2)
    print("ESCAPED")
except OSError as error:
    print("contained", type(error).__name__)
