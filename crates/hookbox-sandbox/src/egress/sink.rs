//! Where traffic the policy allowed goes. The gate asks the policy, records
//! the attempt and refuses the same way whatever the sink; only the steps
//! below differ between the network ([`Network`]: real lookups, connections
//! to checked addresses, TCP through relays) and `hookbox test`'s recording
//! receiver ([`super::recording::Recorder`]: placeholders, local answers,
//! recorded bytes).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::time::Instant;
use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode as SocketError;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use super::Pending;
use super::address::{Host, canonical_ip};
use super::http::{self, Approved};
use super::http_socket::HttpSocket;
use super::policy::{EgressPolicy, Scheme, Verdict};
use super::record::AttemptHandle;
use super::relay::Relays;
use super::tls_session::{OfferedIdentity, TlsSession};
use hookbox_crypto::tls::TlsSettings;

/// What an HTTP request gets back: the response and the future driving its
/// connection.
pub(super) type HttpAnswer = Result<
    (
        ::http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

/// One HTTP request the policy allowed, ready to go.
pub(super) struct HttpSend {
    /// The request as the hook made it.
    pub request: ::http::Request<WasiBody>,
    /// Where it may go.
    pub approved: Approved,
    /// The TLS client configuration, for HTTPS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The hook's timeouts.
    pub options: Option<RequestOptions>,
    /// The hook's deadline.
    pub deadline: Instant,
    /// The cap on each body.
    pub max_body: u64,
    /// The attempt's record.
    pub record: AttemptHandle,
    /// How URLs are shown, for the recording receiver's record.
    pub url_masks: Arc<super::mask::UrlMasks>,
}

/// Why an HTTP request reaches nowhere.
#[derive(Debug)]
pub(super) enum Unreachable {
    /// The policy refuses it: why.
    Denied(String),
    /// A rule allows the name, but looking it up failed: the network's
    /// failure, not the policy's.
    LookupFailed {
        /// The rule that allows the name.
        rule: String,
        /// What went wrong.
        reason: String,
        /// Whether the lookup ran out of time.
        timed_out: bool,
    },
}

/// The steps of egress that differ between sending and recording.
pub(super) trait Sink: Send + Sync {
    /// The addresses of `name`, which a socket rule names.
    fn look_up(&self, name: String, deadline: Instant) -> Pending<Result<Vec<IpAddr>, String>>;

    /// The name `ip` stands for, where this sink made the address up.
    fn name_of(&self, ip: IpAddr) -> Option<String>;

    /// Where an HTTP request to `host` may go, with the rule that allows it,
    /// or why nowhere.
    fn approve_http(
        &self,
        policy: Arc<EgressPolicy>,
        scheme: Scheme,
        host: Host,
        port: u16,
        deadline: Instant,
    ) -> Pending<Result<(Approved, String), Unreachable>>;

    /// Sends an approved request.
    fn send_http(self: Arc<Self>, send: HttpSend) -> Pending<HttpAnswer>;

    /// Opens the way for an allowed TCP connection to `address`: the address
    /// the hook's socket is to connect to instead.
    fn open_tcp(
        self: Arc<Self>,
        address: SocketAddr,
        record: AttemptHandle,
        deadline: Instant,
        max_body: u64,
    ) -> Pending<Result<SocketAddr, SocketError>>;

    /// Opens the way for a connection to `address` that an HTTP rule
    /// covers: its requests are checked, recorded and sent one by one
    /// ([`super::http_socket`]). The address the hook's socket is to
    /// connect to instead.
    fn open_http(
        self: Arc<Self>,
        address: SocketAddr,
        socket: HttpSocket,
    ) -> Pending<Result<SocketAddr, SocketError>>;

    /// Whether the hook's socket may connect to `address`: only to what
    /// [`Sink::open_tcp`] or [`Sink::open_http`] returned.
    fn is_opened(&self, address: SocketAddr) -> bool;

    /// Where the connection opened at loopback `port` goes.
    fn destination(&self, port: u16) -> Option<SocketAddr>;

    /// Upgrades the connection opened at loopback `port` to TLS.
    fn start_tls(
        &self,
        port: u16,
        server_name: String,
        unverified: bool,
        identity: Option<OfferedIdentity>,
    ) -> Pending<Result<TlsSession, String>>;

    /// Why UDP datagrams cannot go through this sink, if they cannot.
    fn refuses_udp(&self) -> Option<&'static str>;

    /// Waits for every connection to finish what it was given; await it once
    /// the run's sockets are closed.
    fn settle(self: Arc<Self>) -> Pending<()>;
}

/// The live sink: the network, reached only at checked addresses.
pub(super) struct Network {
    tls: Arc<TlsSettings>,
    relays: Relays,
}

impl Network {
    /// A sink relaying TCP with TLS (for `wrap_socket`) set by `tls`.
    pub fn new(tls: Arc<TlsSettings>) -> Self {
        Network {
            tls,
            relays: Relays::default(),
        }
    }
}

impl Sink for Network {
    fn look_up(&self, name: String, deadline: Instant) -> Pending<Result<Vec<IpAddr>, String>> {
        Box::pin(async move {
            let addresses = look_up(&name, 0, deadline)
                .await
                .map_err(|(reason, _)| reason)?;
            Ok(addresses
                .into_iter()
                .map(|address| canonical_ip(address.ip()))
                .collect())
        })
    }

    fn name_of(&self, _ip: IpAddr) -> Option<String> {
        None
    }

    fn approve_http(
        &self,
        policy: Arc<EgressPolicy>,
        scheme: Scheme,
        host: Host,
        port: u16,
        deadline: Instant,
    ) -> Pending<Result<(Approved, String), Unreachable>> {
        Box::pin(async move { approve(&policy, scheme, host, port, deadline).await })
    }

    fn send_http(self: Arc<Self>, send: HttpSend) -> Pending<HttpAnswer> {
        Box::pin(http::send(
            send.request,
            send.approved,
            send.tls,
            send.options,
            send.deadline,
            send.max_body,
            send.record,
        ))
    }

    fn open_tcp(
        self: Arc<Self>,
        address: SocketAddr,
        record: AttemptHandle,
        deadline: Instant,
        _max_body: u64,
    ) -> Pending<Result<SocketAddr, SocketError>> {
        record.set_address(address);
        Box::pin(async move {
            let stream = connect(address, deadline)
                .await
                .map_err(|(error, reason)| {
                    record.note(&reason);
                    error
                })?;
            self.relays
                .open(stream, record.clone(), self.tls.clone(), deadline)
                .map_err(|error| {
                    record.note(&format!("the host could not relay the connection: {error}"));
                    SocketError::Unknown
                })
        })
    }

    fn open_http(
        self: Arc<Self>,
        address: SocketAddr,
        socket: HttpSocket,
    ) -> Pending<Result<SocketAddr, SocketError>> {
        Box::pin(async move {
            let stream = match connect(address, socket.deadline).await {
                Ok(stream) => stream,
                Err((error, reason)) => {
                    socket.connection_note(socket.scheme, &reason);
                    return Err(error);
                }
            };
            self.relays
                .open_http(stream, socket, self.tls.clone())
                .map_err(|error| {
                    tracing::warn!(%error, "the host could not relay a connection");
                    SocketError::Unknown
                })
        })
    }

    fn is_opened(&self, address: SocketAddr) -> bool {
        self.relays.is_relay(address)
    }

    fn destination(&self, port: u16) -> Option<SocketAddr> {
        self.relays.destination(port)
    }

    fn start_tls(
        &self,
        port: u16,
        server_name: String,
        unverified: bool,
        identity: Option<OfferedIdentity>,
    ) -> Pending<Result<TlsSession, String>> {
        Box::pin(
            self.relays
                .start_tls(port, &server_name, unverified, identity),
        )
    }

    fn refuses_udp(&self) -> Option<&'static str> {
        None
    }

    fn settle(self: Arc<Self>) -> Pending<()> {
        Box::pin(async move { self.relays.settle().await })
    }
}

