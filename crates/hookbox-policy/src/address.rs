//! Host names and addresses as the egress policy sees them: every spelling of
//! an IP address is normalized to one value before any rule is consulted, and
//! addresses in ranges that lead into the operator's own network (loopback,
//! private, link-local, ...) are recognized so that only a rule naming them by
//! IP or CIDR can reach them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::IpNet;

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
/// IP or CIDR, or `None` for an ordinary public address. IPv6 addresses that
/// carry an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) are judged by it.
pub fn restricted_kind(ip: IpAddr) -> Option<&'static str> {
    restricted_range(ip).map(|(_, kind)| kind)
}

/// The special-purpose range `ip` lies in and what it is, or `None` for an
/// ordinary public address. A CIDR rule opens such an address only when the
/// rule's block lies inside this range. An IPv6 address carrying a restricted
/// IPv4 address is its own range (`/128`): only a rule naming it opens it.
pub fn restricted_range(ip: IpAddr) -> Option<(IpNet, &'static str)> {
    let ip = canonical_ip(ip);
    if let IpAddr::V6(v6) = ip
        && let Some((tunnel, v4)) = embedded_ipv4(v6)
    {
        return restricted_range(IpAddr::V4(v4)).map(|_| (IpNet::from(ip), tunnel));
    }
    static RANGES: LazyLock<Vec<(IpNet, &str)>> = LazyLock::new(|| {
        NOT_PUBLIC
            .iter()
            .map(|(range, kind)| (range.parse().expect("a valid range"), *kind))
            .collect()
    });
    // Listed ranges can nest (`::1/128` inside `::/96`): the narrowest one
    // holding the address is its range.
    RANGES
        .iter()
        .filter(|(net, _)| net.contains(&ip))
        .max_by_key(|(net, _)| net.prefix_len())
        .copied()
}

