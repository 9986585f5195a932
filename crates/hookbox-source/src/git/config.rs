//! Where the runbooks repository is, how long a fetched snapshot is good for
//! and how to authenticate, named as Hoop names them (`GIT_URL`, `GIT_BRANCH`,
//! `GIT_HOOK_CONFIG_TTL`, `GIT_USER`, `GIT_PASSWORD`, `GIT_SSH_KEY`,
//! `GIT_SSH_USER`, `GIT_SSH_KEYPASS`, `GIT_SSH_KNOWN_HOSTS`) so an operator
//! can reuse their Hoop settings, and `GIT_ALLOWED_SIGNERS`: the keys whose
//! signed commits alone may run (see [`super::signing`]).
//!
//! Secrets (`GIT_PASSWORD`, `GIT_SSH_KEY`, `GIT_SSH_KEYPASS`) come only from
//! the environment and are held in [`Secret`] (see [`super::access`]); the
//! URL's transport is [`super::transport`]'s to judge.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::access::{DEFAULT_USER, GitAccess, Secret};
use super::allowed_signers::AllowedSigners;
use super::transport::{Transport, looks_like_scp, redact_url};

/// The `[git]` section of the configuration file. Secrets are not accepted
/// here: `password`, `ssh_key` and `ssh_keypass` are refused with a message
/// naming the environment variable to use instead.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSection {
    /// The repository (`GIT_URL`).
    pub url: Option<String>,
    /// The branch (`GIT_BRANCH`); default: the remote's HEAD, else `main`, else `master`.
    pub branch: Option<String>,
    /// How long a fetched snapshot is used before fetching again
    /// (`GIT_HOOK_CONFIG_TTL`, whole seconds as Hoop reads it): `300` or `"5m"`.
    pub ttl: Option<hookbox_core::units::ConfigDuration>,
    /// The HTTPS user (`GIT_USER`); default `oauth2`.
    pub user: Option<String>,
    /// The SSH user (`GIT_SSH_USER`); default: the URL's user, else `git`.
    pub ssh_user: Option<String>,
    /// The SSH host keys to trust, as `known_hosts` text (`GIT_SSH_KNOWN_HOSTS`).
    pub ssh_known_hosts: Option<String>,
    /// Accept any SSH host key (`GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY`):
    /// insecure, anyone on the path can then serve the hooks.
    pub ssh_insecure_accept_any_host_key: Option<bool>,
    /// An allowed-signers file (`GIT_ALLOWED_SIGNERS`): when set, only
    /// commits signed by a key it lists are used.
    pub allowed_signers: Option<PathBuf>,
    /// Refused: use `GIT_PASSWORD`.
    #[serde(default)]
    pub password: Option<IgnoredAny>,
    /// Refused: use `GIT_SSH_KEY`.
    #[serde(default)]
    pub ssh_key: Option<IgnoredAny>,
    /// Refused: use `GIT_SSH_KEYPASS`.
    #[serde(default)]
    pub ssh_keypass: Option<IgnoredAny>,
}

/// Where the runbooks repository is and how often it is fetched. Its
/// `Debug` shows the URL without any credentials it carries.
#[derive(Clone, PartialEq, Eq)]
pub struct GitConfig {
    /// The repository as given.
    pub url: String,
    /// The branch to follow, if one was named.
    pub branch: Option<String>,
    /// How long a snapshot is served before the next fetch.
    pub ttl: Duration,
}

impl std::fmt::Debug for GitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitConfig")
            .field("url", &self.display_url())
            .field("branch", &self.branch)
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// A resolved git source: where, how often, and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSettings {
    /// The repository, branch and TTL.
    pub config: GitConfig,
    /// The credentials and SSH trust settings.
    pub access: GitAccess,
    /// The keys commits must be signed by, when the operator requires it.
    pub signers: Option<AllowedSigners>,
}

impl From<GitConfig> for GitSettings {
    /// A source that needs no credentials (a local or public repository).
    fn from(config: GitConfig) -> GitSettings {
        GitSettings {
            config,
            access: GitAccess::default(),
            signers: None,
        }
    }
}

