//! The one place outgoing network access is decided.
//!
//! HTTP(S) goes through `wasi:http`: [`EgressGate::send_request`] parses the
//! destination, asks the [`policy`], resolves a name once in the host, checks
//! every address, and connects only to an address that passed ([`http`]).
//! Raw TCP/UDP goes through `wasi:sockets` and is checked per address by
//! [`EgressGate::socket_check`]; a name is looked up only through
//! [`EgressGate::resolve`], when a socket rule names it. Every attempt lands in the run's [`record`];
//! a refused one also prints one line on the hook's stderr. Under `hookbox
//! test` the same checks run, and what they allow goes to the [`recording`]
//! receiver instead of the network.

pub mod address;
pub mod http;
pub mod policy;
pub mod record;
pub mod recording;
pub mod relay;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode as SocketError;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::output::CappedOutput;
use crate::tls::TlsSettings;
use address::{Host, canonical_ip};
use http::{Approved, BodyCaps};
use policy::{EgressPolicy, Rule, Scheme, Verdict};
use record::{AttemptHandle, AttemptStart, EgressLog};
use recording::{EgressMode, Recorder};
use relay::Relays;

/// A future that does not borrow the gate (so the store is free meanwhile).
type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The egress gate of one run.
pub struct EgressGate {
    policy: Arc<EgressPolicy>,
    tls: Arc<TlsSettings>,
    log: EgressLog,
    resolved: Resolved,
    hook_stderr: CappedOutput,
    deadline: Instant,
    caps: BodyCaps,
    recorder: Option<Arc<Recorder>>,
    relays: Arc<Relays>,
}

impl EgressGate {
    /// A gate enforcing `policy` until `deadline`, sending what it allows to
    /// the network or to the recording receiver, as `mode` says.
    pub fn new(
        policy: Arc<EgressPolicy>,
        mode: &EgressMode,
        tls: Arc<TlsSettings>,
        hook_stderr: CappedOutput,
        deadline: Instant,
        caps: BodyCaps,
    ) -> Self {
        let recorder = match mode {
            EgressMode::Live => None,
            EgressMode::Record(responses) => Some(Arc::new(Recorder::new(responses.clone()))),
        };
        EgressGate {
            policy,
            tls,
            log: EgressLog::default(),
            resolved: Resolved::default(),
            hook_stderr,
            deadline,
            caps,
            recorder,
            relays: Arc::default(),
        }
    }

    /// The log the run's attempts land in.
    pub fn log(&self) -> EgressLog {
        self.log.clone()
    }

    /// The recording receiver, when egress is recorded.
    pub fn recorder(&self) -> Option<Arc<Recorder>> {
        self.recorder.clone()
    }

    /// The run's live TCP relays.
    pub fn relays(&self) -> Arc<Relays> {
        self.relays.clone()
    }

    /// Where a TCP connection the hook starts to `address` really goes, or
    /// why it does not: under `hookbox test`, a recording receiver; live, a
    /// [`relay`] the host opens once it has itself connected to `address`,
    /// so a refused or unreachable destination fails the hook's connect.
    pub fn connect_target(&self, address: SocketAddr) -> Pending<Result<SocketAddr, SocketError>> {
        if let Some(recorder) = &self.recorder {
            let target = self.record_target(recorder, address);
            return Box::pin(std::future::ready(target.ok_or(SocketError::AccessDenied)));
        }
        let ip = canonical_ip(address.ip());
        let target = format!("tcp://{}:{}", Host::Ip(ip), address.port());
        let handle = self.log.begin(AttemptStart {
            scheme: "tcp".into(),
            host: Host::Ip(ip).to_string(),
            port: address.port(),
            method: None,
            url: Some(target.clone()),
        });
        match address_verdict(&self.policy, &self.resolved, Scheme::Tcp, address) {
            Verdict::Allowed(rule) => {
                tracing::info!(target = %target, rule = %rule, "egress allowed");
                handle.allow(&rule);
                handle.set_address(address);
            }
            Verdict::Denied(reason) => {
                refuse(&handle, &self.hook_stderr, &target, &reason);
                return Box::pin(std::future::ready(Err(SocketError::AccessDenied)));
            }
        }
        let (relays, tls, deadline) = (self.relays.clone(), self.tls.clone(), self.deadline);
        Box::pin(async move {
            let connect = tokio::net::TcpStream::connect(address);
            let stream = match tokio::time::timeout_at(deadline, connect).await {
                Err(_) => {
                    handle.note("the connection was not made before the hook's deadline");
                    return Err(SocketError::Timeout);
                }
                Ok(Err(error)) => {
                    handle.note(&format!("the connection failed: {error}"));
                    return Err(match error.kind() {
                        std::io::ErrorKind::ConnectionRefused => SocketError::ConnectionRefused,
                        std::io::ErrorKind::TimedOut => SocketError::Timeout,
                        _ => SocketError::RemoteUnreachable,
                    });
                }
                Ok(Ok(stream)) => stream,
            };
            relays
                .open(stream, handle.clone(), tls, deadline)
                .map_err(|error| {
                    handle.note(&format!("the host could not relay the connection: {error}"));
                    SocketError::Unknown
                })
        })
    }

