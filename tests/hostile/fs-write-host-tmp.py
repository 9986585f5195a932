# hostile: drops a file in the host's /tmp (the sandbox's /tmp is the run's own scratch folder)
# status: ok
# stdout: private
# host-absent: /tmp/hookbox-hostile-corpus-marker

try:
    open("/tmp/hookbox-hostile-corpus-marker", "w").write("x")
    print("private" if open("/tmp/hookbox-hostile-corpus-marker").read() == "x" else "lost")
except OSError as error:
    print("contained", type(error).__name__)
