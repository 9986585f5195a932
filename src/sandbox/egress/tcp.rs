//! Raw TCP connections through the gate: the policy's verdict on a
//! connection a hook starts, where it really goes (the sink opens the way: a
//! live [`relay`](super::relay) or the recording receiver) and the upgrade of
//! such a connection to TLS.

use std::net::SocketAddr;

use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode as SocketError;

use super::address::{Host, canonical_ip};
use super::policy::{Scheme, Verdict};
use super::record::AttemptStart;
use super::socket_check::address_verdict;
use super::{EgressGate, Pending, refuse};

impl EgressGate {
    /// Where a TCP connection the hook starts to `address` really goes, or
    /// why it does not: live, a [relay](super::relay) the host opens once it
    /// has itself connected to `address` (so a refused or unreachable
    /// destination fails the hook's connect); under `hookbox test`, a
    /// recording receiver.
    pub fn connect_target(&self, address: SocketAddr) -> Pending<Result<SocketAddr, SocketError>> {
        let ip = canonical_ip(address.ip());
        let port = address.port();
        // Under `hookbox test` the address may stand for a name a rule named.
        let name = self.sink.name_of(ip);
        let host = name.clone().unwrap_or_else(|| Host::Ip(ip).to_string());
        let target = format!("tcp://{host}:{port}");
        let handle = self.log.begin(AttemptStart {
            scheme: "tcp".into(),
            host,
            port,
            method: None,
            url: Some(target.clone()),
        });
        let verdict = match name {
            Some(name) => self.policy.socket_name_verdict(Scheme::Tcp, &name, port),
            None => address_verdict(&self.policy, &self.resolved, Scheme::Tcp, address),
        };
        match verdict {
            Verdict::Allowed(rule) => {
                tracing::info!(target = %target, rule = %rule, "egress allowed");
                handle.allow(&rule);
                self.sink
                    .clone()
                    .open_tcp(address, handle, self.deadline, self.max_body)
            }
            Verdict::Denied(reason) => {
                refuse(&handle, &self.hook_stderr, &target, &reason);
                Box::pin(std::future::ready(Err(SocketError::AccessDenied)))
            }
        }
    }

    /// Upgrades the hook's connection opened at loopback `port` to TLS with
    /// its destination (see [`super::relay::Relays::start_tls`]), without
    /// verifying the certificate only when the hook asked (`verify` false)
    /// and an `unverified_tls` rule names the destination; under `hookbox
    /// test` the recording receiver goes on recording the plain bytes.
    pub fn start_tls(
        &self,
        port: u16,
        server_name: String,
        verify: bool,
    ) -> Pending<Result<String, String>> {
        let unverified = !verify
            && self.sink.destination(port).is_some_and(|destination| {
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
        self.sink.start_tls(port, server_name, unverified)
    }
}
