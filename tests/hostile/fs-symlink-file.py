# hostile: follows a symlink planted in the hook folder to a host file
# symlink: leak -> /etc/passwd
# status: ok
# stdout: contained

try:
    text = open("/hook/leak").read()
    print("ESCAPED" if "root:" in text else "read something else")
except OSError as error:
    print("contained", type(error).__name__)
