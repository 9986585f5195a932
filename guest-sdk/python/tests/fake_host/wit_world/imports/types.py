"""Fake ``wasi:http/types``: requests that remember what was set, and any
variant (``Method_Get``, ``ErrorCode_HttpRequestBodySize``, ...) made on
first use, carrying an optional value."""


class Variant:
    """A WIT variant case with an optional payload."""

    def __init__(self, value=None):
        self.value = value


def __getattr__(name):
    if name.startswith(("Method_", "ErrorCode_", "Scheme_", "HeaderError_")):
        case = type(name, (Variant,), {})
        globals()[name] = case
        return case
    raise AttributeError(name)


Method = Variant


class Fields:
    """Headers."""

    def __init__(self, entries):
        self.entries = entries

    @classmethod
    def from_list(cls, entries):
        return cls(list(entries))


class OutgoingRequest:
    """A request: every setter records its value."""

    def __init__(self, fields):
        self.fields = fields
        self.set = {}

    def __getattr__(self, name):
        if name.startswith("set_"):
            return lambda value: self.set.__setitem__(name[4:], value)
        raise AttributeError(name)

    def body(self):
        return OutgoingBody()


class OutgoingBody:
    """A body nothing is written to."""


class RequestOptions:
    """Timeouts."""

    def set_connect_timeout(self, value):
        pass

    def set_first_byte_timeout(self, value):
        pass

    def set_between_bytes_timeout(self, value):
        pass
