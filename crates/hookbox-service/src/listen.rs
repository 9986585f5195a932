//! The service's HTTP server: HTTP/1.1 over the listener, with the number of
//! open connections, the headers of a request and the time to send them all
//! bounded, so that neither a flood of connections nor a client trickling
//! headers can tie the intake up; on shutdown, intake stops and open requests
//! finish.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::metrics::Metrics;

/// Most headers one request may carry (more are refused with 431).
pub const MAX_HEADERS: usize = 64;
/// Most bytes hyper buffers for one request's head (a longer one is refused).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How many connections the intake holds open and how long a request's
/// headers may take to arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at the same time, at most; one more is answered 503
    /// and closed.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, from the
    /// connection's start or the end of its previous request.
    pub header_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// The answer to every request on a connection over the limit.
fn too_many_connections() -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .status(http::StatusCode::SERVICE_UNAVAILABLE)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::RETRY_AFTER, "1")
        .header(http::header::CONNECTION, "close")
        .body(Full::new(Bytes::from_static(
            br#"{"error":"too many connections; try again soon"}"#,
        )))
        .expect("a static response is valid")
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for the
/// requests in progress to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    // Connections over the limit are answered (a client then knows to come
    // back) by as many tasks at most; beyond that they are closed at once.
    let refusing = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEAD_BYTES);
    let mut refusal = http.clone();
    refusal.keep_alive(false);
    let service = TowerToHyperService::new(app);
    let refuse = hyper::service::service_fn(|_request| async {
        Ok::<_, std::convert::Infallible>(too_many_connections())
    });
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => TokioIo::new(stream),
                Err(error) => {
                    // Out of file descriptors and the like: the listener
                    // itself is fine, so go on.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::task::yield_now().await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        match open.clone().try_acquire_owned() {
            Ok(permit) => {
                let connection = http.serve_connection(stream, service.clone());
                tokio::spawn(holding(permit, graceful.watch(connection)));
            }
            Err(_) => {
                metrics.rejected(super::metrics::Rejection::TooManyConnections);
                if let Ok(permit) = refusing.clone().try_acquire_owned() {
                    let connection = refusal.serve_connection(stream, refuse);
                    tokio::spawn(holding(permit, graceful.watch(connection)));
                }
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Serves one connection, holding its place until it ends.
async fn holding(
    permit: OwnedSemaphorePermit,
    connection: impl Future<Output = Result<(), hyper::Error>>,
) {
    if let Err(error) = connection.await {
        tracing::debug!(%error, "connection ended with an error");
    }
    drop(permit);
}
