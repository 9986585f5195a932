# hostile: exits with a code no process can have (python3 keeps its low byte: 0)
# status: ok
# exit: 0

import sys
sys.exit(2 ** 40)