/// Connects to `address` for a hook, giving up at `deadline`: the stream,
/// or the socket error for the hook and what went wrong, for the record.
async fn connect(
    address: SocketAddr,
    deadline: Instant,
) -> Result<tokio::net::TcpStream, (SocketError, String)> {
    let connect = tokio::net::TcpStream::connect(address);
    match tokio::time::timeout_at(deadline, connect).await {
        Err(_) => Err((
            SocketError::Timeout,
            "the connection was not made before the hook's deadline".into(),
        )),
        Ok(Err(error)) => {
            let code = match error.kind() {
                std::io::ErrorKind::ConnectionRefused => SocketError::ConnectionRefused,
                std::io::ErrorKind::TimedOut => SocketError::Timeout,
                _ => SocketError::RemoteUnreachable,
            };
            Err((code, format!("the connection failed: {error}")))
        }
        Ok(Ok(stream)) => {
            // What the hook writes goes on at once (no Nagle delay waiting
            // on the peer's delayed ACK between a request's head and body).
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

/// Looks `name` up in the host, giving up at `deadline`: the addresses, or
/// what went wrong and whether it was the deadline.
async fn look_up(
    name: &str,
    port: u16,
    deadline: Instant,
) -> Result<Vec<SocketAddr>, (String, bool)> {
    let lookup = tokio::time::timeout_at(deadline, tokio::net::lookup_host((name, port)))
        .await
        .map_err(|_| {
            let reason = format!("looking up {name} did not finish before the deadline");
            (reason, true)
        })?;
    let addresses: Vec<SocketAddr> = lookup
        .map_err(|e| (format!("cannot look up {name}: {e}"), false))?
        .collect();
    if addresses.is_empty() {
        return Err((format!("{name} has no address"), false));
    }
    Ok(addresses)
}

/// Decides where an HTTP request may go: the addresses that passed and the
/// rule that allowed them, or why nothing may be reached.
async fn approve(
    policy: &EgressPolicy,
    scheme: Scheme,
    host: Host,
    port: u16,
    deadline: Instant,
) -> Result<(Approved, String), Unreachable> {
    let tls = scheme == Scheme::Https;
    let name = match &host {
        &Host::Ip(ip) => {
            return match policy.check_address(scheme, ip, port, None) {
                Verdict::Allowed(rule) => Ok((
                    Approved {
                        tls,
                        host,
                        addresses: vec![SocketAddr::new(ip, port)],
                    },
                    rule,
                )),
                Verdict::Denied(reason) => Err(Unreachable::Denied(reason)),
            };
        }
        Host::Name(name) => name.clone(),
    };
    // Names are looked up only when a rule names them: a lookup alone can
    // carry data out through DNS.
    let name_rule = policy
        .name_rule(scheme, &name, port)
        .ok_or_else(|| {
            Unreachable::Denied(policy.no_rule_for(scheme, &Host::Name(name.clone()), port))
        })?
        .clone();
    let resolved = look_up(&name, port, deadline)
        .await
        .map_err(|(reason, timed_out)| Unreachable::LookupFailed {
            rule: name_rule.to_string(),
            reason,
            timed_out,
        })?;
    let mut addresses = Vec::new();
    let mut allowed_by = None;
    let mut first_denial = None;
    for address in resolved {
        match policy.check_address(scheme, address.ip(), port, Some(&name_rule)) {
            Verdict::Allowed(rule) => {
                allowed_by.get_or_insert(rule);
                addresses.push(SocketAddr::new(address.ip(), port));
            }
            Verdict::Denied(reason) => {
                first_denial.get_or_insert(reason);
            }
        }
    }
    match allowed_by {
        Some(rule) => Ok((
            Approved {
                tls,
                host,
                addresses,
            },
            rule,
        )),
        None => Err(Unreachable::Denied(format!(
            "{name} resolves to no address a rule allows: {}",
            first_denial.unwrap_or_default()
        ))),
    }
}
