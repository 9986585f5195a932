# hostile: starts threads to outlive the run
# status: ok
# stdout: contained

import threading
try:
    threading.Thread(target=lambda: None).start()
    print("ESCAPED")
except RuntimeError as error:
    print("contained", type(error).__name__)
