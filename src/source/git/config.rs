//! Where the runbooks repository is and how long a fetched snapshot is good
//! for, named as Hoop names them (`GIT_URL`, `GIT_BRANCH`,
//! `GIT_HOOK_CONFIG_TTL`) so an operator can reuse their Hoop settings.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The `[git]` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSection {
    /// The repository (`GIT_URL`).
    pub url: Option<String>,
    /// The branch (`GIT_BRANCH`); default: the remote's HEAD, else `main`, else `master`.
    pub branch: Option<String>,
    /// Seconds a fetched snapshot is used before fetching again (`GIT_HOOK_CONFIG_TTL`).
    pub ttl: Option<u64>,
}

/// A resolved git source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitConfig {
    /// The repository as given.
    pub url: String,
    /// The branch to follow, if one was named.
    pub branch: Option<String>,
    /// How long a snapshot is served before the next fetch.
    pub ttl: Duration,
}

/// Why the git source settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitConfigError {
    /// No repository was named.
    #[error("no runbooks repository: set GIT_URL (or [git] url in the configuration file)")]
    NoUrl,
    /// The TTL is missing, zero or not a number.
    #[error(
        "GIT_HOOK_CONFIG_TTL must be a whole number of seconds greater than zero (hooks are off without it, as in Hoop); got {0:?}"
    )]
    BadTtl(String),
    /// The URL uses a transport this build does not speak yet.
    #[error("GIT_URL {url:?}: {reason}")]
    Unsupported {
        /// The URL as given (credentials removed).
        url: String,
        /// Why.
        reason: String,
    },
}

impl GitConfig {
    /// Resolves the source from the environment over the `[git]` section.
    pub fn resolve(
        section: &GitSection,
        host_env: impl Fn(&str) -> Option<String>,
    ) -> Result<GitConfig, GitConfigError> {
        use crate::env_names::{GIT_BRANCH, GIT_HOOK_CONFIG_TTL, GIT_URL};
        let non_empty = |name: &str| host_env(name).filter(|value| !value.trim().is_empty());
        let url = non_empty(GIT_URL)
            .or_else(|| section.url.clone())
            .ok_or(GitConfigError::NoUrl)?;
        let branch = non_empty(GIT_BRANCH).or_else(|| section.branch.clone());
        let ttl_text =
            non_empty(GIT_HOOK_CONFIG_TTL).or_else(|| section.ttl.map(|t| t.to_string()));
        let ttl = match ttl_text {
            Some(text) => match text.trim().parse::<u64>() {
                Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                _ => return Err(GitConfigError::BadTtl(text)),
            },
            None => return Err(GitConfigError::BadTtl(String::new())),
        };
        check_transport(&url)?;
        Ok(GitConfig { url, branch, ttl })
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

fn looks_like_scp(url: &str) -> bool {
    // git@host:org/repo
    url.split_once(':')
        .is_some_and(|(before, _)| before.contains('@') && !before.contains('/'))
}

fn check_transport(url: &str) -> Result<(), GitConfigError> {
    let unsupported = |reason: &str| GitConfigError::Unsupported {
        url: redact_url(url),
        reason: reason.to_owned(),
    };
    if url.starts_with("http://") || url.starts_with("https://") {
        return Err(unsupported(
            "HTTP(S) git sources are not supported by this build yet; use a local path or file:// URL",
        ));
    }
    if url.starts_with("ssh://") || looks_like_scp(url) {
        return Err(unsupported(
            "SSH git sources are not supported by this build yet; use a local path or file:// URL",
        ));
    }
    if url.contains("://") && !url.starts_with("file://") {
        return Err(unsupported(
            "unknown transport; use a local path or file:// URL",
        ));
    }
    Ok(())
}

/// `https://user:secret@host/x` -> `https://host/x`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

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

    #[test]
    fn hoop_names_resolve() {
        let config = GitConfig::resolve(
            &GitSection::default(),
            env(&[
                ("GIT_URL", "/srv/runbooks"),
                ("GIT_HOOK_CONFIG_TTL", "300"),
                ("GIT_BRANCH", "prod"),
            ]),
        )
        .unwrap();
        assert_eq!(config.ttl, Duration::from_secs(300));
        assert_eq!(config.branch.as_deref(), Some("prod"));
        assert_eq!(config.local_path(), Some(PathBuf::from("/srv/runbooks")));
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let section = GitSection {
            url: Some("/from/file".into()),
            branch: Some("main".into()),
            ttl: Some(60),
        };
        let config = GitConfig::resolve(&section, env(&[("GIT_URL", "file:///from/env")])).unwrap();
        assert_eq!(config.url, "file:///from/env");
        assert_eq!(config.ttl, Duration::from_secs(60));
    }

    #[test]
    fn a_missing_or_zero_ttl_is_an_error() {
        assert!(matches!(
            GitConfig::resolve(&GitSection::default(), env(&[("GIT_URL", "/r")])),
            Err(GitConfigError::BadTtl(_))
        ));
        assert!(matches!(
            GitConfig::resolve(
                &GitSection::default(),
                env(&[("GIT_URL", "/r"), ("GIT_HOOK_CONFIG_TTL", "0")])
            ),
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
                ("GIT_URL", "https://oauth2:tok3n@git.example.com/r"),
                ("GIT_HOOK_CONFIG_TTL", "5"),
            ]),
        )
        .unwrap_err();
        assert!(!error.to_string().contains("tok3n"), "{error}");
    }
}
