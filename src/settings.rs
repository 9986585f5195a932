//! Settings resolved in one place: command-line flags over the configuration
//! file over documented defaults; lists (rules, variables, secrets) from the
//! file and the flags are combined. A setting is declared once: the limits
//! ([`LimitSettings`], declared with the other limits) and `hookbox serve`'s settings ([`ServiceSection`]) are
//! each one struct that is both the flags and the file's section; the file is
//! found by [`ConfigFile::find`] alone, and the environment is read through
//! [`crate::env_names::from_process`] (a function argument tests replace).
//!
//! The configuration file is TOML, named by `--config` or `HOOKBOX_CONFIG`:
//!
//! ```toml
//! [limits]
//! timeout = "5s"
//! memory = "64MiB"
//! fuel = 10000000000
//! max_output = "64KiB"
//! max_payload = "1MiB"
//! max_http_body = "10MiB"
//!
//! [egress]
//! allow = ["https://siem.example.com", "tcp://10.1.2.3:514"]
//! unverified_tls = []   # destinations where hooks may turn TLS checks off
//! ca_bundle = "siem-ca.pem"          # relative to this file
//! [[egress.client_certificates]]     # presented by the host; the key never enters the sandbox
//! destination = "https://siem.example.com"
//! cert = "siem-client.pem"           # relative to this file
//! key = "siem-client.key"
//!
//! [secrets]
//! pass = ["envvar:SIEM_TOKEN"]       # connection_envs keys hooks may see
//! mask_urls = ["*.collector.example.com"]  # hosts whose URL paths are secrets
//!
//! [[secrets.inject]]                 # the hook holds a placeholder; the host injects the value
//! name = "SIEM_TOKEN"
//! from_env = "HOOKBOX_SIEM_TOKEN"    # or from_file = "siem.token" (relative to this file)
//! destinations = ["https://siem.example.com:8088"]
//!
//! [env]
//! pass = ["SIEM_REGION", "MODE=production"]
//!
//! [git]                              # the GIT_* variables win
//! url = "https://git.example.com/ops/runbooks.git"   # or git@host:org/repo, ssh://, file://, a path
//! branch = "main"
//! ttl = "5m"                       # or 300 (seconds); GIT_HOOK_CONFIG_TTL: seconds
//! user = "oauth2"                    # GIT_PASSWORD, GIT_SSH_KEY, GIT_SSH_KEYPASS: environment only
//! ssh_user = "git"
//! ssh_known_hosts = "git.example.com ssh-ed25519 AAAA..."
//! allowed_signers = "/etc/hookbox/allowed_signers"   # only commits these SSH keys signed run
//!
//! [service]                          # hookbox serve; flags win
//! listen = "127.0.0.1:8787"
//! data_dir = "/var/lib/hookbox"
//! concurrency = 8
//! max_spool = 100000
//! grace = "10s"
//! max_connections = 512
//! header_timeout = "10s"
//! spool = "postgres://hookbox@db.internal/hookbox?sslmode=require"  # shared by instances
//! spool_password_file = "/etc/hookbox/db-password"   # else HOOKBOX_SPOOL_PASSWORD
//! lease = "30s"
//! retain = "7d"                      # succeeded and skipped runs
//! retain_dead = "30d"                # dead runs nobody replayed
//! release_idle = "60s"               # memory kept warm for runs, released when idle
//! [service.retry]
//! max_attempts = 8
//! first_delay = "2s"
//! max_delay = "5m"
//! max_age = "24h"
//!
//! [python]                           # hookbox python, the drop-in
//! service = "http://127.0.0.1:8787"  # hand events to hookbox serve
//! token_file = "token"               # else HOOKBOX_TOKEN; relative to this file
//! fallback = "run"                   # or "fail", when the service does not take one
//! patience = "5s"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::env_names;
use crate::sandbox::egress::address::Host;
use crate::sandbox::egress::inject::{InjectedSecret, SecretInjection};
use crate::sandbox::egress::mask::UrlMasks;
use crate::sandbox::egress::operator_identity::{OperatorIdentities, OperatorIdentity};
use crate::sandbox::egress::policy::{EgressPolicy, RuleError};
use crate::sandbox::limits::LimitSettings;
use crate::service::listen::ConnectionLimits;
use crate::units::{self, UnitError};

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A duration, size or count cannot be used.
    #[error(transparent)]
    Unit(#[from] UnitError),
    /// A `[[secrets.inject]]` entry cannot be used (its value is never
    /// shown).
    #[error("[[secrets.inject]] {name:?}: {reason}")]
    BadInjectedSecret {
        /// The entry's variable.
        name: String,
        /// Why.
        reason: String,
    },
    /// An `--env` entry names no usable variable.
    #[error("--env {entry:?}: {reason}")]
    BadEnv {
        /// What was given.
        entry: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// An egress rule does not parse.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// An operator's client certificate cannot be used.
    #[error("client certificate for {destination}: {reason}")]
    ClientCertificate {
        /// The destination it was given for.
        destination: String,
        /// What is wrong.
        reason: crate::sandbox::egress::operator_identity::IdentityError,
    },
    /// The CA bundle cannot be read or holds no usable certificate.
    #[error("--ca-bundle {path}: {reason}")]
    CaBundle {
        /// The file given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The configuration file cannot be read or parsed.
    #[error("configuration file {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column where known.
        reason: String,
    },
    /// A `[secrets] mask_urls` entry is not a host pattern.
    #[error(
        "[secrets] mask_urls {entry:?}: {reason} (write a host, like siem.example.com or *.example.com)"
    )]
    BadMaskHost {
        /// What was given.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// No data directory could be found.
    #[error(
        "no data directory: pass --data-dir or set {} to a writable directory",
        env_names::DATA_DIR
    )]
    NoDataDir,
    /// No cache directory could be found.
    #[error(
        "no cache directory: set {} to a writable directory",
        env_names::CACHE_DIR
    )]
    NoCacheDir,
    /// `--spool` is not a PostgreSQL URL.
    #[error(
        "--spool takes a PostgreSQL URL (postgres://user@host:5432/dbname); without it the \
         embedded spool in --data-dir is used"
    )]
    BadSpool,
    /// The spool's password file cannot be read.
    #[error("--spool-password-file {path}: {reason}")]
    SpoolPassword {
        /// The file given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The configuration file. Every section and key is optional; unknown keys
/// are errors, so a typo does not silently fall back to a default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[limits]`
    #[serde(default)]
    pub limits: LimitSettings,
    /// `[egress]`
    #[serde(default)]
    pub egress: EgressSection,
    /// `[secrets]`
    #[serde(default)]
    pub secrets: SecretsSection,
    /// `[env]`
    #[serde(default)]
    pub env: EnvSection,
    /// `[git]`: the runbooks repository (the `GIT_*` variables win over it).
    #[serde(default)]
    pub git: crate::source::git::config::GitSection,
    /// `[service]`: `hookbox serve` (flags win over it).
    #[serde(default)]
    pub service: ServiceSection,
    /// `[python]`: the drop-in `hookbox python`.
    #[serde(default)]
    pub python: PythonSection,
}

