//! The recording receiver: in place of the network when hooks are tested.
//!
//! The policy is asked exactly as in production (so a missing rule shows up
//! as the refusal it would be), but nothing leaves the machine and no name is
//! looked up: an allowed HTTP request is read whole, recorded and answered
//! locally, with a canned response when one matches its URL; an allowed TCP
//! connection is sent to a loopback listener opened for it, which records the
//! bytes. A name a `tcp://` rule names resolves to a placeholder address from
//! 192.0.2.0/24 (reserved for documentation) that stands for the name.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Pending;
use super::address::Host;
use super::http::{self as egress_http, Approved};
use super::http_socket::{HttpSocket, Upstream};
use super::policy::{EgressPolicy, Scheme, Verdict};
use super::record::AttemptHandle;
use super::relay::{TlsRequest, loopback_listener};
use super::sink::{HttpAnswer, HttpSend, Sink, Unreachable};
use super::tls_session::{OfferedIdentity, TlsSession};
use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode as SocketError;

/// How the recording receiver answers requests whose normalized URL starts
/// with `url`. Plain data, as a fixture writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedResponse {
    /// The URL prefix this answer is for (default ports may be left out).
    pub url: String,
    /// The status code (default 200).
    #[serde(default = "ok_status")]
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The response body (default `{}`).
    #[serde(default)]
    pub body: Option<String>,
}

fn ok_status() -> u16 {
    200
}

/// Whether egress goes to the network or to the recording receiver.
#[derive(Debug, Clone, Default)]
pub enum EgressMode {
    /// Allowed connections reach their destination.
    #[default]
    Live,
    /// Allowed connections are recorded and answered locally, with these
    /// answers (first match wins; otherwise 200 with `{}`).
    Record(Arc<Vec<CannedResponse>>),
}

/// `scheme://host:port/path?query` with the host lowercased and the default
/// port written out, or `None` when `text` is not an absolute URL.
pub fn normalize_url(text: &str) -> Option<String> {
    let uri: http::Uri = text.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri.port_u16().or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let path = if path.is_empty() { "/" } else { path };
    Some(format!("{scheme}://{host}:{port}{path}"))
}

/// Longest wait, after the run, for a TCP receiver to see the end of its
/// connection.
const SETTLE: Duration = Duration::from_secs(1);

/// The recording receiver of one run.
pub struct Recorder {
    responses: Arc<Vec<CannedResponse>>,
    state: Mutex<TcpState>,
}

