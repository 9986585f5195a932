# hostile: a catastrophic regular expression
# status: fuel_exhausted|timeout

import re
re.match(r"(a+)+$", "a" * 64 + "b")
print("ESCAPED")
