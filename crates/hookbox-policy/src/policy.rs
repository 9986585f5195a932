//! The egress policy language: deny by default, allow by rule.
//!
//! A rule is `scheme://host[:port]`:
//! - scheme: `http`, `https`, `tcp`, `udp` or `*`;
//! - host: a DNS name (`siem.example.com`), subdomains of a name
//!   (`*.example.com`, which does not match `example.com` itself), any host
//!   (`*`), an IP address (`10.1.2.3`, `[2001:db8::1]`) or a CIDR block
//!   (`10.0.0.0/8`, `[fd00::/8]`);
//! - port: a number, `*`, or an inclusive range `8000-8100`; when omitted,
//!   the scheme's default (http 80, https 443); `tcp`, `udp` and `*` need one.
//!
//! Addresses in restricted ranges (loopback, private, link-local, ...; see
//! [`super::address::restricted_range`]) are reachable only through a rule that
//! names them by IP, or by a CIDR block that lies inside that range: a name
//! rule, `*` or a wider block (`0.0.0.0/0`, `[::/0]`) never reaches them,
//! whatever a name resolves to.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::address::{Host, canonical_ip};

/// What kind of traffic a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP through `wasi:http`.
    Http,
    /// HTTPS through `wasi:http`.
    Https,
    /// Raw TCP through `wasi:sockets`.
    Tcp,
    /// Raw UDP through `wasi:sockets`.
    Udp,
}

impl Scheme {
    /// The scheme's name as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Tcp => "tcp",
            Scheme::Udp => "udp",
        }
    }

    fn default_port(self) -> Option<u16> {
        match self {
            Scheme::Http => Some(80),
            Scheme::Https => Some(443),
            Scheme::Tcp | Scheme::Udp => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Name(String),
    Subdomains(String),
    Ip(IpAddr),
    Cidr(IpNet),
}

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    scheme: Option<Scheme>,
    host: HostPattern,
    ports: (u16, u16),
}

/// A rule that cannot be used, quoting it and saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad egress rule {:?}: {reason}", crate::without_user_info(.rule))]
pub struct RuleError {
    /// The rule as written.
    pub rule: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for Rule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Rule, RuleError> {
        let bad = |reason: String| RuleError {
            rule: text.to_owned(),
            reason,
        };
        let (scheme_text, rest) = text.split_once("://").ok_or_else(|| {
            bad("write it as scheme://host[:port], e.g. https://siem.example.com".into())
        })?;
        let scheme = match scheme_text.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            "tcp" => Some(Scheme::Tcp),
            "udp" => Some(Scheme::Udp),
            "*" => None,
            other => {
                return Err(bad(format!(
                    "unknown scheme {other:?}; use http, https, tcp, udp or *"
                )));
            }
        };
        // A rule pasted from a URL keeps its trailing slash: the same rule.
        let rest = rest
            .strip_suffix('/')
            .filter(|host_port| !host_port.is_empty() && !host_port.contains('/'))
            .unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) && !rest.starts_with('[') && !looks_like_cidr(rest) {
            return Err(bad(
                "a rule names a host and port only: no path, query or user".into(),
            ));
        }
        let (host_text, port_text) = split_host_port(rest).map_err(bad)?;
        let host = parse_host_pattern(host_text).map_err(bad)?;
        let ports = match port_text {
            Some(port) => parse_ports(port).map_err(bad)?,
            None => {
                let port = scheme.and_then(Scheme::default_port).ok_or_else(|| {
                    bad(format!(
                        "{scheme_text}:// has no default port; add one, e.g. {scheme_text}://{host_text}:514"
                    ))
                })?;
                (port, port)
            }
        };
        Ok(Rule {
            scheme,
            host,
            ports,
        })
    }
}

/// `10.0.0.0/8...`: a slash after an IPv4 address starts a prefix length, not a path.
fn looks_like_cidr(rest: &str) -> bool {
    rest.split_once('/')
        .is_some_and(|(address, _)| address.parse::<std::net::Ipv4Addr>().is_ok())
}