/// Address ranges that are not publicly reachable, from the IANA IPv4 and
/// IPv6 special-purpose address registries (the entries not marked globally
/// reachable) plus deprecated ones, with what each is. Whole blocks are
/// listed where the registry carves a few anycast services out of one
/// (`192.0.0.0/24`, `2001::/23`): a rule naming those by IP still reaches them.
pub const NOT_PUBLIC: &[(&str, &str)] = &[
    ("0.0.0.0/8", "unspecified (\"this network\")"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT (shared)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata lives here)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved or broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy prefix"),
    ("2001::/23", "IETF protocol assignment"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique-local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (private)"),
    ("ff00::/8", "multicast"),
];

/// The IPv4 address an IPv6 address carries to be routed by, and how: NAT64
/// (`64:ff9b::/96`, the last 32 bits), 6to4 (`2002::/16`, the 32 bits after
/// the prefix) and Teredo (`2001::/32`, the client's address in the last 32
/// bits, inverted).
fn embedded_ipv4(ip: Ipv6Addr) -> Option<(&'static str, Ipv4Addr)> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from(bits as u32);
    let segments = ip.segments();
    match segments {
        [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => Some(("NAT64 of a restricted IPv4 address", low)),
        [0x2002, ..] => Some((
            "6to4 of a restricted IPv4 address",
            Ipv4Addr::from((bits >> 80) as u32),
        )),
        [0x2001, 0x0000, ..] => Some((
            "Teredo of a restricted IPv4 address",
            Ipv4Addr::from(!(bits as u32)),
        )),
        _ => None,
    }
}

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

    /// Every range with an address just inside each end and just outside.
    #[test]
    fn every_range_that_is_not_public_is_recognized_and_only_it() {
        let table: &[(&str, &[&str], &[&str])] = &[
            ("0.0.0.0/8", &["0.0.0.0", "0.255.255.255"], &[]),
            (
                "10.0.0.0/8",
                &["10.0.0.0", "10.255.255.255"],
                &["9.255.255.255", "11.0.0.0"],
            ),
            (
                "100.64.0.0/10",
                &["100.64.0.0", "100.127.255.255"],
                &["100.63.255.255", "100.128.0.0"],
            ),
            (
                "127.0.0.0/8",
                &["127.0.0.1", "127.255.255.255"],
                &["126.255.255.255", "128.0.0.0"],
            ),
            (
                "169.254.0.0/16",
                &["169.254.0.0", "169.254.169.254"],
                &["169.253.255.255", "169.255.0.0"],
            ),
            (
                "172.16.0.0/12",
                &["172.16.0.0", "172.31.255.255"],
                &["172.15.255.255", "172.32.0.0"],
            ),
            (
                "192.0.0.0/24",
                &["192.0.0.0", "192.0.0.255"],
                &["191.255.255.255", "192.0.1.0"],
            ),
            (
                "192.0.2.0/24",
                &["192.0.2.0", "192.0.2.255"],
                &["192.0.1.255", "192.0.3.0"],
            ),
            (
                "192.88.99.0/24",
                &["192.88.99.1"],
                &["192.88.98.255", "192.88.100.0"],
            ),
            (
                "192.168.0.0/16",
                &["192.168.0.0", "192.168.255.255"],
                &["192.167.255.255", "192.169.0.0"],
            ),
            (
                "198.18.0.0/15",
                &["198.18.0.0", "198.19.255.255"],
                &["198.17.255.255", "198.20.0.0"],
            ),
            (
                "198.51.100.0/24",
                &["198.51.100.7"],
                &["198.51.99.255", "198.51.101.0"],
            ),
            (
                "203.0.113.0/24",
                &["203.0.113.7"],
                &["203.0.112.255", "203.0.114.0"],
            ),
            (
                "224.0.0.0/4",
                &["224.0.0.1", "239.255.255.255"],
                &["223.255.255.255"],
            ),
            ("240.0.0.0/4", &["240.0.0.0", "255.255.255.255"], &[]),
            ("::/128", &["[::]"], &[]),
            ("::1/128", &["[::1]"], &["[::2:0:0]"]),
            ("::/96", &["[::0.0.0.2]"], &[]),
            ("64:ff9b:1::/48", &["[64:ff9b:1::1]"], &["[64:ff9b:2::1]"]),
            ("100::/64", &["[100::1]"], &["[100:0:0:2::1]"]),
            ("100:0:0:1::/64", &["[100:0:0:1::1]"], &[]),
            (
                "2001::/23",
                &["[2001:2::1]", "[2001:1ff:ffff::1]"],
                &["[2001:200::1]"],
            ),
            ("2001:db8::/32", &["[2001:db8::1]"], &["[2001:db9::1]"]),
            (
                "3fff::/20",
                &["[3fff::1]", "[3fff:fff::1]"],
                &["[3fff:1000::1]"],
            ),
            ("5f00::/16", &["[5f00::1]"], &["[5f01::1]"]),
            (
                "fc00::/7",
                &["[fc00::1]", "[fdff::1]"],
                &["[fbff::1]", "[fe00::1]"],
            ),
            ("fe80::/10", &["[fe80::1]", "[febf::1]"], &[]),
            ("fec0::/10", &["[fec0::1]", "[feff::1]"], &[]),
            ("ff00::/8", &["[ff02::1]", "[ffff::1]"], &[]),
        ];
        assert_eq!(
            table.iter().map(|(range, _, _)| *range).collect::<Vec<_>>(),
            NOT_PUBLIC
                .iter()
                .map(|(range, _)| *range)
                .collect::<Vec<_>>(),
            "the test lists every range of the table"
        );
        for (range, inside, outside) in table {
            let net: IpNet = range.parse().unwrap();
            for text in *inside {
                let address = ip(text);
                assert!(net.contains(&address), "{text} is in {range}");
                assert!(
                    restricted_kind(address).is_some(),
                    "{text} ({range}) must be restricted"
                );
            }
            for text in *outside {
                let address = ip(text);
                assert!(!net.contains(&address), "{text} is outside {range}");
                assert_eq!(
                    restricted_kind(address),
                    None,
                    "{text}, just outside {range}, is public"
                );
            }
        }
        for public in ["8.8.8.8", "1.1.1.1", "[2606:4700::1111]", "[2a00:1450::1]"] {
            assert_eq!(restricted_kind(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn tunnelled_ipv6_is_judged_by_the_ipv4_address_it_carries() {
        for (text, restricted) in [
            ("[64:ff9b::a9fe:a9fe]", true), // NAT64 of 169.254.169.254
            ("[64:ff9b::808:808]", false),  // NAT64 of 8.8.8.8
            ("[2002:7f00:1::1]", true),     // 6to4 of 127.0.0.1
            ("[2002:c0a8:101::1]", true),   // 6to4 of 192.168.1.1
            ("[2002:808:808::1]", false),   // 6to4 of 8.8.8.8
            ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", true), // Teredo client 127.0.0.1
            ("[2001:0:4136:e378:8000:63bf:f7f7:f7f7]", false), // Teredo client 8.8.8.8
            ("[::ffff:10.0.0.1]", true),    // IPv4-mapped
        ] {
            assert_eq!(restricted_kind(ip(text)).is_some(), restricted, "{text}");
        }
        assert_eq!(
            restricted_kind(ip("[2002:7f00:1::1]")),
            Some("6to4 of a restricted IPv4 address")
        );
    }
}
