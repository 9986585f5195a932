//! The check `wasi:sockets` asks before every raw socket bind, connect and
//! datagram: TCP connects go only to the host's relays or recording
//! receivers (the gate decided when the connection started), UDP datagrams
//! are decided here by address, binds other than the implicit one are refused.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use wasmtime_wasi::sockets::SocketAddrUse;

use super::address::{Host, canonical_ip};
use super::policy::{EgressPolicy, Scheme, Verdict};
use super::record::{AttemptHandle, AttemptStart, EgressLog};
use super::sink::Sink;
use super::{Resolved, refuse};
use crate::output::CappedOutput;

/// The policy's verdict on a raw socket to `address`, counting the names a
/// socket rule named that were looked up in this run.
pub(super) fn address_verdict(
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
        .and_then(|from| {
            from.rules
                .iter()
                .find(|rule| rule.covers(scheme, address.port()))
                .cloned()
        });
    policy.check_address(scheme, ip, address.port(), via_name.as_ref())
}

/// The per-address check for raw sockets.
#[derive(Clone)]
pub struct SocketCheck {
    pub(super) policy: Arc<EgressPolicy>,
    pub(super) log: EgressLog,
    pub(super) hook_stderr: CappedOutput,
    pub(super) resolved: Resolved,
    pub(super) seen: Arc<Mutex<HashMap<(SocketAddr, bool), AttemptHandle>>>,
    pub(super) sink: Arc<dyn Sink>,
    /// The sizes of the datagrams being sent, in order: the host's `send`
    /// puts them here and each datagram's check takes its own.
    pub(super) datagram_sizes: DatagramSizes,
}

/// The sizes of the datagrams of the `send` in progress.
pub(super) type DatagramSizes = Arc<Mutex<VecDeque<u64>>>;

impl SocketCheck {
    /// Whether `address` may be used for `usage`.
    pub fn check(&self, address: SocketAddr, usage: SocketAddrUse) -> bool {
        let scheme = match usage {
            // The policy was asked when the connection started
            // ([`EgressGate::connect_target`]), which sent it to a relay or
            // a recording receiver.
            SocketAddrUse::TcpConnect => return self.sink.is_opened(address),
            SocketAddrUse::UdpSend => Scheme::Udp,
            // A connected UDP socket receives from where it sends: allowed
            // where sending is, and nothing is sent, so nothing is recorded.
            SocketAddrUse::UdpReceive => {
                let verdict = address_verdict(&self.policy, &self.resolved, Scheme::Udp, address);
                return matches!(verdict, Verdict::Allowed(_));
            }
            // The implicit local bind before a connect or send is fine; a hook
            // may not bind a chosen address or port, listen or accept.
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                return address.ip().is_unspecified() && address.port() == 0;
            }
            _ => return false,
        };
        if let Some(reason) = self.sink.refuses_udp() {
            self.record_once(address, scheme, Verdict::Denied(reason.into()));
            return false;
        }
        let verdict = address_verdict(&self.policy, &self.resolved, scheme, address);
        let allowed = matches!(verdict, Verdict::Allowed(_));
        self.record_once(address, scheme, verdict);
        allowed
    }

    /// Records the verdict on `address`: one attempt per destination and
    /// verdict (a UDP sender may send many datagrams), whose bytes add up;
    /// a refusal again says why once more, for the hook's error to name it.
    fn record_once(&self, address: SocketAddr, scheme: Scheme, verdict: Verdict) {
        let allowed = matches!(verdict, Verdict::Allowed(_));
        let size = self
            .datagram_sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
            .unwrap_or_default();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = seen.get(&(address, allowed)) {
            match verdict {
                Verdict::Allowed(_) => handle.add_bytes_out(size),
                Verdict::Denied(reason) => handle.deny(&reason),
            }
            return;
        }
        let host = Host::Ip(address.ip()).to_string();
        let handle = self.log.begin(AttemptStart {
            scheme: super::recorded(scheme),
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
                handle.add_bytes_out(size);
            }
            Verdict::Denied(reason) => {
                let target = format!("{scheme}://{host}:{}", address.port());
                refuse(&handle, &self.hook_stderr, &target, &reason);
            }
        }
        seen.insert((address, allowed), handle);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::IpAddr;

    use super::super::ResolvedFrom;
    use super::super::sink::Network;
    use super::*;

    fn check_for(rules: &[&str], resolved: &[(&str, &str)]) -> SocketCheck {
        let policy = EgressPolicy::parse(rules.iter().copied()).unwrap();
        let known: HashMap<IpAddr, ResolvedFrom> = resolved
            .iter()
            .map(|(ip, rule)| {
                let from = ResolvedFrom {
                    names: Vec::new(),
                    rules: vec![rule.parse().unwrap()],
                };
                (ip.parse().unwrap(), from)
            })
            .collect();
        SocketCheck {
            policy: Arc::new(policy),
            log: EgressLog::default(),
            hook_stderr: CappedOutput::new(4096),
            resolved: Arc::new(Mutex::new(known)),
            seen: Arc::default(),
            sink: Arc::new(Network::new(Arc::default())),
            datagram_sizes: Arc::default(),
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
