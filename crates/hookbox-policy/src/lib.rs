//! hookbox's egress policy as plain data: rules (`scheme://host[:port]`,
//! CIDR ranges, wildcards), how addresses are spelled and which ranges are
//! restricted, and the decision a rule set makes for a destination. No
//! sandbox, no network, no runtime: the floor the sandbox's one egress gate
//! stands on, and what a policy check or a fuzz target needs alone.

pub mod address;
pub mod policy;

// Rules and addresses are settings the user can fix.
hookbox_core::failure::categorized!(Usage: policy::RuleError, address::BadHost);

/// What replaces a secret wherever hookbox shows text that held one.
pub const MASK: &str = "[redacted]";

/// `text` with the user info of every URL in it (`scheme://user:pass@`)
/// replaced by [`MASK`]: for quoting what an operator wrote (a rule, a
/// line of a configuration file) without the credentials it may hold. The
/// user info runs to the last `@` before the next space or quote, so a
/// password holding a `/` is masked too.
pub fn without_user_info(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (before, after) = rest.split_at(start + 3);
        shown.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(after.len());
        match after[..end].rfind('@') {
            Some(at) => {
                shown.push_str(MASK);
                rest = &after[at..];
            }
            None => rest = after,
        }
    }
    shown.push_str(rest);
    shown
}
