//! Smart HTTP for the runbooks repository, through gix's reqwest backend.
//!
//! - TLS is rustls over ring, verified against the system's roots: the same
//!   client configuration egress uses, handed to reqwest ready-made. There
//!   is no way to turn verification off.
//! - Plain `http://` is accepted only for a loopback address (checked when
//!   the settings are resolved), so credentials never cross a network in
//!   clear text.
//! - Credentials (`GIT_USER`/`GIT_PASSWORD`, else user info in `GIT_URL`)
//!   reach gix only through its credential callback, when the server asks for
//!   them; the URL gix sees and reports carries none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gix::credentials::helper::Action;
use gix::credentials::protocol::Outcome;
use gix::protocol::transport::client::blocking_io::http;

use super::access::{GitAccess, Secret};
use super::fetch::FETCH_TIMEOUT;
use super::transport::is_loopback;
use hookbox_core::env_names::{GIT_PASSWORD, GIT_USER};

/// The credentials of one HTTP fetch and what the server did with them.
#[derive(Debug)]
pub struct HttpSession {
    url: gix::Url,
    user: String,
    password: Option<Secret>,
    loopback: bool,
    tls: Arc<rustls::ClientConfig>,
    /// The server asked for credentials.
    asked: Arc<AtomicBool>,
    /// The server refused the credentials given.
    refused: Arc<AtomicBool>,
}

impl HttpSession {
    /// Prepares a fetch of `url` with `access`'s credentials.
    pub fn new(url: &str, access: &GitAccess) -> Result<HttpSession, String> {
        let mut parsed = gix::url::parse(gix::bstr::BStr::new(url))
            .map_err(|e| format!("not a valid URL: {e}"))?;
        let url_user = parsed.set_user(None);
        let url_password = parsed.set_password(None);
        let (user, password) = match (&access.password, url_password) {
            (Some(password), _) => (access.user.clone(), Some(password.clone())),
            (None, Some(password)) => (
                url_user.unwrap_or_else(|| access.user.clone()),
                Some(Secret::new(password)),
            ),
            (None, None) => (access.user.clone(), None),
        };
        let loopback = parsed.host().is_some_and(is_loopback);
        let tls = hookbox_crypto::tls::client_config(&[])
            .map(Arc::new)
            .map_err(|e| format!("setting up TLS: {e}"))?;
        Ok(HttpSession {
            url: parsed,
            user,
            password,
            loopback,
            tls,
            asked: Arc::default(),
            refused: Arc::default(),
        })
    }

    /// The URL to fetch, without user info.
    pub fn url(&self) -> gix::Url {
        self.url.clone()
    }

    /// Installs the credential callback and the HTTP client settings on the
    /// connection gix is about to open.
    pub fn configure(&self, prepare: gix::clone::PrepareFetch) -> gix::clone::PrepareFetch {
        let (user, password) = (self.user.clone(), self.password.clone());
        let (asked, refused) = (self.asked.clone(), self.refused.clone());
        let (tls, loopback) = (self.tls.clone(), self.loopback);
        prepare.configure_connection(move |connection| {
            let (user, password) = (user.clone(), password.clone());
            let (asked, refused) = (asked.clone(), refused.clone());
            connection.set_credentials(move |action| match action {
                Action::Get(context) => {
                    asked.store(true, Ordering::SeqCst);
                    Ok(password.as_ref().map(|password| Outcome {
                        identity: gix::sec::identity::Account {
                            username: user.clone(),
                            password: password.expose().to_owned(),
                            oauth_refresh_token: None,
                        },
                        next: context.into(),
                    }))
                }
                Action::Store(_) => Ok(None),
                Action::Erase(_) => {
                    refused.store(true, Ordering::SeqCst);
                    Ok(None)
                }
            });
            let tls = tls.clone();
            let backend = http::reqwest::Options {
                configure_client: Some(Box::new(move |builder| {
                    let builder = builder
                        .tls_backend_preconfigured(rustls::ClientConfig::clone(&tls))
                        .timeout(FETCH_TIMEOUT);
                    // A proxy from the environment is for the network, not
                    // for this machine.
                    Ok(if loopback {
                        builder.no_proxy()
                    } else {
                        builder
                    })
                })),
                configure_request: None,
            };
            let options = http::Options {
                backend: Some(Arc::new(Mutex::new(backend))),
                ..http::Options::default()
            };
            connection.set_transport_options(Box::new(options));
            Ok(())
        })
    }

    /// What went wrong with authentication, in words an operator can act
    /// on; `None` when the failure was not about credentials.
    pub fn refusal(&self) -> Option<String> {
        if self.refused.load(Ordering::SeqCst) {
            return Some(format!(
                "the server refused the credentials ({GIT_USER} {:?} with {GIT_PASSWORD})",
                self.user
            ));
        }
        if self.asked.load(Ordering::SeqCst) && self.password.is_none() {
            return Some(format!(
                "the server asks for credentials: set {GIT_PASSWORD} (and {GIT_USER}, default oauth2)"
            ));
        }
        None
    }
}