/// The settings of `hookbox serve`, declared once: each field is both a flag
/// (`--max-spool`) and a key of the `[service]` section (`max_spool`); all
/// optional, with the defaults of [`ServiceSettings`].
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Where the spool lives [env: HOOKBOX_DATA_DIR; default:
    /// $XDG_DATA_HOME/hookbox].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Run hooks from this runbooks folder (holding hoop-hooks/) instead of
    /// the git source (GIT_URL, ...).
    #[arg(long, value_name = "DIR")]
    pub hooks_dir: Option<PathBuf>,
    /// Hooks running at the same time, at most [default: 4].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Waiting runs beyond which intake answers 503 [default: 100000].
    #[arg(long, value_name = "N")]
    pub max_spool: Option<u64>,
    /// How long running hooks may take to finish after SIGTERM [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,
    /// Intake connections open at the same time; one more is answered 503
    /// [default: 512].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// How long a client may take to send a request's headers [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub header_timeout: Option<String>,
    /// A PostgreSQL database several instances share as their spool
    /// (postgres://user@host:5432/dbname?sslmode=require), instead of the
    /// embedded one in --data-dir [env: HOOKBOX_SPOOL].
    #[arg(long, value_name = "URL")]
    pub spool: Option<String>,
    /// A file holding the --spool database's password [env:
    /// HOOKBOX_SPOOL_PASSWORD holds the password itself].
    #[arg(long, value_name = "FILE")]
    pub spool_password_file: Option<PathBuf>,
    /// With --spool: how long a claimed run stays this instance's without
    /// renewal; a run of an instance that died is taken over after it
    /// [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub lease: Option<String>,
    /// How long succeeded and skipped runs (and dead runs that were
    /// replayed) are kept [default: 7d].
    #[arg(long, value_name = "DURATION")]
    pub retain: Option<String>,
    /// How long dead runs nobody replayed are kept [default: 30d].
    #[arg(long, value_name = "DURATION")]
    pub retain_dead: Option<String>,
    /// After this long with no hook running, the memory kept warm for the
    /// next runs is returned to the system; the next run is a few
    /// milliseconds slower [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub release_idle: Option<String>,
    /// `[service.retry]`: when failed runs are tried again (file only).
    #[serde(default)]
    #[arg(skip)]
    pub retry: crate::service::retry::RetryPolicy,
}

