"""The ``ssl`` module inside the sandbox.

CPython for WASI has no ``_ssl`` (no OpenSSL), so the standard ``ssl`` cannot
be imported and ``http.client`` has no ``HTTPSConnection``. The runner installs
this module as ``ssl`` before anything imports it. It keeps the API hooks use
to describe TLS (``create_default_context``, ``SSLContext``, the constants and
exceptions); the TLS itself is done by the host, for every HTTPS request
``http.client`` and ``urllib`` make (see :mod:`hookbox._httpclient`).

``SSLContext.wrap_socket`` works on a TCP connection a ``tcp://`` rule
allowed (SMTP ``STARTTLS``, ``SMTP_SSL``, TLS syslog) and on one an
``https://`` rule allowed (urllib3, and so ``requests``): the host, which
relays every such connection, upgrades its side towards the destination to
TLS, and the hook goes on reading and writing plain bytes through the
returned ``SSLSocket``, whose ``version()``, ``cipher()``,
``selected_alpn_protocol()`` and ``getpeercert()`` say what the host's
session agreed and which certificate the server showed.

``wrap_bio`` (TLS over memory buffers, as anyio's TLS streams use it) works
the same way on the connection the buffers' bytes go through: see
``SSLObject``.

``load_cert_chain`` keeps a client certificate and (unencrypted) key, which
the host presents on this context's wrapped sockets when the server asks.

``OPENSSL_VERSION`` says that this is OpenSSL's API over the host's TLS
(rustls): libraries that insist on OpenSSL's name (urllib3) stay quiet.

The host verifies the server's certificate and name against the system's
roots plus the operator's CA bundle (``--ca-bundle``): a context's own trust
settings (``cafile``, ``cadata``) are accepted so hooks run unchanged. A
context with ``CERT_NONE`` or ``check_hostname = False`` asks the host not to
verify, which it grants only where the operator's ``unverified_tls`` rules
name the destination; elsewhere it verifies all the same.
"""

# Classes and functions here read as the standard module's in tracebacks and
# reprs (``ssl.SSLContext``), as the hook's author knows them.
__name__ = "ssl"  # noqa: A001

import base64 as _base64
import builtins as _builtins
import enum as _enum
import json as _json
import os as _os
import socket as _socket
import time as _time
from collections import namedtuple as _namedtuple

from hookbox import _host, _readiness
from hookbox._host import Err as _Err

OPENSSL_VERSION = "OpenSSL 3.0 API; TLS by the hookbox host (rustls)"
OPENSSL_VERSION_INFO = (3, 0, 0, 0, 0)
OPENSSL_VERSION_NUMBER = 0x30000000
HAS_SNI = True
HAS_ALPN = True
HAS_NPN = False
HAS_ECDH = True
HAS_NEVER_CHECK_COMMON_NAME = True
HAS_SSLv2 = HAS_SSLv3 = HAS_TLSv1 = HAS_TLSv1_1 = False
HAS_TLSv1_2 = HAS_TLSv1_3 = True
HAS_PSK = HAS_PHA = False
CHANNEL_BINDING_TYPES: list = []

_HOST_VERIFIES = (
    "hookbox verifies certificates against the system's roots and the operator's "
    "CA bundle (--ca-bundle), except where an unverified_tls rule names the "
    "destination and the hook turned verification off"
)
_NO_SERVER_SIDE = "hookbox's sandbox has no TLS server side: hooks cannot accept connections"


class SSLError(OSError):
    """A TLS failure."""

    library = None
    reason = None


class SSLZeroReturnError(SSLError):
    """The TLS connection was closed cleanly."""


class SSLWantReadError(SSLError):
    """Non-blocking TLS needs more data to read."""


class SSLWantWriteError(SSLError):
    """Non-blocking TLS needs to write first."""


class SSLSyscallError(SSLError):
    """A system error under TLS."""


class SSLEOFError(SSLError):
    """The TLS connection ended abruptly."""


