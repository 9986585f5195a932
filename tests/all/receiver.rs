//! Real HTTP(S) receivers on loopback that record what reaches them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tokio::net::TcpListener;

pub use hookbox_testkit::tls::{ClientCa, TestCa, TlsAcceptor};

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lower case.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Received {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the receiver answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A status with a short body.
    Status(u16, &'static str),
    /// A redirect to this location.
    Redirect(String),
    /// A body of this many bytes, streamed.
    Huge(usize),
    /// Headers, then a body that never ends (one byte now and then).
    Endless,
    /// 503 to the first this many requests, then 200.
    FailFirst(usize),
    /// 401 with a Basic challenge unless `Authorization` is this value, then
    /// 200 with `authorized`.
    BasicAuth(&'static str),
    /// 200 with the request's target and headers echoed in the body and
    /// its `Authorization` in an `x-echo` header and the status line's
    /// reason phrase, as an echo service does.
    Echo,
    /// [`Reply::Echo`] claiming `Content-Encoding: gzip`.
    EchoCompressed,
}

/// A receiver listening on 127.0.0.1.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts a plain HTTP receiver.
    pub async fn http(reply: Reply) -> Receiver {
        Self::start(reply, None).await
    }

    /// Starts an HTTPS receiver presenting `tls`'s certificate.
    pub async fn https(reply: Reply, tls: &TestCa) -> Receiver {
        Self::start(reply, Some(tls.acceptor())).await
    }

    /// Starts an HTTPS receiver that requires a client certificate
    /// `clients` signed.
    pub async fn https_requiring(reply: Reply, tls: &TestCa, clients: &ClientCa) -> Receiver {
        Self::start(reply, Some(tls.acceptor_requiring(clients))).await
    }

    async fn start(reply: Reply, tls: Option<TlsAcceptor>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (requests, connections) = (requests.clone(), connections.clone());
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let (requests, reply, tls) = (requests.clone(), reply.clone(), tls.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let (requests, reply) = (requests.clone(), reply.clone());
                            async move { Ok::<_, Infallible>(answer(request, reply, requests).await) }
                        });
                        let builder = hyper::server::conn::http1::Builder::new();
                        match tls {
                            Some(acceptor) => {
                                if let Ok(stream) = acceptor.accept(stream).await {
                                    let _ = builder
                                        .serve_connection(
                                            wasmtime_wasi_http::io::TokioIo::new(stream),
                                            service,
                                        )
                                        .await;
                                }
                            }
                            None => {
                                let _ = builder
                                    .serve_connection(
                                        wasmtime_wasi_http::io::TokioIo::new(stream),
                                        service,
                                    )
                                    .await;
                            }
                        }
                    });
                }
            }
        });
        Receiver {
            addr,
            requests,
            connections,
            task,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// TCP connections accepted so far (a refused request makes none).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn answer(
    request: hyper::Request<hyper::body::Incoming>,
    reply: Reply,
    requests: Arc<Mutex<Vec<Received>>>,
) -> hyper::Response<Body> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let seen = {
        let mut requests = requests.lock().unwrap();
        requests.push(Received {
            method: parts.method.to_string(),
            path: parts
                .uri
                .path_and_query()
                .map_or("/".into(), |p| p.to_string()),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body,
        });
        requests.len()
    };
    let full = |text: &'static str| Full::new(Bytes::from_static(text.as_bytes())).boxed();
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    match reply {
        Reply::BasicAuth(expected) if authorization == Some(expected) => hyper::Response::builder()
            .status(200)
            .body(full("authorized"))
            .unwrap(),
        Reply::BasicAuth(_) => hyper::Response::builder()
            .status(401)
            .header("www-authenticate", "Basic realm=\"siem\"")
            .body(full("who are you?"))
            .unwrap(),
        Reply::FailFirst(failures) => hyper::Response::builder()
            .status(if seen <= failures { 503 } else { 200 })
            .body(full(if seen <= failures { "busy" } else { "ok" }))
            .unwrap(),
        Reply::Echo | Reply::EchoCompressed => {
            let mut echoed = format!("{} {}\n", parts.method, parts.uri);
            for (name, value) in &parts.headers {
                echoed.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
            }
            let authorization = authorization.unwrap_or_default().to_owned();
            let mut response = hyper::Response::builder()
                .status(200)
                .header("x-echo", &authorization);
            if matches!(reply, Reply::EchoCompressed) {
                response = response.header("content-encoding", "gzip");
            }
            let mut response = response
                .body(Full::new(Bytes::from(echoed)).boxed())
                .unwrap();
            if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(authorization.into_bytes()) {
                response.extensions_mut().insert(reason);
            }
            response
        }
        Reply::Status(status, text) => hyper::Response::builder()
            .status(status)
            .body(full(text))
            .unwrap(),
        Reply::Redirect(location) => hyper::Response::builder()
            .status(302)
            .header("location", location)
            .body(full(""))
            .unwrap(),
        Reply::Huge(size) => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let count = size.div_ceil(chunk.len());
            let stream = futures_stream(count, chunk);
            hyper::Response::builder()
                .status(200)
                .body(StreamBody::new(stream).boxed())
                .unwrap()
        }
        Reply::Endless => {
            let stream = endless_stream();
            hyper::Response::builder()
                .status(200)
                .body(StreamBody::new(stream).boxed())
                .unwrap()
        }
    }
}

fn futures_stream(
    count: usize,
    chunk: Bytes,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::iter((0..count).map(move |_| Ok(Frame::data(chunk.clone()))))
}

fn endless_stream() -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some((Ok(Frame::data(Bytes::from_static(b"."))), ()))
    })
}
