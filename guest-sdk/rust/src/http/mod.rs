//! HTTP from a hook, through the sandbox's egress policy (`wasi:http`).
//!
//! hookbox checks every request before anything leaves the machine: a refusal
//! is [`Error::EgressDenied`] carrying the reason, a transport failure (refused
//! connection, timeout, TLS, size cap) is [`Error::Http`] naming the
//! `wasi:http` error code. A 4xx or 5xx status is not an error: check
//! [`Response::ok`]. Redirects are returned, not followed.
//!
//! Outside the sandbox (any target but WASI) the functions compile but every
//! request fails with [`Error::Unavailable`], so a hook's own tests and
//! `cargo check` run on the host.
//!
//! # Examples
//!
//! ```no_run
//! use hookbox_guest::http;
//!
//! let event = hookbox_guest::event()?;
//! let response = http::post_json(
//!     "https://siem.example.com/events",
//!     &[("Authorization", "Bearer ...")],
//!     &event.raw,
//! )?;
//! if !response.ok() {
//!     eprintln!("the SIEM answered {}: {}", response.status, response.text());
//!     std::process::exit(1);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(target_os = "wasi")]
mod egress;
mod target;
#[cfg(target_os = "wasi")]
mod transport;

use target::Target;

/// An HTTP response: status, headers (in order) and the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. `200`.
    pub status: u16,
    /// The headers in the order received; values decoded as Latin-1.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    ///
    /// # Examples
    ///
    /// ```
    /// let response = hookbox_guest::http::Response { status: 204, headers: vec![], body: vec![] };
    /// assert!(response.ok());
    /// ```
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of a header, by case-insensitive name.
    ///
    /// # Examples
    ///
    /// ```
    /// let response = hookbox_guest::http::Response {
    ///     status: 200,
    ///     headers: vec![("Content-Type".into(), "application/json".into())],
    ///     body: b"{}".to_vec(),
    /// };
    /// assert_eq!(response.header("content-type"), Some("application/json"));
    /// assert_eq!(response.header("retry-after"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as UTF-8 text (invalid sequences replaced by U+FFFD).
    ///
    /// # Examples
    ///
    /// ```
    /// let response = hookbox_guest::http::Response { status: 503, headers: vec![], body: b"busy".to_vec() };
    /// assert_eq!(response.text(), "busy");
    /// ```
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON, into a [`serde_json::Value`] or any
    /// deserializable type.
    ///
    /// # Examples
    ///
    /// ```
    /// let response = hookbox_guest::http::Response { status: 200, headers: vec![], body: br#"{"code":0}"#.to_vec() };
    /// let value: serde_json::Value = response.json()?;
    /// assert_eq!(value["code"], 0);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// hookbox's egress policy refused the request.
    EgressDenied {
        /// The URL requested, as hookbox shows URLs in text (no user info
        /// or query, a webhook's secret path masked).
        url: String,
        /// Why, as the operator's log says (from `hookbox:runner/egress`).
        reason: String,
    },
    /// The request failed on the way (connection, DNS, timeout, TLS, size cap).
    Http {
        /// The URL requested, as hookbox shows URLs in text.
        url: String,
        /// The `wasi:http` error code, e.g. `ConnectionRefused`,
        /// `ConnectionReadTimeout`, `TlsCertificateError`, `HttpResponseBodySize`.
        code: String,
        /// What the code carries, if anything (e.g. a DNS error's rcode).
        detail: Option<String>,
    },
    /// The request cannot be made as given: a bad URL, method or header.
    InvalidRequest {
        /// What is wrong.
        message: String,
    },
    /// Not running inside the hookbox sandbox (built for a target other than WASI).
    Unavailable,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EgressDenied { url, reason } => write!(f, "egress denied: {url}: {reason}"),
            Error::Http {
                url,
                code,
                detail: Some(detail),
            } => write!(f, "{code}: {detail} ({url})"),
            Error::Http {
                url,
                code,
                detail: None,
            } => write!(f, "{code} ({url})"),
            Error::InvalidRequest { message } => f.write_str(message),
            Error::Unavailable => {
                f.write_str("HTTP needs the hookbox sandbox: build the hook for wasm32-wasip2")
            }
        }
    }
}

impl std::error::Error for Error {}

/// A header that asks the host not to verify the server's TLS certificate
/// (what `verify=False` is in Python): add it to a request's headers. The
/// host grants it only where the operator's `--allow-unverified-tls` rules
/// name the destination, and verifies as always elsewhere; either way the
/// marker is never sent as a header (it becomes `hookbox:runner/egress`'s
/// `verify-next-request`), and the run's record says which it was.
///
/// # Examples
///
/// ```no_run
/// use hookbox_guest::http;
///
/// let response = http::get("https://hec.internal:8088/services/collector/health", &[http::NO_TLS_VERIFY])?;
/// # Ok::<(), http::Error>(())
/// ```
pub const NO_TLS_VERIFY: (&str, &str) = ("hookbox-tls-verify", "off");

