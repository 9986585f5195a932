//! How hookbox authenticates to the runbooks repository: the HTTPS user and
//! password, the SSH key, user and host keys. Secrets are held in [`Secret`],
//! whose `Debug` never shows the value; nothing here implements `Display` or
//! `Serialize` for them.

/// A secret setting. Its `Debug` prints `[redacted]`; the value is reached
/// only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that hands it to git.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The default HTTPS user, as in Hoop (any user works with a token on the
/// common forges).
pub const DEFAULT_USER: &str = "oauth2";
/// The default SSH user, as in Hoop, when neither `GIT_SSH_USER` nor the URL
/// names one.
pub const DEFAULT_SSH_USER: &str = "git";

/// How to authenticate to the repository. Only the transport the URL names
/// uses its part: HTTPS the user and password, SSH the key and host keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitAccess {
    /// The HTTPS user (`GIT_USER`, default `oauth2`).
    pub user: String,
    /// The HTTPS password or token (`GIT_PASSWORD`).
    pub password: Option<Secret>,
    /// The SSH private key, PEM or OpenSSH text (`GIT_SSH_KEY`).
    pub ssh_key: Option<Secret>,
    /// The SSH user when named (`GIT_SSH_USER`); else the URL's user, else `git`.
    pub ssh_user: Option<String>,
    /// The SSH key's passphrase (`GIT_SSH_KEYPASS`).
    pub ssh_keypass: Option<Secret>,
    /// The trusted SSH host keys, `known_hosts` text (`GIT_SSH_KNOWN_HOSTS`).
    pub ssh_known_hosts: Option<String>,
    /// Accept any SSH host key (`GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY`). Insecure.
    pub ssh_insecure_accept_any_host_key: bool,
}

impl Default for GitAccess {
    /// No credentials: enough for a local repository or a public HTTPS one.
    fn default() -> GitAccess {
        GitAccess {
            user: DEFAULT_USER.to_owned(),
            password: None,
            ssh_key: None,
            ssh_user: None,
            ssh_keypass: None,
            ssh_known_hosts: None,
            ssh_insecure_accept_any_host_key: false,
        }
    }
}

impl GitAccess {
    /// `text` with every secret value replaced by `[redacted]`: applied to
    /// every message a fetch produces, in case a server or a tool echoes one.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in [&self.password, &self.ssh_keypass, &self.ssh_key]
            .into_iter()
            .flatten()
        {
            let value = secret.expose().trim();
            if !value.is_empty() {
                text = text.replace(value, "[redacted]");
            }
        }
        text
    }
}
