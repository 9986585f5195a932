//! Secrets that never enter the sandbox (`[[secrets.inject]]`): the hook's
//! variable holds a placeholder, and the host puts the value in its place
//! in an outgoing HTTP request's headers or URL, on the wire, only for the
//! destinations the operator named.
//!
//! - Headers are searched as text (`Authorization: Bearer …`, `Splunk …`,
//!   any custom header) and inside `Basic` credentials (base64 of
//!   `user:password`, decoded, replaced and encoded again); the URL's path
//!   and query are searched too, and the value is percent-encoded there.
//! - A request to any other destination that carries a placeholder is not
//!   sent: the refusal names the secret and where it may go.
//! - Bodies are never rewritten, and raw TCP (syslog) is never touched: a
//!   placeholder there goes out as it is.
//! - A destination that reflects the value back (an echo service) does not
//!   hand it to the hook: requests to a secret's destinations ask for no
//!   compression (`Accept-Encoding: identity`, no `TE`), and in their
//!   responses every spelling of the value (as is, percent-, JSON-, HTML- and
//!   base64-encoded) in the status line, headers, body and trailers is
//!   replaced by as many `*` (lengths stay, so `Content-Length` holds); a
//!   compressed answer is not handed to the hook at all (502). Responses of
//!   other destinations, where the value never went, are left alone.
//!
//! The value lives only in the host: the hook's environment, output, the run
//! record and the egress record see the placeholder.

use std::sync::Arc;

use base64::Engine;
use http::{HeaderMap, HeaderValue};

use super::address::Host;
use super::policy::{Rule, Scheme};

mod reflection;

pub use reflection::Masked;
use reflection::{Spelling, spellings};

/// The shortest value accepted: shorter ones would be masked wherever they
/// happen to appear in responses.
pub const MIN_VALUE_BYTES: usize = 8;

/// One secret the host injects.
#[derive(Clone)]
pub struct InjectedSecret {
    name: String,
    placeholder: String,
    value: Arc<str>,
    destinations: Vec<Rule>,
    /// The spellings of the value masked in responses.
    masked: Arc<[Spelling]>,
}

impl std::fmt::Debug for InjectedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InjectedSecret")
            .field("name", &self.name)
            .field("placeholder", &self.placeholder)
            .field("value", &"[redacted]")
            .field("destinations", &self.destinations)
            .finish()
    }
}

/// Why a secret cannot be injected as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The variable name is not one a hook can read.
    #[error("{0:?} is not a variable name (letters, digits and _, not starting with a digit)")]
    BadName(String),
    /// A destination is not an `http://` or `https://` rule.
    #[error("destination {destination:?}: {reason}")]
    BadDestination {
        /// The destination as written.
        destination: String,
        /// Why.
        reason: String,
    },
    /// No destination is named.
    #[error("no destinations: name where the value may go, e.g. [\"https://siem.example.com\"]")]
    NoDestinations,
    /// The value cannot go in a header.
    #[error(
        "the value is not usable in an HTTP header (it is empty, holds a line break or a \
         control character, or is shorter than {MIN_VALUE_BYTES} bytes)"
    )]
    BadValue,
}