class SSLCertVerificationError(SSLError, ValueError):
    """The server's certificate did not verify."""

    verify_code = None
    verify_message = None


CertificateError = SSLCertVerificationError


class _SSLMethod(_enum.IntEnum):
    PROTOCOL_TLS = 2
    PROTOCOL_TLS_CLIENT = 16
    PROTOCOL_TLS_SERVER = 17


PROTOCOL_TLS = PROTOCOL_SSLv23 = _SSLMethod.PROTOCOL_TLS
PROTOCOL_TLS_CLIENT = _SSLMethod.PROTOCOL_TLS_CLIENT
PROTOCOL_TLS_SERVER = _SSLMethod.PROTOCOL_TLS_SERVER


class VerifyMode(_enum.IntEnum):
    """How much a peer's certificate is checked."""

    CERT_NONE = 0
    CERT_OPTIONAL = 1
    CERT_REQUIRED = 2


CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED = VerifyMode


class VerifyFlags(_enum.IntFlag):
    """Certificate verification flags."""

    VERIFY_DEFAULT = 0
    VERIFY_CRL_CHECK_LEAF = 0x4
    VERIFY_CRL_CHECK_CHAIN = 0x8 | 0x4
    VERIFY_X509_STRICT = 0x20
    VERIFY_ALLOW_PROXY_CERTS = 0x40
    VERIFY_X509_TRUSTED_FIRST = 0x8000
    VERIFY_X509_PARTIAL_CHAIN = 0x80000


globals().update(VerifyFlags.__members__)


class Options(_enum.IntFlag):
    """TLS options (accepted; the host chooses versions and ciphers)."""

    OP_ALL = 0x80000850
    OP_NO_SSLv2 = 0
    OP_NO_SSLv3 = 0x02000000
    OP_NO_TLSv1 = 0x04000000
    OP_NO_TLSv1_1 = 0x10000000
    OP_NO_TLSv1_2 = 0x08000000
    OP_NO_TLSv1_3 = 0x20000000
    OP_NO_COMPRESSION = 0x00020000
    OP_NO_TICKET = 0x00004000
    OP_NO_RENEGOTIATION = 0x40000000
    OP_CIPHER_SERVER_PREFERENCE = 0x00400000
    OP_SINGLE_DH_USE = 0
    OP_SINGLE_ECDH_USE = 0
    OP_ENABLE_MIDDLEBOX_COMPAT = 0x00100000
    OP_IGNORE_UNEXPECTED_EOF = 0x00000080
    OP_LEGACY_SERVER_CONNECT = 0x00000004
    OP_ENABLE_KTLS = 0x00000008


globals().update(Options.__members__)


class TLSVersion(_enum.IntEnum):
    """TLS protocol versions."""

    MINIMUM_SUPPORTED = -2
    MAXIMUM_SUPPORTED = -1
    SSLv3 = 0x0300
    TLSv1 = 0x0301
    TLSv1_1 = 0x0302
    TLSv1_2 = 0x0303
    TLSv1_3 = 0x0304


class AlertDescription(_enum.IntEnum):
    """TLS alert codes (the ones a client may meet)."""

    ALERT_DESCRIPTION_CLOSE_NOTIFY = 0
    ALERT_DESCRIPTION_HANDSHAKE_FAILURE = 40
    ALERT_DESCRIPTION_BAD_CERTIFICATE = 42
    ALERT_DESCRIPTION_CERTIFICATE_EXPIRED = 45
    ALERT_DESCRIPTION_UNKNOWN_CA = 48
    ALERT_DESCRIPTION_INTERNAL_ERROR = 80


globals().update(AlertDescription.__members__)


class _ASN1Object(_namedtuple("_ASN1Object", "nid shortname longname oid")):
    """An ASN.1 object identifier."""

    __slots__ = ()


