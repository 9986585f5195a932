//! Webhook URLs whose path is the credential (Slack, Microsoft Teams, Discord,
//! Azure Logic Apps, and hosts the operator names) are recorded masked:
//! scheme, host, port and the first path segment kept, the rest replaced, in
//! the egress record, the run record, the logs and `hookbox test` output.
//! Queries and user info never reach a record (the gate records the path
//! alone), so they need no pattern.

/// What replaces a masked path's secret part.
pub const MASK: &str = "[redacted]";

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
    /// its first segment followed by [`MASK`].
    pub fn path(&self, host: &str, path: &str) -> String {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let mut segments = path.trim_start_matches('/').splitn(2, '/');
        let first = segments.next().unwrap_or_default();
        let rest = segments.next().unwrap_or_default();
        let webhook = WEBHOOK_PATHS
            .iter()
            .any(|(pattern, segment)| host_matches(pattern, &host) && first == *segment);
        let operator = self
            .hosts
            .iter()
            .any(|pattern| host_matches(pattern, &host));
        if (webhook || operator) && !rest.is_empty() {
            format!("/{first}/{MASK}")
        } else {
            path.to_owned()
        }
    }
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
    }
}
