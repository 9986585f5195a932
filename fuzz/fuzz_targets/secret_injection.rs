//! Injected secrets: whatever headers and URL a request carries, and
//! wherever the hook puts a placeholder in them, the host either refuses the
//! request leaving it unchanged (a placeholder for a destination its secret
//! may not go to), or replaces every placeholder, so none reaches the wire.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use hookbox::sandbox::egress::address::Host;
use hookbox::sandbox::egress::inject::{InjectedSecret, SecretInjection};
use hookbox::sandbox::egress::policy::Scheme;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    value: &'a str,
    headers: Vec<(&'a str, &'a str, u8)>,
    target: &'a str,
    placeholder_in_target: bool,
    to_siem: bool,
    port: u16,
}

fuzz_target!(|input: Input<'_>| {
    let Ok(secret) = InjectedSecret::new(
        "SIEM_TOKEN",
        input.value,
        &["https://siem.example.com:8088".to_owned()],
    ) else {
        return;
    };
    let placeholder = secret.placeholder().to_owned();
    let secrets = SecretInjection::new(vec![secret]);
    let mut headers = HeaderMap::new();
    for (name, value, how) in &input.headers {
        let value = match how % 3 {
            0 => (*value).to_owned(),
            1 => format!("{value}{placeholder}"),
            _ => {
                let basic = base64::engine::general_purpose::STANDARD
                    .encode(format!("{value}:{placeholder}"));
                format!("Basic {basic}")
            }
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    let mut target = input.target.to_owned();
    if input.placeholder_in_target {
        target.push_str(&placeholder);
    }
    let host = Host::parse(if input.to_siem {
        "siem.example.com"
    } else {
        "other.example.com"
    })
    .unwrap();
    let before = (headers.clone(), target.clone());
    let carried = target.contains(&placeholder)
        || headers.values().any(|v| {
            String::from_utf8_lossy(v.as_bytes()).contains(&placeholder)
                || v.to_str().ok().and_then(|t| t.strip_prefix("Basic ")).is_some_and(|b| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b.trim())
                        .is_ok_and(|d| String::from_utf8_lossy(&d).contains(&placeholder))
                })
        });
    match secrets.apply(Scheme::Https, &host, input.port, &mut headers, &mut target) {
        Err(_) => {
            assert!(carried, "a request without a placeholder is never refused");
            assert!(!(input.to_siem && input.port == 8088), "refused for its own destination");
            assert_eq!((headers, target), before, "a refused request is unchanged");
        }
        Ok(_) => {
            assert!(!carried || (input.to_siem && input.port == 8088));
            assert!(!target.contains(&placeholder));
            for value in headers.values() {
                assert!(!String::from_utf8_lossy(value.as_bytes()).contains(&placeholder));
            }
        }
    }
});
