# hostile: one allocation far over the memory limit
# status: memory_exceeded

block = bytearray(1 << 30)
print("ESCAPED", len(block))
