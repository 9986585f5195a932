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

/// A certificate authority made for one test, and a server certificate it
/// signed for `localhost` and 127.0.0.1.
pub struct TestCa {
    /// The CA certificate (PEM), to give hookbox as its CA bundle.
    pub ca_pem: String,
    /// The server certificate (PEM), for servers the test does not write.
    pub server_cert_pem: String,
    /// Its private key (PEM).
    pub server_key_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    /// Makes a fresh CA and server certificate.
    pub fn new() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        // Distinct names: OpenSSL (the real python3's ssl) takes a leaf whose
        // subject is its issuer's for a self-signed certificate.
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hookbox test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let (server_cert_pem, server_key_pem) = (leaf.pem(), leaf_key.serialize_pem());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .unwrap();
        TestCa {
            ca_pem: ca.as_ref().pem(),
            server_cert_pem,
            server_key_pem,
            server: Arc::new(server),
        }
    }

    /// A server certificate that is its own CA (`CA:TRUE`, self-signed, for
    /// `localhost` and 127.0.0.1), as `openssl req -x509` makes one:
    /// `ca_pem` is that certificate itself.
    pub fn self_signed_ca() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "self-signed collector");
        let certificate = params.self_signed(&key).unwrap();
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certificate.der().clone()], der)
            .unwrap();
        TestCa {
            ca_pem: certificate.pem(),
            server_cert_pem: certificate.pem(),
            server_key_pem: key.serialize_pem(),
            server: Arc::new(server),
        }
    }

    /// A TLS acceptor presenting the server certificate and requiring a
    /// client certificate that `clients` signed (mutual TLS).
    pub fn acceptor_requiring(&self, clients: &ClientCa) -> TlsAcceptor {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(clients.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let chain = vec![CertificateDer::from_pem_slice(self.server_cert_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    /// A TLS acceptor presenting the server certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server.clone())
    }
}

/// A receiver listening on 127.0.0.1.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

type TlsAcceptor = tokio_rustls::TlsAcceptor;

/// A certificate authority for clients, and one client certificate (with
/// its key) it signed: for servers that require mutual TLS.
pub struct ClientCa {
    /// The client CA's certificate (PEM).
    pub ca_pem: String,
    /// The client's certificate (PEM).
    pub cert_pem: String,
    /// The client's private key (PEM, unencrypted).
    pub key_pem: String,
}

impl ClientCa {
    /// Makes a fresh client CA and a client certificate.
    pub fn new() -> ClientCa {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hookbox test client CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "hoop agent");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &ca).unwrap();
        ClientCa {
            ca_pem: ca.as_ref().pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
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
