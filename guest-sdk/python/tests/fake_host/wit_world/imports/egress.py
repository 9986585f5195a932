"""Fake ``hookbox:runner/egress``: answers what a test sets, records calls."""

calls = []
denial = None


def last_denial():
    calls.append(("last_denial",))
    return denial


def shown_url(url):
    calls.append(("shown_url", url))
    return f"<shown {url}>"


def verify_next_request(verify):
    calls.append(("verify_next_request", verify))


def resolve(name):
    from componentize_py_types import Err

    calls.append(("resolve", name))
    raise Err(f"no rule names {name}")


def start_tls(port, server_name, verify):
    calls.append(("start_tls", port, server_name, verify))
    return "TLSv1.3"
