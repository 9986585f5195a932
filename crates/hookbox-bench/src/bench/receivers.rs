//! Loopback receivers the benchmarks send to: HTTP or HTTPS answering 200 and
//! counting requests, a TCP sink, and a certificate authority made for one
//! benchmark run (so HTTPS is verified, as in production).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::{BodyExt, Full};
use tokio::io::AsyncReadExt;

/// A CA made for one run and a server certificate it signed for 127.0.0.1.
pub struct BenchCa {
    /// The CA certificate (PEM): hookbox's `--ca-bundle`, python3's `SSL_CERT_FILE`.
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl BenchCa {
    /// Makes a fresh CA and server certificate.
    pub fn new() -> anyhow::Result<BenchCa> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hookbox bench CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let leaf_key = KeyPair::generate()?;
        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)?;
        Ok(BenchCa {
            ca_pem: ca.as_ref().pem(),
            server: Arc::new(server),
        })
    }
}

/// An HTTP(S) receiver on loopback that answers 200 `{"code":0}` and counts
/// requests.
pub struct HttpReceiver {
    /// Where it listens.
    pub address: SocketAddr,
    /// Requests answered so far.
    pub count: Arc<AtomicUsize>,
}

impl HttpReceiver {
    /// Starts one on a free loopback port, with TLS when `tls` is given.
    pub async fn start(tls: Option<&BenchCa>) -> anyhow::Result<HttpReceiver> {
        Self::start_on("127.0.0.1:0".parse()?, tls).await
    }

    /// Starts one on `address`.
    pub async fn start_on(
        address: SocketAddr,
        tls: Option<&BenchCa>,
    ) -> anyhow::Result<HttpReceiver> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        let acceptor = tls.map(|ca| tokio_rustls::TlsAcceptor::from(ca.server.clone()));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (counter, acceptor) = (counter.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let counter = counter.clone();
                            async move {
                                let _ = request.into_body().collect().await;
                                counter.fetch_add(1, Ordering::SeqCst);
                                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                    bytes::Bytes::from_static(b"{\"code\":0}"),
                                )))
                            }
                        },
                    );
                    let http = hyper::server::conn::http1::Builder::new();
                    let _ = match acceptor {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(stream) => {
                                http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                    .await
                            }
                            Err(_) => return,
                        },
                        None => {
                            http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await
                        }
                    };
                });
            }
        });
        Ok(HttpReceiver { address, count })
    }
}

/// A TCP sink on loopback: reads every connection to its end.
pub async fn tcp_sink() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink).await;
            });
        }
    });
    Ok(address)
}
