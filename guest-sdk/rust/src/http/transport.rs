//! Sending a request with `wasi:http/outgoing-handler` (WASI 0.2).

use std::time::Duration;

use wasi::http::outgoing_handler;
use wasi::http::types::{
    self, ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions,
    Scheme,
};
use wasi::io::streams::StreamError;

use super::target::Target;
use super::{Error, Response, egress};

/// The most `blocking-write-and-flush` accepts at once.
const WRITE_CHUNK: usize = 4096;
/// The most read from the response body at once.
const READ_CHUNK: u64 = 64 * 1024;

pub(super) fn send(
    method: &str,
    url: &str,
    target: &Target,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
    timeout: Option<Duration>,
    unverified: bool,
) -> Result<Response, Error> {
    let fields = Fields::from_list(headers).map_err(|error| {
        let shown = format!("{error:?}");
        invalid(format!(
            "header not allowed: {}",
            shown.trim_start_matches("HeaderError::")
        ))
    })?;
    let request = OutgoingRequest::new(fields);
    request
        .set_method(&wasi_method(method))
        .map_err(|()| invalid(format!("invalid method {method:?}")))?;
    let scheme = if target.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid(format!("invalid scheme in {url:?}")))?;
    request
        .set_authority(Some(&target.authority))
        .map_err(|()| invalid(format!("invalid host or port in {url:?}")))?;
    request
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| invalid(format!("invalid path or query in {url:?}")))?;
    let options = timeout.map(|timeout| {
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX).max(1);
        let options = RequestOptions::new();
        // A host that does not support a timeout keeps its own; the hook's deadline still applies.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        options
    });
    let outgoing_body = request
        .body()
        .map_err(|()| invalid("the request body was already taken".into()))?;
    egress::verify_next_request(!unverified);
    let future = outgoing_handler::handle(request, options).map_err(|code| failure(code, url))?;
    write_body(outgoing_body, body);

    let result = loop {
        match future.get() {
            Some(result) => break result,
            None => future.subscribe().block(),
        }
    };
    let response = match result {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => return Err(failure(code, url)),
        Err(()) => return Err(invalid("the response was already taken".into())),
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, value.iter().map(|&byte| char::from(byte)).collect()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| invalid("the response body was already taken".into()))?;
    let body = read_body(incoming, url)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Writes the whole body; a failure here is reported by the response instead.
fn write_body(outgoing: OutgoingBody, body: &[u8]) {
    if let Ok(stream) = outgoing.write() {
        for chunk in body.chunks(WRITE_CHUNK) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

fn read_body(incoming: IncomingBody, url: &str) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| invalid("the response body was already taken".into()))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(bytes) => body.extend_from_slice(&bytes),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(error)) => {
                    return Err(match types::http_error_code(&error) {
                        Some(code) => failure(code, url),
                        None => Error::Http {
                            url: egress::shown_url(url),
                            code: "ResponseBody".into(),
                            detail: Some(error.to_debug_string()),
                        },
                    });
                }
            }
        }
    }
    drop(IncomingBody::finish(incoming));
    Ok(body)
}

fn wasi_method(method: &str) -> Method {
    match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => Method::Other(method.to_owned()),
    }
}

/// The error for a `wasi:http` error code; a policy refusal carries the host's reason.
fn failure(code: ErrorCode, url: &str) -> Error {
    if let ErrorCode::HttpRequestDenied = code {
        return Error::EgressDenied {
            url: egress::shown_url(url),
            reason: egress::last_denial().unwrap_or_else(|| "refused by the egress policy".into()),
        };
    }
    // `ErrorCode::Name` or `ErrorCode::Name(payload)`: the name as Python's SDK gives it.
    let shown = format!("{code:?}");
    let shown = shown.strip_prefix("ErrorCode::").unwrap_or(&shown);
    let (name, detail) = match shown.split_once('(') {
        Some((name, payload)) => (
            name,
            Some(payload.strip_suffix(')').unwrap_or(payload).to_owned()),
        ),
        None => (shown, None),
    };
    Error::Http {
        url: egress::shown_url(url),
        code: name.to_owned(),
        detail,
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidRequest { message }
}