/// Sends one request and returns the response, whatever its status.
///
/// `headers` are sent in order; `Content-Length` is added for a non-empty
/// body and user info in the URL (`https://user:pass@host/`) becomes basic
/// auth, unless `headers` has them. `timeout` bounds the connect and each wait
/// for data; the hook's own deadline always applies.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// let response = hookbox_guest::http::request(
///     "PUT",
///     "https://siem.example.com/events/1",
///     &[("Content-Type", "text/plain")],
///     b"closed",
///     Some(Duration::from_secs(5)),
/// )?;
/// println!("{}", response.status);
/// # Ok::<(), hookbox_guest::http::Error>(())
/// ```
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Option<Duration>,
) -> Result<Response, Error> {
    let target = Target::parse(url)?;
    let is_marker = |(name, value): &&(&str, &str)| {
        name.eq_ignore_ascii_case(NO_TLS_VERIFY.0) && *value == NO_TLS_VERIFY.1
    };
    let unverified = headers.iter().any(|header| is_marker(&header));
    let mut fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .filter(|header| !is_marker(header))
        .map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec()))
        .collect();
    if let Some(credentials) = &target.basic_auth
        && !has(headers, "authorization")
    {
        fields.push((
            "Authorization".into(),
            format!("Basic {credentials}").into_bytes(),
        ));
    }
    if !body.is_empty() && !has(headers, "content-length") {
        fields.push(("Content-Length".into(), body.len().to_string().into_bytes()));
    }
    send(method, url, &target, &fields, body, timeout, unverified)
}

/// Sends `GET url` and returns the response, whatever its status.
///
/// # Examples
///
/// ```no_run
/// let response = hookbox_guest::http::get("https://siem.example.com/health", &[])?;
/// assert!(response.ok());
/// # Ok::<(), hookbox_guest::http::Error>(())
/// ```
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
    request("GET", url, headers, &[], None)
}

/// Sends `POST url` with `value` serialized as JSON and
/// `Content-Type: application/json` (unless `headers` sets one).
///
/// # Examples
///
/// ```no_run
/// let event = hookbox_guest::event()?;
/// let response = hookbox_guest::http::post_json(
///     "https://siem.example.com/events",
///     &[("Authorization", "Bearer ...")],
///     &serde_json::json!({ "sid": event.sid, "kind": event.name() }),
/// )?;
/// println!("{}", response.status);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn post_json<T: Serialize + ?Sized>(
    url: &str,
    headers: &[(&str, &str)],
    value: &T,
) -> Result<Response, Error> {
    let body = serde_json::to_vec(value).map_err(|error| Error::InvalidRequest {
        message: format!("cannot serialize the body as JSON: {error}"),
    })?;
    let mut all = headers.to_vec();
    if !has(headers, "content-type") {
        all.push(("Content-Type", "application/json"));
    }
    request("POST", url, &all, &body, None)
}

fn has(headers: &[(&str, &str)], name: &str) -> bool {
    headers
        .iter()
        .any(|(key, _)| key.eq_ignore_ascii_case(name))
}

#[cfg(target_os = "wasi")]
use transport::send;

#[cfg(not(target_os = "wasi"))]
fn send(
    _method: &str,
    _url: &str,
    _target: &Target,
    _headers: &[(String, Vec<u8>)],
    _body: &[u8],
    _timeout: Option<Duration>,
    _unverified: bool,
) -> Result<Response, Error> {
    Err(Error::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)], body: &[u8]) -> Response {
        Response {
            status: 200,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn ok_means_2xx() {
        for (status, ok) in [
            (199, false),
            (200, true),
            (204, true),
            (299, true),
            (301, false),
            (503, false),
        ] {
            assert_eq!(
                Response {
                    status,
                    ..response(&[], b"")
                }
                .ok(),
                ok,
                "{status}"
            );
        }
    }

    #[test]
    fn header_is_case_insensitive_and_first_wins() {
        let r = response(
            &[("Set-Cookie", "a"), ("set-cookie", "b"), ("X-Id", "7")],
            b"",
        );
        assert_eq!(r.header("SET-COOKIE"), Some("a"));
        assert_eq!(r.header("x-id"), Some("7"));
        assert_eq!(r.header("missing"), None);
    }

    #[test]
    fn text_and_json_read_the_body() {
        let r = response(&[], br#"{"text":"Success","code":0}"#);
        assert_eq!(r.text(), r#"{"text":"Success","code":0}"#);
        assert_eq!(r.json::<serde_json::Value>().unwrap()["text"], "Success");
        assert!(
            response(&[], b"not json")
                .json::<serde_json::Value>()
                .is_err()
        );
        assert_eq!(response(&[], b"a\xffb").text(), "a\u{fffd}b");
    }

    #[test]
    fn errors_read_like_the_operators_log() {
        let denied = Error::EgressDenied {
            url: "https://hec.example.com:8088/services/collector/event".into(),
            reason: "no rule allows https://hec.example.com:8088".into(),
        };
        assert_eq!(
            denied.to_string(),
            "egress denied: https://hec.example.com:8088/services/collector/event: no rule allows https://hec.example.com:8088"
        );
        let refused = Error::Http {
            url: "http://127.0.0.1:9/".into(),
            code: "ConnectionRefused".into(),
            detail: None,
        };
        assert_eq!(
            refused.to_string(),
            "ConnectionRefused (http://127.0.0.1:9/)"
        );
    }

    #[test]
    fn a_bad_url_fails_before_sending() {
        let error = get("ftp://example.com/", &[]).unwrap_err();
        assert!(matches!(error, Error::InvalidRequest { .. }), "{error:?}");
    }

    #[cfg(not(target_os = "wasi"))]
    #[test]
    fn outside_the_sandbox_requests_are_unavailable() {
        assert_eq!(get("https://example.com/", &[]), Err(Error::Unavailable));
        assert_eq!(
            post_json("https://example.com/", &[], &serde_json::json!({})),
            Err(Error::Unavailable)
        );
    }
}
