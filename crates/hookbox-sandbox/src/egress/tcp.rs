//! Raw TCP connections through the gate: the policy's verdict on a
//! connection a hook starts, where it really goes (the sink opens the way: a
//! live [`relay`](super::relay) or the recording receiver) and the upgrade of
//! such a connection to TLS.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode as SocketError;

use super::address::{Host, canonical_ip};
use super::http_socket::HttpSocket;
use super::policy::{Scheme, Verdict};
use super::record::AttemptStart;
use super::socket_check::address_verdict;
use super::tls_session::{ClientIdentity, OfferedIdentity, TlsSession};
use super::{EgressGate, Pending, refuse};

/// Most raw TCP connections one run may start: each holds a host connection
/// and a relay until the run ends, so a hook that loops on `connect` must not
/// take the host's descriptors or flood a destination.
///
/// Each connection a hook holds takes four or five WASI resources (the
/// socket, its two streams, the pollables the C library keeps): the cap
/// stays well under [`crate::MAX_RESOURCES`], so a hook that holds
/// every connection it may start is told so, not stopped for its resources.
pub const MAX_TCP_CONNECTIONS: usize = 128;

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
        let verdict = match &name {
            Some(name) => self.policy.socket_name_verdict(Scheme::Tcp, name, port),
            None => address_verdict(&self.policy, &self.resolved, Scheme::Tcp, address),
        };
        let http = match verdict {
            Verdict::Denied(_) => self.http_over_socket(address, name.as_deref()),
            Verdict::Allowed(_) => None,
        };
        let opens = verdict_allows(&verdict) || http.is_some();
        let verdict = if opens
            && self.tcp_connections.fetch_add(1, Ordering::SeqCst) >= MAX_TCP_CONNECTIONS
        {
            Verdict::Denied(format!(
                "the hook started more than {MAX_TCP_CONNECTIONS} TCP connections in one run"
            ))
        } else if let Some(http) = http {
            // Each request it carries is checked and recorded on its own.
            return self.sink.clone().open_http(address, http);
        } else {
            verdict
        };
        let host = name.unwrap_or_else(|| Host::Ip(ip).to_string());
        let target = format!("tcp://{host}:{port}");
        let handle = self.log.begin(AttemptStart {
            scheme: hookbox_record::EgressScheme::Tcp,
            host,
            port,
            method: None,
            url: Some(target.clone()),
        });
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

    /// The server for HTTP over a connection to `address` (which `name`
    /// stands for under `hookbox test`), when an `http://` or `https://`
    /// rule covers it: the names the address was looked up by in this run
    /// are the hosts its requests may name.
    fn http_over_socket(&self, address: SocketAddr, name: Option<&str>) -> Option<HttpSocket> {
        let ip = canonical_ip(address.ip());
        let scheme = [Scheme::Https, Scheme::Http]
            .into_iter()
            .find(|&scheme| match name {
                Some(name) => self
                    .policy
                    .name_rule(scheme, name, address.port())
                    .is_some(),
                None => verdict_allows(&address_verdict(
                    &self.policy,
                    &self.resolved,
                    scheme,
                    address,
                )),
            })?;
        let names = match name {
            Some(name) => vec![name.to_owned()],
            None => self
                .resolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&ip)
                .map(|from| from.names.clone())
                .unwrap_or_default(),
        };
        Some(HttpSocket {
            policy: self.policy.clone(),
            log: self.log.clone(),
            stderr: self.hook_stderr.clone(),
            url_masks: self.url_masks.clone(),
            max_body: self.max_body,
            deadline: self.deadline,
            destination: SocketAddr::new(ip, address.port()),
            names,
            check_address: name.is_none(),
            scheme,
            client_certificate: None,
            secrets: self.secrets.clone(),
            recorded: Default::default(),
        })
    }

    /// Upgrades the hook's connection opened at loopback `port` to TLS with
    /// its destination (see [`super::relay::Relays::start_tls`]), without
    /// verifying the certificate only when the hook asked (`verify` false)
    /// and an `unverified_tls` rule names the destination; offering the
    /// hook's client certificate, else the operator's for the destination,
    /// if any; under `hookbox test` the recording receiver goes on
    /// recording the plain bytes.
    pub fn start_tls(
        &self,
        port: u16,
        server_name: String,
        verify: bool,
        identity: Option<ClientIdentity>,
    ) -> Pending<Result<TlsSession, String>> {
        let destination = self.sink.destination(port);
        let real_hosts = destination
            .map(|destination| self.real_hosts(&server_name, destination))
            .unwrap_or_default();
        // HTTP over the socket is allowed by `https://` rules, so their
        // `unverified_tls` rules and client certificates count too.
        let schemes = [Scheme::Tcp, Scheme::Https];
        let port_there = destination.map_or(0, |destination| destination.port());
        let unverified = !verify
            && real_hosts.iter().any(|host| {
                schemes.into_iter().any(|scheme| {
                    self.policy
                        .unverified_tls_rule(scheme, host, port_there)
                        .is_some()
                })
            });
        if !verify && !unverified {
            tracing::info!(
                port,
                "the hook asked for unverified TLS; no unverified_tls rule names the destination, so it is verified"
            );
        }
        let offered = identity.map(OfferedIdentity::from).or_else(|| {
            self.identities
                .for_destination(&schemes, &real_hosts, port_there)
                .map(OfferedIdentity::from)
        });
        self.sink.start_tls(port, server_name, unverified, offered)
    }

    /// The hosts the connection's real `destination` is in this run: its
    /// address, and the name the hook gives for TLS when the address stands
    /// for it (a socket rule named it and it resolved there, or the
    /// recording receiver's address stands for it). A name the hook merely
    /// claims counts for nothing, so claiming one an `unverified_tls` rule
    /// or a client certificate lists changes nothing elsewhere.
    fn real_hosts(&self, server_name: &str, destination: SocketAddr) -> Vec<Host> {
        let ip = canonical_ip(destination.ip());
        let names: Vec<String> = self
            .sink
            .name_of(ip)
            .into_iter()
            .chain(
                self.resolved
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&ip)
                    .map(|from| from.names.clone())
                    .unwrap_or_default(),
            )
            .collect();
        let claimed = match Host::parse(server_name) {
            Ok(Host::Name(name)) if names.contains(&name) => Some(Host::Name(name)),
            _ => None,
        };
        claimed.into_iter().chain([Host::Ip(ip)]).collect()
    }
}

fn verdict_allows(verdict: &Verdict) -> bool {
    matches!(verdict, Verdict::Allowed(_))
}
