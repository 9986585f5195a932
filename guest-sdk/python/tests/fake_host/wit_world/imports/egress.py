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


def identify_next_request(identity):
    calls.append(("identify_next_request", identity))


def resolve(name):
    from componentize_py_types import Err

    calls.append(("resolve", name))
    raise Err(f"no rule names {name}")


class TlsSession:
    """What the fake host's TLS sessions agree."""

    def __init__(self, **fields):
        defaults = dict(
            version="TLSv1.3",
            cipher="TLS_AES_256_GCM_SHA384",
            cipher_bits=256,
            alpn="",
            peer_certificate=b"",
            peer_certificate_fields="",
        )
        defaults.update(fields)
        self.__dict__.update(defaults)


session = TlsSession()


class ClientIdentity:
    """A client certificate chain and key, as the bindings carry them."""

    def __init__(self, certificates, key):
        self.certificates = certificates
        self.key = key


def start_tls(port, server_name, verify, identity):
    calls.append(("start_tls", port, server_name, verify, identity))
    return session