class Purpose(_ASN1Object, _enum.Enum):
    """What a context's certificates are for."""

    SERVER_AUTH = (129, "serverAuth", "TLS Web Server Authentication", "1.3.6.1.5.5.7.3.1")
    CLIENT_AUTH = (130, "clientAuth", "TLS Web Client Authentication", "1.3.6.1.5.5.7.3.2")


DefaultVerifyPaths = _namedtuple(
    "DefaultVerifyPaths",
    "cafile capath openssl_cafile_env openssl_cafile openssl_capath_env openssl_capath",
)


def get_default_verify_paths() -> DefaultVerifyPaths:
    """Where OpenSSL would look for roots; the host's roots are not files here."""
    return DefaultVerifyPaths(None, None, "SSL_CERT_FILE", "", "SSL_CERT_DIR", "")


class SSLContext:
    """TLS settings for connections ``http.client`` and ``urllib`` make.

    Everything a hook sets is kept and can be read back; the host does the
    TLS and always verifies (see the module's documentation).
    """

    sslsocket_class = None
    sslobject_class = None

    def __init__(self, protocol: int = PROTOCOL_TLS_CLIENT, *args, **kwargs):
        self.protocol = _SSLMethod(protocol)
        server = self.protocol == PROTOCOL_TLS_SERVER
        self.check_hostname = self.protocol == PROTOCOL_TLS_CLIENT
        self._verify_mode = CERT_REQUIRED if self.protocol == PROTOCOL_TLS_CLIENT else CERT_NONE
        if server:
            self.check_hostname = False
        self.options = Options.OP_ALL | Options.OP_NO_SSLv3 | Options.OP_NO_COMPRESSION
        self.verify_flags = VerifyFlags.VERIFY_X509_TRUSTED_FIRST
        self.minimum_version = TLSVersion.MINIMUM_SUPPORTED
        self.maximum_version = TLSVersion.MAXIMUM_SUPPORTED
        self.post_handshake_auth = None
        self.hostname_checks_common_name = False
        self.keylog_filename = None
        self.sni_callback = None
        self.security_level = 2
        self.num_tickets = 2
        self._alpn_protocols: list = []
        # (certificate chain PEM, key PEM), from load_cert_chain.
        self._client_identity = None
        self._ca_certs: list = []

    @property
    def verify_mode(self) -> VerifyMode:
        """``CERT_NONE``, ``CERT_OPTIONAL`` or ``CERT_REQUIRED``."""
        return self._verify_mode

    @verify_mode.setter
    def verify_mode(self, value: int) -> None:
        if value == CERT_NONE and self.check_hostname:
            raise ValueError("Cannot set verify_mode to CERT_NONE when check_hostname is enabled.")
        self._verify_mode = VerifyMode(value)

    def load_verify_locations(self, cafile=None, capath=None, cadata=None) -> None:
        """Records extra trust anchors.

        A file the sandbox cannot see is not an error here: the host's trust
        (system roots plus the operator's CA bundle) is what verifies.
        """
        if cafile is None and capath is None and cadata is None:
            raise TypeError("cafile, capath and cadata cannot be all omitted")
        if cadata is not None:
            self._ca_certs.append(cadata)
        if cafile is not None:
            try:
                with open(_os.fspath(cafile), "rb") as file:
                    self._ca_certs.append(file.read())
            except OSError:
                pass

    def load_default_certs(self, purpose: Purpose = Purpose.SERVER_AUTH) -> None:
        """The system's roots: always trusted by the host."""

    def set_default_verify_paths(self) -> None:
        """The system's roots: always trusted by the host."""

    def load_cert_chain(self, certfile, keyfile=None, password=None) -> None:
        """The client certificate chain (and key: in ``keyfile``, else in
        ``certfile``) the host presents on this context's wrapped sockets
        when a server asks for one. The key must not be encrypted."""
        with open(_os.fspath(certfile), "rb") as file:
            certificates = file.read()
        key = certificates
        if keyfile is not None:
            with open(_os.fspath(keyfile), "rb") as file:
                key = file.read()
        if password is not None or b"ENCRYPTED" in key:
            raise SSLError(
                "an encrypted private key cannot be used in hookbox's sandbox: decrypt it "
                "(openssl pkey -in key.pem -out plain.pem) and keep it readable only by the hook"
            )
        if b"-----BEGIN CERTIFICATE-----" not in certificates:
            raise SSLError(f"[SSL] PEM lib: no certificate in {_os.fspath(certfile)}")
        if b"PRIVATE KEY-----" not in key:
            raise SSLError(f"[SSL] PEM lib: no private key in {_os.fspath(keyfile or certfile)}")
        self._client_identity = (certificates, key)

    def set_ciphers(self, ciphers: str) -> None:
        """Accepted; the host chooses the cipher suites."""

    def get_ciphers(self) -> list:
        """The cipher suites (chosen by the host)."""
        return []

    def set_alpn_protocols(self, protocols) -> None:
        """Recorded; the host speaks HTTP/1.1."""
        self._alpn_protocols = list(protocols)

    def set_npn_protocols(self, protocols) -> None:
        """NPN is obsolete; accepted and ignored."""

    def set_ecdh_curve(self, name) -> None:
        """Accepted; the host chooses the key exchange."""

    def load_dh_params(self, path) -> None:
        """Accepted; the host chooses the key exchange."""

    def get_ca_certs(self, binary_form: bool = False) -> list:
        """Certificates loaded through this context (none are parsed here)."""
        return []

    def cert_store_stats(self) -> dict:
        """Counts of loaded certificates."""
        return {"x509": len(self._ca_certs), "crl": 0, "x509_ca": len(self._ca_certs)}

    def session_stats(self) -> dict:
        """Session cache statistics (none here)."""
        return {}

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True,
                    suppress_ragged_eofs=True, server_hostname=None, session=None):
        """TLS on a TCP connection, done by the host (see the module's documentation)."""
        if server_side:
            raise SSLError(_NO_SERVER_SIDE)
        return SSLSocket._wrap(sock, self, self._encode_hostname(server_hostname), do_handshake_on_connect)

    @staticmethod
    def _encode_hostname(hostname):
        """The name as text, as CPython's ``ssl`` takes it (``bytes`` too,
        as anyio passes it); IDNA-encoded."""
        if hostname is None:
            return None
        if isinstance(hostname, str):
            return hostname.encode("idna").decode("ascii")
        return bytes(hostname).decode("ascii")

    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None, session=None):
        """TLS over memory buffers, done by the host on the connection the
        buffers' bytes go through (see ``SSLObject``)."""
        if server_side:
            raise SSLError(_NO_SERVER_SIDE)
        return SSLObject._create(self, incoming, outgoing, self._encode_hostname(server_hostname))

    def __repr__(self) -> str:
        return f"<ssl.SSLContext {self.protocol.name} verify_mode={self.verify_mode.name}>"


