//! Live raw TCP through the host.
//!
//! A connection a hook makes to an address a `tcp://` rule allows is first
//! made by the host, to that address (so a refused or unreachable destination
//! fails the hook's `connect`, as on a host); the hook's socket is then
//! connected to a loopback relay opened for it alone, which copies bytes both
//! ways, counts them in the egress record, and, when the hook asks (`ssl`'s
//! `wrap_socket`: SMTP `STARTTLS`, TLS syslog), upgrades the destination side
//! to TLS, verified by the host against the system's roots plus the
//! operator's CA bundle. The hook keeps speaking plain bytes to the relay.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::record::AttemptHandle;
use super::tls_session::{ClientIdentity, OfferedIdentity, TlsSession};
use hookbox_crypto::tls::TlsSettings;

/// How long past the hook's deadline a relay may still pass on what the hook
/// sent before it ended.
const AFTER_DEADLINE: Duration = Duration::from_secs(1);

/// The relays of one run.
#[derive(Default)]
pub struct Relays {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Each relay's loopback address, its destination, and how to ask it
    /// for TLS.
    by_address: HashMap<SocketAddr, (SocketAddr, mpsc::Sender<TlsRequest>)>,
    tasks: Vec<JoinHandle<()>>,
}

/// A hook's request to upgrade its connection to TLS.
pub(super) struct TlsRequest {
    /// The name to check the certificate for; the destination's address when
    /// `None`.
    pub server_name: Option<ServerName<'static>>,
    /// Accept any certificate (an `unverified_tls` rule allows it).
    pub unverified: bool,
    /// The client certificate to present if the server asks for one.
    pub identity: Option<OfferedIdentity>,
    /// Where the session, or why there is none, goes.
    pub reply: oneshot::Sender<Result<TlsSession, String>>,
}

impl Relays {
    /// Opens a relay between a hook and `upstream`, already connected; the
    /// hook's socket is to connect to the address returned.
    pub fn open(
        &self,
        upstream: TcpStream,
        record: AttemptHandle,
        tls: Arc<TlsSettings>,
        deadline: Instant,
    ) -> io::Result<SocketAddr> {
        let (listener, address) = loopback_listener()?;
        let destination = upstream.peer_addr()?;
        let (requests, incoming) = mpsc::channel(1);
        let relay = Relay {
            upstream: Upstream::Plain(upstream),
            record,
            tls,
            until: deadline + AFTER_DEADLINE,
        };
        let task = tokio::spawn(relay.run(listener, incoming));
        let mut state = self.lock();
        state.by_address.insert(address, (destination, requests));
        state.tasks.push(task);
        Ok(address)
    }

    /// Opens a relay between a hook and `upstream` that speaks HTTP with
    /// the hook and checks and records every request
    /// ([`super::http_socket`]); the hook's socket is to connect to the
    /// address returned.
    pub(super) fn open_http(
        &self,
        upstream: TcpStream,
        socket: super::http_socket::HttpSocket,
        tls: Arc<TlsSettings>,
    ) -> io::Result<SocketAddr> {
        let (listener, address) = loopback_listener()?;
        let destination = upstream.peer_addr()?;
        let (requests, incoming) = mpsc::channel(1);
        let upstream = super::http_socket::Upstream::Live {
            stream: upstream,
            tls,
        };
        let task = tokio::spawn(super::http_socket::serve(
            listener, socket, upstream, incoming,
        ));
        let mut state = self.lock();
        state.by_address.insert(address, (destination, requests));
        state.tasks.push(task);
        Ok(address)
    }

    /// Whether `address` is one of this run's relays.
    pub fn is_relay(&self, address: SocketAddr) -> bool {
        self.lock().by_address.contains_key(&address)
    }

    /// Where the connection relayed at loopback `port` goes.
    pub fn destination(&self, port: u16) -> Option<SocketAddr> {
        self.lock()
            .by_address
            .iter()
            .find(|(address, _)| address.port() == port)
            .map(|(_, (destination, _))| *destination)
    }

