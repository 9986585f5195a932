//! Loopback receivers the benchmarks send to: HTTP or HTTPS answering 200 and
//! counting requests, and a TCP sink. HTTPS presents a certificate of the
//! test kit's CA made for the run, so it is verified as in production.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hookbox_testkit::tls::TestCa;
use http_body_util::{BodyExt, Full};
use tokio::io::AsyncReadExt;

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
    pub async fn start(tls: Option<&TestCa>) -> anyhow::Result<HttpReceiver> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        Self::start_on(listener, tls)
    }

    /// Starts one on `listener`.
    pub fn start_on(
        listener: std::net::TcpListener,
        tls: Option<&TestCa>,
    ) -> anyhow::Result<HttpReceiver> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let address = listener.local_addr()?;
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        let acceptor = tls.map(TestCa::acceptor);
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
