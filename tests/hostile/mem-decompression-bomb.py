# hostile: inflates a few kilobytes into hundreds of megabytes
# status: memory_exceeded

import gzip
# 256 gzip members of a mebibyte of zeros each: about 256 KiB that inflate to
# 256 MiB.
bomb = gzip.compress(bytes(1 << 20), 1) * 256
gzip.decompress(bomb)
print("ESCAPED")