/// Why the git source settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitConfigError {
    /// No repository was named.
    #[error("no runbooks repository: set GIT_URL (or [git] url in the configuration file)")]
    NoUrl,
    /// No TTL is set.
    #[error(
        "GIT_HOOK_CONFIG_TTL is not set: hooks are off without it, as in Hoop; set it to the \
         seconds a fetched snapshot is used (e.g. 300), or ttl under [git] in the configuration \
         file"
    )]
    NoTtl,
    /// The TTL is zero or not a number.
    #[error(
        "GIT_HOOK_CONFIG_TTL must be a whole number of seconds greater than zero (hooks are off without it, as in Hoop); got {0:?}"
    )]
    BadTtl(String),
    /// The URL uses a transport this build does not speak, or speaks only
    /// under conditions not met.
    #[error("GIT_URL {url:?}: {reason}")]
    Unsupported {
        /// The URL as given (credentials removed).
        url: String,
        /// Why.
        reason: String,
    },
    /// A secret was put in the configuration file.
    #[error(
        "[git] {key} is not read from the configuration file: secrets come only from the environment ({variable})"
    )]
    SecretInFile {
        /// The key found in `[git]`.
        key: &'static str,
        /// The variable to use instead.
        variable: &'static str,
    },
    /// A setting has a value that cannot be used (the value is not repeated
    /// when it is a secret).
    #[error("{variable}: {reason}")]
    Bad {
        /// The variable.
        variable: &'static str,
        /// Why.
        reason: String,
    },
}

impl GitConfig {
    /// Resolves the source and how to authenticate to it from the
    /// environment over the `[git]` section.
    pub fn resolve(
        section: &GitSection,
        host_env: impl Fn(&str) -> Option<String>,
    ) -> Result<GitSettings, GitConfigError> {
        use hookbox_core::env_names::{GIT_BRANCH, GIT_HOOK_CONFIG_TTL, GIT_URL};
        let non_empty = |name: &str| host_env(name).filter(|value| !value.trim().is_empty());
        let url = non_empty(GIT_URL)
            .or_else(|| section.url.clone())
            .ok_or(GitConfigError::NoUrl)?;
        let branch = non_empty(GIT_BRANCH).or_else(|| section.branch.clone());
        // The variable is Hoop's too, so it stays whole seconds; the file
        // writes durations as everywhere else in it.
        let ttl = match (non_empty(GIT_HOOK_CONFIG_TTL), section.ttl) {
            (Some(text), _) => match text.trim().parse::<u64>() {
                Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                _ => return Err(GitConfigError::BadTtl(text)),
            },
            (None, Some(written)) => written.0,
            (None, None) => return Err(GitConfigError::NoTtl),
        };
        let access = resolve_access(section, &non_empty)?;
        check_transport(&url, &access)?;
        use hookbox_core::env_names::GIT_ALLOWED_SIGNERS;
        let signers_file = match host_env(GIT_ALLOWED_SIGNERS) {
            // Set but empty (a template's missing value) must not turn
            // verification off without a word.
            Some(value) if value.trim().is_empty() => {
                return Err(GitConfigError::Bad {
                    variable: GIT_ALLOWED_SIGNERS,
                    reason: "is set but empty: name the allowed-signers file, or unset it to run \
                             unsigned commits"
                        .into(),
                });
            }
            Some(value) => Some(PathBuf::from(value)),
            None => section.allowed_signers.clone(),
        };
        let signers = signers_file
            .map(|path| {
                AllowedSigners::read(&path).map_err(|reason| GitConfigError::Bad {
                    variable: GIT_ALLOWED_SIGNERS,
                    reason: format!("{}: {reason}", path.display()),
                })
            })
            .transpose()?;
        Ok(GitSettings {
            config: GitConfig { url, branch, ttl },
            access,
            signers,
        })
    }

    /// The URL without any credentials it may carry, for messages and status.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    /// A local repository path, when the URL names one.
    pub fn local_path(&self) -> Option<PathBuf> {
        if let Some(path) = self.url.strip_prefix("file://") {
            return Some(PathBuf::from(path));
        }
        (!self.url.contains("://") && !looks_like_scp(&self.url)).then(|| PathBuf::from(&self.url))
    }
}

