# hostile: reads /proc for the host's environment, memory maps and command line
# status: ok
# stdout: contained 4

contained = 0
for path in ["/proc/self/environ", "/proc/self/maps", "/proc/1/cmdline", "/proc/self/mem"]:
    try:
        open(path, "rb").read(64)
        print("ESCAPED", path)
    except OSError:
        contained += 1
print("contained", contained)
