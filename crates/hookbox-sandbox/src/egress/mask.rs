//! Webhook URLs whose path is the credential (Slack, Microsoft Teams, Discord,
//! Azure Logic Apps, and hosts the operator names) are recorded masked:
//! scheme, host, port and the first path segment kept, the rest replaced, in
//! the egress record, the run record, the logs and `hookbox test` output.
//!
//! [`UrlMasks::url`] is the one way a URL becomes text anywhere hookbox
//! writes: records and logs, and (through `hookbox:runner/egress`'s
//! `shown-url`) the messages of the guest's shims and SDK. User info and
//! queries are never shown; a path is judged as the server would read it
//! (percent-escapes decoded, `.` and `..` segments resolved), so that
//! `/%73ervices/...` or `/x/../services/...` is masked like `/services/...`.

/// What replaces a masked path's secret part.
pub use hookbox_policy::MASK;

/// Hosts whose webhook URLs carry the credential in the path, with the first
/// path segment that marks a webhook (the URL's later segments are the secret).
const WEBHOOK_PATHS: &[(&str, &str)] = &[
    ("hooks.slack.com", "services"),
    ("hooks.slack.com", "workflows"),
    ("hooks.slack.com", "triggers"),
    ("*.webhook.office.com", "webhookb2"),
    ("outlook.office.com", "webhook"),
    ("outlook.office365.com", "webhook"),
    ("*.logic.azure.com", "workflows"),
    ("discord.com", "api"),
    ("discordapp.com", "api"),
    ("*.discord.com", "api"),
];

/// Which URLs are recorded masked: the built-in webhook services plus the
/// operator's hosts (`[secrets] mask_urls`), whose every path is masked
/// after its first segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlMasks {
    hosts: Vec<String>,
}

impl UrlMasks {
    /// The built-in patterns plus `hosts` (`siem.example.com` or
    /// `*.example.com`, lower case).
    pub fn with_hosts(hosts: impl IntoIterator<Item = String>) -> UrlMasks {
        UrlMasks {
            hosts: hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
        }
    }

    /// `path` as it may be recorded for a request to `host`: unchanged, or
    /// its first segment followed by [`MASK`] (an operator's host with a
    /// one-segment path: [`MASK`] alone).
    pub fn path(&self, host: &str, path: &str) -> String {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let segments = resolved_segments(path);
        let first = segments.first().map(String::as_str).unwrap_or_default();
        let webhook = WEBHOOK_PATHS
            .iter()
            .any(|(pattern, segment)| host_matches(pattern, &host) && first == *segment);
        let operator = self
            .hosts
            .iter()
            .any(|pattern| host_matches(pattern, &host));
        match segments.len() {
            0 => path.to_owned(),
            1 if operator => format!("/{MASK}"),
            1 => path.to_owned(),
            _ if webhook || operator => format!("/{first}/{MASK}"),
            _ => path.to_owned(),
        }
    }

    /// `url` as any text hookbox writes may show it: scheme, host, port and
    /// the path as [`UrlMasks::path`] shows it; user info left out, a query
    /// replaced by [`MASK`], a fragment left out. Text that is not a URL is
    /// shown as [`MASK`] alone.
    pub fn url(&self, url: &str) -> String {
        let Ok(parsed) = url::Url::parse(url.trim()) else {
            return MASK.to_owned();
        };
        let Some(host) = parsed.host_str() else {
            return format!("{}:{MASK}", parsed.scheme());
        };
        let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
        let query = if parsed.query().is_some() {
            format!("?{MASK}")
        } else {
            String::new()
        };
        let path = self.path(host, parsed.path());
        format!("{}://{host}{port}{path}{query}", parsed.scheme())
    }
}

pub use hookbox_policy::without_user_info;

/// The segments of `path` as a server reads them: percent-escapes decoded
/// (an escaped `/` splits too), empty and `.` segments dropped, `..` taking
/// the previous one away.
fn resolved_segments(path: &str) -> Vec<String> {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let mut segments: Vec<String> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other.to_owned()),
        }
    }
    segments
}

/// `pattern` is a host name or `*.` and a suffix (which the bare suffix does
/// not match).
fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secrets_are_masked_keeping_the_first_segment() {
        let masks = UrlMasks::default();
        for (host, path, recorded) in [
            (
                "hooks.slack.com",
                "/services/T000/B000/XXXXXXXX",
                "/services/[redacted]",
            ),
            (
                "acme.webhook.office.com",
                "/webhookb2/a-b-c@d/IncomingWebhook/e/f",
                "/webhookb2/[redacted]",
            ),
            ("discord.com", "/api/webhooks/123/tok3n", "/api/[redacted]"),
            (
                "prod-01.westus.logic.azure.com",
                "/workflows/abc/triggers/manual/paths/invoke",
                "/workflows/[redacted]",
            ),
            (
                "HOOKS.SLACK.COM.",
                "/services/T/B/X",
                "/services/[redacted]",
            ),
            // Not a webhook path, or not a webhook host: kept.
            ("hooks.slack.com", "/other/page", "/other/page"),
            (
                "siem.example.com",
                "/services/collector/event",
                "/services/collector/event",
            ),
            ("webhook.office.com", "/webhookb2/x", "/webhookb2/x"),
            ("hooks.slack.com", "/services", "/services"),
            // Spelled otherwise, read the same by the server: masked.
            (
                "hooks.slack.com",
                "/%73ervices/T/B/SECRET",
                "/services/[redacted]",
            ),
            (
                "hooks.slack.com",
                "/x/../services/T/B/SECRET",
                "/services/[redacted]",
            ),
            (
                "hooks.slack.com",
                "//services//T/B/SECRET",
                "/services/[redacted]",
            ),
            (
                "hooks.slack.com",
                "/services%2FT%2FB%2FSECRET",
                "/services/[redacted]",
            ),
        ] {
            assert_eq!(masks.path(host, path), recorded, "{host}{path}");
        }
    }

    #[test]
    fn the_operators_hosts_are_masked_too() {
        let masks = UrlMasks::with_hosts(["*.Example.com".to_owned(), "siem.internal".to_owned()]);
        assert_eq!(
            masks.path("hec.example.com", "/v1/t0ken/x"),
            "/v1/[redacted]"
        );
        assert_eq!(masks.path("siem.internal", "/in/abc"), "/in/[redacted]");
        assert_eq!(
            masks.path("example.com", "/v1/t0ken"),
            "/v1/t0ken",
            "*. needs a subdomain"
        );
        assert_eq!(masks.path("other.org", "/v1/t0ken"), "/v1/t0ken");
        assert_eq!(
            masks.path("x.example.com", "/SECRET"),
            "/[redacted]",
            "a one-segment path is all secret"
        );
        assert_eq!(masks.path("x.example.com", "/"), "/");
    }

    #[test]
    fn a_url_never_shows_user_info_or_a_query() {
        let masks = UrlMasks::default();
        for (url, shown) in [
            (
                "http://127.0.0.1:9/x?token=SECRET",
                "http://127.0.0.1:9/x?[redacted]",
            ),
            (
                "http://u:PASSWORD@siem.example.com/in#frag",
                "http://siem.example.com/in",
            ),
            (
                "https://hooks.slack.com/x/../%73ervices/T/B/SECRET",
                "https://hooks.slack.com/services/[redacted]",
            ),
            ("not a url SECRET", "[redacted]"),
        ] {
            assert_eq!(masks.url(url), shown, "{url}");
        }
    }
}
