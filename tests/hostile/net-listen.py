# hostile: listens for connections
# status: ok
# stdout: contained

import socket
sock = socket.socket()
try:
    sock.bind(("0.0.0.0", 8080))
    sock.listen()
    print("ESCAPED")
except OSError as error:
    print("contained", type(error).__name__)