    /// Upgrades the connection relayed at loopback `port` to TLS with the
    /// destination, checking its certificate for `server_name` (the
    /// destination's address when empty), or accepting any certificate when
    /// `unverified`. Returns what the session agreed.
    pub fn start_tls(
        &self,
        port: u16,
        server_name: &str,
        unverified: bool,
        identity: Option<OfferedIdentity>,
    ) -> impl Future<Output = Result<TlsSession, String>> + Send + 'static {
        let requests = self
            .lock()
            .by_address
            .iter()
            .find(|(address, _)| address.port() == port)
            .map(|(_, (_, requests))| requests.clone());
        let server_name = server_name.to_owned();
        async move {
            let requests = requests.ok_or_else(|| {
                format!("no connection of this hook is relayed at port {port}: connect first")
            })?;
            let server_name = match server_name.as_str() {
                "" => None,
                name => Some(
                    ServerName::try_from(name.to_owned())
                        .map_err(|_| format!("{name:?} is not a host name or address"))?,
                ),
            };
            let (reply, answer) = oneshot::channel();
            let request = TlsRequest {
                server_name,
                unverified,
                identity,
                reply,
            };
            requests
                .send(request)
                .await
                .map_err(|_| "the connection is closed".to_owned())?;
            answer
                .await
                .map_err(|_| "the connection is closed".to_owned())?
        }
    }

    /// Waits (briefly) for every relay to pass on what the hook sent; call
    /// once the run's sockets are closed.
    pub async fn settle(&self) {
        let tasks = std::mem::take(&mut self.lock().tasks);
        super::settle(tasks, AFTER_DEADLINE).await;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a record notes of a connection whose certificate was not checked.
pub(super) const UNVERIFIED_NOTE: &str =
    "TLS not verified: the hook asked and an unverified_tls rule allows it";

/// A loopback listener for one hook connection, and its address.
pub(super) fn loopback_listener() -> io::Result<(TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    Ok((TcpListener::from_std(listener)?, address))
}

/// The destination side of a relay.
enum Upstream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// Between the two, while the handshake runs (or after it failed).
    Gone,
}

impl Upstream {
    async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Upstream::Plain(stream) => stream.read(buffer).await,
            Upstream::Tls(stream) => stream.read(buffer).await,
            Upstream::Gone => Ok(0),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Upstream::Plain(stream) => stream.write_all(bytes).await,
            Upstream::Tls(stream) => stream.write_all(bytes).await,
            Upstream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Upstream::Plain(stream) => stream.shutdown().await,
            Upstream::Tls(stream) => stream.shutdown().await,
            Upstream::Gone => Ok(()),
        };
    }
}

/// What woke the relay.
enum Event {
    FromHook(io::Result<usize>),
    FromDestination(io::Result<usize>),
    Tls(TlsRequest),
    Timeout,
}

struct Relay {
    upstream: Upstream,
    record: AttemptHandle,
    tls: Arc<TlsSettings>,
    until: Instant,
}

