//! Sending an HTTP request the policy allowed: connect only to an address that
//! was checked, speak TLS verified against the system roots plus the
//! operator's CA bundle, follow no redirect, cap both bodies and never wait
//! past the hook's deadline.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::address::Host;
use super::record::AttemptHandle;

/// A destination whose addresses passed the policy.
#[derive(Debug, Clone)]
pub struct Approved {
    /// Whether to speak TLS.
    pub tls: bool,
    /// The host the hook named (used for SNI and certificate checks).
    pub host: Host,
    /// The checked addresses, in the order to try them.
    pub addresses: Vec<SocketAddr>,
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// How long past the hook's deadline network waits may last. The run itself
/// is stopped at the deadline (cancelling every wait it owns); this only ends
/// what outlives it, and keeps a wait from failing a hook at the very moment
/// the deadline stops it.
pub(super) const AFTER_DEADLINE: Duration = Duration::from_secs(1);

/// Sends `request` to an approved destination.
pub async fn send(
    mut request: http::Request<WasiBody>,
    approved: Approved,
    tls: Option<Arc<rustls::ClientConfig>>,
    options: Option<RequestOptions>,
    deadline: Instant,
    max_body: u64,
    record: AttemptHandle,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let deadline = deadline + AFTER_DEADLINE;
    let bounded = |timeout: Option<Duration>| match timeout {
        Some(timeout) => deadline.min(Instant::now() + timeout),
        None => deadline,
    };
    let connect_by = bounded(options.and_then(|o| o.connect_timeout));
    let first_byte_by = bounded(options.and_then(|o| o.first_byte_timeout));
    let between_bytes = options.and_then(|o| o.between_bytes_timeout);

    let (stream, address) = connect(&approved.addresses, connect_by).await?;
    record.set_address(address);
    let io: Box<dyn Stream> = if approved.tls {
        let config = tls.ok_or(Error::InternalError(Some("TLS is not configured".into())))?;
        let name = server_name(&approved.host)?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let stream = tokio::time::timeout_at(connect_by, connector.connect(name, stream))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(tls_error)?;
        Box::new(stream)
    } else {
        Box::new(stream)
    };
    let (mut sender, connection) = tokio::time::timeout_at(
        connect_by,
        hyper::client::conn::http1::Builder::new()
            .handshake::<_, Metered<WasiBody>>(TokioIo::new(io)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;

    // On the wire the request names only its path; the authority travels in
    // the Host header wasmtime derived from the URL that was checked.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let request =
        request.map(|body| Metered::new(body, max_body, Direction::Out, record.clone(), None));

    let mut connection = Box::pin(connection);
    let response = {
        let send = sender.send_request(request);
        tokio::pin!(send);
        // Drive the connection while waiting for the response head.
        let waited = tokio::time::timeout_at(first_byte_by, async {
            tokio::select! {
                response = &mut send => response.map_err(body_error),
                done = &mut connection => {
                    done.map_err(body_error)?;
                    send.await.map_err(body_error)
                }
            }
        })
        .await;
        waited.map_err(|_| Error::ConnectionReadTimeout)??
    };
    record.set_status(response.status().as_u16());
    let response = response.map(|incoming| {
        Metered::new(
            incoming.map_err(Error::from).boxed_unsync(),
            max_body,
            Direction::In,
            record,
            Some(ReadDeadline::new(deadline, between_bytes)),
        )
        .boxed_unsync()
    });
    let io: IoFuture = Box::new(async move {
        match tokio::time::timeout_at(deadline, connection).await {
            Ok(done) => done.map_err(body_error),
            Err(_) => Err(Error::ConnectionReadTimeout),
        }
    });
    Ok((response, io))
}

/// The error a body of ours made hyper fail with (a body over its cap), or
/// hyper's own: the hook is told the cap, not that the protocol failed.
pub(super) fn body_error(error: hyper::Error) -> Error {
    use std::error::Error as _;
    match error
        .source()
        .and_then(|cause| cause.downcast_ref::<Error>())
    {
        Some(Error::HttpRequestBodySize(cap)) => Error::HttpRequestBodySize(*cap),
        Some(Error::HttpResponseBodySize(cap)) => Error::HttpResponseBodySize(*cap),
        _ => Error::from(error),
    }
}

/// Reads a request body whole, counted into the record and held to the cap,
/// for the recording receiver (which answers without connecting).
pub async fn read_upload(
    body: WasiBody,
    max_body: u64,
    deadline: Instant,
    record: AttemptHandle,
) -> Result<Bytes, Error> {
    let metered = Metered::new(body, max_body, Direction::Out, record, None);
    match tokio::time::timeout_at(deadline + AFTER_DEADLINE, metered.collect()).await {
        Ok(collected) => Ok(collected?.to_bytes()),
        Err(_) => Err(Error::ConnectionWriteTimeout),
    }
}

/// A complete response with `body`, needing no connection.
pub fn local_response(response: http::Response<Bytes>) -> (http::Response<WasiBody>, IoFuture) {
    let response = response.map(|body| {
        http_body_util::Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync()
    });
    let io: IoFuture = Box::new(async { Ok(()) });
    (response, io)
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

async fn connect(addresses: &[SocketAddr], by: Instant) -> Result<(TcpStream, SocketAddr), Error> {
    let mut last = Error::DestinationUnavailable;
    for &address in addresses {
        match tokio::time::timeout_at(by, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok((stream, address)),
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = Error::ConnectionRefused;
            }
            Ok(Err(error)) => last = Error::Connect(error),
            Err(_) => return Err(Error::ConnectionTimeout),
        }
    }
    Err(last)
}

fn server_name(host: &Host) -> Result<rustls::pki_types::ServerName<'static>, Error> {
    let name = match host {
        Host::Name(name) => rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|_| Error::HttpRequestUriInvalid)?,
        Host::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
    };
    Ok(name)
}

fn tls_error(error: std::io::Error) -> Error {
    let is_certificate = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)));
    if is_certificate {
        Error::TlsCertificateError
    } else {
        Error::Tls(error)
    }
}

