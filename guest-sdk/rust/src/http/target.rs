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
        // A fragment never leaves the client.
        let without_fragment = url.split_once('#').map_or(url, |(before, _)| before);
        let uri: http::Uri = without_fragment
            .parse()
            .map_err(|error: http::uri::InvalidUri| invalid(&error.to_string()))?;
        let https = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
            Some(scheme) => {
                return Err(invalid(&format!(
                    "unsupported scheme {scheme:?} (use http or https)"
                )));
            }
            None => return Err(invalid("no scheme")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() || host == "[]" {
            return Err(invalid("no host"));
        }
        // `http::Uri` checks that a port is digits, not that it fits in 16
        // bits (it then reports none): read it from the text.
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, host_port)| host_port);
        let after_host = match host_port.rfind(']') {
            Some(end) if !matches!(host_port[end + 1..].chars().next(), None | Some(':')) => {
                return Err(invalid("junk after ']'"));
            }
            Some(end) => &host_port[end + 1..],
            None => host_port,
        };
        let authority_text = match after_host.rsplit_once(':').map(|(_, port)| port) {
            Some(port) if !port.is_empty() => {
                let port: u16 = port
                    .parse()
                    .map_err(|_| invalid(&format!("bad port {port:?}")))?;
                format!("{host}:{port}")
            }
            _ => host,
        };
        let path_with_query = match uri.path_and_query() {
            Some(path_and_query) => match path_and_query.query() {
                Some(query) => format!("{}?{query}", path_and_query.path()),
                None => path_and_query.path().to_owned(),
            },
            None => "/".to_owned(),
        };
        let basic_auth = match authority.as_str().rsplit_once('@') {
            Some((userinfo, _)) => Some(basic_credentials(userinfo).map_err(|why| invalid(&why))?),
            None => None,
        };
        Ok(Target {
            https,
            authority: authority_text,
            path_with_query,
            basic_auth,
        })
    }
}

/// `user:password` (each percent-decoded, as in a URL) base64-encoded for
/// an `Authorization: Basic` header; a user alone has an empty password.
fn basic_credentials(userinfo: &str) -> Result<String, String> {
    use base64::Engine as _;
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| "user info that is not UTF-8 once percent-decoded".to_owned())
    };
    let credentials = format!("{}:{}", decode(user)?, decode(password)?);
    Ok(base64::engine::general_purpose::STANDARD.encode(credentials))
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
            let error = Target::parse(url).expect_err(url);
            assert!(
                matches!(error, Error::InvalidRequest { .. }),
                "{url}: {error:?}"
            );
        }
    }

    #[test]
    fn user_info_is_percent_decoded_before_encoding() {
        // "p@ss:w rd" written in a URL, decoded to the password the server checks.
        let target = parse("https://svc%40corp:p%40ss%3Aw%20rd@example.com/");
        assert_eq!(target.authority, "example.com");
        assert_eq!(
            target.basic_auth.as_deref(),
            Some("c3ZjQGNvcnA6cEBzczp3IHJk"),
            "base64 of svc@corp:p@ss:w rd"
        );
        assert!(Target::parse("https://%ff:x@example.com/").is_err());
    }
}
