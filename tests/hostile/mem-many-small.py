# hostile: a million small allocations, then more
# status: memory_exceeded

hoard = []
while True:
    hoard.append("x" * 100 + str(len(hoard)))
