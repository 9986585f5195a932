"""A ``curl`` for hooks: the command lines Hoop hooks pass to
``subprocess.run(["curl", ...])``, served by :mod:`hookbox.http`.

Supported: ``-s -S -f/--fail -X -H -d/--data/--data-ascii/--data-raw/
--data-binary (with @file and @-) --json -u -A -o -w -m/--max-time
--connect-timeout -L/--location --max-redirs``. ``-k/--insecure`` is refused:
certificates are always verified. Exit codes follow curl's.
"""

from __future__ import annotations

import base64
import math
import sys
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urljoin

from . import http as _http
from ._errors import Kind, kind

# curl's exit codes for the failures a hook can meet here.
_OK, _USAGE, _RESOLVE, _CONNECT, _HTTP_ERROR, _WRITE, _READ, _TIMEOUT = 0, 2, 6, 7, 22, 23, 26, 28
_TLS, _TOO_MANY_REDIRECTS, _SEND, _RECEIVE, _CERTIFICATE, _TOO_LARGE = 35, 47, 55, 56, 60, 63

_WITH_VALUE = {
    "-X": "request", "--request": "request",
    "-H": "header", "--header": "header",
    "-d": "data", "--data": "data", "--data-ascii": "data",
    "--data-raw": "data-raw", "--data-binary": "data-binary", "--json": "json",
    "-u": "user", "--user": "user",
    "-A": "user-agent", "--user-agent": "user-agent",
    "-o": "output", "--output": "output",
    "-w": "write-out", "--write-out": "write-out",
    "-m": "max-time", "--max-time": "max-time",
    "--connect-timeout": "max-time",
    "--max-redirs": "max-redirs",
    "--url": "url",
}
_FLAGS = {
    "-s": "silent", "--silent": "silent",
    "-S": "show-error", "--show-error": "show-error",
    "-f": "fail", "--fail": "fail",
    "-L": "location", "--location": "location",
    "-k": "insecure", "--insecure": "insecure",
}


class _Usage(Exception):
    pass


@dataclass
class _Options:
    method: Optional[str] = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)
    json: bool = False
    user: Optional[str] = None
    output: Optional[str] = None
    write_out: Optional[str] = None
    max_time: Optional[float] = None
    max_redirs: int = 50
    flags: set[str] = field(default_factory=set)
    urls: list[str] = field(default_factory=list)


def _read_data(value: str, stdin: bytes, strip_newlines: bool) -> bytes:
    if not value.startswith("@"):
        return value.encode()
    name = value[1:]
    if name == "-":
        content = stdin
    else:
        try:
            with open(name, "rb") as file:
                content = file.read()
        except OSError as error:
            raise _Usage(f"({_READ}) Failed to open/read local data from file/application: {name}: {error.strerror}")
    return content.replace(b"\r", b"").replace(b"\n", b"") if strip_newlines else content


def _parse(argv: list[str], stdin: bytes) -> _Options:
    options = _Options()
    args = list(argv[1:])
    index = 0

    def take(name: str, value: str) -> None:
        kind = _WITH_VALUE[name]
        if kind == "request":
            if not (value.isascii() and value.isprintable()) or any(c in value for c in ' :/()<>@,;\\"[]?={}') or not value:
                raise _Usage(f"option {name}: {value!r} is not an HTTP method")
            options.method = value
        elif kind == "header":
            key, sep, val = value.partition(":")
            if not sep:
                raise _Usage(f"option {name}: header {value!r} has no ':'")
            options.headers.append((key.strip(), val.strip()))
        elif kind in ("data", "data-raw", "data-binary"):
            raw = value.encode() if kind == "data-raw" else _read_data(value, stdin, kind == "data")
            options.data.append(raw)
        elif kind == "json":
            options.data.append(_read_data(value, stdin, False))
            options.json = True
        elif kind == "user":
            options.user = value
        elif kind == "user-agent":
            options.headers.append(("User-Agent", value))
        elif kind == "output":
            options.output = value
        elif kind == "write-out":
            options.write_out = value
        elif kind == "max-time":
            try:
                seconds = float(value)
            except ValueError:
                seconds = math.nan
            if not (math.isfinite(seconds) and seconds >= 0):
                raise _Usage(f"option {name}: expected a number of seconds, got {value!r}")
            options.max_time = seconds if options.max_time is None else min(options.max_time, seconds)
        elif kind == "max-redirs":
            try:
                redirects = int(value)
            except ValueError:
                raise _Usage(f"option {name}: expected a proper numerical parameter, got {value!r}")
            # As curl: -1 follows redirects without a limit (the deadline is one).
            options.max_redirs = redirects if redirects >= 0 else sys.maxsize
        elif kind == "url":
            options.urls.append(value)

    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            options.urls.extend(args[index:])
            break
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            if name in _FLAGS:
                options.flags.add(_FLAGS[name])
            elif name in _WITH_VALUE:
                if eq:
                    take(name, inline)
                elif index < len(args):
                    take(name, args[index])
                    index += 1
                else:
                    raise _Usage(f"option {name}: requires parameter")
            else:
                raise _Usage(f"option {name}: is unknown (hookbox's curl supports the common flags only)")
        elif arg.startswith("-") and len(arg) > 1:
            position = 1
            while position < len(arg):
                short = "-" + arg[position]
                position += 1
                if short in _FLAGS:
                    options.flags.add(_FLAGS[short])
                elif short in _WITH_VALUE:
                    if position < len(arg):
                        take(short, arg[position:])
                    elif index < len(args):
                        take(short, args[index])
                        index += 1
                    else:
                        raise _Usage(f"option {short}: requires parameter")
                    break
                else:
                    raise _Usage(f"option {short}: is unknown (hookbox's curl supports the common flags only)")
        else:
            options.urls.append(arg)
    return options


