//! hookbox's cryptography, in one place: whom HTTPS trusts, for hooks and git
//! alike ([`tls`]), and the one digest for everything a hook or a client can
//! influence ([`digest`]). rustls over ring throughout: no C crypto library.

pub mod digest;
pub mod tls;
