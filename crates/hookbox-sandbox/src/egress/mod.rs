//! The one place outgoing network access is decided.
//!
//! - HTTP(S) goes through `wasi:http` (`http_gate`): the destination is
//!   parsed and checked against the [`policy`], a name is resolved once in
//!   the host, every address is checked, and only one that passed is
//!   connected to ([`http`]).
//! - Raw TCP goes through the gate when it starts (`tcp`): the host connects
//!   to the checked address itself and joins the hook to it through a
//!   [`relay`], which also does TLS for `wrap_socket`.
//! - Every raw socket bind, connect and datagram passes [`SocketCheck`]; a
//!   name is looked up only through [`EgressGate::resolve`], when a socket
//!   rule names it.
//!
//! Every attempt lands in the run's [`record`]; a refused one also prints one
//! line on the hook's stderr. What the policy allows goes to a sink: the
//! network, or under `hookbox test` the [`recording`] receiver; the checks
//! are the same for both.

pub use hookbox_policy::address;
pub mod http;
mod http_gate;
mod http_socket;
pub mod inject;
pub mod mask;
pub mod operator_identity;
pub use hookbox_policy::policy;
pub mod record;
pub mod recording;
pub mod relay;
mod sink;
mod socket_check;
mod tcp;
pub mod tls_session;

pub use http_socket::NotSent;
pub use socket_check::SocketCheck;
pub use tcp::MAX_TCP_CONNECTIONS;

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::output::CappedOutput;
use address::Host;
use hookbox_crypto::tls::TlsSettings;
use policy::{EgressPolicy, Rule};
use record::{AttemptHandle, AttemptStart, EgressLog};
use recording::{EgressMode, Recorder};
use sink::{Network, Sink};

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
    max_body: u64,
    sink: Arc<dyn Sink>,
    url_masks: Arc<mask::UrlMasks>,
    datagram_sizes: socket_check::DatagramSizes,
    tcp_connections: std::sync::atomic::AtomicUsize,
    lookups: Arc<std::sync::atomic::AtomicUsize>,
    /// The hook asked for no TLS verification of its next HTTP request.
    next_unverified: bool,
    /// The client certificate the hook's next HTTP request offers.
    next_identity: Option<tls_session::ClientIdentity>,
    /// The operator's client certificates for destinations.
    identities: Arc<operator_identity::OperatorIdentities>,
    /// The secrets the host injects into requests.
    secrets: Arc<inject::SecretInjection>,
}

impl EgressGate {
    /// A gate enforcing `policy` until `deadline`, sending what it allows to
    /// the network or to the recording receiver, as `mode` says, presenting
    /// the operator's client certificates (`identities`) where they apply
    /// and the operator's `secrets` for their destinations.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        policy: Arc<EgressPolicy>,
        identities: Arc<operator_identity::OperatorIdentities>,
        mode: &EgressMode,
        tls: Arc<TlsSettings>,
        hook_stderr: CappedOutput,
        deadline: Instant,
        max_body: u64,
        url_masks: Arc<mask::UrlMasks>,
        secrets: Arc<inject::SecretInjection>,
    ) -> Self {
        let sink: Arc<dyn Sink> = match mode {
            EgressMode::Live => Arc::new(Network::new(tls.clone())),
            EgressMode::Record(responses) => Arc::new(Recorder::new(responses.clone())),
        };
        EgressGate {
            policy,
            tls,
            log: EgressLog::masking(secrets.clone()),
            resolved: Resolved::default(),
            hook_stderr,
            deadline,
            max_body,
            sink,
            url_masks,
            datagram_sizes: Arc::default(),
            tcp_connections: Default::default(),
            lookups: Arc::default(),
            next_unverified: false,
            next_identity: None,
            identities,
            secrets,
        }
    }

    /// Notes whether the hook asks for TLS verification of its next HTTP
    /// request (not verifying is decided by the policy when it is sent).
    pub fn verify_next_request(&mut self, verify: bool) {
        self.next_unverified = !verify;
    }

    /// Notes the client certificate the hook's next HTTP request offers.
    pub fn identify_next_request(&mut self, identity: Option<tls_session::ClientIdentity>) {
        self.next_identity = identity;
    }

    /// The log the run's attempts land in.
    pub fn log(&self) -> EgressLog {
        self.log.clone()
    }

    /// Waits for the run's connections (relays or recording receivers) to
    /// finish what they were given; await it once the store is dropped.
    pub fn settled(&self) -> impl Future<Output = ()> + Send + 'static {
        self.sink.clone().settle()
    }

    /// Every attempt made so far, in order.
    pub fn attempts(&self) -> Vec<hookbox_record::EgressAttempt> {
        self.log.attempts()
    }

    /// Why the most recent refused attempt was refused.
    pub fn last_denial(&self) -> Option<String> {
        self.log.last_denial()
    }

    /// `url` as any text may show it ([`mask::UrlMasks::url`]).
    pub fn shown_url(&self, url: &str) -> String {
        self.url_masks.url(url)
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
            sink: self.sink.clone(),
            datagram_sizes: self.datagram_sizes.clone(),
        }
    }

    /// Notes the sizes of the datagrams a `send` is about to pass to the
    /// socket layer, whose check of each one records its size.
    pub fn sending_datagrams(&self, sizes: impl IntoIterator<Item = u64>) {
        let mut pending = self
            .datagram_sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        pending.clear();
        pending.extend(sizes);
    }

    /// A lookup for raw sockets: returns a future (independent of the store)
    /// that resolves `name` in the host if a rule names it, and remembers the
    /// addresses so that rule reaches them in this run (a `tcp://`/`udp://`
    /// rule as raw sockets, an `http(s)://` rule with HTTP over a socket,
    /// [`http_socket`]).
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
        let sink = self.sink.clone();
        let lookups = self.lookups.clone();
        async move {
            let host = Host::parse(&name).map_err(|e| e.0)?;
            let name = match host {
                Host::Ip(ip) => return Ok(vec![ip.to_string()]),
                Host::Name(name) => name,
            };
            let refused = |reason: String| {
                let handle = log.begin(AttemptStart {
                    scheme: hookbox_record::EgressScheme::Dns,
                    host: name.clone(),
                    port: 0,
                    method: None,
                    url: None,
                });
                refuse(&handle, &stderr, &format!("lookup {name}"), &reason);
                Err(reason)
            };
            if lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= MAX_LOOKUPS {
                return refused(format!(
                    "the hook looked up more than {MAX_LOOKUPS} names in one run"
                ));
            }
            let rules = policy.lookup_rules(&name);
            if rules.is_empty() {
                return refused(policy.not_looked_up(&name));
            }
            let addresses = sink.look_up(name.clone(), deadline).await?;
            let mut known = resolved.lock().unwrap_or_else(|e| e.into_inner());
            for ip in &addresses {
                let from = known.entry(*ip).or_default();
                if !from.names.contains(&name) {
                    from.names.push(name.clone());
                }
                for rule in &rules {
                    if !from.rules.contains(rule) {
                        from.rules.push(rule.clone());
                    }
                }
            }
            Ok(addresses.iter().map(IpAddr::to_string).collect())
        }
    }
}