impl Relay {
    async fn run(mut self, listener: TcpListener, mut requests: mpsc::Receiver<TlsRequest>) {
        let accepted = tokio::time::timeout_at(self.until, listener.accept()).await;
        let Ok(Ok((mut hook, _))) = accepted else {
            return;
        };
        drop(listener);
        let _ = hook.set_nodelay(true);
        let (mut from_hook, mut from_destination) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
        let mut destination_open = true;
        loop {
            let event = tokio::select! {
                read = hook.read(&mut from_hook) => Event::FromHook(read),
                read = self.upstream.read(&mut from_destination), if destination_open => {
                    Event::FromDestination(read)
                }
                Some(request) = requests.recv() => Event::Tls(request),
                () = tokio::time::sleep_until(self.until) => Event::Timeout,
            };
            match event {
                Event::FromHook(Ok(read)) if read > 0 => {
                    if self.upstream.write_all(&from_hook[..read]).await.is_err() {
                        break;
                    }
                    self.record.add_bytes_out(read as u64);
                }
                Event::FromHook(_) => {
                    // The hook closed its socket (or its run ended): pass the
                    // close on and stop, rather than wait for an answer no
                    // one would read.
                    self.upstream.shutdown().await;
                    break;
                }
                Event::FromDestination(Ok(read)) if read > 0 => {
                    if hook.write_all(&from_destination[..read]).await.is_err() {
                        break;
                    }
                    self.record.add_bytes_in(read as u64);
                }
                Event::FromDestination(_) => {
                    destination_open = false;
                    let _ = hook.shutdown().await;
                }
                Event::Tls(request) => {
                    let TlsRequest {
                        server_name,
                        unverified,
                        identity,
                        reply,
                    } = request;
                    let answer = self
                        .upgrade(server_name, unverified, identity.as_ref())
                        .await;
                    let failed = answer.is_err();
                    let _ = reply.send(answer);
                    if failed {
                        break;
                    }
                }
                Event::Timeout => break,
            }
        }
    }

    /// Replaces the plain destination stream with a TLS one.
    async fn upgrade(
        &mut self,
        server_name: Option<ServerName<'static>>,
        unverified: bool,
        identity: Option<&OfferedIdentity>,
    ) -> Result<TlsSession, String> {
        let Upstream::Plain(stream) = std::mem::replace(&mut self.upstream, Upstream::Gone) else {
            return Err("the connection already speaks TLS".into());
        };
        // Raw TCP is not HTTP: offer no application protocol.
        let handshake = handshake(
            stream,
            server_name,
            unverified,
            identity.map(|offered| &offered.identity),
            &self.tls,
            &[],
            self.until,
        );
        let (stream, session) = handshake
            .await
            .inspect_err(|reason| self.record.note(reason))?;
        if unverified {
            self.record.note(UNVERIFIED_NOTE);
        }
        if let Some(offered) = identity {
            self.record.note(&offered.note);
        }
        self.upstream = Upstream::Tls(Box::new(stream));
        Ok(session)
    }
}

/// Upgrades `stream` to TLS, offering `alpn`, checking the certificate for
/// `server_name` (the peer's address when `None`) unless `unverified`;
/// returns the stream and what the session agreed, or why not.
pub(super) async fn handshake(
    stream: TcpStream,
    server_name: Option<ServerName<'static>>,
    unverified: bool,
    identity: Option<&ClientIdentity>,
    tls: &TlsSettings,
    alpn: &[&[u8]],
    until: Instant,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, TlsSession), String> {
    let server_name = match server_name {
        Some(name) => name,
        None => match stream.peer_addr() {
            Ok(peer) => ServerName::IpAddress(peer.ip().into()),
            Err(error) => return Err(format!("the connection is gone: {error}")),
        },
    };
    let config = if unverified {
        tls.unverified_config()?
    } else {
        tls.config()?
    };
    let mut config = match identity {
        Some(identity) => hookbox_crypto::tls::with_client_identity(
            &config,
            &identity.certificates,
            &identity.key,
        )?,
        None => config.as_ref().clone(),
    };
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = connector.connect(server_name, stream);
    let stream = match tokio::time::timeout_at(until, handshake).await {
        Err(_) => return Err("the TLS handshake did not finish before the deadline".into()),
        Ok(Err(error)) => return Err(tls_failure(&error)),
        Ok(Ok(stream)) => stream,
    };
    let session = TlsSession::of(stream.get_ref().1);
    Ok((stream, session))
}

/// Says what failed in a handshake; a certificate the host does not trust is
/// named so the hook's `ssl` raises `SSLCertVerificationError`.
fn tls_failure(error: &io::Error) -> String {
    let certificate = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)));
    if certificate {
        format!("certificate verify failed: {error}")
    } else {
        format!("the TLS handshake failed: {error}")
    }
}
