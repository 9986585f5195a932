//! The host's egress interface: `hookbox:runner/egress@0.1.0`.
//!
//! Bound from `guest-sdk/wit/hookbox.wit`: `last-denial` (`wasi:http` can
//! only say that a request was refused, this says why), `shown-url` (how a
//! URL may appear in an error's text) and `verify-next-request`
//! (`NO_TLS_VERIFY`).

wit_bindgen::generate!({
    // The one definition of hookbox's interfaces, which the Python runner is
    // built against too.
    path: "../wit/hookbox.wit",
    world: "rust-hook",
});

/// Why the most recent refused request was refused, if the host says.
pub(super) fn last_denial() -> Option<String> {
    hookbox::runner::egress::last_denial()
}

/// Whether the next request is to be verified (not verifying is granted only
/// where an `unverified_tls` rule names its destination).
pub(super) fn verify_next_request(verify: bool) {
    hookbox::runner::egress::verify_next_request(verify);
}

/// `url` as hookbox shows URLs in any text: no user info or query, a
/// webhook's secret path masked.
pub(super) fn shown_url(url: &str) -> String {
    hookbox::runner::egress::shown_url(url)
}