    /// Upgrades the hook's connection relayed at loopback `port` to TLS with
    /// its destination (see [`Relays::start_tls`]), without verifying the
    /// certificate only when the hook asked (`verify` false) and an
    /// `unverified_tls` rule names the destination; under `hookbox test` the
    /// recording receiver goes on recording the plain bytes.
    pub fn start_tls(
        &self,
        port: u16,
        server_name: String,
        verify: bool,
    ) -> Pending<Result<String, String>> {
        if let Some(recorder) = &self.recorder {
            let receiver = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
            let answer = if recorder.is_receiver(receiver) {
                Ok("TLS (recorded as plain text by hookbox test)".to_owned())
            } else {
                Err(format!(
                    "no connection of this hook is recorded at port {port}"
                ))
            };
            return Box::pin(std::future::ready(answer));
        }
        let unverified = !verify
            && self.relays.destination(port).is_some_and(|destination| {
                let named = Host::parse(&server_name).ok();
                let by_address = Host::Ip(destination.ip());
                named.iter().chain([&by_address]).any(|host| {
                    self.policy
                        .unverified_tls_rule(Scheme::Tcp, host, destination.port())
                        .is_some()
                })
            });
        if !verify && !unverified {
            tracing::info!(
                port,
                "the hook asked for unverified TLS; no unverified_tls rule names the destination, so it is verified"
            );
        }
        Box::pin(self.relays.start_tls(port, &server_name, unverified))
    }

    /// A TCP connection under `hookbox test`: to a recording receiver if the
    /// policy allows it, else `None`.
    fn record_target(&self, recorder: &Recorder, address: SocketAddr) -> Option<SocketAddr> {
        let ip = canonical_ip(address.ip());
        let port = address.port();
        let name = recorder.name_of(ip);
        let host = name.clone().unwrap_or_else(|| Host::Ip(ip).to_string());
        let handle = self.log.begin(AttemptStart {
            scheme: "tcp".into(),
            host: host.clone(),
            port,
            method: None,
            url: None,
        });
        let target = format!("tcp://{host}:{port}");
        let verdict = match &name {
            Some(name) => self
                .policy
                .socket_name_rules(name)
                .into_iter()
                .find(|rule| rule.covers(Scheme::Tcp, port))
                .map_or_else(
                    || Verdict::Denied(format!("no tcp:// rule allows {target}")),
                    |rule| Verdict::Allowed(rule.to_string()),
                ),
            None => self.policy.check_address(Scheme::Tcp, ip, port, None),
        };
        match verdict {
            Verdict::Allowed(rule) => {
                handle.allow(&rule);
                handle.record_request(crate::record::RecordedRequest {
                    url: target,
                    ..Default::default()
                });
                match recorder.open_tcp_receiver(handle.clone(), self.caps.request, self.deadline) {
                    Ok(receiver) => Some(receiver),
                    Err(error) => {
                        handle.note(&format!("the recording receiver could not listen: {error}"));
                        None
                    }
                }
            }
            Verdict::Denied(reason) => {
                refuse(&handle, &self.hook_stderr, &target, &reason);
                None
            }
        }
    }

