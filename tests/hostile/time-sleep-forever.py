# hostile: never returns from a host call
# status: timeout

import time
time.sleep(3600)
print("ESCAPED")
