//! HTTP spoken over a raw socket (urllib3, and so `requests`; `httpx`; a
//! hand-written HTTP/1.1 client) to a destination an `http://` or
//! `https://` rule allows, held to that rule as `wasi:http` requests are.
//!
//! The hook's connection ends at a loopback server of the host's, which
//! parses what the hook sends as HTTP/1.1 (hyper): only whole, well-formed
//! requests come out of it, however the bytes were split or padded. Each
//! request must name, in its Host header and any absolute target, the
//! destination the connection was opened to (a name that resolved to that
//! address in this run, or the address itself), and is checked against the
//! policy, recorded as its own attempt (method, masked URL, status, bytes,
//! time) and held to the body caps, before the host's own HTTP client sends
//! it on the connection the host made, speaking TLS itself (verified against
//! the system roots and the operator's bundle) when the hook wraps its
//! socket. Keep-alive holds on both sides. A refused request closes the
//! hook's connection without an answer; the refusal is on the hook's stderr.
//! Under `hookbox test` the requests are answered by the recording receiver.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, WasiBody};

use super::address::Host;
use super::http::{AFTER_DEADLINE, Direction, Metered, ReadDeadline, body_error, read_upload};
use super::inject::SecretInjection;
use super::mask::UrlMasks;
use super::policy::{EgressPolicy, Scheme, Verdict};
use super::record::{AttemptHandle, AttemptStart, EgressLog};
use super::relay::{TlsRequest, UNVERIFIED_NOTE, handshake};
use super::tls_session::TlsSession;
use super::{checked_host_header, default_port, refuse, user_info_refusal};
use crate::output::CappedOutput;
use hookbox_crypto::tls::TlsSettings;
use hookbox_record::RecordedRequest;

/// What checks and records the requests of one hook connection.
#[derive(Clone)]
pub(super) struct HttpSocket {
    /// The run's policy.
    pub policy: Arc<EgressPolicy>,
    /// The run's egress log.
    pub log: EgressLog,
    /// The hook's stderr, for refusals.
    pub stderr: CappedOutput,
    /// How URLs are shown.
    pub url_masks: Arc<UrlMasks>,
    /// The cap on each body.
    pub max_body: u64,
    /// The hook's deadline.
    pub deadline: Instant,
    /// The address the hook connected to.
    pub destination: SocketAddr,
    /// The names that stand for it in this run.
    pub names: Vec<String>,
    /// Whether the destination's address is checked too (not under `hookbox
    /// test`, whose addresses stand for names).
    pub check_address: bool,
    /// The scheme of the rule that lets the hook connect, for a record of
    /// the connection itself failing.
    pub scheme: Scheme,
    /// What each request's record says of the client certificate offered
    /// on the connection, if any.
    pub client_certificate: Option<String>,
    /// The secrets the host injects into requests.
    pub secrets: Arc<SecretInjection>,
    /// Whether anything on the connection was recorded yet.
    pub recorded: Arc<AtomicBool>,
}

/// Records a connection the host made to the destination that ended with
/// nothing of it recorded (the hook connected, or made a TLS handshake,
/// then sent no request): that connection reached the destination too.
struct UnrecordedConnection(HttpSocket);

impl Drop for UnrecordedConnection {
    fn drop(&mut self) {
        if !self.0.recorded.load(Ordering::SeqCst) {
            self.0.connection_note(
                self.0.scheme,
                "the host connected to the destination for the hook, which sent no request on it",
            );
        }
    }
}

/// The recording receiver's answer to a request for a URL.
pub(super) type Answer = Arc<dyn Fn(&str) -> http::Response<Bytes> + Send + Sync>;

/// Where the checked requests go.
pub(super) enum Upstream {
    /// To the destination, over the connection the host made to it.
    Live {
        /// That connection.
        stream: TcpStream,
        /// The TLS settings, for a hook that wraps its socket.
        tls: Arc<TlsSettings>,
    },
    /// To the recording receiver, which answers for a URL.
    Recorded {
        /// The answer to a request for a URL.
        answer: Answer,
    },
}