/// Which way a metered body goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// From the hook.
    Out,
    /// To the hook.
    In,
}

/// How long a response body may take: never past the hook's deadline, and
/// no longer between frames than the hook asked for.
pub(super) struct ReadDeadline {
    sleep: Pin<Box<tokio::time::Sleep>>,
    deadline: Instant,
    between_bytes: Option<Duration>,
}

impl ReadDeadline {
    pub(super) fn new(deadline: Instant, between_bytes: Option<Duration>) -> Self {
        let mut read = ReadDeadline {
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            deadline,
            between_bytes,
        };
        read.reset();
        read
    }

    fn reset(&mut self) {
        let next = match self.between_bytes {
            Some(gap) => self.deadline.min(Instant::now() + gap),
            None => self.deadline,
        };
        self.sleep.as_mut().reset(next);
    }
}

/// A body that counts its bytes into the attempt record and fails once it
/// goes over its cap, so neither side can push unbounded data through.
pub(super) struct Metered<B> {
    inner: B,
    cap: u64,
    seen: u64,
    direction: Direction,
    record: AttemptHandle,
    read_deadline: Option<ReadDeadline>,
}

impl<B> Metered<B> {
    pub(super) fn new(
        inner: B,
        cap: u64,
        direction: Direction,
        record: AttemptHandle,
        read_deadline: Option<ReadDeadline>,
    ) -> Self {
        Metered {
            inner,
            cap,
            seen: 0,
            direction,
            record,
            read_deadline,
        }
    }
}

impl<B> Body for Metered<B>
where
    B: Body<Data = Bytes, Error = Error> + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                if let Some(read) = &mut this.read_deadline
                    && read.sleep.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Some(Err(Error::ConnectionReadTimeout)));
                }
                return Poll::Pending;
            }
            Poll::Ready(frame) => frame,
        };
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            this.seen += data.len() as u64;
            match this.direction {
                Direction::Out => this.record.add_bytes_out(data.len() as u64),
                Direction::In => this.record.add_bytes_in(data.len() as u64),
            }
            if this.seen > this.cap {
                let error = match this.direction {
                    Direction::Out => Error::HttpRequestBodySize(Some(this.cap)),
                    Direction::In => Error::HttpResponseBodySize(Some(this.cap)),
                };
                this.record.note(&format!(
                    "{} body cut at the {}-byte cap (--max-http-body)",
                    if this.direction == Direction::Out {
                        "request"
                    } else {
                        "response"
                    },
                    this.cap
                ));
                return Poll::Ready(Some(Err(error)));
            }
            if let Some(read) = &mut this.read_deadline {
                read.reset();
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