fn split_host_port(rest: &str) -> Result<(&str, Option<&str>), String> {
    if rest.starts_with('[') {
        let end = rest
            .find(']')
            .ok_or("an IPv6 address needs its closing ']'")?;
        let after = &rest[end + 1..];
        return match after.strip_prefix(':') {
            Some(port) => Ok((&rest[..=end], Some(port))),
            None if after.is_empty() => Ok((&rest[..=end], None)),
            None if after.starts_with('/') => Err(format!(
                "write an IPv6 block's prefix length inside the brackets, e.g. [{}{}]",
                &rest[1..end],
                after.split(':').next().unwrap_or(after)
            )),
            None => Err(format!("unexpected {after:?} after the IPv6 address")),
        };
    }
    Ok(match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    })
}

fn parse_host_pattern(text: &str) -> Result<HostPattern, String> {
    if text.is_empty() {
        return Err("the host is missing".into());
    }
    if text == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        if inner.contains('/') {
            let net: IpNet = inner
                .parse()
                .map_err(|_| format!("{inner:?} is not an IPv6 CIDR block"))?;
            return Ok(HostPattern::Cidr(net.trunc()));
        }
        let ip: std::net::Ipv6Addr = inner
            .parse()
            .map_err(|_| format!("{inner:?} is not an IPv6 address"))?;
        return Ok(HostPattern::Ip(canonical_ip(IpAddr::V6(ip))));
    }
    if text.contains('/') {
        let net: IpNet = text
            .parse()
            .map_err(|_| format!("{text:?} is not a CIDR block like 10.0.0.0/8"))?;
        return Ok(HostPattern::Cidr(net.trunc()));
    }
    if let Some(domain) = text.strip_prefix("*.") {
        return match Host::parse(domain) {
            Ok(Host::Name(name)) => Ok(HostPattern::Subdomains(name)),
            Ok(Host::Ip(_)) => Err("a wildcard takes a domain, not an address".into()),
            Err(error) => Err(error.0),
        };
    }
    if text.contains('*') {
        return Err(
            "a wildcard is allowed only as the whole host (*) or a leading *. label".into(),
        );
    }
    match Host::parse(text).map_err(|e| e.0)? {
        Host::Name(name) => Ok(HostPattern::Name(name)),
        Host::Ip(ip) => Ok(HostPattern::Ip(ip)),
    }
}

fn parse_ports(text: &str) -> Result<(u16, u16), String> {
    if text == "*" {
        return Ok((0, u16::MAX));
    }
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{p:?} is not a port (1-65535)"))
    };
    match text.split_once('-') {
        Some((start, end)) => {
            let (start, end) = (port(start)?, port(end)?);
            if start > end {
                return Err(format!("the port range {text} is backwards"));
            }
            Ok((start, end))
        }
        None => port(text).map(|p| (p, p)),
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Some(scheme) => write!(f, "{scheme}://")?,
            None => f.write_str("*://")?,
        }
        match &self.host {
            HostPattern::Any => f.write_str("*")?,
            HostPattern::Name(name) => f.write_str(name)?,
            HostPattern::Subdomains(name) => write!(f, "*.{name}")?,
            HostPattern::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostPattern::Cidr(IpNet::V4(net)) => write!(f, "{net}")?,
            HostPattern::Cidr(IpNet::V6(net)) => write!(f, "[{net}]")?,
        }
        match self.ports {
            (0, u16::MAX) => f.write_str(":*"),
            (start, end) if start == end => write!(f, ":{start}"),
            (start, end) => write!(f, ":{start}-{end}"),
        }
    }
}

impl Rule {
    /// Parses a rule naming TLS destinations (`https://` or `tcp://`),
    /// for `purpose` (named in the error).
    pub fn for_tls(text: &str, purpose: &str) -> Result<Rule, RuleError> {
        let rule: Rule = text.parse()?;
        if !matches!(rule.scheme, Some(Scheme::Https | Scheme::Tcp)) {
            return Err(RuleError {
                rule: text.to_owned(),
                reason: format!("{purpose} is for https:// or tcp:// destinations"),
            });
        }
        Ok(rule)
    }

