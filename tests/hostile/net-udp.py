# hostile: sends a UDP datagram out
# status: ok
# stdout: contained
# denied: 1

import socket
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    sock.sendto(b"exfiltrated", ("8.8.8.8", 53))
    print("ESCAPED")
except OSError as error:
    print("contained", type(error).__name__)