/// How a checked request is answered.
enum Forward {
    Live(Mutex<SendRequest<Metered<WasiBody>>>),
    Recorded(Answer),
}

/// Why a request a hook sent over a socket was not sent on; hyper closes
/// the hook's connection on it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotSent(String);

hookbox_core::failure::categorized!(Usage: NotSent);

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Serves the one connection the hook makes to `listener`, until it closes
/// or the deadline passes.
pub(super) async fn serve(
    listener: TcpListener,
    socket: HttpSocket,
    upstream: Upstream,
    mut tls_requests: mpsc::Receiver<TlsRequest>,
) {
    let until = socket.deadline + AFTER_DEADLINE;
    // However serving ends, even cut short by the deadline.
    let _unrecorded =
        matches!(upstream, Upstream::Live { .. }).then(|| UnrecordedConnection(socket.clone()));
    let Ok(Ok((hook, _))) = tokio::time::timeout_at(until, listener.accept()).await else {
        return;
    };
    drop(listener);
    let _ = hook.set_nodelay(true);
    // Plain HTTP, unless the hook wraps its socket before it sends a byte.
    let mut first = [0u8; 1];
    let tls_request = tokio::select! {
        _ = hook.peek(&mut first) => None,
        request = tls_requests.recv() => request,
        () = tokio::time::sleep_until(until) => return,
    };
    drop(tls_requests);
    let scheme = if tls_request.is_some() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    // The TLS server name goes to the server (SNI, which front ends route
    // by): like a request's Host, it must name the destination.
    if let Some(request) = &tls_request
        && !socket.names_destination(request.server_name.as_ref())
    {
        let reason = format!(
            "the TLS server name must name the destination the connection was opened to ({})",
            socket.connection_host()
        );
        socket.connection_refused(scheme, &reason);
        if let Some(request) = tls_request {
            let _ = request.reply.send(Err(reason));
        }
        return;
    }
    let mut socket = socket;
    socket.client_certificate = tls_request
        .as_ref()
        .and_then(|request| request.identity.as_ref())
        .map(|offered| offered.note.clone());
    // On a TLS session made for a name, every request must name that one:
    // none rides the session (and a client certificate chosen for it) to
    // another name behind the same address.
    if let Some(ServerName::DnsName(name)) = tls_request
        .as_ref()
        .and_then(|request| request.server_name.as_ref())
    {
        socket.names = vec![name.as_ref().trim_end_matches('.').to_ascii_lowercase()];
    }
    let forward = match upstream {
        Upstream::Live { stream, tls } => {
            match connect_upstream(&socket, scheme, stream, tls_request, &tls, until).await {
                Some(sender) => Forward::Live(Mutex::new(sender)),
                None => return,
            }
        }
        Upstream::Recorded { answer } => {
            if let Some(request) = tls_request {
                let _ = request.reply.send(Ok(TlsSession::recorded()));
            }
            Forward::Recorded(answer)
        }
    };
    let (socket, forward) = (Arc::new(socket), Arc::new(forward));
    let service = hyper::service::service_fn(move |request| {
        let (socket, forward) = (socket.clone(), forward.clone());
        async move { socket.handle(request, scheme, &forward).await }
    });
    let serving =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(hook), service);
    let _ = tokio::time::timeout_at(until, serving).await;
}