/// Most names one run may look up: each lookup is a host call that may go
/// out to DNS, and what it resolves to is kept for the run.
pub const MAX_LOOKUPS: usize = 1024;

/// Addresses that names in rules resolved to in this run.
type Resolved = Arc<Mutex<HashMap<IpAddr, ResolvedFrom>>>;

/// What an address was resolved from in this run.
#[derive(Debug, Default, Clone)]
struct ResolvedFrom {
    /// The names that resolved to it.
    names: Vec<String>,
    /// The rules that named them.
    rules: Vec<Rule>,
}

fn refuse(handle: &AttemptHandle, stderr: &CappedOutput, target: &str, reason: &str) {
    let (target, reason) = (handle.masked(target), handle.masked(reason));
    tracing::info!(target = %target, reason, "egress denied");
    stderr.write_line(&format!("hookbox: egress denied: {target}: {reason}"));
    handle.deny(&reason);
}

/// Why a request naming `authority` is refused before any check, if it is:
/// user info (`name@host`) could be read as another host by a front end
/// upstream.
fn user_info_refusal(authority: &::http::uri::Authority) -> Option<String> {
    authority.as_str().contains('@').then(|| {
        "the request's Host or target carries user info; name the host and port only".to_owned()
    })
}

/// The port `scheme` implies when a URL names none.
fn default_port(scheme: policy::Scheme) -> u16 {
    if scheme == policy::Scheme::Https {
        443
    } else {
        80
    }
}

/// The Host header a request carries upstream: the host and port that were
/// checked, in one spelling (the port left out where it is the scheme's),
/// whatever spelling the hook used.
fn checked_host_header(
    host: &address::Host,
    port: u16,
    scheme: policy::Scheme,
) -> Result<::http::HeaderValue, String> {
    let checked = if port == default_port(scheme) {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    ::http::HeaderValue::from_str(&checked).map_err(|_| format!("{checked} is not a Host header"))
}

/// Waits up to `wait` for each of a run's connection tasks to finish what it
/// was given, then stops it.
/// A stopped task is awaited too, so what it records when dropped is in
/// the record.
async fn settle(tasks: Vec<tokio::task::JoinHandle<()>>, wait: std::time::Duration) {
    for mut task in tasks {
        if tokio::time::timeout(wait, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// How the record names a connection of `scheme`.
pub fn recorded(scheme: policy::Scheme) -> hookbox_record::EgressScheme {
    use hookbox_record::EgressScheme;
    match scheme {
        policy::Scheme::Http => EgressScheme::Http,
        policy::Scheme::Https => EgressScheme::Https,
        policy::Scheme::Tcp => EgressScheme::Tcp,
        policy::Scheme::Udp => EgressScheme::Udp,
    }
}