    /// Every attempt made so far, in order.
    pub fn attempts(&self) -> Vec<crate::record::EgressAttempt> {
        self.log.attempts()
    }

    /// Why the most recent refused attempt was refused.
    pub fn last_denial(&self) -> Option<String> {
        self.log.last_denial()
    }

    /// Attempts made after the log was full.
    pub fn unrecorded(&self) -> u64 {
        self.log.unrecorded()
    }

    /// The check `wasi:sockets` asks before every bind, connect and datagram.
    /// Sockets are on even when no rule names `tcp` or `udp`, so that every
    /// attempt is refused by the policy, recorded and reported, not failed
    /// unseen by a socket layer that is off.
    pub fn socket_check(&self) -> SocketCheck {
        SocketCheck {
            policy: self.policy.clone(),
            log: self.log.clone(),
            hook_stderr: self.hook_stderr.clone(),
            resolved: self.resolved.clone(),
            seen: Arc::default(),
            recorder: self.recorder.clone(),
            relays: self.relays.clone(),
        }
    }

    /// A lookup for raw sockets: returns a future (independent of the store)
    /// that resolves `name` in the host if a `tcp://`/`udp://` rule names it,
    /// and remembers the addresses so that rule reaches them in this run.
    pub fn resolve(
        &self,
        name: String,
    ) -> impl Future<Output = Result<Vec<String>, String>> + Send + 'static {
        let policy = self.policy.clone();
        let (log, stderr, resolved) = (
            self.log.clone(),
            self.hook_stderr.clone(),
            self.resolved.clone(),
        );
        let deadline = self.deadline;
        let recorder = self.recorder.clone();
        async move {
            let host = Host::parse(&name).map_err(|e| e.0)?;
            let name = match host {
                Host::Ip(ip) => return Ok(vec![ip.to_string()]),
                Host::Name(name) => name,
            };
            let rules = policy.socket_name_rules(&name);
            if rules.is_empty() {
                let handle = log.begin(AttemptStart {
                    scheme: "dns".into(),
                    host: name.clone(),
                    port: 0,
                    method: None,
                    url: None,
                });
                let reason =
                    format!("no tcp:// or udp:// rule names {name}, so it is not looked up");
                refuse(&handle, &stderr, &format!("lookup {name}"), &reason);
                return Err(reason);
            }
            if let Some(recorder) = recorder {
                // No lookup under test: a placeholder stands for the name.
                return Ok(vec![recorder.placeholder_for(&name).to_string()]);
            }
            let addresses: Vec<IpAddr> =
                tokio::time::timeout_at(deadline, tokio::net::lookup_host((name.as_str(), 0)))
                    .await
                    .map_err(|_| format!("looking up {name} did not finish before the deadline"))?
                    .map_err(|e| format!("cannot look up {name}: {e}"))?
                    .map(|address| canonical_ip(address.ip()))
                    .collect();
            let mut known = resolved.lock().unwrap_or_else(|e| e.into_inner());
            for ip in &addresses {
                known.entry(*ip).or_default().extend(rules.iter().cloned());
            }
            Ok(addresses.iter().map(IpAddr::to_string).collect())
        }
    }
}

/// Addresses that names in socket rules resolved to in this run, with the
/// rules that named them.
type Resolved = Arc<Mutex<HashMap<IpAddr, Vec<Rule>>>>;

fn refuse(handle: &AttemptHandle, stderr: &CappedOutput, target: &str, reason: &str) {
    tracing::info!(target = %target, reason, "egress denied");
    stderr.write_line(&format!("hookbox: egress denied: {target}: {reason}"));
    handle.deny(reason);
}

