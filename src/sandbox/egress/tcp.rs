//! Raw TCP connections through the gate: where a hook's connection really
//! goes (a live [`relay`](super::relay) or the recording receiver) and the
//! upgrade of a relayed connection to TLS.

use std::net::SocketAddr;

use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode as SocketError;

use super::address::{Host, canonical_ip};
use super::policy::{Scheme, Verdict};
use super::record::AttemptStart;
use super::recording::Recorder;
use super::socket_check::address_verdict;
use super::{EgressGate, Pending, refuse};

impl EgressGate {
    /// Where a TCP connection the hook starts to `address` really goes, or
    /// why it does not: under `hookbox test`, a recording receiver; live, a
    /// [relay](super::relay) the host opens once it has itself connected to `address`,
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
    /// its destination (see [`super::relay::Relays::start_tls`]), without verifying the
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
                    || {
                        Verdict::Denied(self.policy.no_rule_for(
                            Scheme::Tcp,
                            &Host::Name(name.clone()),
                            port,
                        ))
                    },
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
                match recorder.open_tcp_receiver(handle.clone(), self.max_body, self.deadline) {
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
}
