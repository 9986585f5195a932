# hostile: a thread bomb: every thread starts two more, without end
# status: fuel_exhausted|timeout|memory_exceeded

import threading

def spawn():
    for _ in range(2):
        threading.Thread(target=spawn).start()

spawn()
print("started")