fn resolve_access(
    section: &GitSection,
    non_empty: &impl Fn(&str) -> Option<String>,
) -> Result<GitAccess, GitConfigError> {
    use hookbox_core::env_names::{
        GIT_PASSWORD, GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY, GIT_SSH_KEY, GIT_SSH_KEYPASS,
        GIT_SSH_KNOWN_HOSTS, GIT_SSH_USER, GIT_USER,
    };
    for (present, key, variable) in [
        (section.password.is_some(), "password", GIT_PASSWORD),
        (section.ssh_key.is_some(), "ssh_key", GIT_SSH_KEY),
        (
            section.ssh_keypass.is_some(),
            "ssh_keypass",
            GIT_SSH_KEYPASS,
        ),
    ] {
        if present {
            return Err(GitConfigError::SecretInFile { key, variable });
        }
    }
    let insecure = match non_empty(GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY) {
        Some(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => {
                return Err(GitConfigError::Bad {
                    variable: GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY,
                    reason: format!("expected true or false, got {text:?}"),
                });
            }
        },
        None => section.ssh_insecure_accept_any_host_key.unwrap_or(false),
    };
    // A password or passphrase is taken as given; only a surrounding line
    // break (common when pasted into a secret store) is removed.
    let secret =
        |name: &str| non_empty(name).map(|value| Secret::new(value.trim_end_matches(['\r', '\n'])));
    Ok(GitAccess {
        user: non_empty(GIT_USER)
            .or_else(|| section.user.clone())
            .unwrap_or_else(|| DEFAULT_USER.to_owned()),
        password: secret(GIT_PASSWORD),
        ssh_key: non_empty(GIT_SSH_KEY).map(Secret::new),
        ssh_user: non_empty(GIT_SSH_USER).or_else(|| section.ssh_user.clone()),
        ssh_keypass: secret(GIT_SSH_KEYPASS),
        ssh_known_hosts: non_empty(GIT_SSH_KNOWN_HOSTS).or_else(|| section.ssh_known_hosts.clone()),
        ssh_insecure_accept_any_host_key: insecure,
    })
}

fn check_transport(url: &str, access: &GitAccess) -> Result<(), GitConfigError> {
    use hookbox_core::env_names::{
        GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY, GIT_SSH_KEY, GIT_SSH_KEYPASS, GIT_SSH_KNOWN_HOSTS,
    };
    let unsupported = |reason: String| GitConfigError::Unsupported {
        url: redact_url(url),
        reason,
    };
    match Transport::of(url).map_err(unsupported)? {
        Transport::Local | Transport::Http => Ok(()),
        Transport::Ssh => {
            let Some(key) = &access.ssh_key else {
                return Err(unsupported(format!(
                    "an SSH repository needs a private key: set {GIT_SSH_KEY}"
                )));
            };
            let encrypted = super::ssh::key_is_encrypted(key.expose()).map_err(|reason| {
                GitConfigError::Bad {
                    variable: GIT_SSH_KEY,
                    reason,
                }
            })?;
            if encrypted && access.ssh_keypass.is_none() {
                return Err(GitConfigError::Bad {
                    variable: GIT_SSH_KEY,
                    reason: format!("the key is passphrase-protected: set {GIT_SSH_KEYPASS}"),
                });
            }
            if access.ssh_known_hosts.is_none() && !access.ssh_insecure_accept_any_host_key {
                return Err(unsupported(format!(
                    "SSH host keys are verified: set {GIT_SSH_KNOWN_HOSTS} to the server's known_hosts lines \
                     (ssh-keyscan prints them), or {GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY}=true to accept any \
                     host key (insecure)"
                )));
            }
            Ok(())
        }
    }
}