/// Speaks TLS with the destination if the hook asked, then HTTP/1.1: the
/// sender requests go through, or `None` (the hook's request for TLS is
/// answered either way).
async fn connect_upstream(
    socket: &HttpSocket,
    scheme: Scheme,
    stream: TcpStream,
    tls_request: Option<TlsRequest>,
    tls: &TlsSettings,
    until: Instant,
) -> Option<SendRequest<Metered<WasiBody>>> {
    let io: Box<dyn Stream> = match tls_request {
        None => Box::new(stream),
        Some(request) => {
            let handshake = handshake(
                stream,
                request.server_name,
                request.unverified,
                request.identity.as_ref().map(|offered| &offered.identity),
                tls,
                &[b"http/1.1"],
                until,
            );
            match handshake.await {
                Ok((stream, session)) => {
                    if request.unverified {
                        socket.connection_note(scheme, UNVERIFIED_NOTE);
                    }
                    let _ = request.reply.send(Ok(session));
                    Box::new(stream)
                }
                Err(reason) => {
                    socket.connection_note(scheme, &reason);
                    let _ = request.reply.send(Err(reason));
                    return None;
                }
            }
        }
    };
    let handshake = hyper::client::conn::http1::handshake(TokioIo::new(io));
    let (sender, connection) = match tokio::time::timeout_at(until, handshake).await {
        Ok(Ok(made)) => made,
        _ => return None,
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout_at(until, connection).await;
    });
    Some(sender)
}

