//! The host's account of egress refusals: `hookbox:runner/egress@0.1.0`.
//!
//! Only `last-denial` is imported; `wasi:http` can only say that a request was
//! refused, this says why.

wit_bindgen::generate!({
    inline: "
        package hookbox:runner@0.1.0;

        interface egress {
            last-denial: func() -> option<string>;
        }

        world hookbox-guest {
            import egress;
        }
    ",
});

/// Why the most recent refused request was refused, if the host says.
pub(super) fn last_denial() -> Option<String> {
    hookbox::runner::egress::last_denial()
}