hookbox_core::failure::categorized!(Usage: GitConfigError);

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
        b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
        -----END OPENSSH PRIVATE KEY-----\n";

    #[test]
    fn hoop_names_resolve() {
        let settings = GitConfig::resolve(
            &GitSection::default(),
            env(&[
                ("GIT_URL", "/srv/runbooks"),
                ("GIT_HOOK_CONFIG_TTL", "300"),
                ("GIT_BRANCH", "prod"),
            ]),
        )
        .unwrap();
        let config = settings.config;
        assert_eq!(config.ttl, Duration::from_secs(300));
        assert_eq!(config.branch.as_deref(), Some("prod"));
        assert_eq!(config.local_path(), Some(PathBuf::from("/srv/runbooks")));
        assert_eq!(settings.access, GitAccess::default());
        assert_eq!(settings.access.user, "oauth2");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let section = GitSection {
            url: Some("/from/file".into()),
            branch: Some("main".into()),
            ttl: Some(hookbox_core::units::ConfigDuration(Duration::from_secs(60))),
            user: Some("file-user".into()),
            ..GitSection::default()
        };
        let settings = GitConfig::resolve(
            &section,
            env(&[("GIT_URL", "file:///from/env"), ("GIT_USER", "env-user")]),
        )
        .unwrap();
        assert_eq!(settings.config.url, "file:///from/env");
        assert_eq!(settings.config.ttl, Duration::from_secs(60));
        assert_eq!(settings.access.user, "env-user");
    }

    #[test]
    fn a_missing_or_zero_ttl_is_an_error() {
        assert!(matches!(
            GitConfig::resolve(&GitSection::default(), env(&[("GIT_URL", "/r")])),
            Err(GitConfigError::NoTtl)
        ));
        assert!(matches!(
            GitConfig::resolve(
                &GitSection::default(),
                env(&[("GIT_URL", "/r"), ("GIT_HOOK_CONFIG_TTL", "0")])
            ),
            Err(GitConfigError::BadTtl(_))
        ));
        // The file writes durations as everywhere in it; the variable stays
        // Hoop's whole seconds.
        let section: GitSection = toml::from_str("url = \"/r\"\nttl = \"5m\"").unwrap();
        let settings = GitConfig::resolve(&section, env(&[])).unwrap();
        assert_eq!(settings.config.ttl, Duration::from_secs(300));
        assert!(toml::from_str::<GitSection>("ttl = \"0s\"").is_err());
        assert!(matches!(
            GitConfig::resolve(&section, env(&[("GIT_HOOK_CONFIG_TTL", "5m")])),
            Err(GitConfigError::BadTtl(_))
        ));
    }

    #[test]
    fn credentials_never_show_in_messages() {
        assert_eq!(
            redact_url("https://oauth2:tok3n@git.example.com/org/runbooks"),
            "https://git.example.com/org/runbooks"
        );
        let error = GitConfig::resolve(
            &GitSection::default(),
            env(&[
                ("GIT_URL", "http://oauth2:tok3n@git.example.com/r"),
                ("GIT_HOOK_CONFIG_TTL", "5"),
            ]),
        )
        .unwrap_err();
        assert!(!error.to_string().contains("tok3n"), "{error}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let settings = GitConfig::resolve(
            &GitSection::default(),
            env(&[
                ("GIT_URL", "ssh://git@git.example.com/org/runbooks"),
                ("GIT_HOOK_CONFIG_TTL", "5"),
                ("GIT_PASSWORD", "pa55w0rd-value"),
                ("GIT_SSH_KEY", KEY),
                ("GIT_SSH_KEYPASS", "key-pa55phrase"),
                ("GIT_SSH_KNOWN_HOSTS", "git.example.com ssh-ed25519 AAAA"),
            ]),
        )
        .unwrap();
        let shown = format!("{settings:?} {:#?}", settings.access);
        for secret in ["pa55w0rd-value", "key-pa55phrase", "b3BlbnNzaC1rZXkt"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("[redacted]"));
        assert_eq!(
            settings.access.scrub("auth failed for pa55w0rd-value"),
            "auth failed for [redacted]"
        );
        let with_token = GitConfig::resolve(
            &GitSection::default(),
            env(&[
                ("GIT_URL", "https://oauth2:tok3n@git.example.com/r"),
                ("GIT_HOOK_CONFIG_TTL", "5"),
            ]),
        )
        .unwrap();
        let shown = format!("{with_token:?}");
        assert!(!shown.contains("tok3n"), "{shown}");
        assert!(shown.contains("https://git.example.com/r"), "{shown}");
    }

    #[test]
    fn https_and_ssh_are_accepted_and_plain_http_only_on_loopback() {
        assert_eq!(
            Transport::of("https://git.example.com/r"),
            Ok(Transport::Http)
        );
        assert_eq!(
            Transport::of("http://127.0.0.1:8080/r"),
            Ok(Transport::Http)
        );
        assert_eq!(Transport::of("http://[::1]:8080/r"), Ok(Transport::Http));
        assert_eq!(Transport::of("http://localhost/r"), Ok(Transport::Http));
        assert!(Transport::of("http://git.example.com/r").is_err());
        assert!(Transport::of("http://10.0.0.1/r").is_err());
        assert_eq!(Transport::of("ssh://git@host/r"), Ok(Transport::Ssh));
        assert_eq!(
            Transport::of("git@github.com:org/r.git"),
            Ok(Transport::Ssh)
        );
        assert_eq!(Transport::of("/srv/runbooks"), Ok(Transport::Local));
        assert_eq!(Transport::of("file:///srv/runbooks"), Ok(Transport::Local));
        assert!(Transport::of("ftp://host/r").is_err());
    }

    #[test]
    fn ssh_needs_a_key_and_known_hosts_unless_insecure_is_named() {
        let resolve = |pairs: &'static [(&'static str, &'static str)]| {
            GitConfig::resolve(&GitSection::default(), env(pairs))
        };
        let error = resolve(&[
            ("GIT_URL", "git@git.example.com:org/runbooks.git"),
            ("GIT_HOOK_CONFIG_TTL", "5"),
        ])
        .unwrap_err();
        assert!(error.to_string().contains("set GIT_SSH_KEY"), "{error}");
        let error = resolve(&[
            ("GIT_URL", "git@git.example.com:org/runbooks.git"),
            ("GIT_HOOK_CONFIG_TTL", "5"),
            ("GIT_SSH_KEY", KEY),
        ])
        .unwrap_err();
        assert!(error.to_string().contains("GIT_SSH_KNOWN_HOSTS"), "{error}");
        assert!(error.to_string().contains("insecure"), "{error}");
        let settings = resolve(&[
            ("GIT_URL", "git@git.example.com:org/runbooks.git"),
            ("GIT_HOOK_CONFIG_TTL", "5"),
            ("GIT_SSH_KEY", KEY),
            ("GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY", "true"),
        ])
        .unwrap();
        assert!(settings.access.ssh_insecure_accept_any_host_key);
        let error = resolve(&[
            ("GIT_URL", "git@git.example.com:org/runbooks.git"),
            ("GIT_HOOK_CONFIG_TTL", "5"),
            ("GIT_SSH_KEY", "not a key at all"),
            ("GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY", "true"),
        ])
        .unwrap_err();
        assert!(error.to_string().starts_with("GIT_SSH_KEY:"), "{error}");
        assert!(!error.to_string().contains("not a key at all"), "{error}");
    }

    #[test]
    fn secrets_in_the_file_are_refused_by_name() {
        let section: GitSection =
            toml::from_str("url = \"/r\"\nttl = 5\npassword = \"x\"").unwrap();
        let error = GitConfig::resolve(&section, env(&[])).unwrap_err();
        assert_eq!(
            error,
            GitConfigError::SecretInFile {
                key: "password",
                variable: "GIT_PASSWORD"
            }
        );
        let section: GitSection = toml::from_str(
            "url = \"/r\"\nttl = 5\nuser = \"ci\"\nssh_user = \"deploy\"\n\
             ssh_known_hosts = \"host ssh-ed25519 AAAA\"\nssh_insecure_accept_any_host_key = false",
        )
        .unwrap();
        let access = GitConfig::resolve(&section, env(&[])).unwrap().access;
        assert_eq!(access.user, "ci");
        assert_eq!(access.ssh_user.as_deref(), Some("deploy"));
        assert_eq!(
            access.ssh_known_hosts.as_deref(),
            Some("host ssh-ed25519 AAAA")
        );
    }
}
