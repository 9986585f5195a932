//! What a repository URL names: its transport, and the URL without
//! credentials for messages.

/// The transport a repository URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A local path or `file://` URL.
    Local,
    /// Smart HTTP (`https://`, or `http://` to a loopback address).
    Http,
    /// SSH (`ssh://` or `user@host:path`), through the `ssh` program.
    Ssh,
}

impl Transport {
    /// The transport of `url`, or why it is not accepted.
    pub fn of(url: &str) -> Result<Transport, String> {
        if url.starts_with("https://") {
            return Ok(Transport::Http);
        }
        if url.starts_with("http://") {
            let host = gix::url::parse(gix::bstr::BStr::new(url))
                .map_err(|_| "not a valid URL".to_owned())?
                .host()
                .map(str::to_owned)
                .unwrap_or_default();
            return if is_loopback(&host) {
                Ok(Transport::Http)
            } else {
                Err("plain http:// is accepted only for a loopback address (127.0.0.1, ::1, localhost); use https://".into())
            };
        }
        if url.starts_with("ssh://") || looks_like_scp(url) {
            return Ok(Transport::Ssh);
        }
        if url.contains("://") && !url.starts_with("file://") {
            return Err(
                "unknown transport; use https://, ssh://, user@host:path, a local path or file://"
                    .into(),
            );
        }
        Ok(Transport::Local)
    }
}

/// Whether `host` (a URL's host, IPv6 in brackets or not) is this machine.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `url` is scp-like SSH syntax (`git@host:org/repo`).
pub(super) fn looks_like_scp(url: &str) -> bool {
    url.split_once(':')
        .is_some_and(|(before, _)| before.contains('@') && !before.contains('/'))
}

/// `https://user:secret@host/x` -> `https://host/x`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    // A password holding an unescaped `/`: the user info runs to the last
    // `@` with a `:` before it.
    let user_info_end = rest[..authority_end]
        .rfind('@')
        .or_else(|| rest.rfind('@').filter(|&at| rest[..at].contains(':')));
    match user_info_end {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}