class _Session:
    """What a TLS connection the host speaks says of its session, for
    ``SSLSocket`` and ``SSLObject`` alike (``_session`` once the handshake
    is done, ``_context`` the context it was made with)."""

    _session = None
    _context = None

    @property
    def context(self) -> SSLContext:
        """The context this connection was made with."""
        return self._context

    def _done(self):
        if self._session is None:
            raise ValueError("handshake not done yet")
        return self._session

    def version(self):
        """The TLS version the host negotiated (``TLSv1.3``, ``TLSv1.2``)."""
        return self._session.version if self._session is not None else None

    def getpeercert(self, binary_form: bool = False):
        """The server's certificate as the host received it: DER with
        ``binary_form``, else its fields (empty when it was not verified)."""
        session = self._done()
        if not session.peer_certificate:
            return None
        if binary_form:
            return bytes(session.peer_certificate)
        if self._context.verify_mode == CERT_NONE or not session.peer_certificate_fields:
            return {}
        return _as_tuples(_json.loads(session.peer_certificate_fields))

    def cipher(self):
        """``(name, protocol, secret bits)`` of the host's session."""
        session = self._session
        if session is None or not session.cipher:
            return None
        return (session.cipher, session.version, session.cipher_bits)

    def shared_ciphers(self):
        """Chosen by the host; not passed on."""
        return None

    def compression(self):
        """TLS compression is never used."""
        return None

    def selected_alpn_protocol(self):
        """The application protocol the host's session agreed, if any."""
        session = self._session
        return session.alpn or None if session is not None else None

    def selected_npn_protocol(self):
        """NPN is obsolete."""
        return None

    def pending(self) -> int:
        """Decrypted bytes waiting (none: the host passes them on)."""
        return 0

    def get_channel_binding(self, cb_type: str = "tls-unique"):
        """Not available: the TLS session is the host's."""
        return None


