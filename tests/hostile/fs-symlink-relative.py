# hostile: follows a relative symlink that climbs out of the hook folder
# symlink: up -> ../../../../../../../etc
# status: ok
# stdout: contained

try:
    open("/hook/up/passwd").read()
    print("ESCAPED")
except OSError as error:
    print("contained", type(error).__name__)