    /// The scheme the rule is for (`None`: any).
    pub fn scheme(&self) -> Option<Scheme> {
        self.scheme
    }

    /// Whether the rule applies to `scheme` traffic to `port`.
    pub fn covers(&self, scheme: Scheme, port: u16) -> bool {
        self.scheme.is_none_or(|s| s == scheme) && (self.ports.0..=self.ports.1).contains(&port)
    }

    /// Whether the rule's host pattern matches `host` (a name, or an
    /// address).
    pub fn matches_host(&self, host: &Host) -> bool {
        match host {
            Host::Name(name) => self.matches_name(name),
            Host::Ip(ip) => self.matches_ip(canonical_ip(*ip)),
        }
    }

    /// Whether this rule names addresses (an IP or a CIDR block).
    pub fn names_addresses(&self) -> bool {
        matches!(self.host, HostPattern::Ip(_) | HostPattern::Cidr(_))
    }

    fn matches_name(&self, name: &str) -> bool {
        match &self.host {
            HostPattern::Any => true,
            HostPattern::Name(exact) => exact == name,
            HostPattern::Subdomains(domain) => name
                .strip_suffix(domain.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
            HostPattern::Ip(_) | HostPattern::Cidr(_) => false,
        }
    }

    fn matches_ip(&self, ip: IpAddr) -> bool {
        match &self.host {
            HostPattern::Ip(allowed) => *allowed == ip,
            HostPattern::Cidr(net) => {
                net.contains(&ip)
                    && crate::address::restricted_range(ip)
                        .is_none_or(|(range, _)| range.contains(net))
            }
            _ => false,
        }
    }

    /// The CIDR block that holds `ip` but spans more than its restricted
    /// range, so does not open it.
    fn too_wide_for(&self, ip: IpAddr) -> Option<IpNet> {
        match &self.host {
            HostPattern::Cidr(net) if net.contains(&ip) && !self.matches_ip(ip) => Some(*net),
            _ => None,
        }
    }
}

/// The operator's egress rules. Empty (the default) denies everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyText", into = "PolicyText")]
pub struct EgressPolicy {
    rules: Vec<Rule>,
    /// Destinations where a hook may turn TLS verification off (none by
    /// default: hookbox verifies every certificate whatever the hook asks).
    unverified_tls: Vec<Rule>,
}

/// An [`EgressPolicy`] as written: `{"allow": [...], "unverified_tls": [...]}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyText {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unverified_tls: Vec<String>,
}

impl TryFrom<PolicyText> for EgressPolicy {
    type Error = RuleError;

    fn try_from(text: PolicyText) -> Result<Self, RuleError> {
        EgressPolicy::parse(text.allow.iter().map(String::as_str))?
            .with_unverified_tls(text.unverified_tls.iter().map(String::as_str))
    }
}

impl From<EgressPolicy> for PolicyText {
    fn from(policy: EgressPolicy) -> PolicyText {
        PolicyText {
            allow: policy.rules.iter().map(Rule::to_string).collect(),
            unverified_tls: policy.unverified_tls.iter().map(Rule::to_string).collect(),
        }
    }
}

/// The verdict on one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed, by this rule (normalized text).
    Allowed(String),
    /// Refused, for this reason.
    Denied(String),
}

impl EgressPolicy {
    /// Parses rules, stopping at the first bad one.
    pub fn parse<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<EgressPolicy, RuleError> {
        let rules = texts
            .into_iter()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(EgressPolicy {
            rules,
            unverified_tls: Vec::new(),
        })
    }

