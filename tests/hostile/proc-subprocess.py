# hostile: runs a shell
# status: ok
# stdout: contained

import subprocess
try:
    subprocess.run(["sh", "-c", "id > /tmp/owned"], check=True)
    print("ESCAPED")
except (OSError, subprocess.SubprocessError) as error:
    print("contained", type(error).__name__)
