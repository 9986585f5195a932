//! HTTP(S) through the gate: `wasi:http`'s `send_request` parses the
//! destination, asks the policy and hands an allowed request to the sink,
//! which resolves a name once, checks every address and sends only to one
//! that passed ([`super::http`]), or records it under `hookbox test`.

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::address::{BadHost, Host};
use super::policy::{EgressPolicy, Scheme};
use super::record::{AttemptHandle, AttemptStart};
use super::sink::{HttpSend, Unreachable};
use super::tls_session::OfferedIdentity;
use super::{EgressGate, checked_host_header, default_port, refuse, user_info_refusal};

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
        let wants_unverified = std::mem::take(&mut self.next_unverified);
        let identity = self.next_identity.take();
        let Destination {
            scheme,
            host: parsed_host,
            port,
            target,
            handle,
        } = self.begin(&request);
        let declared = declared_length(&request);
        let policy = self.policy.clone();
        let tls = self.tls.clone();
        let stderr = self.hook_stderr.clone();
        let sink = self.sink.clone();
        let url_masks = self.url_masks.clone();
        let identities = self.identities.clone();
        let secrets = self.secrets.clone();
        let (deadline, max_body) = (self.deadline, self.max_body);
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
            // The hook's own client certificate, else the operator's for
            // the destination the request names (and is resolved from).
            let offered = identity.map(OfferedIdentity::from).or_else(|| {
                (scheme == Scheme::Https)
                    .then(|| {
                        identities.for_destination(&[scheme], std::slice::from_ref(&host), port)
                    })
                    .flatten()
                    .map(OfferedIdentity::from)
            });
            let approval = sink.approve_http(policy, scheme, host, port, deadline);
            let (approved, rule) = match approval.await {
                Ok(approved) => approved,
                Err(Unreachable::Denied(reason)) => {
                    refuse(&handle, &stderr, &target, &reason);
                    return Err(HttpError::HttpRequestDenied);
                }
                Err(Unreachable::LookupFailed {
                    rule,
                    reason,
                    timed_out,
                }) => {
                    tracing::info!(target = %target, rule = %rule, reason, "egress allowed; the lookup failed");
                    handle.allow(&rule);
                    handle.note(&reason);
                    return Err(if timed_out {
                        HttpError::DnsTimeout
                    } else {
                        HttpError::DnsError {
                            rcode: Some(reason),
                            info_code: None,
                        }
                    });
                }
            };
            tracing::info!(target = %target, rule = %rule, "egress allowed");
            handle.allow(&rule);
            // A body declared over the cap is refused before anything is sent.
            if let Some(length) = declared.filter(|&length| length > max_body) {
                let reason = format!(
                    "request body of {length} bytes is over the {max_body}-byte cap \
                     (--max-http-body); nothing was sent"
                );
                handle.note(&reason);
                stderr.write_line(&format!("hookbox: {target}: {reason}"));
                return Err(HttpError::HttpRequestBodySize(Some(max_body)));
            }
            let (mut parts, body) = request.into_parts();
            // Upstream the request names what was checked, in one spelling.
            match checked_host_header(&approved.host, port, scheme) {
                Ok(value) => parts.headers.insert(::http::header::HOST, value),
                Err(reason) => {
                    refuse(&handle, &stderr, &target, &reason);
                    return Err(HttpError::HttpRequestDenied);
                }
            };
            let injected = match secrets.inject(scheme, &approved.host, port, &mut parts) {
                Ok(injected) => injected,
                Err(refusal) => {
                    refuse(&handle, &stderr, &target, &refusal.to_string());
                    return Err(HttpError::HttpRequestDenied);
                }
            };
            let request = ::http::Request::from_parts(parts, body);
            if let Some(note) = injected.note() {
                handle.note(&note);
            }
            let tls = match (scheme, unverified) {
                (Scheme::Https, false) => Some(tls.config()),
                (Scheme::Https, true) => Some(tls.unverified_config()),
                _ => None,
            };
            let mut tls = tls
                .transpose()
                .map_err(|e| HttpError::InternalError(Some(e)))?;
            if let (Some(config), Some(offered)) = (&tls, &offered) {
                let identity = &offered.identity;
                let with_identity = hookbox_crypto::tls::with_client_identity(
                    config,
                    &identity.certificates,
                    &identity.key,
                )
                .map_err(|reason| {
                    handle.note(&reason);
                    HttpError::InternalError(Some(reason))
                })?;
                handle.note(&offered.note);
                tls = Some(std::sync::Arc::new(with_identity));
            }
            let result = sink
                .send_http(HttpSend {
                    request,
                    approved,
                    tls,
                    options,
                    deadline,
                    max_body,
                    record: handle.clone(),
                    url_masks,
                })
                .await;
            let result = result.map(|(response, io)| {
                let (response, note) = injected.guard(response);
                if let Some(note) = note {
                    handle.note(&note);
                }
                (response, io)
            });
            match &result {
                // The metered body noted where it was cut, naming the cap.
                Err(HttpError::HttpRequestBodySize(_) | HttpError::HttpResponseBodySize(_)) => {}
                Err(error) => handle.note(&format!("{error}")),
                Ok(_) => {}
            }
            result
        })
    }
}

/// The body length a request declares (`Content-Length`), if any.
fn declared_length(request: &::http::Request<WasiBody>) -> Option<u64> {
    request
        .headers()
        .get(::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Where an HTTP request goes, as the hook named it, and its attempt record.
struct Destination {
    scheme: Scheme,
    host: Result<Host, BadHost>,
    port: u16,
    /// `METHOD scheme://host:port/path`, for log lines and refusals.
    target: String,
    handle: AttemptHandle,
}

impl EgressGate {
    /// Reads the destination of `request` and starts its attempt record,
    /// with the path alone (never the query or user info), masked where it
    /// is a webhook's credential.
    fn begin(&self, request: &::http::Request<WasiBody>) -> Destination {
        let uri = request.uri();
        let scheme = match uri.scheme_str() {
            Some("https") => Scheme::Https,
            _ => Scheme::Http,
        };
        let port = uri.port_u16().unwrap_or(default_port(scheme));
        let host_text = uri.host().unwrap_or_default();
        let host = match uri.authority().and_then(user_info_refusal) {
            Some(reason) => Err(BadHost(reason)),
            None => Host::parse(host_text),
        };
        let shown_host = host
            .as_ref()
            .map_or_else(|_| host_text.to_owned(), Host::to_string);
        let path = self.url_masks.path(&shown_host, uri.path());
        let url = format!("{scheme}://{shown_host}:{port}{path}");
        let target = format!("{} {url}", request.method());
        let handle = self.log.begin(AttemptStart {
            scheme: super::recorded(scheme),
            host: shown_host,
            port,
            method: Some(request.method().to_string()),
            url: Some(url),
        });
        Destination {
            scheme,
            host,
            port,
            target,
            handle,
        }
    }
}

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