    /// Adds destinations where a hook may turn TLS verification off
    /// (`https://` rules for HTTPS, `tcp://` rules for `wrap_socket`).
    pub fn with_unverified_tls<'a>(
        mut self,
        texts: impl IntoIterator<Item = &'a str>,
    ) -> Result<EgressPolicy, RuleError> {
        for text in texts {
            self.unverified_tls
                .push(Rule::for_tls(text, "unverified TLS")?);
        }
        Ok(self)
    }

    /// The destinations where a hook may turn TLS verification off.
    pub fn unverified_tls_rules(&self) -> impl Iterator<Item = &Rule> {
        self.unverified_tls.iter()
    }

    /// The rule that lets a hook skip verifying the certificate of `host`
    /// (as the hook named it) at `port`, if any.
    pub fn unverified_tls_rule(&self, scheme: Scheme, host: &Host, port: u16) -> Option<&Rule> {
        self.unverified_tls
            .iter()
            .find(|rule| rule.covers(scheme, port) && rule.matches_host(host))
    }

    /// The rules, normalized.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// Whether no rule exists (everything is denied).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any rule could allow `scheme` traffic at all.
    pub fn mentions(&self, scheme: Scheme) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.scheme.is_none_or(|s| s == scheme))
    }

    /// The first name rule (`*` included) that covers `name` at `port`.
    pub fn name_rule(&self, scheme: Scheme, name: &str, port: u16) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|rule| rule.covers(scheme, port) && rule.matches_name(name))
    }

    /// The rules that let raw sockets reach `name` (on some port): those for
    /// `tcp`, `udp` or `*` that name it, exactly or by wildcard. `*` alone does
    /// not count: looking up arbitrary names is not something a rule allows.
    pub fn socket_name_rules(&self, name: &str) -> Vec<Rule> {
        self.rules
            .iter()
            .filter(|rule| {
                rule.scheme
                    .is_none_or(|s| matches!(s, Scheme::Tcp | Scheme::Udp))
            })
            .filter(|rule| rule.host != HostPattern::Any && rule.matches_name(name))
            .cloned()
            .collect()
    }

    /// Every rule naming `name` (not `*`): a hook's lookup of it is allowed,
    /// and its addresses are reached under those rules.
    pub fn lookup_rules(&self, name: &str) -> Vec<Rule> {
        self.rules
            .iter()
            .filter(|rule| rule.host != HostPattern::Any && rule.matches_name(name))
            .cloned()
            .collect()
    }

    /// The verdict on a raw socket to `name` at `port` by the socket rules
    /// naming it alone, where no address is known (`hookbox test` never
    /// looks a name up).
    pub fn socket_name_verdict(&self, scheme: Scheme, name: &str, port: u16) -> Verdict {
        match self
            .socket_name_rules(name)
            .into_iter()
            .find(|rule| rule.covers(scheme, port))
        {
            Some(rule) => Verdict::Allowed(rule.to_string()),
            None => Verdict::Denied(self.no_rule_for(scheme, &Host::Name(name.to_owned()), port)),
        }
    }

    /// Decides whether a connection to `ip` may be made. `via_name` is the
    /// rule that allowed the name the address was resolved from, if any.
    pub fn check_address(
        &self,
        scheme: Scheme,
        ip: IpAddr,
        port: u16,
        via_name: Option<&Rule>,
    ) -> Verdict {
        let ip = canonical_ip(ip);
        if self.rules.is_empty() {
            return Verdict::Denied(self.no_rule_for(scheme, &Host::Ip(ip), port));
        }
        if let Some(rule) = self
            .rules
            .iter()
            .find(|rule| rule.covers(scheme, port) && rule.matches_ip(ip))
        {
            return Verdict::Allowed(rule.to_string());
        }
        if let Some((range, kind)) = crate::address::restricted_range(ip) {
            let named_elsewhere = self.rules.iter().any(|rule| rule.matches_ip(ip));
            let too_wide = self
                .rules
                .iter()
                .find(|rule| rule.covers(scheme, port) && rule.too_wide_for(ip).is_some());
            return Verdict::Denied(if named_elsewhere {
                self.no_rule_for(scheme, &Host::Ip(ip), port)
            } else if let Some(rule) = too_wide {
                format!(
                    "{ip} is a {kind} address, and the rule {rule} spans more than that range \
                     ({range}): a block opens a special-purpose range only when it lies inside \
                     it; add a rule naming {range}, a block inside it or the address"
                )
            } else {
                format!(
                    "{ip} is a {kind} address; only a rule naming it by IP or CIDR can allow it"
                )
            });
        }
        let any_host = || {
            self.rules
                .iter()
                .find(|rule| rule.covers(scheme, port) && rule.host == HostPattern::Any)
        };
        match via_name.or_else(any_host) {
            Some(rule) => Verdict::Allowed(rule.to_string()),
            None => Verdict::Denied(self.no_rule_for(scheme, &Host::Ip(ip), port)),
        }
    }

    /// Why a name a hook asks to resolve is not looked up: no socket rule
    /// names it (a lookup alone could carry data out through DNS).
    pub fn not_looked_up(&self, name: &str) -> String {
        format!("no rule names {name}, so it is not looked up")
    }

    /// Why a connection to `host` is refused when no rule allows it: the one
    /// wording of that denial, saying so when no rules are configured at all.
    pub fn no_rule_for(&self, scheme: Scheme, host: &Host, port: u16) -> String {
        let reason = format!("no egress rule allows {scheme}://{host}:{port}");
        if self.rules.is_empty() {
            format!("{reason}: no rules are configured, so all network access is denied")
        } else {
            reason
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rules: &[&str]) -> EgressPolicy {
        EgressPolicy::parse(rules.iter().copied()).unwrap()
    }

    fn rule_error(text: &str) -> String {
        text.parse::<Rule>().unwrap_err().reason
    }

    #[test]
    fn rules_print_back_normalized() {
        for (written, normalized) in [
            ("https://SIEM.example.com", "https://siem.example.com:443"),
            ("http://*.example.com", "http://*.example.com:80"),
            ("tcp://10.1.2.3:514", "tcp://10.1.2.3:514"),
            ("udp://10.0.0.0/8:514", "udp://10.0.0.0/8:514"),
            ("*://*:*", "*://*:*"),
            ("https://[::ffff:10.0.0.1]:8443", "https://10.0.0.1:8443"),
            ("https://[fd00::1/8]:443", "https://[fd00::/8]:443"),
            ("http://127.0.0.1:8000-8100", "http://127.0.0.1:8000-8100"),
            ("http://0x7f000001:8080", "http://127.0.0.1:8080"),
        ] {
            assert_eq!(
                written.parse::<Rule>().unwrap().to_string(),
                normalized,
                "{written}"
            );
        }
    }

    #[test]
    fn bad_rules_say_why() {
        assert!(rule_error("siem.example.com").contains("scheme://host"));
        assert!(rule_error("ftp://x.com").contains("unknown scheme"));
        assert!(rule_error("tcp://10.1.2.3").contains("no default port"));
        assert!(rule_error("https://x.com:0").contains("not a port"));
        assert!(rule_error("https://x.com:99999").contains("not a port"));
        assert!(rule_error("https://x.com:9-1").contains("backwards"));
        assert!(rule_error("https://x.*.com").contains("wildcard"));
        assert!(rule_error("https://x.com/path").contains("no path"));
        assert!(rule_error("https://10.0.0.0/33").contains("CIDR"));
        assert!(rule_error("https://").contains("host is missing"));
        assert!(rule_error("https://[::1").contains("closing"));
    }

    #[test]
    fn a_trailing_slash_is_the_same_rule_and_any_other_path_is_refused() {
        let pasted: Rule = "https://http-inputs-acme.splunkcloud.com/".parse().unwrap();
        let plain: Rule = "https://http-inputs-acme.splunkcloud.com".parse().unwrap();
        assert_eq!(pasted, plain);
        assert_eq!(pasted.to_string(), plain.to_string());
        let with_port: Rule = "https://siem.example.com:8088/".parse().unwrap();
        assert_eq!(with_port.to_string(), "https://siem.example.com:8088");
        for path in [
            "https://siem.example.com/services/collector",
            "https://siem.example.com//",
            "https:///",
        ] {
            let error = path.parse::<Rule>().unwrap_err();
            assert_eq!(error.rule, path);
        }
    }

    #[test]
    fn a_name_rule_matches_its_name_scheme_and_port_only() {
        let policy = policy(&["https://siem.example.com"]);
        assert!(
            policy
                .name_rule(Scheme::Https, "siem.example.com", 443)
                .is_some()
        );
        assert!(
            policy
                .name_rule(Scheme::Https, "siem.example.com", 8443)
                .is_none()
        );
        assert!(
            policy
                .name_rule(Scheme::Http, "siem.example.com", 443)
                .is_none()
        );
        assert!(policy.name_rule(Scheme::Https, "evil.com", 443).is_none());
        assert!(
            policy
                .name_rule(Scheme::Https, "siem.example.com.evil.com", 443)
                .is_none()
        );
    }

    #[test]
    fn a_wildcard_matches_subdomains_only() {
        let policy = policy(&["https://*.example.com"]);
        assert!(
            policy
                .name_rule(Scheme::Https, "a.example.com", 443)
                .is_some()
        );
        assert!(
            policy
                .name_rule(Scheme::Https, "a.b.example.com", 443)
                .is_some()
        );
        assert!(
            policy
                .name_rule(Scheme::Https, "example.com", 443)
                .is_none()
        );
        assert!(
            policy
                .name_rule(Scheme::Https, "badexample.com", 443)
                .is_none()
        );
    }

    #[test]
    fn restricted_addresses_need_an_ip_rule() {
        let by_name = policy(&["https://siem.example.com", "*://*:*"]);
        let name_rule = by_name
            .name_rule(Scheme::Https, "siem.example.com", 443)
            .cloned();
        for ip in ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1"] {
            let verdict =
                by_name.check_address(Scheme::Https, ip.parse().unwrap(), 443, name_rule.as_ref());
            assert!(matches!(verdict, Verdict::Denied(_)), "{ip}: {verdict:?}");
        }
        let public = by_name.check_address(
            Scheme::Https,
            "93.184.216.34".parse().unwrap(),
            443,
            name_rule.as_ref(),
        );
        assert_eq!(
            public,
            Verdict::Allowed("https://siem.example.com:443".into())
        );

        let by_ip = policy(&["tcp://10.0.0.0/8:514", "http://127.0.0.1:8080"]);
        assert!(matches!(
            by_ip.check_address(Scheme::Tcp, "10.9.9.9".parse().unwrap(), 514, None),
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            by_ip.check_address(Scheme::Tcp, "10.9.9.9".parse().unwrap(), 515, None),
            Verdict::Denied(_)
        ));
        assert!(matches!(
            by_ip.check_address(Scheme::Udp, "10.9.9.9".parse().unwrap(), 514, None),
            Verdict::Denied(_)
        ));
        assert!(matches!(
            by_ip.check_address(
                Scheme::Http,
                "::ffff:127.0.0.1".parse().unwrap(),
                8080,
                None
            ),
            Verdict::Allowed(_)
        ));
    }

    #[test]
    fn a_block_opens_a_special_range_only_from_inside_it() {
        let anywhere = policy(&["http://0.0.0.0/0:*", "http://[::/0]:*"]);
        let denied =
            |ip: &str| match anywhere.check_address(Scheme::Http, ip.parse().unwrap(), 80, None) {
                Verdict::Denied(reason) => reason,
                allowed => panic!("{ip}: {allowed:?}"),
            };
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.1.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            let reason = denied(ip);
            assert!(
                reason.contains("spans more than that range"),
                "{ip}: {reason}"
            );
        }
        assert!(denied("169.254.169.254").contains("169.254.0.0/16"));
        for public in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(matches!(
                anywhere.check_address(Scheme::Http, public.parse().unwrap(), 80, None),
                Verdict::Allowed(_)
            ));
        }
        let inside = policy(&["tcp://10.1.0.0/16:514", "tcp://[fd00::/8]:514"]);
        for ip in ["10.1.2.3", "fd12::1"] {
            assert!(matches!(
                inside.check_address(Scheme::Tcp, ip.parse().unwrap(), 514, None),
                Verdict::Allowed(_)
            ));
        }
        let straddling = policy(&["tcp://10.0.0.0/7:514"]);
        assert!(matches!(
            straddling.check_address(Scheme::Tcp, "10.1.2.3".parse().unwrap(), 514, None),
            Verdict::Denied(_)
        ));
        assert!(matches!(
            straddling.check_address(Scheme::Tcp, "11.1.2.3".parse().unwrap(), 514, None),
            Verdict::Allowed(_)
        ));
        assert!(rule_error("http://[::]/0:*").contains("[::/0]"));
    }

    #[test]
    fn an_empty_policy_denies_everything() {
        let policy = EgressPolicy::default();
        assert!(
            policy
                .name_rule(Scheme::Https, "example.com", 443)
                .is_none()
        );
        assert!(matches!(
            policy.check_address(Scheme::Https, "93.184.216.34".parse().unwrap(), 443, None),
            Verdict::Denied(_)
        ));
        // Even for loopback, the reason is that nothing is configured.
        let Verdict::Denied(reason) =
            policy.check_address(Scheme::Tcp, "127.0.0.1".parse().unwrap(), 514, None)
        else {
            panic!("allowed by an empty policy");
        };
        assert_eq!(
            reason,
            "no egress rule allows tcp://127.0.0.1:514: no rules are configured, so all network access is denied"
        );
        // A name gets the same words as an address.
        assert_eq!(
            policy.no_rule_for(Scheme::Http, &Host::Name("localhost".into()), 9),
            "no egress rule allows http://localhost:9: no rules are configured, so all network access is denied"
        );
        let configured = EgressPolicy::parse(["https://siem.example.com"]).unwrap();
        assert_eq!(
            configured.no_rule_for(Scheme::Http, &Host::Name("localhost".into()), 9),
            "no egress rule allows http://localhost:9"
        );
    }

    #[test]
    fn policies_are_plain_data() {
        let policy: EgressPolicy = serde_json::from_str(
            r#"{"allow": ["https://siem.example.com", "tcp://10.1.2.3:514"]}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&policy).unwrap(),
            r#"{"allow":["https://siem.example.com:443","tcp://10.1.2.3:514"]}"#
        );
        assert!(serde_json::from_str::<EgressPolicy>(r#"{"allow": ["nope"]}"#).is_err());
        let lax: EgressPolicy =
            serde_json::from_str(r#"{"unverified_tls": ["https://siem.internal:8088"]}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&lax).unwrap(),
            r#"{"allow":[],"unverified_tls":["https://siem.internal:8088"]}"#
        );
    }

    #[test]
    fn unverified_tls_is_allowed_only_where_a_rule_says() {
        let policy = policy(&["https://siem.internal:8088"])
            .with_unverified_tls(["https://siem.internal:8088", "tcp://10.1.2.3:6514"])
            .unwrap();
        let name = |text: &str| Host::Name(text.into());
        assert!(
            policy
                .unverified_tls_rule(Scheme::Https, &name("siem.internal"), 8088)
                .is_some()
        );
        assert!(
            policy
                .unverified_tls_rule(Scheme::Https, &name("siem.internal"), 443)
                .is_none()
        );
        assert!(
            policy
                .unverified_tls_rule(Scheme::Https, &name("other.internal"), 8088)
                .is_none()
        );
        let ip = Host::Ip("10.1.2.3".parse().unwrap());
        assert!(policy.unverified_tls_rule(Scheme::Tcp, &ip, 6514).is_some());
        assert!(
            policy
                .unverified_tls_rule(Scheme::Https, &ip, 6514)
                .is_none()
        );
        let error = EgressPolicy::default()
            .with_unverified_tls(["http://siem.internal"])
            .unwrap_err();
        assert!(error.reason.contains("https:// or tcp://"), "{error}");
    }
}
