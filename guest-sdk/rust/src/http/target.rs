//! Where a request goes: a URL split into what `wasi:http` asks for.

use super::Error;

/// The parts of an `http` or `https` URL that an outgoing request needs.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Target {
    /// `https` rather than `http`.
    pub https: bool,
    /// `host[:port]`, the host lowercased, an IPv6 address in brackets.
    pub authority: String,
    /// The path and query, `/` when the URL has neither; no fragment.
    pub path_with_query: String,
    /// `user:password` from the URL, base64-encoded for basic auth.
    pub basic_auth: Option<String>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, Error> {
        let invalid = |why: &str| Error::InvalidRequest {
            message: format!("{why} in URL {url:?}"),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => {
                return Err(invalid(&format!(
                    "unsupported scheme {scheme:?} (use http or https)"
                )));
            }
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| invalid("unclosed '['"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| invalid("junk after ']'"))?,
                ),
            };
            (format!("[{}]", host.to_ascii_lowercase()), port)
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host.to_ascii_lowercase(), Some(port)),
                None => (host_port.to_ascii_lowercase(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(invalid("no host"));
        }
        let authority = match port.filter(|port| !port.is_empty()) {
            Some(port) => {
                port.parse::<u16>()
                    .map_err(|_| invalid(&format!("bad port {port:?}")))?;
                format!("{host}:{port}")
            }
            None => host,
        };
        let path_with_query = match path {
            "" => "/".to_owned(),
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_owned(),
        };
        Ok(Target {
            https,
            authority,
            path_with_query,
            basic_auth: userinfo.map(|userinfo| {
                let credentials = if userinfo.contains(':') {
                    userinfo.to_owned()
                } else {
                    format!("{userinfo}:")
                };
                base64(credentials.as_bytes())
            }),
        })
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    #[test]
    fn splits_scheme_authority_and_path() {
        let target = parse("https://HEC.example.com:8088/services/collector/event?channel=1#top");
        assert!(target.https);
        assert_eq!(target.authority, "hec.example.com:8088");
        assert_eq!(
            target.path_with_query,
            "/services/collector/event?channel=1"
        );
        assert_eq!(target.basic_auth, None);
    }

    #[test]
    fn path_defaults_to_slash() {
        assert_eq!(parse("http://127.0.0.1:8080").path_with_query, "/");
        assert_eq!(parse("http://127.0.0.1:8080?a=b").path_with_query, "/?a=b");
        assert_eq!(parse("HTTP://example.com").authority, "example.com");
        assert!(!parse("HTTP://example.com").https);
    }

    #[test]
    fn ipv6_keeps_its_brackets() {
        assert_eq!(parse("http://[::1]:8080/x").authority, "[::1]:8080");
        assert_eq!(parse("https://[2001:DB8::1]/").authority, "[2001:db8::1]");
    }

    #[test]
    fn user_info_becomes_basic_auth() {
        let target = parse("https://user:pass@example.com/");
        assert_eq!(target.authority, "example.com");
        assert_eq!(target.basic_auth.as_deref(), Some("dXNlcjpwYXNz"));
        assert_eq!(
            parse("https://user@example.com/").basic_auth.as_deref(),
            Some("dXNlcjo=")
        );
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in [
            "example.com/x",
            "ftp://example.com/",
            "https:///path",
            "https://:443/",
            "http://h:99999/",
            "http://[::1/",
            "http://[::1]x/",
        ] {
            let error = Target::parse(url).unwrap_err();
            assert!(
                matches!(error, Error::InvalidRequest { .. }),
                "{url}: {error:?}"
            );
        }
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
