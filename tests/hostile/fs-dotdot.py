# hostile: climbs out of the hook directory with ..
# status: ok
# stdout: contained 4

contained = 0
for path in ["../etc/passwd", "../../../../../../etc/passwd", "/hook/../etc/passwd", "/hook/./../../etc/hostname"]:
    try:
        open(path).read()
        print("ESCAPED", path)
    except OSError:
        contained += 1
print("contained", contained)
