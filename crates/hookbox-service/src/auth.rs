//! Who may post events: a bearer token (`HOOKBOX_TOKEN`) and, when a secret
//! is configured (`HOOKBOX_WEBHOOK_SECRET`), a Standard Webhooks signature
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`: HMAC-SHA256 of
//! `id.timestamp.body`, within five minutes of now). Every comparison is
//! constant-time.

use std::time::Duration;
use subtle::ConstantTimeEq;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;

/// How far a signature's timestamp may be from now.
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The intake's credentials.
#[derive(Clone)]
pub struct Auth {
    token: Option<String>,
    webhook_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("token", &self.token.as_ref().map(|_| "[set]"))
            .field("webhook_key", &self.webhook_key.as_ref().map(|_| "[set]"))
            .finish()
    }
}

/// Why a request was refused (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header, or the wrong token.
    #[error("missing or wrong bearer token")]
    Token,
    /// A signature header is missing.
    #[error("missing {0} header (Standard Webhooks signature required)")]
    MissingHeader(&'static str),
    /// The timestamp is not a number of seconds.
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    /// The timestamp is too far from now (a replayed or delayed delivery).
    #[error("webhook-timestamp is more than 5 minutes from now (replayed or delayed delivery)")]
    Stale,
    /// No signature matches.
    #[error("no webhook-signature matches the body")]
    Signature,
}

/// Why the configured secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the webhook secret must be `whsec_` followed by base64 (as Standard Webhooks issues them)"
)]
pub struct BadSecret;

impl Auth {
    /// Credentials from a token and a `whsec_...` secret (either may be
    /// absent, not both: see [`Auth::is_open`]).
    pub fn new(token: Option<String>, webhook_secret: Option<&str>) -> Result<Auth, BadSecret> {
        let webhook_key = webhook_secret
            .map(|secret| {
                let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
                STANDARD.decode(encoded).map_err(|_| BadSecret)
            })
            .transpose()?;
        Ok(Auth {
            token: token.filter(|t| !t.is_empty()),
            webhook_key,
        })
    }

    /// Whether nothing is required (only with `--no-auth`).
    pub fn is_open(&self) -> bool {
        self.token.is_none() && self.webhook_key.is_none()
    }

    /// Whether a bearer token is configured.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `given` is the configured token (constant time; never when
    /// no token is configured).
    pub fn accepts_token(&self, given: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|token| bool::from(given.as_bytes().ct_eq(token.as_bytes())))
    }

    /// Checks only the bearer token (for reading runs).
    pub fn check_token(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let given = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AuthError::Token)?;
        if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            Ok(())
        } else {
            Err(AuthError::Token)
        }
    }

    /// Checks what a request's headers alone can prove (`now` in Unix
    /// seconds): the token, and that a signature is there and fresh. A
    /// request that fails is refused before its body is read.
    pub fn check_headers(&self, headers: &HeaderMap, now: i64) -> Result<(), AuthError> {
        self.check_token(headers)?;
        if self.webhook_key.is_some() {
            signature_headers(headers, now)?;
        }
        Ok(())
    }

    /// Checks the signature over `body`, for a request whose headers passed
    /// [`Auth::check_headers`].
    pub fn check_body(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), AuthError> {
        match &self.webhook_key {
            Some(key) => verify_signature(key, headers, body, now),
            None => Ok(()),
        }
    }

    /// Checks a request's credentials, body included (`now` in Unix seconds).
    pub fn check(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), AuthError> {
        self.check_headers(headers, now)?;
        self.check_body(headers, body, now)
    }

    /// A Standard Webhooks signature header value for `body` (for clients
    /// and tests): `v1,<base64 HMAC>`.
    pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        let tag = ring::hmac::sign(&key, &signed_content(id, timestamp, body));
        Ok(format!("v1,{}", STANDARD.encode(tag.as_ref())))
    }
}

fn signed_content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

/// A Standard Webhooks request's id, timestamp and signatures, once the
/// headers are there and the timestamp within [`SIGNATURE_TOLERANCE`].
fn signature_headers(headers: &HeaderMap, now: i64) -> Result<(&str, i64, &str), AuthError> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::MissingHeader(name))
    };
    let id = header("webhook-id")?;
    let timestamp: i64 = header("webhook-timestamp")?
        .trim()
        .parse()
        .map_err(|_| AuthError::BadTimestamp)?;
    if (now - timestamp).unsigned_abs() > SIGNATURE_TOLERANCE.as_secs() {
        return Err(AuthError::Stale);
    }
    Ok((id, timestamp, header("webhook-signature")?))
}

fn verify_signature(
    key: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), AuthError> {
    let (id, timestamp, signatures) = signature_headers(headers, now)?;
    let content = signed_content(id, timestamp, body);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    // ring's verify compares the tags in constant time.
    let matches = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|tag| ring::hmac::verify(&key, &content, &tag).is_ok());
    if matches {
        Ok(())
    } else {
        Err(AuthError::Signature)
    }
}

hookbox_core::failure::categorized!(Usage: AuthError, BadSecret);

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn signed(id: &str, timestamp: i64, body: &[u8], secret: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        let signature = Auth::sign(secret, id, timestamp, body).unwrap();
        headers.insert("webhook-signature", signature.parse().unwrap());
        headers
    }

    #[test]
    fn the_standard_webhooks_example_verifies() {
        // The example from the Standard Webhooks specification.
        let body = br#"{"test": 2432232314}"#;
        let mut headers = HeaderMap::new();
        headers.insert(
            "webhook-id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap(),
        );
        headers.insert("webhook-timestamp", "1614265330".parse().unwrap());
        headers.insert(
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
                .parse()
                .unwrap(),
        );
        let auth = Auth::new(None, Some(SECRET)).unwrap();
        assert_eq!(auth.check(&headers, body, 1614265330), Ok(()));
        assert_eq!(
            auth.check(&headers, b"{\"test\": 1}", 1614265330),
            Err(AuthError::Signature)
        );
    }

    #[test]
    fn stale_or_missing_signatures_and_wrong_tokens_are_refused() {
        let auth = Auth::new(Some("t0ken".into()), Some(SECRET)).unwrap();
        let mut headers = signed("m1", 1000, b"{}", SECRET);
        assert_eq!(auth.check(&headers, b"{}", 1000), Err(AuthError::Token));
        headers.insert("authorization", "Bearer t0ken".parse().unwrap());
        assert_eq!(auth.check(&headers, b"{}", 1000), Ok(()));
        assert_eq!(
            auth.check(&headers, b"{}", 1000 + 301),
            Err(AuthError::Stale)
        );
        headers.insert("authorization", "Bearer t0ker".parse().unwrap());
        assert_eq!(auth.check(&headers, b"{}", 1000), Err(AuthError::Token));
        let other = signed("m1", 1000, b"{}", "whsec_b3RoZXItc2VjcmV0");
        let auth = Auth::new(None, Some(SECRET)).unwrap();
        assert_eq!(auth.check(&other, b"{}", 1000), Err(AuthError::Signature));
        assert_eq!(
            auth.check(&HeaderMap::new(), b"{}", 1000),
            Err(AuthError::MissingHeader("webhook-id"))
        );
    }
}
