# hostile: drops a file in the host's /tmp
# status: ok
# stdout: contained
# host-absent: /tmp/hookbox-hostile-corpus-marker

try:
    open("/tmp/hookbox-hostile-corpus-marker", "w").write("x")
    print("ESCAPED")
except OSError as error:
    print("contained", type(error).__name__)