#[derive(Default)]
struct TcpState {
    placeholders: HashMap<IpAddr, String>,
    receivers: HashSet<SocketAddr>,
    /// How to tell a receiver of HTTP over a socket that its hook wrapped
    /// the socket in TLS.
    http_receivers: HashMap<SocketAddr, mpsc::Sender<TlsRequest>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Recorder {
    /// A receiver answering with `responses`.
    pub fn new(responses: Arc<Vec<CannedResponse>>) -> Self {
        Recorder {
            responses,
            state: Mutex::default(),
        }
    }

    /// The answer to a request for `url`.
    pub fn answer(&self, url: &str) -> http::Response<Bytes> {
        let target = normalize_url(url).unwrap_or_else(|| url.to_owned());
        let canned = self.responses.iter().find(|canned| {
            let prefix = normalize_url(&canned.url).unwrap_or_else(|| canned.url.clone());
            // A prefix written without a path matches every path on the host.
            let prefix = prefix.strip_suffix('/').unwrap_or(&prefix);
            target.starts_with(prefix)
        });
        let mut response = http::Response::builder()
            .status(canned.map_or(200, |c| c.status))
            .header("x-hookbox-recorded", "true");
        let has_content_type = canned.is_some_and(|c| {
            c.headers
                .keys()
                .any(|name| name.eq_ignore_ascii_case("content-type"))
        });
        if !has_content_type {
            response = response.header("content-type", "application/json");
        }
        for (name, value) in canned.iter().flat_map(|c| &c.headers) {
            response = response.header(name, value);
        }
        let body = canned
            .and_then(|c| c.body.clone())
            .unwrap_or_else(|| "{}".into());
        response.body(Bytes::from(body)).unwrap_or_else(|_| {
            http::Response::builder()
                .status(500)
                .body(Bytes::from_static(
                    b"the fixture's canned response is not valid HTTP",
                ))
                .expect("a static response is valid")
        })
    }

    /// The placeholder address standing for `name` in this run.
    fn placeholder_for(&self, name: &str) -> IpAddr {
        let mut state = self.lock();
        if let Some((ip, _)) = state.placeholders.iter().find(|(_, n)| *n == name) {
            return *ip;
        }
        let next = state.placeholders.len().min(253) as u8 + 1;
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, next));
        state.placeholders.insert(ip, name.to_owned());
        ip
    }

    /// Opens a loopback listener that records one connection's bytes (up to
    /// `cap`) into `record`, and returns its address.
    fn open_tcp_receiver(
        &self,
        record: AttemptHandle,
        cap: u64,
        deadline: Instant,
    ) -> std::io::Result<SocketAddr> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let task = tokio::spawn(async move {
            let until = deadline + SETTLE;
            let Ok(Ok((mut stream, _))) = tokio::time::timeout_at(until, listener.accept()).await
            else {
                return;
            };
            let mut seen = 0u64;
            let mut buffer = vec![0u8; 16 * 1024];
            while let Ok(Ok(read)) = tokio::time::timeout_at(until, stream.read(&mut buffer)).await
            {
                if read == 0 {
                    break;
                }
                let room = cap.saturating_sub(seen).min(read as u64) as usize;
                record.append_sent(&buffer[..room]);
                seen += read as u64;
                if seen > cap {
                    record.note(&format!("the connection sent more than {cap} bytes; cut"));
                    break;
                }
            }
        });
        let mut state = self.lock();
        state.receivers.insert(address);
        state.tasks.push(task);
        Ok(address)
    }

    fn lock(&self) -> MutexGuard<'_, TcpState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Sink for Recorder {
    fn look_up(&self, name: String, _deadline: Instant) -> Pending<Result<Vec<IpAddr>, String>> {
        // No lookup under test: a placeholder stands for the name.
        let placeholder = self.placeholder_for(&name);
        Box::pin(std::future::ready(Ok(vec![placeholder])))
    }

    fn name_of(&self, ip: IpAddr) -> Option<String> {
        self.lock().placeholders.get(&ip).cloned()
    }

    fn approve_http(
        &self,
        policy: Arc<EgressPolicy>,
        scheme: Scheme,
        host: Host,
        port: u16,
        _deadline: Instant,
    ) -> Pending<Result<(Approved, String), Unreachable>> {
        // The policy's verdict without looking a name up: the recording
        // receiver never touches the network.
        let verdict = match &host {
            Host::Ip(ip) => policy.check_address(scheme, *ip, port, None),
            Host::Name(name) => match policy.name_rule(scheme, name, port) {
                Some(rule) => Verdict::Allowed(rule.to_string()),
                None => Verdict::Denied(policy.no_rule_for(scheme, &host, port)),
            },
        };
        let approved = match verdict {
            Verdict::Allowed(rule) => Ok((
                Approved {
                    tls: scheme == Scheme::Https,
                    host,
                    addresses: Vec::new(),
                },
                rule,
            )),
            Verdict::Denied(reason) => Err(Unreachable::Denied(reason)),
        };
        Box::pin(std::future::ready(approved))
    }

    fn send_http(self: Arc<Self>, send: HttpSend) -> Pending<HttpAnswer> {
        Box::pin(async move {
            let (parts, body) = send.request.into_parts();
            let url = parts.uri.to_string();
            let headers = parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.to_string(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let record = send.record;
            let body = egress_http::read_upload(body, send.max_body, send.deadline, record.clone())
                .await?;
            let answer = self.answer(&url);
            record.record_request(hookbox_record::RecordedRequest {
                url: send.url_masks.url(&url),
                full_url: url,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            record.set_status(answer.status().as_u16());
            record.add_bytes_in(answer.body().len() as u64);
            Ok(egress_http::local_response(answer))
        })
    }

    fn open_tcp(
        self: Arc<Self>,
        address: SocketAddr,
        record: AttemptHandle,
        deadline: Instant,
        max_body: u64,
    ) -> Pending<Result<SocketAddr, SocketError>> {
        let ip = address.ip();
        let host = self.name_of(ip).unwrap_or_else(|| Host::Ip(ip).to_string());
        let url = format!("tcp://{host}:{}", address.port());
        record.record_request(hookbox_record::RecordedRequest {
            url: url.clone(),
            full_url: url,
            ..Default::default()
        });
        let receiver = self
            .open_tcp_receiver(record.clone(), max_body, deadline)
            .map_err(|error| {
                record.note(&format!("the recording receiver could not listen: {error}"));
                SocketError::AccessDenied
            });
        Box::pin(std::future::ready(receiver))
    }

    fn open_http(
        self: Arc<Self>,
        _address: SocketAddr,
        socket: HttpSocket,
    ) -> Pending<Result<SocketAddr, SocketError>> {
        let opened = loopback_listener().map(|(listener, address)| {
            let (requests, incoming) = mpsc::channel(1);
            let recorder = self.clone();
            let upstream = Upstream::Recorded {
                answer: Arc::new(move |url: &str| recorder.answer(url)),
            };
            let task = tokio::spawn(super::http_socket::serve(
                listener, socket, upstream, incoming,
            ));
            let mut state = self.lock();
            state.receivers.insert(address);
            state.http_receivers.insert(address, requests);
            state.tasks.push(task);
            address
        });
        Box::pin(std::future::ready(opened.map_err(|error| {
            tracing::warn!(%error, "the recording receiver could not listen");
            SocketError::Unknown
        })))
    }

    fn is_opened(&self, address: SocketAddr) -> bool {
        self.lock().receivers.contains(&address)
    }

    fn destination(&self, _port: u16) -> Option<SocketAddr> {
        None
    }

    fn start_tls(
        &self,
        port: u16,
        server_name: String,
        _unverified: bool,
        _identity: Option<OfferedIdentity>,
    ) -> Pending<Result<TlsSession, String>> {
        let receiver = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if let Some(requests) = self.lock().http_receivers.get(&receiver).cloned() {
            return Box::pin(async move {
                let server_name = match server_name.as_str() {
                    "" => None,
                    name => Some(
                        rustls::pki_types::ServerName::try_from(name.to_owned())
                            .map_err(|_| format!("{name:?} is not a host name or address"))?,
                    ),
                };
                let (reply, answer) = oneshot::channel();
                let request = TlsRequest {
                    server_name,
                    unverified: false,
                    identity: None,
                    reply,
                };
                requests
                    .send(request)
                    .await
                    .map_err(|_| "the connection already speaks plain HTTP".to_owned())?;
                answer
                    .await
                    .map_err(|_| "the connection is closed".to_owned())?
            });
        }
        let answer = if self.is_opened(receiver) {
            Ok(TlsSession::recorded())
        } else {
            Err(format!(
                "no connection of this hook is recorded at port {port}"
            ))
        };
        Box::pin(std::future::ready(answer))
    }

    fn refuses_udp(&self) -> Option<&'static str> {
        Some("UDP is not recorded under `hookbox test`; use --live to send it")
    }

    fn settle(self: Arc<Self>) -> Pending<()> {
        let tasks = std::mem::take(&mut self.lock().tasks);
        Box::pin(super::settle(tasks, SETTLE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalize_with_default_ports_and_lowercase_hosts() {
        assert_eq!(
            normalize_url("https://HEC.example.com/services/collector?x=1").as_deref(),
            Some("https://hec.example.com:443/services/collector?x=1")
        );
        assert_eq!(
            normalize_url("http://10.0.0.1:8080").as_deref(),
            Some("http://10.0.0.1:8080/")
        );
        assert_eq!(
            normalize_url("tcp://syslog.example.com:6514").as_deref(),
            Some("tcp://syslog.example.com:6514/")
        );
        assert_eq!(normalize_url("not a url"), None);
    }

    #[test]
    fn the_first_matching_canned_response_answers() {
        let recorder = Recorder::new(Arc::new(vec![CannedResponse {
            url: "https://hec.example.com:8088/services".into(),
            status: 503,
            headers: BTreeMap::from([("retry-after".into(), "1".into())]),
            body: Some("busy".into()),
        }]));
        let busy = recorder.answer("https://hec.example.com:8088/services/collector/event");
        assert_eq!(busy.status(), 503);
        assert_eq!(busy.headers()["retry-after"], "1");
        assert_eq!(busy.body().as_ref(), b"busy");
        let other = recorder.answer("https://hec.example.com:443/services");
        assert_eq!(other.status(), 200);
        assert_eq!(other.body().as_ref(), b"{}");
    }

    #[test]
    fn placeholders_stand_for_their_names() {
        let recorder = Recorder::new(Arc::default());
        let a = recorder.placeholder_for("syslog.example.com");
        let b = recorder.placeholder_for("other.example.com");
        assert_ne!(a, b);
        assert_eq!(recorder.placeholder_for("syslog.example.com"), a);
        assert_eq!(recorder.name_of(a).as_deref(), Some("syslog.example.com"));
    }
}