impl WasiHttpHooks for EgressGate {
    fn send_request(
        &mut self,
        request: ::http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    ::http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                )>,
            > + Send,
    > {
        let mut request = request;
        let wants_unverified = request
            .headers_mut()
            .remove(UNVERIFIED_TLS_HEADER)
            .is_some_and(|value| value == "off");
        let uri = request.uri().clone();
        let scheme = match uri.scheme_str() {
            Some("https") => Scheme::Https,
            _ => Scheme::Http,
        };
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == Scheme::Https { 443 } else { 80 });
        let host_text = uri.host().unwrap_or_default().to_owned();
        let parsed_host = Host::parse(&host_text);
        let shown_host = parsed_host
            .as_ref()
            .map_or_else(|_| host_text.clone(), Host::to_string);
        let url = format!("{scheme}://{shown_host}:{port}{}", uri.path());
        let target = format!("{} {url}", request.method());
        let handle = self.log.begin(AttemptStart {
            scheme: scheme.as_str().into(),
            host: shown_host,
            port,
            method: Some(request.method().to_string()),
            url: Some(url),
        });
        let policy = self.policy.clone();
        let tls = self.tls.clone();
        let stderr = self.hook_stderr.clone();
        let (deadline, caps) = (self.deadline, self.caps);
        if let Some(recorder) = self.recorder.clone() {
            return Box::new(async move {
                let verdict = match parsed_host {
                    Ok(host) => check_offline(&policy, scheme, host, port),
                    Err(error) => Verdict::Denied(error.0),
                };
                let rule = match verdict {
                    Verdict::Allowed(rule) => rule,
                    Verdict::Denied(reason) => {
                        refuse(&handle, &stderr, &target, &reason);
                        return Err(HttpError::HttpRequestDenied);
                    }
                };
                handle.allow(&rule);
                record_and_answer(&recorder, request, caps, deadline, handle).await
            });
        }
        Box::new(async move {
            let host = match parsed_host {
                Ok(host) => host,
                Err(error) => {
                    refuse(&handle, &stderr, &target, &error.0);
                    return Err(HttpError::HttpRequestDenied);
                }
            };
            let unverified = match wants_unverified.then_some(scheme) {
                Some(Scheme::Https) => unverified_tls(&policy, &host, port, &handle),
                _ => false,
            };
            let (approved, rule) = match approve(&policy, scheme, host, port, deadline).await {
                Ok(approved) => approved,
                Err(reason) => {
                    refuse(&handle, &stderr, &target, &reason);
                    return Err(HttpError::HttpRequestDenied);
                }
            };
            tracing::info!(target = %target, rule = %rule, "egress allowed");
            handle.allow(&rule);
            let tls = match (scheme, unverified) {
                (Scheme::Https, false) => Some(tls.config()),
                (Scheme::Https, true) => Some(tls.unverified_config()),
                _ => None,
            };
            let tls = tls
                .transpose()
                .map_err(|e| HttpError::InternalError(Some(e)))?;
            let result = http::send(
                request,
                approved,
                tls,
                options,
                deadline,
                caps,
                handle.clone(),
            )
            .await;
            if let Err(error) = &result {
                handle.note(&format!("{error}"));
            }
            result
        })
    }
}

/// The request header a hook sets (`off`) to ask for no TLS verification;
/// the host removes it and honours it only where an `unverified_tls` rule
/// names the destination.
pub const UNVERIFIED_TLS_HEADER: &str = "hookbox-tls-verify";

/// Whether a hook that asked for no TLS verification of `host` at `port`
/// gets it; the answer is noted in the attempt's record either way.
fn unverified_tls(policy: &EgressPolicy, host: &Host, port: u16, handle: &AttemptHandle) -> bool {
    match policy.unverified_tls_rule(Scheme::Https, host, port) {
        Some(rule) => {
            handle.note(&format!(
                "TLS not verified: the hook asked and the unverified_tls rule {rule} allows it"
            ));
            true
        }
        None => {
            handle.note(
                "the hook asked for no TLS verification; no unverified_tls rule names this \
                 destination, so it was verified",
            );
            false
        }
    }
}

/// The policy's verdict on an HTTP destination without looking a name up (the
/// recording receiver never touches the network).
fn check_offline(policy: &EgressPolicy, scheme: Scheme, host: Host, port: u16) -> Verdict {
    match host {
        Host::Ip(ip) => policy.check_address(scheme, ip, port, None),
        Host::Name(name) => match policy.name_rule(scheme, &name, port) {
            Some(rule) => Verdict::Allowed(rule.to_string()),
            None => Verdict::Denied(format!("no egress rule allows {scheme}://{name}:{port}")),
        },
    }
}