impl InjectedSecret {
    /// `value` for the variable `name`, injected for `destinations` (egress
    /// rules, `http://` or `https://`).
    pub fn new(name: &str, value: &str, destinations: &[String]) -> Result<Self, InjectError> {
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(InjectError::BadName(name.to_owned()));
        }
        if destinations.is_empty() {
            return Err(InjectError::NoDestinations);
        }
        let destinations = destinations
            .iter()
            .map(|text| {
                let bad = |reason: String| InjectError::BadDestination {
                    destination: text.clone(),
                    reason,
                };
                let rule: Rule = text
                    .parse()
                    .map_err(|e: super::policy::RuleError| bad(e.reason))?;
                if !matches!(rule.scheme(), Some(Scheme::Http | Scheme::Https)) {
                    return Err(bad(
                        "secrets are injected into HTTP requests only: write http:// or https://"
                            .into(),
                    ));
                }
                Ok(rule)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let usable = value.len() >= MIN_VALUE_BYTES
            && HeaderValue::from_str(value).is_ok()
            && !value.chars().any(char::is_control);
        if !usable {
            return Err(InjectError::BadValue);
        }
        Ok(InjectedSecret {
            name: name.to_owned(),
            placeholder: format!(
                "hookbox-secret-{name}-{:016x}{:016x}",
                fastrand::u64(..),
                fastrand::u64(..)
            ),
            value: value.into(),
            destinations,
            masked: spellings(value).into(),
        })
    }

    /// The variable the hook reads.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the hook's variable holds instead of the value.
    pub fn placeholder(&self) -> &str {
        &self.placeholder
    }

    /// The same secret with another value (a `hookbox test` fixture's).
    pub fn with_value(&self, value: &str) -> Result<Self, InjectError> {
        let mut secret = InjectedSecret::new(&self.name, value, &self.destinations())?;
        secret.placeholder = self.placeholder.clone();
        Ok(secret)
    }

    fn may_go_to(&self, scheme: Scheme, host: &Host, port: u16) -> bool {
        self.destinations
            .iter()
            .any(|rule| rule.covers(scheme, port) && rule.matches_host(host))
    }

    /// Where the value may go, as rules.
    pub fn destinations(&self) -> Vec<String> {
        self.destinations.iter().map(ToString::to_string).collect()
    }

    fn shown_destinations(&self) -> String {
        self.destinations().join(", ")
    }
}

/// The secrets of a run.
#[derive(Debug, Clone, Default)]
pub struct SecretInjection {
    secrets: Vec<InjectedSecret>,
}

/// Why a request that carries a placeholder is not sent. The messages name
/// secrets, never quote what a value went into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The placeholder goes to a destination the secret may not go to.
    #[error(
        "the request carries {name}, which hookbox injects only for {destinations}; nothing \
         was sent"
    )]
    Misdirected {
        /// The secret's variable.
        name: String,
        /// Where it may go.
        destinations: String,
    },
    /// With the value in it, the URL is no request target (too long, say).
    #[error(
        "with {name}'s value in its URL the request has no valid target (too long?); nothing \
         was sent"
    )]
    BadTarget {
        /// The secret's variable.
        name: String,
    },
}

hookbox_core::failure::categorized!(Usage: InjectError, Refused);

/// What injecting did to one request, and how its response is guarded.
#[derive(Debug, Default)]
pub struct Injected {
    /// The secrets whose values went into the request.
    pub names: Vec<String>,
    /// The secrets that may go to the request's destination: its response
    /// is searched for their values.
    guarded: Option<Arc<SecretInjection>>,
}

impl Injected {
    /// What the attempt's record says of the injection, if anything.
    pub fn note(&self) -> Option<String> {
        (!self.names.is_empty()).then(|| format!("injected by the host: {}", self.names.join(", ")))
    }
}

