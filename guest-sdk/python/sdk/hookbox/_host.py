"""The host, as the SDK and the runner see it.

The one module that imports the bindings componentize-py generates for the
runner's world (``wit_world``, ``componentize_py_types``): everything else
reaches the host through here, so each host interface is named once, and
host-side tests put a fake host in their place (``guest-sdk/python/tests``).

- ``Err``: how a WIT ``result``'s error arrives (an exception);
- ``World``: the base class of the runner's export;
- ``types``, ``outgoing_handler``, ``StreamError_Closed``: ``wasi:http``;
- the functions below: ``hookbox:runner``'s own interfaces and the command's
  arguments and environment.
"""

from componentize_py_types import Err
from wit_world import WitWorld as World
from wit_world.imports import code as _code
from wit_world.imports import egress as _egress
from wit_world.imports import environment as _environment
from wit_world.imports import outgoing_handler, types
from wit_world.imports import preload as _preload
from wit_world.imports import process as _process
from wit_world.imports.streams import StreamError_Closed

__all__ = [
    "Err",
    "StreamError_Closed",
    "World",
    "arguments",
    "environment",
    "exit",
    "hook_source",
    "last_denial",
    "outgoing_handler",
    "preload_importing",
    "preload_list",
    "preload_read",
    "preload_status",
    "resolve",
    "shown_url",
    "start_tls",
    "store_code",
    "types",
    "verify_next_request",
    "identify_next_request",
]


def last_denial() -> "str | None":
    """Why the most recent refused request or connection was refused."""
    return _egress.last_denial()


def shown_url(url: str) -> str:
    """``url`` as hookbox shows URLs in any text: no user info or query, a
    webhook's secret path masked."""
    return _egress.shown_url(url)


def verify_next_request(verify: bool) -> None:
    """Whether the next request sent is to be verified (``verify=False``
    is granted only where an ``unverified_tls`` rule names it)."""
    _egress.verify_next_request(verify)


def identify_next_request(identity: "tuple[bytes, bytes] | None") -> None:
    """The client certificate chain and key (PEM) the next request sent
    offers if its server asks for one."""
    client = None
    if identity is not None:
        client = _egress.ClientIdentity(certificates=identity[0], key=identity[1])
    _egress.identify_next_request(client)


def resolve(name: str) -> "list[str]":
    """The addresses of ``name``, which a socket rule must name; raises
    ``Err`` with the reason otherwise."""
    return _egress.resolve(name)


def start_tls(
    port: int, server_name: str, verify: bool, identity: "tuple[bytes, bytes] | None" = None
) -> "_egress.TlsSession":
    """Upgrades the connection relayed at loopback ``port`` to TLS; returns
    the session (``version``, ``cipher``, ``cipher_bits``, ``alpn``,
    ``peer_certificate``, ``peer_certificate_fields``), raises ``Err`` with
    the reason."""
    client = None
    if identity is not None:
        client = _egress.ClientIdentity(certificates=identity[0], key=identity[1])
    return _egress.start_tls(port, server_name, verify, client)


def hook_source() -> "tuple[bytes, bytes | None]":
    """The hook's source as the host read it, and the code kept for it."""
    return _code.hook_source()


def store_code(code: bytes) -> None:
    """Offers the code compiled from the source just given (once, after a miss)."""
    _code.store(code)


def exit(code: int) -> None:
    """Ends the run at once with ``code``."""
    _process.exit(code)


def arguments() -> "list[str]":
    """The command's arguments: the hook's path first."""
    return _environment.get_arguments()


def environment() -> "list[tuple[str, str]]":
    """The command's environment: the payload and what the operator passed."""
    return _environment.get_environment()


def preload_status(path: str) -> "tuple[int, int, bool] | None":
    """While packages are preloaded: ``path``'s size, modification time in
    nanoseconds and whether it is a folder, or ``None``."""
    status = _preload.status(path)
    return None if status is None else (status.size, status.modified_ns, status.is_folder)


def preload_read(path: str) -> "bytes | None":
    """While packages are preloaded: the file at ``path``, or ``None``."""
    return _preload.read_file(path)


def preload_list(path: str) -> "list[str] | None":
    """While packages are preloaded: the names in the folder ``path``, or ``None``."""
    return _preload.list_folder(path)


def preload_importing(module: str) -> None:
    """While packages are preloaded: ``module`` is imported from now on."""
    _preload.importing(module)
