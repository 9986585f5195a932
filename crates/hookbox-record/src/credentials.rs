//! Header values that are credentials (`Authorization: Splunk <token>`,
//! `DD-API-KEY`, cookies): kept in memory for `hookbox test`'s expectations,
//! never written out in a record, a report or a log.

use serde::Serializer;
use serde::ser::SerializeSeq;

/// Words in a header name that say its value is a credential.
const CREDENTIAL_WORDS: &[&str] = &[
    "auth",
    "token",
    "key",
    "secret",
    "password",
    "signature",
    "cookie",
    "session",
];

/// Whether the value of header `name` is a credential: `Authorization`,
/// `Proxy-Authorization`, `Cookie`, and any header whose name speaks of a
/// key, token, secret, password, signature or session.
pub fn is_credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    CREDENTIAL_WORDS.iter().any(|word| name.contains(word))
}

/// `value` with the credential hidden: an authentication scheme in front
/// (`Splunk`, `Bearer`, `Basic`) is kept, the rest is replaced by its length.
pub fn mask(value: &str) -> String {
    let (scheme, secret) = match value.split_once(' ') {
        Some((scheme, secret))
            if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            (format!("{scheme} "), secret)
        }
        _ => (String::new(), value),
    };
    format!("{scheme}[redacted: {} bytes]", secret.len())
}

/// The value of header `name` as it may be shown.
pub fn shown(name: &str, value: &str) -> String {
    if is_credential_header(name) {
        mask(value)
    } else {
        value.to_owned()
    }
}

/// Serializes headers with every credential masked.
pub fn serialize_headers<S: Serializer>(
    headers: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(headers.len()))?;
    for (name, value) in headers {
        seq.serialize_element(&(name, shown(name, value)))?;
    }
    seq.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked_keeping_the_scheme() {
        assert_eq!(mask("Splunk 0a1b2c3d"), "Splunk [redacted: 8 bytes]");
        assert_eq!(mask("abcdef"), "[redacted: 6 bytes]");
        assert_eq!(shown("DD-API-KEY", "k3y"), "[redacted: 3 bytes]");
        assert_eq!(shown("X-Splunk-Request-Channel", "c"), "c");
        assert_eq!(
            shown("Content-Type", "application/json"),
            "application/json"
        );
        for name in [
            "Authorization",
            "proxy-authorization",
            "Cookie",
            "X-Auth-Token",
        ] {
            assert!(is_credential_header(name), "{name}");
        }
    }

    #[test]
    fn records_never_serialize_a_credential() {
        let request = super::super::RecordedRequest {
            url: "https://siem.example.com/".into(),
            full_url: "https://siem.example.com/?token=s3cret-query".into(),
            headers: vec![
                ("Authorization".into(), "Bearer s3cret-value".into()),
                ("Accept".into(), "*/*".into()),
            ],
            body: String::new(),
        };
        let json = serde_json::to_string(&request).unwrap();
        assert!(!json.contains("s3cret-value"), "{json}");
        assert!(!json.contains("s3cret-query"), "{json}");
        assert!(json.contains("Bearer [redacted: 12 bytes]"), "{json}");
        assert!(json.contains("*/*"), "{json}");
    }
}
