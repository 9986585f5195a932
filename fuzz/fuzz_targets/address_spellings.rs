//! Address normalization: every spelling of an IPv4 address that `inet_aton`
//! and browsers accept (one to four parts, each decimal, octal or hex, a
//! trailing dot, IPv4-mapped IPv6) reads as that address and gets the
//! verdict of its canonical form; and any host that reads as an address
//! reads the same from its printed form.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use hookbox::sandbox::egress::address::Host;
use hookbox::sandbox::egress::policy::{EgressPolicy, Scheme, Verdict};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    address: u32,
    /// How many parts (1 to 4) and each part's radix.
    parts: u8,
    radixes: u8,
    trailing_dot: bool,
    mapped: bool,
    port: u16,
    text: &'a str,
}

fn policy() -> &'static EgressPolicy {
    static POLICY: OnceLock<EgressPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        EgressPolicy::parse([
            "http://10.0.0.0/8",
            "http://127.0.0.1:*",
            "*://93.184.216.0/24:*",
            "http://*.example.com",
            "https://[2001:db8::/32]",
            "tcp://169.254.169.254:80",
        ])
        .expect("the fuzz policy parses")
    })
}

fn verdict(ip: IpAddr, port: u16) -> Verdict {
    policy().check_address(Scheme::Http, ip, port, None)
}

/// `value` in the radix chosen by two bits of `radixes`.
fn part(value: u32, radixes: u8, index: usize) -> String {
    match (radixes >> (2 * index)) & 3 {
        0 | 1 => value.to_string(),
        2 => format!("0x{value:x}"),
        _ => format!("0{value:o}"),
    }
}

/// `ip` written in `parts` parts, the last one holding the remaining bytes.
fn spell(ip: Ipv4Addr, parts: u8, radixes: u8) -> String {
    let [a, b, c, d] = ip.octets().map(u32::from);
    let n = u32::from(ip);
    let values: Vec<u32> = match parts % 4 {
        0 => vec![n],
        1 => vec![a, n & 0x00ff_ffff],
        2 => vec![a, b, n & 0xffff],
        _ => vec![a, b, c, d],
    };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| part(*v, radixes, i))
        .collect::<Vec<_>>()
        .join(".")
}

fuzz_target!(|input: Input| {
    let ip = Ipv4Addr::from(input.address);
    let mut text = spell(ip, input.parts, input.radixes);
    if input.trailing_dot {
        text.push('.');
    }
    if input.mapped {
        text = format!("[::ffff:{ip}]");
    }
    let parsed = Host::parse(&text);
    assert_eq!(parsed, Ok(Host::Ip(IpAddr::V4(ip))), "{text:?}");
    if let Ok(Host::Ip(read)) = parsed {
        assert_eq!(verdict(read, input.port), verdict(IpAddr::V4(ip), input.port));
    }

    if let Ok(Host::Ip(read)) = Host::parse(input.text) {
        let printed = Host::Ip(read).to_string();
        assert_eq!(Host::parse(&printed), Ok(Host::Ip(read)), "{:?}", input.text);
    }
});
