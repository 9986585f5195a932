# hostile: raises from an atexit handler and a destructor at interpreter exit
# status: ok
# exit: 0
# stdout: done
# stderr: Exception ignored in atexit callback
# stderr: ZeroDivisionError
# stderr: RuntimeError: from __del__

import atexit
class Grudge:
    def __del__(self):
        raise RuntimeError("from __del__")
kept = Grudge()
atexit.register(lambda: 1 / 0)
print("done")