impl SecretInjection {
    /// The run's secrets.
    pub fn new(secrets: Vec<InjectedSecret>) -> SecretInjection {
        SecretInjection { secrets }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The secrets.
    pub fn secrets(&self) -> &[InjectedSecret] {
        &self.secrets
    }

    /// The same secrets, those named in `values` with those values (a
    /// `hookbox test` fixture's `[secrets]`); the placeholders stay.
    pub fn with_values<'a>(
        &self,
        mut values: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<SecretInjection, String> {
        let mut secrets = self.secrets.clone();
        values.try_for_each(|(name, value)| {
            let secret = secrets
                .iter_mut()
                .find(|secret| secret.name == name)
                .ok_or_else(|| {
                    format!("secrets.{name}: no [[secrets.inject]] entry is named {name}")
                })?;
            *secret = secret
                .with_value(value)
                .map_err(|e| format!("secrets.{name}: {e}"))?;
            Ok::<_, String>(())
        })?;
        Ok(SecretInjection { secrets })
    }

    /// The variables the hook gets: each secret's placeholder.
    pub fn env(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.secrets
            .iter()
            .map(|secret| (secret.name.clone(), secret.placeholder.clone()))
    }

    /// Puts the values in place of their placeholders in `headers` and
    /// `target` (the request's path and query, or its whole URL) of a
    /// request to `host`:`port`; the names of the secrets injected. A
    /// placeholder for a destination its secret may not go to refuses the
    /// request, changing nothing.
    pub fn apply(
        &self,
        scheme: Scheme,
        host: &Host,
        port: u16,
        headers: &mut HeaderMap,
        target: &mut String,
    ) -> Result<Vec<String>, Refused> {
        let carried: Vec<&InjectedSecret> = self
            .secrets
            .iter()
            .filter(|secret| carries(headers, target, &secret.placeholder))
            .collect();
        if let Some(secret) = carried
            .iter()
            .find(|secret| !secret.may_go_to(scheme, host, port))
        {
            return Err(Refused::Misdirected {
                name: secret.name.clone(),
                destinations: secret.shown_destinations(),
            });
        }
        for secret in &carried {
            let encoded = percent_encoding::utf8_percent_encode(&secret.value, URL_VALUE);
            *target = target.replace(&secret.placeholder, &encoded.to_string());
            for value in headers.values_mut() {
                if let Some(replaced) = replace_in_header(value, secret) {
                    *value = replaced;
                }
            }
        }
        Ok(carried.iter().map(|s| s.name.clone()).collect())
    }

    /// Injects the values into a request to `host`:`port` (see
    /// [`SecretInjection::apply`]); a request to a secret's destination
    /// also asks for an answer that is not compressed.
    pub fn inject(
        &self,
        scheme: Scheme,
        host: &Host,
        port: u16,
        parts: &mut http::request::Parts,
    ) -> Result<Injected, Refused> {
        let guarded: Vec<InjectedSecret> = self
            .secrets
            .iter()
            .filter(|secret| secret.may_go_to(scheme, host, port))
            .cloned()
            .collect();
        let mut target = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string);
        let names = self.apply(scheme, host, port, &mut parts.headers, &mut target)?;
        if !names.is_empty() {
            let bad_target = || Refused::BadTarget {
                name: names.join(", "),
            };
            let mut uri = parts.uri.clone().into_parts();
            uri.path_and_query = Some(target.parse().map_err(|_| bad_target())?);
            parts.uri = http::Uri::from_parts(uri).map_err(|_| bad_target())?;
        }
        if !guarded.is_empty() {
            parts.headers.insert(
                http::header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
            parts.headers.remove(http::header::TE);
        }
        Ok(Injected {
            names,
            guarded: (!guarded.is_empty()).then(|| Arc::new(SecretInjection::new(guarded))),
        })
    }
}

/// What is percent-encoded when a value goes into a URL: all but the
/// unreserved characters.
const URL_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn carries(headers: &HeaderMap, target: &str, placeholder: &str) -> bool {
    target.contains(placeholder)
        || headers.values().any(|value| {
            contains(value.as_bytes(), placeholder.as_bytes())
                || basic_credentials(value)
                    .is_some_and(|bytes| contains(&bytes, placeholder.as_bytes()))
        })
}

/// The decoded `user:password` of a `Basic` credential, as bytes (a
/// header value may hold any bytes but control characters).
fn basic_credentials(value: &HeaderValue) -> Option<Vec<u8>> {
    let text = value.as_bytes().trim_ascii();
    let at = text.iter().position(|b| *b == b' ')?;
    let (scheme, encoded) = (&text[..at], text[at..].trim_ascii());
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}

/// `bytes` with every `from` replaced by `to`.
fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = find(rest, from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The header value with the secret's value in place of its placeholder,
/// byte for byte (any header value holds it, not only a UTF-8 one).
fn replace_in_header(value: &HeaderValue, secret: &InjectedSecret) -> Option<HeaderValue> {
    let (placeholder, real) = (secret.placeholder.as_bytes(), secret.value.as_bytes());
    if let Some(credentials) = basic_credentials(value)
        && contains(&credentials, placeholder)
    {
        let replaced = replace_bytes(&credentials, placeholder, real);
        let encoded = base64::engine::general_purpose::STANDARD.encode(replaced);
        return HeaderValue::from_str(&format!("Basic {encoded}")).ok();
    }
    if !contains(value.as_bytes(), placeholder) {
        return None;
    }
    let mut replaced =
        HeaderValue::from_bytes(&replace_bytes(value.as_bytes(), placeholder, real)).ok()?;
    replaced.set_sensitive(true);
    Some(replaced)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const VALUE: &str = "s3cr3t-T0KEN/with+odd&chars";

    pub(super) fn injection() -> SecretInjection {
        SecretInjection::new(vec![
            InjectedSecret::new(
                "SIEM_TOKEN",
                VALUE,
                &["https://siem.example.com:8088".into()],
            )
            .unwrap(),
        ])
    }

    fn host(name: &str) -> Host {
        Host::parse(name).unwrap()
    }

    #[test]
    fn placeholders_become_the_value_for_its_destination_only() {
        let secrets = injection();
        let placeholder = secrets.secrets()[0].placeholder().to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Splunk {placeholder}")).unwrap(),
        );
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("x:{placeholder}"));
        headers.insert(
            "proxy-authorization",
            HeaderValue::from_str(&format!("Basic {basic}")).unwrap(),
        );
        let mut target = format!("/services/collector?token={placeholder}");
        let original = (headers.clone(), target.clone());
        let misdirected = secrets
            .apply(
                Scheme::Https,
                &host("evil.example.com"),
                8088,
                &mut headers,
                &mut target,
            )
            .unwrap_err();
        assert!(
            matches!(&misdirected, Refused::Misdirected { name, .. } if name == "SIEM_TOKEN"),
            "{misdirected:?}"
        );
        assert_eq!(
            (headers.clone(), target.clone()),
            original,
            "nothing changed"
        );
        assert!(
            secrets
                .apply(
                    Scheme::Https,
                    &host("siem.example.com"),
                    443,
                    &mut headers,
                    &mut target
                )
                .is_err(),
            "another port is another destination"
        );
        let injected = secrets
            .apply(
                Scheme::Https,
                &host("siem.example.com"),
                8088,
                &mut headers,
                &mut target,
            )
            .unwrap();
        assert_eq!(injected, vec!["SIEM_TOKEN"]);
        assert_eq!(headers["authorization"], format!("Splunk {VALUE}").as_str());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("x:{VALUE}"));
        assert_eq!(
            headers["proxy-authorization"],
            format!("Basic {basic}").as_str()
        );
        assert_eq!(
            target,
            "/services/collector?token=s3cr3t-T0KEN%2Fwith%2Bodd%26chars"
        );
    }

    #[test]
    fn a_placeholder_in_a_header_that_is_not_utf8_is_replaced_too() {
        let secrets = injection();
        let placeholder = secrets.secrets()[0].placeholder().to_owned();
        let mut headers = HeaderMap::new();
        let mut raw = b"caf\xe9 ".to_vec();
        raw.extend_from_slice(placeholder.as_bytes());
        headers.insert("x-key", HeaderValue::from_bytes(&raw).unwrap());
        let mut basic = b"us\xe9r:".to_vec();
        basic.extend_from_slice(placeholder.as_bytes());
        let basic = base64::engine::general_purpose::STANDARD.encode(basic);
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("basic  {basic}")).unwrap(),
        );
        let mut target = "/".to_owned();
        let siem = host("siem.example.com");
        secrets
            .apply(Scheme::Https, &siem, 8088, &mut headers, &mut target)
            .unwrap();
        let mut expected = b"caf\xe9 ".to_vec();
        expected.extend_from_slice(VALUE.as_bytes());
        assert_eq!(headers["x-key"].as_bytes(), expected.as_slice());
        let sent = headers["authorization"].to_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(sent.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert!(contains(&decoded, VALUE.as_bytes()), "{sent}");
    }

    #[test]
    fn requests_without_placeholders_pass_unchanged() {
        let secrets = injection();
        let mut headers = HeaderMap::new();
        headers.insert("x-other", HeaderValue::from_static("hookbox-secret-OTHER"));
        let mut target = "/x".to_owned();
        let injected = secrets
            .apply(
                Scheme::Https,
                &host("evil.example.com"),
                1,
                &mut headers,
                &mut target,
            )
            .unwrap();
        assert!(injected.is_empty());
    }

    #[test]
    fn bad_settings_are_refused() {
        let https = ["https://siem.example.com".to_owned()];
        assert!(matches!(
            InjectedSecret::new("9X", VALUE, &https),
            Err(InjectError::BadName(_))
        ));
        assert!(matches!(
            InjectedSecret::new("X", "short", &https),
            Err(InjectError::BadValue)
        ));
        assert!(matches!(
            InjectedSecret::new("X", "line\nbreak-value", &https),
            Err(InjectError::BadValue)
        ));
        assert!(matches!(
            InjectedSecret::new("X", VALUE, &["tcp://siem.example.com:514".into()]),
            Err(InjectError::BadDestination { .. })
        ));
        assert!(matches!(
            InjectedSecret::new("X", VALUE, &[]),
            Err(InjectError::NoDestinations)
        ));
        assert!(!format!("{:?}", InjectedSecret::new("X", VALUE, &https).unwrap()).contains(VALUE));
    }
}
