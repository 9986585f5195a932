//! HTTP(S) through the gate: `wasi:http`'s `send_request` parses the
//! destination, asks the policy, resolves a name once in the host, checks
//! every address and sends only to one that passed ([`super::http`]), or
//! records the request under `hookbox test`.

use std::net::SocketAddr;

use tokio::time::Instant;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::address::Host;
use super::http::{self, Approved};
use super::policy::{EgressPolicy, Scheme, Verdict};
use super::record::{AttemptHandle, AttemptStart};
use super::recording::Recorder;
use super::{EgressGate, refuse};

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
        // The path alone (never the query or user info), masked where it is
        // a webhook's credential.
        let path = self.url_masks.path(&shown_host, uri.path());
        let url = format!("{scheme}://{shown_host}:{port}{path}");
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
        let (deadline, max_body) = (self.deadline, self.max_body);
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
                record_and_answer(&recorder, request, max_body, deadline, handle).await
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
                max_body,
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
            None => Verdict::Denied(policy.no_rule_for(scheme, &Host::Name(name), port)),
        },
    }
}

/// Reads an allowed request whole, records it and answers it locally.
async fn record_and_answer(
    recorder: &Recorder,
    request: ::http::Request<WasiBody>,
    max_body: u64,
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
    let body = match http::read_upload(body, max_body, deadline, handle.clone()).await {
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
        .ok_or_else(|| policy.no_rule_for(scheme, &Host::Name(name.clone()), port))?
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
