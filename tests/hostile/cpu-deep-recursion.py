# hostile: recursion with the limit lifted
# status: failed|error|memory_exceeded

import sys
sys.setrecursionlimit(10 ** 7)
def down(n):
    return down(n + 1) + 1
down(0)
