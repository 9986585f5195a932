//! The dashboard's session cookie and CSRF tokens, signed with a key made
//! when the service starts (so a restart signs everyone out): the cookie is
//! `<expiry>.<HMAC>`, HttpOnly and SameSite=Strict; a form's CSRF token is
//! the HMAC of its session.

use ring::hmac;

/// The session cookie's name.
pub const COOKIE: &str = "hookbox_session";
/// How long a session lasts, in seconds.
const LIFETIME_SECONDS: i64 = 12 * 3600;

/// Signs and checks sessions.
pub struct Sessions {
    key: hmac::Key,
}

impl Sessions {
    /// Sessions under a fresh random key.
    pub fn new() -> Sessions {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("the system has randomness");
        Sessions { key }
    }

    /// A new session cookie's `Set-Cookie` value, valid from `now` (Unix
    /// seconds).
    pub fn start(&self, now: i64) -> String {
        let expiry = now + LIFETIME_SECONDS;
        let value = format!("{expiry}.{}", self.sign(&format!("session:{expiry}")));
        format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={LIFETIME_SECONDS}")
    }

    /// The `Set-Cookie` value that ends a session.
    pub fn end() -> String {
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
    }

    /// The session in a `Cookie` header, if it is one of ours and current.
    pub fn current(&self, cookie_header: Option<&str>, now: i64) -> Option<String> {
        let value = cookie_header?
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)?
            .1;
        let (expiry, tag) = value.split_once('.')?;
        let expiry: i64 = expiry.parse().ok()?;
        let tag = hex::decode(tag).ok()?;
        hmac::verify(&self.key, format!("session:{expiry}").as_bytes(), &tag).ok()?;
        (expiry > now).then(|| value.to_owned())
    }

    /// The CSRF token of forms shown in `session`.
    pub fn csrf(&self, session: &str) -> String {
        self.sign(&format!("csrf:{session}"))
    }

    /// Whether `token` is the CSRF token of `session` (constant time).
    pub fn csrf_matches(&self, session: &str, token: &str) -> bool {
        hex::decode(token).is_ok_and(|tag| {
            hmac::verify(&self.key, format!("csrf:{session}").as_bytes(), &tag).is_ok()
        })
    }

    fn sign(&self, message: &str) -> String {
        hex::encode(hmac::sign(&self.key, message.as_bytes()))
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie_value(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_owned()
    }

    #[test]
    fn a_session_is_good_until_it_expires_and_only_under_its_key() {
        let sessions = Sessions::new();
        let cookie = cookie_value(&sessions.start(1000));
        let session = sessions.current(Some(&cookie), 1001).expect("current");
        assert!(
            sessions
                .current(Some(&cookie), 1000 + LIFETIME_SECONDS)
                .is_none()
        );
        assert!(Sessions::new().current(Some(&cookie), 1001).is_none());
        // A later expiry under the same signature is refused.
        let expiry = 1000 + LIFETIME_SECONDS;
        let forged = cookie.replacen(&format!("={expiry}."), &format!("={}.", expiry * 2), 1);
        assert_ne!(forged, cookie);
        assert!(sessions.current(Some(&forged), 1001).is_none());
        let token = sessions.csrf(&session);
        assert!(sessions.csrf_matches(&session, &token));
        assert!(!sessions.csrf_matches(&session, "00"));
        assert!(!sessions.csrf_matches("other", &token));
    }
}