/// Reads an allowed request whole, records it and answers it locally.
async fn record_and_answer(
    recorder: &Recorder,
    request: ::http::Request<WasiBody>,
    caps: BodyCaps,
    deadline: Instant,
    handle: AttemptHandle,
) -> wasmtime_wasi_http::Result<(
    ::http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
)> {
    let (parts, body) = request.into_parts();
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
    let body = match http::read_upload(body, caps, deadline, handle.clone()).await {
        Ok(body) => body,
        Err(error) => {
            handle.note(&format!("{error}"));
            return Err(error);
        }
    };
    let answer = recorder.answer(&url);
    handle.record_request(crate::record::RecordedRequest {
        url,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    handle.set_status(answer.status().as_u16());
    handle.add_bytes_in(answer.body().len() as u64);
    Ok(http::local_response(answer))
}

/// Decides where an HTTP request may go: the addresses that passed and the
/// rule that allowed them, or why nothing may be reached.
async fn approve(
    policy: &EgressPolicy,
    scheme: Scheme,
    host: Host,
    port: u16,
    deadline: Instant,
) -> Result<(Approved, String), String> {
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
                Verdict::Denied(reason) => Err(reason),
            };
        }
        Host::Name(name) => name.clone(),
    };
    // Names are looked up only when a rule names them: a lookup alone can
    // carry data out through DNS.
    let name_rule = policy
        .name_rule(scheme, &name, port)
        .ok_or_else(|| format!("no egress rule allows {scheme}://{name}:{port}"))?
        .clone();
    let resolved: Vec<SocketAddr> =
        tokio::time::timeout_at(deadline, tokio::net::lookup_host((name.as_str(), port)))
            .await
            .map_err(|_| format!("looking up {name} did not finish before the deadline"))?
            .map_err(|e| format!("cannot look up {name}: {e}"))?
            .collect();
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
        None => Err(match first_denial {
            Some(reason) => format!("{name} resolves to no address a rule allows: {reason}"),
            None => format!("{name} resolves to no address"),
        }),
    }
}

/// Waits up to `wait` for each of a run's connection tasks to finish what it
/// was given, then stops it.
async fn settle(tasks: Vec<tokio::task::JoinHandle<()>>, wait: std::time::Duration) {
    for task in tasks {
        let abort = task.abort_handle();
        if tokio::time::timeout(wait, task).await.is_err() {
            abort.abort();
        }
    }
}

/// The policy's verdict on a raw socket to `address`, counting the names a
/// socket rule named that were looked up in this run.
fn address_verdict(
    policy: &EgressPolicy,
    resolved: &Resolved,
    scheme: Scheme,
    address: SocketAddr,
) -> Verdict {
    let ip = canonical_ip(address.ip());
    let via_name = resolved
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&ip)
        .and_then(|rules| {
            rules
                .iter()
                .find(|rule| rule.covers(scheme, address.port()))
                .cloned()
        });
    policy.check_address(scheme, ip, address.port(), via_name.as_ref())
}

/// The per-address check for raw sockets.
#[derive(Clone)]
pub struct SocketCheck {
    policy: Arc<EgressPolicy>,
    log: EgressLog,
    hook_stderr: CappedOutput,
    resolved: Resolved,
    seen: Arc<Mutex<HashSet<(SocketAddr, bool)>>>,
    recorder: Option<Arc<Recorder>>,
    relays: Arc<Relays>,
}

