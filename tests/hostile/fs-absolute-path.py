# hostile: reads host files by absolute path
# status: ok
# stdout: contained 4

contained = 0
for path in ["/etc/passwd", "/etc/shadow", "/root/.ssh/id_rsa", "/var/run/docker.sock"]:
    try:
        open(path, "rb").read()
        print("ESCAPED", path)
    except OSError:
        contained += 1
print("contained", contained)