/// What `hookbox serve` runs with, defaults filled in.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// The address to listen on.
    pub listen: String,
    /// The spool's directory.
    pub data_dir: PathBuf,
    /// A runbooks folder to run hooks from instead of the git source.
    pub hooks_dir: Option<PathBuf>,
    /// Hooks running at the same time, at most (at least 1).
    pub concurrency: usize,
    /// Waiting runs beyond which intake refuses events.
    pub max_spool: u64,
    /// How long running hooks may take to finish after SIGTERM.
    pub grace: Duration,
    /// How many intake connections are held open and how fast headers come.
    pub connections: ConnectionLimits,
    /// When failed runs are tried again.
    pub retry: crate::service::retry::RetryPolicy,
    /// How long runs are kept once they will not run again.
    pub retention: crate::service::spool::Retention,
    /// Where the spool is.
    pub spool: crate::service::spool::SpoolLocation,
    /// How long no hook runs before the warm memory is released.
    pub release_idle: Duration,
}

impl ServiceSection {
    /// These values (the flags), falling back to `base` (the file's) for
    /// those not given; the retry policy only comes from the file.
    pub fn over(self, base: ServiceSection) -> ServiceSection {
        ServiceSection {
            listen: self.listen.or(base.listen),
            data_dir: self.data_dir.or(base.data_dir),
            hooks_dir: self.hooks_dir.or(base.hooks_dir),
            concurrency: self.concurrency.or(base.concurrency),
            max_spool: self.max_spool.or(base.max_spool),
            grace: self.grace.or(base.grace),
            max_connections: self.max_connections.or(base.max_connections),
            header_timeout: self.header_timeout.or(base.header_timeout),
            spool: self.spool.or(base.spool),
            spool_password_file: self.spool_password_file.or(base.spool_password_file),
            lease: self.lease.or(base.lease),
            retain: self.retain.or(base.retain),
            retain_dead: self.retain_dead.or(base.retain_dead),
            release_idle: self.release_idle.or(base.release_idle),
            retry: base.retry,
        }
    }

    /// Resolves the values over the defaults.
    pub fn resolve(
        self,
        host_env: impl Fn(&str) -> Option<String>,
    ) -> Result<ServiceSettings, SettingsError> {
        let defaults = ConnectionLimits::default();
        let connections = ConnectionLimits {
            max_connections: match self.max_connections {
                Some(n) => units::nonzero("--max-connections", n as u64)? as usize,
                None => defaults.max_connections,
            },
            header_timeout: match &self.header_timeout {
                Some(text) => units::parse_duration("--header-timeout", text)?,
                None => defaults.header_timeout,
            },
        };
        let kept = crate::service::spool::Retention::default();
        let retention = crate::service::spool::Retention {
            finished: match &self.retain {
                Some(text) => units::parse_duration("--retain", text)?,
                None => kept.finished,
            },
            dead: match &self.retain_dead {
                Some(text) => units::parse_duration("--retain-dead", text)?,
                None => kept.dead,
            },
        };
        let data_dir = data_dir(self.data_dir.as_deref(), &host_env)?;
        let spool = spool_location(
            self.spool,
            self.spool_password_file.as_deref(),
            self.lease.as_deref(),
            &data_dir,
            &host_env,
        )?;
        Ok(ServiceSettings {
            listen: self.listen.unwrap_or_else(|| "127.0.0.1:8787".into()),
            data_dir,
            hooks_dir: self.hooks_dir,
            concurrency: units::nonzero("--concurrency", self.concurrency.unwrap_or(4) as u64)?
                as usize,
            max_spool: units::nonzero("--max-spool", self.max_spool.unwrap_or(100_000))?,
            grace: match &self.grace {
                Some(text) => units::parse_duration("--grace", text)?,
                None => Duration::from_secs(10),
            },
            connections,
            retry: self.retry,
            retention,
            spool,
            release_idle: match &self.release_idle {
                Some(text) => units::parse_duration("--release-idle", text)?,
                None => Duration::from_secs(60),
            },
        })
    }
}

