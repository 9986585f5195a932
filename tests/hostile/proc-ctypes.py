# hostile: loads native code with ctypes
# status: ok
# stdout: contained

try:
    import ctypes
    ctypes.CDLL(None).system(b"id")
    print("ESCAPED")
except (ImportError, OSError, AttributeError) as error:
    print("contained", type(error).__name__)
