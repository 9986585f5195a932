# hostile: exits with a message instead of a code
# status: failed
# exit: 1
# stderr: goodbye

import sys
sys.exit("goodbye")