def _start_host_tls(sock, context: SSLContext, server_hostname):
    """Asks the host to speak TLS with the destination of ``sock`` (a
    connection it relays); the session, or the ``SSLError`` ``python3``
    would raise."""
    try:
        return _host.start_tls(
            sock.getpeername()[1],
            server_hostname or "",
            _verifies(context),
            context._client_identity,
        )
    except _Err as failure:
        reason = failure.value
        if reason.startswith("certificate verify failed: "):
            raise _certificate_verify_failed(reason.removeprefix("certificate verify failed: ")) from None
        raise SSLError(reason) from None


class SSLSocket(_Session, _socket.socket):
    """A TCP connection whose destination side the host has upgraded to TLS.

    Made by ``SSLContext.wrap_socket``; reads and writes plain bytes, which
    the host's relay encrypts towards the destination.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError(f"{self.__class__.__name__} does not have a public constructor")

    @classmethod
    def _wrap(cls, sock, context, server_hostname, handshake_now):
        if sock.type != _socket.SOCK_STREAM:
            raise NotImplementedError("only stream sockets are supported")
        self = cls.__new__(cls)
        _socket.socket.__init__(self, sock.family, sock.type, sock.proto, fileno=sock.fileno())
        self.settimeout(sock.gettimeout())
        _readiness.hand_over(sock, self)
        sock.detach()
        self._context = context
        self.server_hostname = server_hostname
        self.server_side = False
        self._session = None
        try:
            self.getpeername()
        except OSError:
            return self  # connect() will do the handshake
        if handshake_now:
            self.do_handshake()
        return self

    def connect(self, address) -> None:
        """Connects, then upgrades to TLS."""
        super().connect(address)
        self.do_handshake()

    def connect_ex(self, address) -> int:
        """Connects, then upgrades to TLS; an errno instead of an exception."""
        code = super().connect_ex(address)
        if code == 0:
            self.do_handshake()
        return code

    def do_handshake(self, block: bool = False) -> None:
        """Asks the host to speak TLS with the destination."""
        if self._session is None:
            self._session = _start_host_tls(self, self._context, self.server_hostname)

    @property
    def _sslobj(self):
        """What CPython's ``SSLSocket`` keeps as its OpenSSL object, which
        libraries (httpcore) ask for the session's ALPN protocol: this
        socket answers for it once the handshake is done."""
        return self if self._session is not None else None

    def unwrap(self):
        """Refused: the host keeps the connection's TLS until it closes."""
        raise SSLError("hookbox's sandbox cannot take TLS off a connection")


# Sent through an ``SSLObject``'s outgoing buffer in place of a TLS
# handshake: the socket that carries it is the connection the host is to
# speak TLS on (see ``SSLObject``). The token names the object; a marker
# carrying the token of an object waiting for its handshake never reaches
# the destination (other bytes are sent as they are).
_HANDSHAKE = b"\x00hookbox: start TLS here\x00"
_TOKEN_BYTES = 16
_awaiting: dict = {}


