# hostile: opens host devices
# status: ok
# stdout: contained 3

contained = 0
for path in ["/dev/mem", "/dev/sda", "/dev/tty"]:
    try:
        open(path, "rb").read(1)
        print("ESCAPED", path)
    except OSError:
        contained += 1
print("contained", contained)