impl SocketCheck {
    /// Whether `address` may be used for `usage`.
    pub fn check(&self, address: SocketAddr, usage: SocketAddrUse) -> bool {
        if let Some(recorder) = &self.recorder {
            match usage {
                // The policy was asked when the connection started
                // ([`EgressGate::tcp_target`]), which sent it here.
                SocketAddrUse::TcpConnect => return recorder.is_receiver(address),
                SocketAddrUse::UdpSend => {
                    let reason = "UDP is not recorded under `hookbox test`; use --live to send it";
                    self.record_once(address, Scheme::Udp, Verdict::Denied(reason.into()));
                    return false;
                }
                _ => {}
            }
        }
        let scheme = match usage {
            // The policy was asked when the connection started
            // ([`EgressGate::connect_target`]), which sent it to a relay.
            SocketAddrUse::TcpConnect => return self.relays.is_relay(address),
            SocketAddrUse::UdpSend => Scheme::Udp,
            // The implicit local bind before a connect or send is fine; a hook
            // may not bind a chosen address or port, listen or accept.
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                return address.ip().is_unspecified() && address.port() == 0;
            }
            _ => return false,
        };
        let verdict = address_verdict(&self.policy, &self.resolved, scheme, address);
        let allowed = matches!(verdict, Verdict::Allowed(_));
        self.record_once(address, scheme, verdict);
        allowed
    }

    /// Records the verdict on `address`, once per destination and verdict: a
    /// UDP sender may send many datagrams.
    fn record_once(&self, address: SocketAddr, scheme: Scheme, verdict: Verdict) {
        let allowed = matches!(verdict, Verdict::Allowed(_));
        let first = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((address, allowed));
        if !first {
            return;
        }
        let host = Host::Ip(address.ip()).to_string();
        let handle = self.log.begin(AttemptStart {
            scheme: scheme.as_str().into(),
            host: host.clone(),
            port: address.port(),
            method: None,
            url: None,
        });
        match verdict {
            Verdict::Allowed(rule) => {
                tracing::info!(target = %address, scheme = %scheme, rule = %rule, "egress allowed");
                handle.allow(&rule);
                handle.set_address(address);
            }
            Verdict::Denied(reason) => {
                let target = format!("{scheme}://{host}:{}", address.port());
                refuse(&handle, &self.hook_stderr, &target, &reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_for(rules: &[&str], resolved: &[(&str, &str)]) -> SocketCheck {
        let policy = EgressPolicy::parse(rules.iter().copied()).unwrap();
        let known: HashMap<IpAddr, Vec<Rule>> = resolved
            .iter()
            .map(|(ip, rule)| (ip.parse().unwrap(), vec![rule.parse().unwrap()]))
            .collect();
        SocketCheck {
            policy: Arc::new(policy),
            log: EgressLog::default(),
            hook_stderr: CappedOutput::new(4096),
            resolved: Arc::new(Mutex::new(known)),
            seen: Arc::default(),
            recorder: None,
            relays: Arc::default(),
        }
    }

    fn tcp_allowed(check: &SocketCheck, address: &str) -> bool {
        let verdict = address_verdict(
            &check.policy,
            &check.resolved,
            Scheme::Tcp,
            address.parse().unwrap(),
        );
        matches!(verdict, Verdict::Allowed(_))
    }

    #[test]
    fn a_socket_name_rule_reaches_only_what_the_name_resolved_to() {
        let rule = "tcp://collector.example.com:514";
        let check = check_for(&[rule], &[("93.184.216.34", rule)]);
        let connect = |address: &str| tcp_allowed(&check, address);
        assert!(connect("93.184.216.34:514"));
        assert!(
            !connect("93.184.216.35:514"),
            "an address the name did not resolve to"
        );
        assert!(!connect("93.184.216.34:515"), "another port");
        assert!(
            !check.check("93.184.216.34:514".parse().unwrap(), SocketAddrUse::UdpSend),
            "another protocol"
        );
    }

    #[test]
    fn a_socket_name_rule_never_reaches_a_private_address() {
        let rule = "tcp://collector.example.com:514";
        let check = check_for(&[rule], &[("10.1.2.3", rule)]);
        assert!(!tcp_allowed(&check, "10.1.2.3:514"));
    }

    #[test]
    fn a_socket_connects_only_to_a_relay_the_host_opened() {
        let check = check_for(&["tcp://10.1.2.3:514"], &[]);
        assert!(tcp_allowed(&check, "10.1.2.3:514"));
        assert!(!check.check("10.1.2.3:514".parse().unwrap(), SocketAddrUse::TcpConnect));
    }

    #[test]
    fn only_the_implicit_bind_is_allowed() {
        let check = check_for(&["tcp://10.1.2.3:514"], &[]);
        assert!(check.check("0.0.0.0:0".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(!check.check("0.0.0.0:8080".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(!check.check("0.0.0.0:0".parse().unwrap(), SocketAddrUse::TcpListen));
    }
}