/// The shared PostgreSQL spool when a URL is given (`--spool`, else
/// `HOOKBOX_SPOOL`), with its password (`--spool-password-file`, else
/// `HOOKBOX_SPOOL_PASSWORD`); else the embedded one in `data_dir`.
pub fn spool_location(
    url: Option<String>,
    password_file: Option<&Path>,
    lease: Option<&str>,
    data_dir: &Path,
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<crate::service::spool::SpoolLocation, SettingsError> {
    use crate::service::spool::{SharedSpool, SpoolLocation};
    let Some(url) = url
        .or_else(|| host_env(env_names::SPOOL))
        .filter(|url| !url.is_empty())
    else {
        return Ok(SpoolLocation::Embedded(data_dir.to_path_buf()));
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(SettingsError::BadSpool);
    }
    let password = match password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|error| SettingsError::SpoolPassword {
                    path: path.to_path_buf(),
                    reason: error.to_string(),
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
        None => host_env(env_names::SPOOL_PASSWORD).filter(|p| !p.is_empty()),
    };
    let lease = match lease {
        Some(text) => units::parse_duration("--lease", text)?,
        None => SharedSpool::DEFAULT_LEASE,
    };
    Ok(SpoolLocation::Shared(SharedSpool {
        url,
        password,
        lease,
    }))
}

/// The directory `hookbox serve` keeps its spool in: `flag`, else
/// `HOOKBOX_DATA_DIR`, else `$XDG_DATA_HOME/hookbox`.
pub fn data_dir(
    flag: Option<&Path>,
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<PathBuf, SettingsError> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = host_env(env_names::DATA_DIR).filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::data_dir()
        .map(|dir| dir.join("hookbox"))
        .ok_or(SettingsError::NoDataDir)
}

/// `[egress]`: rules and extra CA certificates.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressSection {
    /// Rules, as for `--allow`.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Destinations where a hook may turn TLS verification off, as for
    /// `--allow-unverified-tls` (none by default).
    #[serde(default)]
    pub unverified_tls: Vec<String>,
    /// A PEM file of extra CA certificates (relative to the configuration file).
    pub ca_bundle: Option<PathBuf>,
    /// Client certificates the host presents for hooks, each to the
    /// destinations of its rule, as for `--client-cert`.
    #[serde(default)]
    pub client_certificates: Vec<ClientCertificateEntry>,
}

/// `[[egress.client_certificates]]`: a client certificate and key on the
/// host (relative to the configuration file), presented to the
/// destinations of `destination` when they ask for one.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificateEntry {
    /// An `https://` or `tcp://` rule.
    pub destination: String,
    /// The certificate chain (PEM), the client's own first.
    pub cert: PathBuf,
    /// The private key (PEM, unencrypted).
    pub key: PathBuf,
}

impl std::str::FromStr for ClientCertificateEntry {
    type Err = String;

    /// `--client-cert RULE,CERT_FILE,KEY_FILE`.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.splitn(3, ',');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(destination), Some(cert), Some(key))
                if !destination.is_empty() && !cert.is_empty() && !key.is_empty() =>
            {
                Ok(ClientCertificateEntry {
                    destination: destination.to_owned(),
                    cert: cert.into(),
                    key: key.into(),
                })
            }
            _ => Err(format!(
                "{text:?} is not RULE,CERT_FILE,KEY_FILE (e.g. \
                 https://siem.example.com,/etc/hookbox/siem.crt,/etc/hookbox/siem.key)"
            )),
        }
    }
}

/// `[secrets]`: `connection_envs` keys hooks may see.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSection {
    /// Keys, as for `--pass-secret`.
    #[serde(default)]
    pub pass: Vec<String>,
    /// Hosts (`siem.example.com` or `*.example.com`) whose URL paths are
    /// credentials: recorded masked after the first segment, as Slack, Teams
    /// and Discord webhooks always are.
    #[serde(default)]
    pub mask_urls: Vec<String>,
    /// Secrets the host puts into HTTP requests for their destinations; the
    /// hook's variable holds a placeholder.
    #[serde(default)]
    pub inject: Vec<InjectEntry>,
}

/// One `[[secrets.inject]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectEntry {
    /// The variable the hook reads (it holds a placeholder).
    pub name: String,
    /// The variable of hookbox's own environment that holds the value.
    pub from_env: Option<String>,
    /// The file that holds the value (relative to the configuration file;
    /// one trailing line break is dropped).
    pub from_file: Option<PathBuf>,
    /// Where the value may go: egress rules, `https://host[:port]` or
    /// `http://…`.
    #[serde(default)]
    pub destinations: Vec<String>,
}

/// Where injected secrets' values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretValues {
    /// Hookbox's environment and files, as each entry says.
    Host,
    /// Test values (`hookbox test`): the host's are never read.
    Test,
}

/// The value `hookbox test` gives secret `name` when its fixture gives none.
pub fn test_value(name: &str) -> String {
    format!("test-value-of-{name}")
}