class SSLObject(_Session):
    """TLS over memory buffers (``SSLContext.wrap_bio``), as anyio's TLS
    streams (``httpx.AsyncClient`` on ``https://``) use it, with the TLS done
    by the host like ``wrap_socket``'s: the library moves plain bytes
    between the buffers and its connection.

    The handshake writes a marker naming this object to the outgoing buffer
    and asks to have it sent (``SSLWantWriteError``); the socket ``send``
    that carries it does not send it but asks the host to speak TLS on that
    connection, and the next ``do_handshake`` returns (or raises what the
    host's handshake failed with).
    """

    def __init__(self, *args, **kwargs):
        raise TypeError(f"{self.__class__.__name__} does not have a public constructor")

    @classmethod
    def _create(cls, context, incoming, outgoing, server_hostname):
        self = cls.__new__(cls)
        self._context = context
        self._incoming = incoming
        self._outgoing = outgoing
        self.server_hostname = server_hostname
        self.server_side = False
        self.session = None
        self.session_reused = False
        self._session = None
        self._token = None
        self._failure = None
        return self

    def do_handshake(self) -> None:
        """Starts the host's TLS (see the class); done once it returns."""
        if self._failure is not None:
            raise self._failure
        if self._session is not None:
            return
        if self._token is None:
            self._token = _os.urandom(_TOKEN_BYTES)
            _awaiting[self._token] = self
            self._outgoing.write(_HANDSHAKE + self._token)
        raise SSLWantWriteError("hookbox: the host starts TLS once this connection sends the handshake")

    def _start_on(self, sock) -> None:
        try:
            self._session = _start_host_tls(sock, self._context, self.server_hostname)
        except SSLError as failure:
            self._failure = failure

    def read(self, len: int = 1024, buffer=None):  # noqa: A002 - the standard name
        """Plain bytes the connection received (``b""`` at its end)."""
        self._done()
        data = self._incoming.read(len)
        if not data and not self._incoming.eof:
            raise SSLWantReadError("The operation did not complete (read)")
        if buffer is not None:
            size = _builtins.len(data)
            buffer[:size] = data
            return size
        return data

    def write(self, data) -> int:
        """Hands plain bytes to the connection."""
        self._done()
        return self._outgoing.write(data)

    def unwrap(self):
        """The host ends its TLS when the connection closes."""
        return None


def _send_intercepting_handshakes(send):
    """``socket.send``, which carries out a waiting ``SSLObject``'s
    handshake marker (see ``SSLObject``) instead of sending it."""

    def intercepting(self, data, *args):
        if _awaiting and bytes(data[: len(_HANDSHAKE)]) == _HANDSHAKE:
            size = len(_HANDSHAKE) + _TOKEN_BYTES
            waiting = _awaiting.pop(bytes(data[len(_HANDSHAKE) : size]), None)
            if waiting is not None:
                waiting._start_on(self)
                # A short send: the caller sends what follows next.
                return size
        return send(self, data, *args)

    return intercepting


def _sendall_intercepting_handshakes(sendall, send):
    def intercepting(self, data, *args):
        if _awaiting and bytes(data[: len(_HANDSHAKE)]) == _HANDSHAKE:
            view = memoryview(data).cast("B")
            while view:
                view = view[send(self, view, *args):]
            return None
        return sendall(self, data, *args)

    return intercepting


def install() -> None:
    """Lets sockets carry ``SSLObject`` handshakes (see ``SSLObject``)."""
    cls = _socket.socket
    send = _send_intercepting_handshakes(cls.send)
    cls.sendall = _sendall_intercepting_handshakes(cls.sendall, send)
    cls.send = send


class MemoryBIO:
    """A memory buffer for TLS data (kept for API compatibility)."""

    def __init__(self):
        self._data = bytearray()
        self.eof = False

    @property
    def pending(self) -> int:
        """Bytes waiting to be read."""
        return len(self._data)

    def write(self, data) -> int:
        """Appends bytes."""
        self._data += data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        """Takes up to ``size`` bytes."""
        size = len(self._data) if size < 0 else size
        chunk = bytes(self._data[:size])
        del self._data[:size]
        return chunk

    def write_eof(self) -> None:
        """Marks the end of the data."""
        self.eof = True


