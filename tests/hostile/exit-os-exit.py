# hostile: leaves with os._exit and an odd code, skipping cleanup
# status: failed
# exit: 255

import os
os._exit(255)
