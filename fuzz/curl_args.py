"""Fuzzes the curl command-line parser of the Python SDK (``hookbox._curl``)
with Hypothesis, on the host's ``python3``: whatever the arguments, ``run``
returns curl's (exit code, stdout, stderr), with usage errors as exit code 2
or 26 and a ``curl: (N) ...`` line, and never raises.

The network and the file system are replaced for the run (the parser, not
the transport, is under test): requests are answered 200 by a stand-in
``hookbox.http``, and every file the command line names fails to open.

    python3 fuzz/curl_args.py [--seconds 600]
"""

import argparse
import errno
import sys
import time
import types
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SDK = Path(__file__).resolve().parent.parent / "guest-sdk" / "python" / "sdk"


def load_curl():
    """``hookbox._curl`` with a stand-in ``hookbox.http``."""
    http = types.ModuleType("hookbox.http")

    class HTTPError(OSError):
        def __init__(self, message, code=""):
            super().__init__(message)
            self.code = code

    class EgressDenied(HTTPError):
        def __init__(self, url, reason):
            super().__init__(f"egress denied: {url}: {reason}", "HttpRequestDenied")
            self.url, self.reason = url, reason

    class Response:
        def __init__(self, url):
            self.status, self.body, self.url = 200, b"ok", url
            self.headers = [("content-type", "text/plain")]

        def header(self, name, default=None):
            return next((v for k, v in self.headers if k.lower() == name.lower()), default)

    def request(method, url, data=None, headers=None, timeout=None):
        if not isinstance(method, str) or not isinstance(url, str):
            raise TypeError("method and url are text")
        if "denied" in url:
            raise EgressDenied(url, "no rule")
        if "refused" in url:
            raise HTTPError("refused", "ConnectionRefused")
        return Response(url)

    http.HTTPError, http.EgressDenied, http.Response, http.request = (
        HTTPError, EgressDenied, Response, request)
    package = types.ModuleType("hookbox")
    package.__path__ = [str(SDK / "hookbox")]
    package.http = http
    sys.modules["hookbox"], sys.modules["hookbox.http"] = package, http
    import hookbox._curl as curl

    def no_files(*args, **kwargs):
        raise OSError(errno.EACCES, "no files while fuzzing", args[0] if args else "")

    curl.open = no_files
    return curl


CURL = load_curl()
FLAGS = sorted(set(CURL._WITH_VALUE) | set(CURL._FLAGS)) + ["--", "-sSf", "-sL", "-XPOST", "-Hx:y"]
URLS = ["http://siem.example.com/x", "https://denied.example/", "http://refused.example/",
        "siem.example.com:8088/services", "http://[::1]:80/"]
ARG = st.one_of(st.sampled_from(FLAGS), st.sampled_from(URLS), st.text(max_size=40),
                st.sampled_from(["@-", "%{http_code}\\n", "nan", "-1", "1e309", "0x10", ":", "a:b"]))


@settings(max_examples=2000, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(args=st.lists(ARG, max_size=12), stdin=st.binary(max_size=64))
def run_never_raises(args, stdin):
    code, out, err = CURL.run(["curl", *args], stdin)
    assert isinstance(code, int) and 0 <= code < 256, code
    assert isinstance(out, bytes) and isinstance(err, bytes)
    if code in (2, 26):
        assert err == b"" or err.startswith(b"curl: ("), err


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    seconds = parser.parse_args().seconds
    started = time.monotonic()
    batches = 0
    while time.monotonic() - started < seconds:
        run_never_raises()
        batches += 1
    print(f"curl_args: {batches * 2000} examples in {time.monotonic() - started:.0f} s, no failure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
