//! Egress rules: a rule that parses prints as a rule that parses back to
//! itself, and prints the same again.
#![no_main]

use hookbox::sandbox::egress::policy::Rule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(rule) = text.parse::<Rule>() else {
        return;
    };
    let printed = rule.to_string();
    let again: Rule = printed
        .parse()
        .unwrap_or_else(|e| panic!("{printed:?} (from {text:?}) does not parse back: {e}"));
    assert_eq!(again, rule, "{text:?} printed as {printed:?}");
    assert_eq!(again.to_string(), printed);
});