# curl's exit code for each kind of failure.
_EXIT_CODES = {
    Kind.REFUSED: _CONNECT,
    Kind.NAME: _RESOLVE,
    Kind.CONNECT: _CONNECT,
    Kind.UNREACHABLE: _CONNECT,
    Kind.TIMEOUT: _TIMEOUT,
    Kind.CERTIFICATE: _CERTIFICATE,
    Kind.TLS: _TLS,
    Kind.REQUEST_TOO_LARGE: _SEND,
    Kind.RESPONSE_TOO_LARGE: _TOO_LARGE,
    Kind.OTHER: _RECEIVE,
}


def _exit_code_for(error: _http.HTTPError) -> int:
    return _EXIT_CODES[kind(error.code)]


def _write_out(template: str, response: _http.Response, url: str) -> bytes:
    text = template.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")
    for name, value in {
        "http_code": f"{response.status:03d}",
        "response_code": f"{response.status:03d}",
        "url_effective": url,
        "size_download": str(len(response.body)),
        "content_type": response.header("content-type", ""),
    }.items():
        text = text.replace("%{" + name + "}", value)
    return text.encode()


def run(argv: list[str], stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    """Runs a curl command line; returns (exit code, stdout, stderr)."""
    out: list[bytes] = []

    def fail(code: int, message: str, options: Optional[_Options] = None) -> tuple[int, bytes, bytes]:
        quiet = options is not None and "silent" in options.flags and "show-error" not in options.flags
        return code, b"".join(out), b"" if quiet else f"curl: {message}\n".encode()

    try:
        options = _parse(argv, stdin)
    except _Usage as usage:
        message = str(usage)
        code = _READ if message.startswith(f"({_READ})") else _USAGE
        return fail(code, message if code == _READ else f"({_USAGE}) {message}")
    if "insecure" in options.flags:
        return fail(_USAGE, f"({_USAGE}) -k/--insecure is refused in hookbox: TLS certificates are always verified", options)
    if not options.urls:
        return fail(_USAGE, f"({_USAGE}) no URL specified", options)

    headers = list(options.headers)
    body = b"&".join(options.data) if options.data else None
    if options.json:
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/json"))
        if not any(k.lower() == "accept" for k, _ in headers):
            headers.append(("Accept", "application/json"))
    elif body is not None and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    if options.user is not None and not any(k.lower() == "authorization" for k, _ in headers):
        headers.append(("Authorization", "Basic " + base64.b64encode(options.user.encode()).decode()))
    if not any(k.lower() == "user-agent" for k, _ in headers):
        headers.append(("User-Agent", "curl/8 (hookbox)"))

    for url in options.urls:
        if "://" not in url:
            url = "http://" + url
        method = options.method or ("POST" if body is not None else "GET")
        request_body = body
        redirects = 0
        while True:
            try:
                response = _http.request(method, url, data=request_body, headers=headers, timeout=options.max_time)
            except _http.EgressDenied as denied:
                return fail(_CONNECT, f"({_CONNECT}) hookbox egress denied: {_http.shown_url(denied.url)}: {denied.reason}", options)
            except _http.HTTPError as error:
                code = _exit_code_for(error)
                return fail(code, f"({code}) {error}", options)
            location = response.header("location")
            if "location" in options.flags and 300 <= response.status < 400 and location:
                redirects += 1
                if redirects > options.max_redirs:
                    return fail(_TOO_MANY_REDIRECTS, f"({_TOO_MANY_REDIRECTS}) Maximum ({options.max_redirs}) redirects followed", options)
                url = urljoin(url, location)
                if response.status == 303 or (response.status in (301, 302) and options.method is None and method == "POST"):
                    method, request_body = "GET", None
                continue
            break
        if "fail" in options.flags and response.status >= 400:
            return fail(_HTTP_ERROR, f"({_HTTP_ERROR}) The requested URL returned error: {response.status}", options)
        if options.output is None or options.output == "-":
            out.append(response.body)
        elif options.output != "/dev/null":
            try:
                with open(options.output, "wb") as file:
                    file.write(response.body)
            except OSError as error:
                return fail(_WRITE, f"({_WRITE}) Failure writing output to destination, passed {len(response.body)} returned 0 ({error.strerror})", options)
        if options.write_out is not None:
            out.append(_write_out(options.write_out, response, url))
    return _OK, b"".join(out), b""