impl HttpSocket {
    /// Checks, records and answers one request of the hook's.
    async fn handle(
        &self,
        request: http::Request<Incoming>,
        scheme: Scheme,
        forward: &Forward,
    ) -> Result<http::Response<WasiBody>, NotSent> {
        let (parts, body) = request.into_parts();
        let (host, port) = self.requested_host(&parts, scheme)?;
        let shown_host = host.to_string();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let url = format!("{scheme}://{shown_host}:{port}{path}");
        let shown_path = self.url_masks.path(&shown_host, parts.uri.path());
        let target = format!(
            "{} {scheme}://{shown_host}:{port}{shown_path}",
            parts.method
        );
        self.recorded.store(true, Ordering::SeqCst);
        let handle = self.log.begin(AttemptStart {
            scheme: super::recorded(scheme),
            host: shown_host.clone(),
            port,
            method: Some(parts.method.to_string()),
            url: Some(format!("{scheme}://{shown_host}:{port}{shown_path}")),
        });
        let refused = |reason: String| {
            refuse(&handle, &self.stderr, &target, &reason);
            NotSent(reason)
        };
        if let Some(reason) = self.not_this_destination(&host, port) {
            return Err(refused(reason));
        }
        // A tunnel would carry bytes no rule looks at.
        if parts.method == http::Method::CONNECT
            || parts.headers.contains_key(http::header::UPGRADE)
        {
            return Err(refused(
                "CONNECT and protocol upgrades are not relayed: only plain HTTP requests are"
                    .into(),
            ));
        }
        let rule = match self.verdict(scheme, &host, port) {
            Verdict::Allowed(rule) => rule,
            Verdict::Denied(reason) => return Err(refused(reason)),
        };
        tracing::info!(target = %target, rule = %rule, "egress allowed");
        handle.allow(&rule);
        handle.set_address(self.destination);
        if let Some(note) = &self.client_certificate {
            handle.note(note);
        }
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok());
        if let Some(length) = declared.filter(|&length| length > self.max_body) {
            let reason = format!(
                "request body of {length} bytes is over the {}-byte cap \
                 (--max-http-body); nothing was sent",
                self.max_body
            );
            handle.note(&reason);
            self.stderr
                .write_line(&format!("hookbox: {target}: {reason}"));
            return Err(NotSent(reason));
        }
        let mut parts = parts;
        // Upstream the request names what was checked, and only that.
        let host_value = checked_host_header(&host, port, scheme).map_err(&refused)?;
        parts.headers.insert(http::header::HOST, host_value);
        parts.uri = http::Uri::try_from(path.as_str())
            .map_err(|_| refused(format!("{path} is not a request target")))?;
        // Past this point the request may hold secrets: no message quotes it.
        let injected = self
            .secrets
            .inject(scheme, &host, port, &mut parts)
            .map_err(|refusal| refused(refusal.to_string()))?;
        if let Some(note) = injected.note() {
            handle.note(&note);
        }
        let body = body.map_err(Error::from).boxed_unsync();
        let request = http::Request::from_parts(parts, body);
        let answered = match forward {
            Forward::Live(sender) => self.send(request, sender, &handle).await,
            Forward::Recorded(answer) => self.record(request, &url, answer, &handle).await,
        };
        answered
            .map(|response| {
                let (response, note) = injected.guard(response);
                if let Some(note) = note {
                    handle.note(&note);
                }
                response
            })
            .map_err(|error| {
                handle.note(&error.to_string());
                NotSent(error.to_string())
            })
    }

    /// The host and port a request names: its absolute target's, which
    /// must then agree with its Host header, else the Host header's.
    fn requested_host(
        &self,
        parts: &http::request::Parts,
        scheme: Scheme,
    ) -> Result<(Host, u16), NotSent> {
        // One Host header, naming a host and port only: a second one, or
        // user info, could be read differently by a front end upstream.
        let mut hosts = parts.headers.get_all(http::header::HOST).iter();
        let (first, second) = (hosts.next(), hosts.next());
        if second.is_some() {
            return Err(
                self.refuse_request(scheme, "the request has more than one Host header".into())
            );
        }
        let header = first
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse::<http::uri::Authority>().ok());
        if let Some(reason) = parts
            .uri
            .authority()
            .into_iter()
            .chain(header.as_ref())
            .find_map(user_info_refusal)
        {
            return Err(self.refuse_request(scheme, reason));
        }
        let authority = match (parts.uri.authority(), header) {
            (Some(target), Some(header)) if target != &header => {
                return Err(self.refuse_request(
                    scheme,
                    format!("the request's target names {target} but its Host header {header}"),
                ));
            }
            (Some(target), _) => target.clone(),
            (None, Some(header)) => header,
            (None, None) => {
                return Err(self.refuse_request(
                    scheme,
                    "the request names no host (HTTP/1.1 requires a Host header)".into(),
                ));
            }
        };
        let host =
            Host::parse(authority.host()).map_err(|error| self.refuse_request(scheme, error.0))?;
        Ok((host, authority.port_u16().unwrap_or(default_port(scheme))))
    }

    /// Why a request for `host` at `port` may not go over this connection:
    /// it names another destination than the one the connection was opened
    /// to (another virtual host behind the same address, say).
    fn not_this_destination(&self, host: &Host, port: u16) -> Option<String> {
        let same_host = match host {
            Host::Ip(ip) => *ip == super::address::canonical_ip(self.destination.ip()),
            Host::Name(name) => self.names.contains(name),
        };
        if same_host && port == self.destination.port() {
            return None;
        }
        let opened_to = self
            .names
            .first()
            .cloned()
            .unwrap_or_else(|| Host::Ip(self.destination.ip()).to_string());
        Some(format!(
            "the connection was opened to {opened_to}:{}; a request on it may name only that \
             destination in its Host header and target",
            self.destination.port()
        ))
    }

    /// The policy's verdict on a request to `host`.
    fn verdict(&self, scheme: Scheme, host: &Host, port: u16) -> Verdict {
        let ip = self.destination.ip();
        match host {
            Host::Ip(_) => self.policy.check_address(scheme, ip, port, None),
            Host::Name(name) => match self.policy.name_rule(scheme, name, port) {
                Some(rule) if self.check_address => {
                    let rule = rule.clone();
                    self.policy.check_address(scheme, ip, port, Some(&rule))
                }
                Some(rule) => Verdict::Allowed(rule.to_string()),
                None => Verdict::Denied(self.policy.no_rule_for(scheme, host, port)),
            },
        }
    }

    /// Sends a checked request on the destination connection.
    async fn send(
        &self,
        request: http::Request<WasiBody>,
        sender: &Mutex<SendRequest<Metered<WasiBody>>>,
        handle: &AttemptHandle,
    ) -> Result<http::Response<WasiBody>, Error> {
        let request = request
            .map(|body| Metered::new(body, self.max_body, Direction::Out, handle.clone(), None));
        let until = self.deadline + AFTER_DEADLINE;
        let mut sender = sender.lock().await;
        let response = tokio::time::timeout_at(until, async {
            sender.ready().await.map_err(body_error)?;
            sender.send_request(request).await.map_err(body_error)
        })
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
        drop(sender);
        handle.set_status(response.status().as_u16());
        let (max_body, handle) = (self.max_body, handle.clone());
        Ok(response.map(|incoming| {
            Metered::new(
                incoming.map_err(Error::from).boxed_unsync(),
                max_body,
                Direction::In,
                handle,
                Some(ReadDeadline::new(until, None)),
            )
            .boxed_unsync()
        }))
    }

    /// Records a checked request and answers it as the recording receiver.
    async fn record(
        &self,
        request: http::Request<WasiBody>,
        url: &str,
        answer: &Answer,
        handle: &AttemptHandle,
    ) -> Result<http::Response<WasiBody>, Error> {
        let (parts, body) = request.into_parts();
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.to_string(), value)
            })
            .collect();
        let body = read_upload(body, self.max_body, self.deadline, handle.clone()).await?;
        let response = answer(url);
        handle.record_request(RecordedRequest {
            url: self.url_masks.url(url),
            full_url: url.to_owned(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        handle.set_status(response.status().as_u16());
        handle.add_bytes_in(response.body().len() as u64);
        Ok(response.map(|body| {
            http_body_util::Full::new(body)
                .map_err(|never| match never {})
                .boxed_unsync()
        }))
    }

    /// Refuses a request whose destination cannot be read, recorded as an
    /// attempt of the connection's.
    fn refuse_request(&self, scheme: Scheme, reason: String) -> NotSent {
        self.connection_refused(scheme, &reason);
        NotSent(reason)
    }

    /// Notes something of the connection itself (it could not be made, its
    /// TLS handshake failed) in an attempt of its own.
    pub fn connection_note(&self, scheme: Scheme, note: &str) {
        let handle = self.connection_attempt(scheme);
        let verdict = self.verdict(scheme, &self.connection_host(), self.destination.port());
        if let Verdict::Allowed(rule) = verdict {
            handle.allow(&rule);
        }
        handle.note(note);
    }

    /// Refuses what the hook asked of the connection itself, in an attempt
    /// of its own.
    fn connection_refused(&self, scheme: Scheme, reason: &str) {
        let handle = self.connection_attempt(scheme);
        let target = format!("{scheme}://{}", self.destination);
        refuse(&handle, &self.stderr, &target, reason);
    }

    fn connection_attempt(&self, scheme: Scheme) -> AttemptHandle {
        self.recorded.store(true, Ordering::SeqCst);
        let handle = self.log.begin(AttemptStart {
            scheme: super::recorded(scheme),
            host: self.connection_host().to_string(),
            port: self.destination.port(),
            method: None,
            url: None,
        });
        handle.set_address(self.destination);
        handle
    }

    /// Whether a TLS server name (none: the address) names the destination
    /// the connection was opened to, as a request's Host must: a name the
    /// destination was looked up by, or its address.
    fn names_destination(&self, server_name: Option<&ServerName<'static>>) -> bool {
        match server_name {
            None => true,
            Some(ServerName::IpAddress(ip)) => {
                super::address::canonical_ip(std::net::IpAddr::from(*ip))
                    == super::address::canonical_ip(self.destination.ip())
            }
            Some(ServerName::DnsName(name)) => {
                let name = name.as_ref().trim_end_matches('.').to_ascii_lowercase();
                self.names.contains(&name)
            }
            Some(_) => false,
        }
    }

    fn connection_host(&self) -> Host {
        match self.names.first() {
            Some(name) => Host::Name(name.clone()),
            None => Host::Ip(self.destination.ip()),
        }
    }
}
