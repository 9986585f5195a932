//! Keeping an injected value out of what a destination sends back: the
//! spellings a value can travel back in, and the masking of a response's
//! status line, headers, body and trailers (see [`super`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine;
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::HeaderValue;
use http_body::{Body, Frame, SizeHint};

use super::{Injected, InjectedSecret, SecretInjection, URL_VALUE, contains, find};

impl InjectedSecret {
    /// Whether `bytes` holds the value in any spelling masked.
    fn appears_in(&self, bytes: &[u8]) -> bool {
        self.masked.iter().any(|form| contains(bytes, &form.bytes))
    }
}

impl Injected {
    /// The response the hook gets: with every value masked, or, compressed
    /// although asked not to be, none at all (502, saying why in the note).
    pub fn guard(
        &self,
        response: http::Response<wasmtime_wasi_http::WasiBody>,
    ) -> (http::Response<wasmtime_wasi_http::WasiBody>, Option<String>) {
        use http_body_util::BodyExt;
        let Some(secrets) = &self.guarded else {
            return (response, None);
        };
        let encoded = response
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .is_some_and(|value| !value.as_bytes().eq_ignore_ascii_case(b"identity"));
        if encoded {
            let empty = http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed_unsync();
            let mut refused = http::Response::new(empty);
            *refused.status_mut() = http::StatusCode::BAD_GATEWAY;
            return (
                refused,
                Some(
                    "the destination compressed its answer although asked not to; it may hold an \
                     injected secret, so the hook got 502 instead"
                        .into(),
                ),
            );
        }
        let (mut parts, body) = response.into_parts();
        secrets.mask_headers(&mut parts.headers);
        if let Some(reason) = parts.extensions.remove::<hyper::ext::ReasonPhrase>() {
            let mut bytes = reason.as_bytes().to_vec();
            secrets.mask(&mut bytes);
            if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(bytes) {
                parts.extensions.insert(reason);
            }
        }
        let body = Masked::new(body, secrets.clone()).boxed_unsync();
        (http::Response::from_parts(parts, body), None)
    }
}

impl SecretInjection {
    /// `text` with every spelling of every value masked: a backstop for
    /// what the host writes about a request.
    pub fn mask_text(&self, text: &str) -> String {
        if self.secrets.is_empty() {
            return text.to_owned();
        }
        let mut bytes = text.as_bytes().to_vec();
        self.mask(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Masks every value in a response's `headers`.
    pub fn mask_headers(&self, headers: &mut HeaderMap) {
        for value in headers.values_mut() {
            let bytes = value.as_bytes();
            if self.secrets.iter().any(|s| s.appears_in(bytes)) {
                let mut masked = bytes.to_vec();
                self.mask(&mut masked);
                if let Ok(masked) = HeaderValue::from_bytes(&masked) {
                    *value = masked;
                }
            }
        }
    }

    /// Replaces every spelling of every value in `bytes` by as many `*`;
    /// a base64 spelling takes the neighbouring base64 characters with it
    /// (they encode the value's first and last bytes with what surrounds
    /// it).
    fn mask(&self, bytes: &mut [u8]) {
        for form in self.secrets.iter().flat_map(|s| s.masked.iter()) {
            let mut from = 0;
            while let Some(at) = find(&bytes[from..], &form.bytes) {
                let (mut start, mut end) = (from + at, from + at + form.bytes.len());
                if form.base64 {
                    let is_base64 = |b: u8| b.is_ascii_alphanumeric() || b"+/-_=".contains(&b);
                    for _ in 0..4 {
                        if start > 0 && is_base64(bytes[start - 1]) {
                            start -= 1;
                        }
                        if end < bytes.len() && is_base64(bytes[end]) {
                            end += 1;
                        }
                    }
                }
                bytes[start..end].fill(b'*');
                from = end;
            }
        }
    }

    fn longest_value(&self) -> usize {
        self.secrets
            .iter()
            .flat_map(|s| s.masked.iter())
            .map(|form| form.bytes.len() + if form.base64 { 4 } else { 0 })
            .max()
            .unwrap_or(0)
    }
}

/// One way a value can be spelled in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Spelling {
    pub(super) bytes: Vec<u8>,
    /// Part of a base64 text: its neighbours are masked too.
    pub(super) base64: bool,
}

/// How a value can travel back in a response: as it is, percent-encoded
/// (as it went into a URL), JSON- and HTML-escaped (as an echo service
/// quotes it), and base64-encoded, standard and URL-safe (as it went into
/// `Basic` credentials after `user:`): for each of the three alignments,
/// the characters that encode the value's bytes alone.
pub(super) fn spellings(value: &str) -> Vec<Spelling> {
    let mut texts = vec![
        value.to_owned(),
        percent_encoding::utf8_percent_encode(value, URL_VALUE).to_string(),
    ];
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json.trim_matches('"').to_owned();
    texts.push(json.replace('/', "\\/"));
    texts.push(
        json.replace('&', "\\u0026")
            .replace('<', "\\u003c")
            .replace('>', "\\u003e"),
    );
    texts.push(json);
    texts.push(
        value
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;"),
    );
    let mut forms: Vec<Spelling> = Vec::new();
    for text in texts {
        let spelling = Spelling {
            bytes: text.into_bytes(),
            base64: false,
        };
        if !forms.contains(&spelling) {
            forms.push(spelling);
        }
    }
    let length = value.len();
    for engine in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ] {
        for offset in 0..3 {
            let mut padded = vec![0u8; offset];
            padded.extend_from_slice(value.as_bytes());
            let text = engine.encode(&padded);
            let first_group = offset.div_ceil(3);
            let end_group = (offset + length) / 3;
            if end_group > first_group {
                let spelling = Spelling {
                    bytes: text.as_bytes()[4 * first_group..4 * end_group].to_vec(),
                    base64: true,
                };
                if !forms.contains(&spelling) {
                    forms.push(spelling);
                }
            }
        }
    }
    forms
}