/// Resolves `[[secrets.inject]]`: each value read now (or a test value),
/// so a missing one is refused at start-up.
pub fn resolve_injected_secrets(
    entries: &[InjectEntry],
    values: SecretValues,
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<SecretInjection, SettingsError> {
    let mut secrets = Vec::new();
    for entry in entries {
        let bad = |reason: String| SettingsError::BadInjectedSecret {
            name: entry.name.clone(),
            reason,
        };
        if secrets
            .iter()
            .any(|s: &InjectedSecret| s.name() == entry.name)
        {
            return Err(bad("it is listed twice".into()));
        }
        let value = match (values, &entry.from_env, &entry.from_file) {
            (_, Some(_), Some(_)) | (_, None, None) => {
                return Err(bad(
                    "give the value's source: from_env = \"VARIABLE\" or from_file = \"PATH\" \
                     (one of them)"
                        .into(),
                ));
            }
            (SecretValues::Test, _, _) => test_value(&entry.name),
            (SecretValues::Host, Some(variable), None) => host_env(variable)
                .ok_or_else(|| bad(format!("{variable} is not set in hookbox's environment")))?,
            (SecretValues::Host, None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
                text.strip_suffix('\n')
                    .map(|t| t.strip_suffix('\r').unwrap_or(t))
                    .unwrap_or(&text)
                    .to_owned()
            }
        };
        secrets.push(
            InjectedSecret::new(&entry.name, &value, &entry.destinations)
                .map_err(|e| bad(e.to_string()))?,
        );
    }
    Ok(SecretInjection::new(secrets))
}

/// `[env]`: extra variables for hooks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSection {
    /// Entries, as for `--env`.
    #[serde(default)]
    pub pass: Vec<String>,
}

/// `[python]`: where the drop-in hands events instead of running them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonSection {
    /// A `hookbox serve` to hand each event to (`http://127.0.0.1:8787`);
    /// without it the drop-in runs the hook itself.
    pub service: Option<String>,
    /// A file holding the service's token (else `HOOKBOX_TOKEN`); relative
    /// to this file.
    pub token_file: Option<PathBuf>,
    /// When the service does not take the event: run the hook here
    /// (`run`, the default) or fail (`fail`).
    #[serde(default)]
    pub fallback: Fallback,
    /// How long to keep trying the service before falling back [default: 5s].
    pub patience: Option<String>,
}

/// What the drop-in does when the service does not take an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Run the hook here, in the sandbox, at once.
    #[default]
    Run,
    /// Exit 69 with a message (Hoop records the failure).
    Fail,
}

/// Where the drop-in hands events, resolved.
#[derive(Debug, Clone)]
pub struct Forwarding {
    /// The service's base URL.
    pub service: String,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// What to do when the service does not take an event.
    pub fallback: Fallback,
    /// How long to keep trying.
    pub patience: Duration,
}

impl PythonSection {
    /// The forwarding settings, if a service is configured: the token from
    /// `token_file`, else `HOOKBOX_TOKEN`.
    pub fn forwarding(
        &self,
        host_env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Forwarding>, SettingsError> {
        let Some(service) = &self.service else {
            return Ok(None);
        };
        let token = match &self.token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| SettingsError::Config {
                    path: path.clone(),
                    reason: format!("[python] token_file cannot be read: {e}"),
                })?;
                Some(text.trim().to_owned()).filter(|token| !token.is_empty())
            }
            None => host_env(env_names::TOKEN).filter(|token| !token.is_empty()),
        };
        let patience = match &self.patience {
            Some(text) => units::parse_duration("[python] patience", text)?,
            None => Duration::from_secs(5),
        };
        Ok(Some(Forwarding {
            service: service.clone(),
            token,
            fallback: self.fallback,
            patience,
        }))
    }
}

impl ConfigFile {
    /// The configuration file: the one named by `flag`, else by
    /// `HOOKBOX_CONFIG`, else `default` when it exists (a command's usual
    /// place for one), else none (every setting at its default).
    pub fn find(
        flag: Option<&Path>,
        default: Option<&Path>,
        host_env: impl Fn(&str) -> Option<String>,
    ) -> Result<ConfigFile, SettingsError> {
        if let Some(file) = ConfigFile::named(flag, host_env)? {
            return Ok(file);
        }
        match default.filter(|path| path.is_file()) {
            Some(path) => ConfigFile::load(path),
            None => Ok(ConfigFile::default()),
        }
    }

