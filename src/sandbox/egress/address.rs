//! Host names and addresses as the egress policy sees them: every spelling of
//! an IP address is normalized to one value before any rule is consulted, and
//! addresses in ranges that lead into the operator's own network (loopback,
//! private, link-local, ...) are recognized so that only a rule naming them by
//! IP or CIDR can reach them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A destination host after normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name: lower case, no trailing dot.
    Name(String),
    /// An IP address, whatever way it was written (IPv4-mapped IPv6 is IPv4).
    Ip(IpAddr),
}

/// Why a host text is not a usable host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadHost(pub String);

impl Host {
    /// Parses a host as it appears in a URL authority (`[v6]` in brackets).
    ///
    /// IPv4 is read the way browsers and `inet_aton` read it, so `127.1`,
    /// `2130706433`, `0x7f000001` and `0177.0.0.1` all become 127.0.0.1; a
    /// name whose last label is a number but which is no valid address is
    /// refused rather than looked up.
    pub fn parse(text: &str) -> Result<Host, BadHost> {
        let text = text.trim_end_matches('.').to_ascii_lowercase();
        if text.is_empty() {
            return Err(BadHost("empty host".into()));
        }
        if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let ip: Ipv6Addr = inner
                .parse()
                .map_err(|_| BadHost(format!("{text:?} is not an IPv6 address")))?;
            return Ok(Host::Ip(canonical_ip(IpAddr::V6(ip))));
        }
        if let Ok(ip) = text.parse::<Ipv6Addr>() {
            return Ok(Host::Ip(canonical_ip(IpAddr::V6(ip))));
        }
        let last_label = text.rsplit('.').next().unwrap_or_default();
        if parse_ipv4_part(last_label).is_some() {
            return parse_ipv4_loose(&text)
                .map(|ip| Host::Ip(IpAddr::V4(ip)))
                .ok_or_else(|| {
                    BadHost(format!(
                        "{text:?} looks like an IPv4 address but is not one"
                    ))
                });
        }
        let valid = text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !valid || text.len() > 253 {
            return Err(BadHost(format!("{text:?} is not a valid host name")));
        }
        Ok(Host::Name(text))
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// IPv4-mapped and IPv4-compatible IPv6 addresses become the IPv4 address they
/// carry, so one rule or range check covers both spellings.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn parse_ipv4_part(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x") {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        return Some(0); // "0x" alone is zero, as in inet_aton
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `inet_aton`-style IPv4: one to four parts, each decimal, octal or hex, the
/// last part filling the remaining bytes.
fn parse_ipv4_loose(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let numbers: Vec<u64> = parts
        .iter()
        .map(|p| parse_ipv4_part(p))
        .collect::<Option<_>>()?;
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|&n| n > 255) {
        return None;
    }
    let remaining_bytes = 4 - leading.len() as u32;
    if *last >= 1u64 << (8 * remaining_bytes) {
        return None;
    }
    let mut value: u64 = 0;
    for (index, n) in leading.iter().enumerate() {
        value |= n << (8 * (3 - index as u32));
    }
    value |= last;
    Some(Ipv4Addr::from(u32::try_from(value).ok()?))
}

/// The kind of address that is only reachable through a rule that names it by
/// IP or CIDR, or `None` for an ordinary public address.
pub fn restricted_kind(ip: IpAddr) -> Option<&'static str> {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => restricted_v6(v6),
    }
}

fn restricted_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified (\"this network\")",
        (127, _, _) => "loopback",
        (10, _, _) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        (169, 254, _) => "link-local (cloud metadata lives here)",
        (100, 64..=127, _) => "carrier-grade NAT (shared)",
        (192, 0, 0) => "IETF protocol assignment",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    })
}

fn restricted_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    Some(match segments[0] {
        s if s & 0xfe00 == 0xfc00 => "unique-local (private)",
        s if s & 0xffc0 == 0xfe80 => "link-local",
        s if s & 0xffc0 == 0xfec0 => "site-local (private)",
        s if s & 0xff00 == 0xff00 => "multicast",
        0x0064 if segments[1] == 0xff9b => {
            // NAT64: judge the IPv4 address it carries.
            let v4 = Ipv4Addr::new(
                (segments[6] >> 8) as u8,
                segments[6] as u8,
                (segments[7] >> 8) as u8,
                segments[7] as u8,
            );
            return restricted_v4(v4).map(|_| "NAT64 of a restricted IPv4 address");
        }
        0x2001 if segments[1] == 0x0db8 => "documentation",
        0 if segments[..5] == [0; 5] => "IPv4-compatible (deprecated)",
        _ => return None,
    })
}

crate::failure::categorized!(Usage: BadHost);

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        match Host::parse(text).unwrap() {
            Host::Ip(ip) => ip,
            other => panic!("{text} parsed as {other:?}"),
        }
    }

    #[test]
    fn every_spelling_of_loopback_is_loopback() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        for spelling in [
            "127.0.0.1",
            "127.1",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "0x7f.1",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
            "127.0.0.1.",
        ] {
            assert_eq!(ip(spelling), loopback, "{spelling}");
        }
        assert_eq!(restricted_kind(ip("[::1]")), Some("loopback"));
    }

    #[test]
    fn names_are_lower_case_without_trailing_dot() {
        assert_eq!(
            Host::parse("SIEM.Example.COM.").unwrap(),
            Host::Name("siem.example.com".into())
        );
    }

    #[test]
    fn numeric_looking_names_that_are_no_address_are_refused() {
        assert!(Host::parse("1.2.3.4.5").is_err());
        assert!(Host::parse("256.1.1.1").is_err());
        assert!(Host::parse("4294967296").is_err());
        assert!(Host::parse("evil..com").is_err());
        assert!(Host::parse("a b").is_err());
    }

    #[test]
    fn restricted_ranges_are_recognized() {
        for (text, restricted) in [
            ("10.1.2.3", true),
            ("172.16.0.1", true),
            ("172.32.0.1", false),
            ("192.168.1.1", true),
            ("169.254.169.254", true),
            ("100.64.0.1", true),
            ("0.0.0.0", true),
            ("224.0.0.1", true),
            ("255.255.255.255", true),
            ("8.8.8.8", false),
            ("[fd00::1]", true),
            ("[fe80::1]", true),
            ("[ff02::1]", true),
            ("[::]", true),
            ("[64:ff9b::a9fe:a9fe]", true),
            ("[2606:4700::1111]", false),
        ] {
            assert_eq!(restricted_kind(ip(text)).is_some(), restricted, "{text}");
        }
    }
}