/// A response body with every injected value masked, across frame
/// boundaries: it holds back the last bytes of what it has seen (one byte
/// fewer than the longest value) until more come or the body ends.
pub struct Masked<B> {
    inner: B,
    secrets: Arc<SecretInjection>,
    held: BytesMut,
    trailers: Option<Frame<Bytes>>,
}

impl<B> Masked<B> {
    /// `inner` with `secrets`' values masked.
    pub fn new(inner: B, secrets: Arc<SecretInjection>) -> Masked<B> {
        Masked {
            inner,
            secrets,
            held: BytesMut::new(),
            trailers: None,
        }
    }
}

impl<B> Body for Masked<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(trailers)));
        }
        let keep = this.secrets.longest_value().saturating_sub(1);
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        this.held.extend_from_slice(&data);
                        this.secrets.mask(&mut this.held);
                        if this.held.len() > keep {
                            let ready = this.held.split_to(this.held.len() - keep);
                            return Poll::Ready(Some(Ok(Frame::data(ready.freeze()))));
                        }
                    }
                    Err(trailers) => {
                        let trailers = match trailers.into_trailers() {
                            Ok(mut trailers) => {
                                this.secrets.mask_headers(&mut trailers);
                                Frame::trailers(trailers)
                            }
                            Err(other) => other,
                        };
                        if this.held.is_empty() {
                            return Poll::Ready(Some(Ok(trailers)));
                        }
                        this.trailers = Some(trailers);
                        let rest = this.held.split();
                        return Poll::Ready(Some(Ok(Frame::data(rest.freeze()))));
                    }
                },
                Poll::Ready(None) if !this.held.is_empty() => {
                    let rest = this.held.split();
                    return Poll::Ready(Some(Ok(Frame::data(rest.freeze()))));
                }
                other => return other,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_empty() && self.trailers.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        // Masking keeps lengths; what is held is still to come.
        let inner = self.inner.size_hint();
        let held = self.held.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + held);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + held);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::injection;
    use super::*;
    use http_body_util::BodyExt;

    const VALUE: &str = super::super::tests::VALUE;

    #[tokio::test]
    async fn a_reflected_value_is_masked_across_frames() {
        let secrets = Arc::new(injection());
        for split in 0..=VALUE.len() + 4 {
            let text = format!("echo: {VALUE} and again {VALUE}.");
            let (first, second) = text.as_bytes().split_at(split.min(text.len()));
            let frames = vec![
                Ok::<_, std::convert::Infallible>(Frame::data(Bytes::copy_from_slice(first))),
                Ok(Frame::data(Bytes::copy_from_slice(second))),
            ];
            let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
            let masked = Masked::new(body, secrets.clone());
            let collected = masked.collect().await.unwrap().to_bytes();
            let stars = "*".repeat(VALUE.len());
            assert_eq!(
                String::from_utf8_lossy(&collected),
                format!("echo: {stars} and again {stars}."),
                "split at {split}"
            );
        }
        let secrets_only = injection();
        for user in ["", "a", "ab", "abc"] {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{VALUE}"));
            let mut echoed = basic.clone().into_bytes();
            secrets_only.mask(&mut echoed);
            assert_ne!(echoed, basic.as_bytes(), "user {user:?}");
            // What is left decodes to no more than a few bytes of the value.
            let left = String::from_utf8_lossy(&echoed).into_owned();
            assert!(
                left.matches('*').count() >= VALUE.len(),
                "user {user:?}: {left}"
            );
        }
        let mut echoed = b"GET /?token=s3cr3t-T0KEN%2Fwith%2Bodd%26chars".to_vec();
        secrets_only.mask(&mut echoed);
        assert!(!String::from_utf8_lossy(&echoed).contains("T0KEN"));
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-echo",
            HeaderValue::from_str(&format!("got {VALUE}")).unwrap(),
        );
        secrets.mask_headers(&mut headers);
        assert!(!headers["x-echo"].to_str().unwrap().contains(VALUE));
    }
}