    /// The configuration file the operator named, by `flag` or else by
    /// `HOOKBOX_CONFIG`; `None` when neither names one.
    pub fn named(
        flag: Option<&Path>,
        host_env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ConfigFile>, SettingsError> {
        let named = flag.map(Path::to_path_buf).or_else(|| {
            host_env(env_names::CONFIG)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        });
        named.map(|path| ConfigFile::load(&path)).transpose()
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<ConfigFile, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|e| SettingsError::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        ConfigFile::parse(path, &text)
    }

    /// Parses `text`, the configuration file at `path` (relative paths in it
    /// are taken from its folder).
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, SettingsError> {
        let bad = |reason: String| SettingsError::Config {
            path: path.to_path_buf(),
            reason,
        };
        let mut file: ConfigFile = toml::from_str(text)
            .map_err(|e| bad(format!("\n{}", without_secrets(e.to_string().trim_end()))))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        if let Some(bundle) = &file.egress.ca_bundle {
            file.egress.ca_bundle = Some(dir.join(bundle));
        }
        for entry in &mut file.egress.client_certificates {
            entry.cert = dir.join(&entry.cert);
            entry.key = dir.join(&entry.key);
        }
        for entry in &mut file.secrets.inject {
            if let Some(path) = &entry.from_file {
                entry.from_file = Some(dir.join(path));
            }
        }
        if let Some(token_file) = &file.python.token_file {
            file.python.token_file = Some(dir.join(token_file));
        }
        Ok(file)
    }
}

/// A TOML parser's message with what the source lines it quotes may hold
/// of a secret taken out: the user info of URLs, and the value of a key
/// that names (or misspells) a password, token, secret, key or credential.
fn without_secrets(message: &str) -> String {
    message
        .lines()
        .map(|line| {
            let quoted = line.split_once(" | ").filter(|(gutter, _)| {
                let gutter = gutter.trim();
                !gutter.is_empty() && gutter.chars().all(|c| c.is_ascii_digit())
            });
            let Some((gutter, source)) = quoted else {
                return line.to_owned();
            };
            let source = crate::sandbox::egress::mask::without_user_info(source);
            let key = source
                .split('=')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            // Misspelt too (the error is often that very key).
            let secret = ["pas", "pw", "tok", "secr", "key", "auth", "cred"]
                .iter()
                .any(|word| key.contains(word));
            match source.split_once('=') {
                Some((key, _)) if secret => {
                    format!("{gutter} | {key}= {}", crate::sandbox::egress::mask::MASK)
                }
                _ => format!("{gutter} | {source}"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Resolves `--env` entries: `NAME=VALUE` is passed as given, a bare `NAME`
/// takes hookbox's own value of that variable (which must be set).
pub fn resolve_env(
    entries: &[String],
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, SettingsError> {
    let mut resolved: Vec<(String, String)> = Vec::new();
    for entry in entries {
        let bad = |reason: &str| SettingsError::BadEnv {
            entry: entry.clone(),
            reason: reason.to_owned(),
        };
        let (name, value) = match entry.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => {
                let value = host_env(entry)
                    .ok_or_else(|| bad("no such variable is set in hookbox's environment"))?;
                (entry.clone(), value)
            }
        };
        if name.is_empty() || name.contains('\0') || value.contains('\0') {
            return Err(bad("a variable needs a non-empty name and no NUL bytes"));
        }
        if name == env_names::HOOK_PAYLOAD {
            return Err(bad("the payload variable is set by hookbox from --payload"));
        }
        resolved.retain(|(existing, _)| *existing != name);
        resolved.push((name, value));
    }
    Ok(resolved)
}

/// The egress policy from `--allow` rules (none: everything is denied) and
/// `--allow-unverified-tls` rules (none: every certificate is verified).
pub fn resolve_policy(
    rules: &[String],
    unverified_tls: &[String],
) -> Result<EgressPolicy, SettingsError> {
    Ok(EgressPolicy::parse(rules.iter().map(String::as_str))?
        .with_unverified_tls(unverified_tls.iter().map(String::as_str))?)
}

/// The operator's client certificates: each entry's files read and checked
/// now, so a bad one is refused at start-up.
pub fn resolve_client_certificates(
    entries: &[ClientCertificateEntry],
) -> Result<OperatorIdentities, SettingsError> {
    entries
        .iter()
        .map(|entry| {
            OperatorIdentity::load(&entry.destination, &entry.cert, &entry.key).map_err(|reason| {
                SettingsError::ClientCertificate {
                    destination: entry.destination.clone(),
                    reason,
                }
            })
        })
        .collect::<Result<_, _>>()
        .map(OperatorIdentities::new)
}

/// The URL masks from `[secrets] mask_urls`: each a host name, or `*.` and one.
pub fn resolve_url_masks(entries: &[String]) -> Result<UrlMasks, SettingsError> {
    for entry in entries {
        let bad = |reason: String| SettingsError::BadMaskHost {
            entry: entry.clone(),
            reason,
        };
        let wildcard = entry.strip_prefix("*.");
        let host = Host::parse(wildcard.unwrap_or(entry)).map_err(|error| bad(error.0))?;
        if wildcard.is_some() && matches!(host, Host::Ip(_)) {
            return Err(bad("a wildcard needs a domain after it".into()));
        }
    }
    Ok(UrlMasks::with_hosts(entries.iter().cloned()))
}

/// Reads and checks the operator's CA bundle, if one is given.
pub fn read_ca_bundle(path: Option<&Path>) -> Result<Vec<u8>, SettingsError> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let bad = |reason: String| SettingsError::CaBundle {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    crate::tls::parse_ca_bundle(&pem).map_err(bad)?;
    Ok(pem)
}

/// The cache directory: `HOOKBOX_CACHE_DIR`, else the platform cache directory.
pub fn cache_dir(host_env: impl Fn(&str) -> Option<String>) -> Result<PathBuf, SettingsError> {
    if let Some(dir) = host_env(env_names::CACHE_DIR).filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::cache_dir()
        .map(|dir| dir.join("hookbox"))
        .ok_or(SettingsError::NoCacheDir)
}

crate::failure::categorized!(Usage: SettingsError);

#[cfg(test)]
mod tests {
    use super::*;

    /// The TOML lines of this file's module documentation: the
    /// configuration reference.
    fn documented_example() -> String {
        include_str!("settings.rs")
            .lines()
            .skip_while(|line| *line != "//! ```toml")
            .skip(1)
            .take_while(|line| *line != "//! ```")
            .map(|line| line.strip_prefix("//! ").unwrap_or("").to_owned() + "\n")
            .collect()
    }

    #[test]
    fn the_documented_configuration_and_the_packaged_one_are_real_settings() {
        // Every key the reference shows exists (unknown keys are refused),
        // and every value has the type it needs.
        let example = documented_example();
        assert!(example.contains("[[secrets.inject]]"), "{example}");
        let file: ConfigFile = toml::from_str(&example).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            file.git.allowed_signers.as_deref(),
            Some(Path::new("/etc/hookbox/allowed_signers"))
        );
        // The package's commented file, with each setting switched on (the
        // first where it shows alternatives).
        let mut section = String::new();
        let mut seen = std::collections::HashSet::new();
        let packaged: String = include_str!("../packaging/config.toml")
            .lines()
            .map(|line| {
                let setting = line.strip_prefix("# ").unwrap_or(line);
                if setting.starts_with('[') {
                    section = setting.split('#').next().unwrap_or("").trim().to_owned();
                    if section.starts_with("[[") || seen.insert(section.clone()) {
                        return setting.to_owned() + "\n";
                    }
                } else if let Some((key, _)) = setting.split_once(" = ") {
                    let key = key.trim();
                    let plain = key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if plain && seen.insert(format!("{section}.{key}")) {
                        return setting.to_owned() + "\n";
                    }
                }
                "\n".to_owned()
            })
            .collect();
        let packaged: ConfigFile =
            toml::from_str(&packaged).unwrap_or_else(|e| panic!("{e}\n{packaged}"));
        assert!(packaged.git.url.is_some() && packaged.limits.timeout.is_some());
    }
    use crate::sandbox::limits::Limits;

    #[test]
    fn flags_override_defaults() {
        let flags = LimitSettings {
            timeout: Some("5s".into()),
            memory: Some("64MiB".into()),
            fuel: Some(1000),
            max_output: Some("1KiB".into()),
            max_scratch: Some("1MiB".into()),
            max_payload: None,
            max_http_body: Some("2MiB".into()),
        };
        let limits = flags.resolve().unwrap();
        assert_eq!(limits.scratch_bytes, 1024 * 1024);
        assert_eq!(limits.timeout, Duration::from_secs(5));
        assert_eq!(limits.memory_bytes, 64 * 1024 * 1024);
        assert_eq!(limits.fuel, 1000);
        assert_eq!(limits.output_bytes, 1024);
        assert_eq!(limits.payload_bytes, Limits::default().payload_bytes);
        assert_eq!(limits.http_body_bytes, 2 * 1024 * 1024);
    }

    #[test]
    fn flags_win_over_the_file_and_lists_combine() {
        let file: ConfigFile = toml::from_str(
            "[limits]\ntimeout = \"3s\"\nmemory = \"32MiB\"\n[egress]\nallow = [\"https://a.example.com\"]\n",
        )
        .unwrap();
        let flags = LimitSettings {
            timeout: Some("1s".into()),
            ..Default::default()
        };
        let limits = flags.over(file.limits).resolve().unwrap();
        assert_eq!(limits.timeout, Duration::from_secs(1));
        assert_eq!(limits.memory_bytes, 32 * 1024 * 1024);
    }

    #[test]
    fn service_flags_win_over_the_file_and_grace_is_checked_as_every_duration() {
        let file: ConfigFile = toml::from_str(
            "[service]\nlisten = \"0.0.0.0:9000\"\nconcurrency = 8\ngrace = \"30s\"\n[service.retry]\nmax_attempts = 3\n",
        )
        .unwrap();
        let no_env = |_: &str| None;
        let flags = ServiceSection {
            concurrency: Some(2),
            data_dir: Some("/var/lib/hookbox".into()),
            ..Default::default()
        };
        let service = flags.over(file.service.clone()).resolve(no_env).unwrap();
        assert_eq!(
            (service.listen.as_str(), service.concurrency, service.grace),
            ("0.0.0.0:9000", 2, Duration::from_secs(30))
        );
        assert_eq!(service.max_spool, 100_000, "the default");
        assert_eq!(
            service.retry.max_attempts, 3,
            "the retry policy is the file's"
        );
        assert_eq!(service.release_idle, Duration::from_secs(60), "the default");
        let idle = ServiceSection {
            release_idle: Some("0s".into()),
            data_dir: Some("/d".into()),
            ..Default::default()
        };
        assert!(matches!(
            idle.resolve(no_env),
            Err(SettingsError::Unit(UnitError::Zero { flag })) if flag == "--release-idle"
        ));
        let with_data = |grace: &str| ServiceSection {
            grace: Some(grace.into()),
            data_dir: Some("/d".into()),
            ..Default::default()
        };
        assert!(matches!(
            with_data("soon").resolve(no_env),
            Err(SettingsError::Unit(UnitError::BadDuration { flag, .. })) if flag == "--grace"
        ));
        assert!(matches!(
            with_data("0s").resolve(no_env),
            Err(SettingsError::Unit(UnitError::Zero { flag })) if flag == "--grace"
        ));
        let zero_workers = ServiceSection {
            concurrency: Some(0),
            ..with_data("1s")
        };
        assert!(matches!(
            zero_workers.resolve(no_env),
            Err(SettingsError::Unit(UnitError::Zero { flag })) if flag == "--concurrency"
        ));
    }

    #[test]
    fn the_configuration_file_is_the_flag_else_the_variable_else_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, timeout: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("[limits]\ntimeout = \"{timeout}\"\n")).unwrap();
            path
        };
        let (flag, variable, default) = (
            write("a.toml", "1s"),
            write("b.toml", "2s"),
            write("c.toml", "3s"),
        );
        let env = |name: &str| (name == env_names::CONFIG).then(|| variable.display().to_string());
        let timeout = |file: ConfigFile| file.limits.timeout.unwrap_or_default();
        let found =
            |flag: Option<&Path>, env: &dyn Fn(&str) -> Option<String>, default: Option<&Path>| {
                timeout(ConfigFile::find(flag, default, env).unwrap())
            };
        let no_env = |_: &str| None;
        assert_eq!(found(Some(&flag), &env, Some(&default)), "1s");
        assert_eq!(found(None, &env, Some(&default)), "2s");
        assert_eq!(found(None, &no_env, Some(&default)), "3s");
        assert_eq!(
            found(None, &no_env, Some(&dir.path().join("none.toml"))),
            ""
        );
        assert_eq!(found(None, &no_env, None), "");
        assert!(
            matches!(
                ConfigFile::find(Some(&dir.path().join("none.toml")), None, no_env),
                Err(SettingsError::Config { .. })
            ),
            "a named file must exist"
        );
    }

    #[test]
    fn url_masks_are_host_patterns() {
        let masks = resolve_url_masks(&["*.example.com".into(), "siem.internal".into()]).unwrap();
        assert_eq!(masks.path("a.example.com", "/in/t0ken"), "/in/[redacted]");
        for bad in ["https://x.example.com/", "*.10.0.0.1", "a b", ""] {
            assert!(
                matches!(
                    resolve_url_masks(&[bad.to_owned()]),
                    Err(SettingsError::BadMaskHost { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        assert!(toml::from_str::<ConfigFile>("[limits]\ntimeout_secs = 3\n").is_err());
        assert!(toml::from_str::<ConfigFile>("[egres]\nallow = []\n").is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let flags = LimitSettings {
            timeout: Some("soon".into()),
            ..Default::default()
        };
        assert!(matches!(
            flags.resolve(),
            Err(UnitError::BadDuration { flag, .. }) if flag == "--timeout"
        ));
        let flags = LimitSettings {
            memory: Some("lots".into()),
            ..Default::default()
        };
        assert!(matches!(
            flags.resolve(),
            Err(UnitError::BadSize { flag, .. }) if flag == "--memory"
        ));
    }

    #[test]
    fn env_entries_take_host_values_or_literals() {
        let host = |name: &str| (name == "REGION").then(|| "eu-west-1".to_owned());
        let env = resolve_env(&["REGION".into(), "MODE=test".into()], host).unwrap();
        assert_eq!(
            env,
            vec![
                ("REGION".into(), "eu-west-1".into()),
                ("MODE".into(), "test".into())
            ]
        );
        assert!(matches!(
            resolve_env(&["MISSING".into()], host),
            Err(SettingsError::BadEnv { .. })
        ));
        assert!(matches!(
            resolve_env(&["HOOP_RUNBOOK_HOOK_PAYLOAD=x".into()], host),
            Err(SettingsError::BadEnv { .. })
        ));
    }
}
