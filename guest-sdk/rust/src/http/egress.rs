//! The host's egress interface: `hookbox:runner/egress@0.1.0`.
//!
//! Bound from `guest-sdk/wit/hookbox.wit`: `last-denial` (`wasi:http` can
//! only say that a request was refused, this says why), `shown-url` (how a
//! URL may appear in an error's text) and `unverified-next-request`
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

/// Asks for no TLS verification of the next request (granted only where an
/// `unverified_tls` rule names its destination).
pub(super) fn unverified_next_request() {
    hookbox::runner::egress::unverified_next_request();
}

/// `url` as hookbox shows URLs in any text: no user info or query, a
/// webhook's secret path masked.
pub(super) fn shown_url(url: &str) -> String {
    hookbox::runner::egress::shown_url(url)
}
