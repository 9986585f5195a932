# hostile: lists the host's root through a planted directory symlink
# symlink: root -> /
# status: ok
# stdout: contained

import os
try:
    names = os.listdir("/hook/root")
    print("ESCAPED" if "etc" in names else "contained (empty view)")
except OSError as error:
    print("contained", type(error).__name__)