class SSLSession:
    """A TLS session (none are resumed here)."""


def create_default_context(purpose=Purpose.SERVER_AUTH, *, cafile=None, capath=None, cadata=None):
    """A context that verifies servers, as the standard module's does."""
    if purpose == Purpose.SERVER_AUTH:
        context = SSLContext(PROTOCOL_TLS_CLIENT)
    else:
        context = SSLContext(PROTOCOL_TLS_SERVER)
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    return context


def _create_unverified_context(protocol=None, *, cert_reqs=CERT_NONE, check_hostname=False,
                               purpose=Purpose.SERVER_AUTH, certfile=None, keyfile=None,
                               cafile=None, capath=None, cadata=None):
    """A context asking for no verification (the host verifies all the same)."""
    context = SSLContext(protocol if protocol is not None else PROTOCOL_TLS_CLIENT)
    context.check_hostname = check_hostname
    context.verify_mode = cert_reqs
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    return context


_create_default_https_context = create_default_context
_create_stdlib_context = _create_unverified_context


def PEM_cert_to_DER_cert(pem_cert_string: str) -> bytes:
    """Decodes a PEM certificate to DER bytes."""
    header, footer = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    text = pem_cert_string.strip()
    if not text.startswith(header):
        raise ValueError(f"Invalid PEM encoding; must start with {header}")
    if not text.endswith(footer):
        raise ValueError(f"Invalid PEM encoding; must end with {footer}")
    return _base64.decodebytes(text[len(header):-len(footer)].encode("ascii", "strict"))


def DER_cert_to_PEM_cert(der_cert_bytes: bytes) -> str:
    """Encodes DER certificate bytes as PEM."""
    body = _base64.standard_b64encode(der_cert_bytes).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def cert_time_to_seconds(cert_time: str) -> int:
    """Seconds since the epoch of a certificate time such as ``May  9 00:00:00 2007 GMT``."""
    from calendar import timegm

    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    try:
        month = months.index(cert_time[:3].title()) + 1
    except ValueError:
        raise ValueError(f'time data {cert_time!r} does not match format "%b %d %H:%M:%S %Y GMT"') from None
    parsed = _time.strptime(cert_time[3:], " %d %H:%M:%S %Y GMT")
    return timegm((parsed[0], month) + parsed[2:6])


def get_server_certificate(addr, ssl_version=PROTOCOL_TLS_CLIENT, ca_certs=None, timeout=None):
    """Refused: the host verifies certificates and does not pass them on."""
    raise SSLError("hookbox's sandbox does not pass certificates on to hooks")


def RAND_bytes(n: int) -> bytes:
    """``n`` random bytes from the sandbox's random source."""
    return _os.urandom(n)


def RAND_status() -> bool:
    """The random source is always seeded."""
    return True


def RAND_add(data, entropy) -> None:
    """Accepted; the random source needs no seeding."""


def _as_tuples(fields: dict) -> dict:
    """``getpeercert()``'s dict from the host's JSON: its lists as tuples."""

    def tuples(value):
        return tuple(tuples(item) for item in value) if isinstance(value, list) else value

    return {key: tuples(value) for key, value in fields.items()}


def _verifies(context: SSLContext) -> bool:
    """Whether ``context`` asks for the server to be verified."""
    return context.verify_mode != CERT_NONE and bool(context.check_hostname)


def _certificate_verify_failed(detail: str) -> SSLCertVerificationError:
    """The error ``http.client`` raises when the host refused a certificate."""
    error = SSLCertVerificationError(
        1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {detail} ({_HOST_VERIFIES})"
    )
    error.verify_code = 20
    error.verify_message = detail
    error.reason = "CERTIFICATE_VERIFY_FAILED"
    return error
