//! The flags every command that runs hooks shares: limits, environment,
//! egress policy and secrets.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::env_names;
use crate::intake::SecretPolicy;
use crate::runtime::config::SandboxConfig;
use crate::sandbox::limits::LimitSettings;
use crate::settings::{self, ConfigFile, SecretValues, SettingsError};

/// Limits, environment and egress flags.
#[derive(Debug, Clone, Args)]
pub struct SandboxFlags {
    /// A configuration file (TOML) with [limits], [egress], [secrets], [env],
    /// [git], [service] and [service.retry]; flags and environment variables
    /// (GIT_* over [git]) win over it, lists are combined [env:
    /// HOOKBOX_CONFIG].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitSettings,
    /// Pass an environment variable to the hook: `NAME` (hookbox's own value)
    /// or `NAME=VALUE`. Repeatable. Nothing else of the environment is passed.
    #[arg(long = "env", value_name = "NAME[=VALUE]")]
    env: Vec<String>,
    /// Allow outgoing traffic matching a rule, `scheme://host[:port]`, e.g.
    /// `https://siem.example.com` or `tcp://10.1.2.3:514`. Repeatable; without
    /// any, all network access is denied.
    #[arg(long = "allow", value_name = "RULE")]
    allow: Vec<String>,
    /// Let hooks turn TLS verification off (`CERT_NONE`, `check_hostname =
    /// False`, `verify=False`) for destinations matching this rule,
    /// `https://host[:port]` or `tcp://host:port`. Repeatable; without any,
    /// every certificate is verified whatever the hook asks. Insecure: use
    /// only for a collector whose certificate cannot be verified.
    #[arg(long = "allow-unverified-tls", value_name = "RULE")]
    allow_unverified_tls: Vec<String>,
    /// PEM file of extra CA certificates to trust for HTTPS, besides the
    /// system's roots.
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
    /// Present a client certificate held on the host to destinations
    /// matching a rule when they ask for one: `RULE,CERT_FILE,KEY_FILE`
    /// (PEM; the key unencrypted), e.g.
    /// `https://siem.example.com,/etc/hookbox/siem.crt,/etc/hookbox/siem.key`.
    /// The key never enters the sandbox; the record names the certificate
    /// by its SHA-256. Repeatable; the first matching rule wins.
    #[arg(long = "client-cert", value_name = "RULE,CERT,KEY")]
    client_cert: Vec<settings::ClientCertificateEntry>,
    /// Let hooks see the real value of this `connection_envs` key (e.g.
    /// `envvar:SIEM_TOKEN`); every other value is redacted. Repeatable.
    #[arg(long = "pass-secret", value_name = "KEY")]
    pass_secret: Vec<String>,
}

/// What the flags resolve to.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// The sandbox settings for each run.
    pub config: SandboxConfig,
    /// Extra trusted CA certificates (PEM).
    pub ca_bundle: Vec<u8>,
    /// The file they were read from.
    pub ca_bundle_path: Option<PathBuf>,
}

impl SandboxFlags {
    /// The configuration file named by `--config` or `HOOKBOX_CONFIG`, else
    /// `default` if given and it exists.
    pub fn config_file(
        &self,
        default: Option<&std::path::Path>,
    ) -> Result<ConfigFile, SettingsError> {
        ConfigFile::find(self.config.as_deref(), default, env_names::from_process)
    }

    /// The configuration file the operator named (`--config` or
    /// `HOOKBOX_CONFIG`), if any.
    pub fn named_config_file(&self) -> Result<Option<ConfigFile>, SettingsError> {
        ConfigFile::named(self.config.as_deref(), env_names::from_process)
    }

    /// Resolves the flags over an already loaded configuration file.
    pub fn resolve_with(&self, file: ConfigFile) -> Result<SandboxSettings, SettingsError> {
        self.resolve_with_values(file, SecretValues::Host)
    }

    /// [`SandboxFlags::resolve_with`], with injected secrets' values taken
    /// as `values` says.
    pub fn resolve_with_values(
        &self,
        file: ConfigFile,
        values: SecretValues,
    ) -> Result<SandboxSettings, SettingsError> {
        let limits = self.limits.clone().over(file.limits).resolve()?;
        let mut env = settings::resolve_env(
            &[file.env.pass, self.env.clone()].concat(),
            env_names::from_process,
        )?;
        let injected = settings::resolve_injected_secrets(
            &file.secrets.inject,
            values,
            env_names::from_process,
        )?;
        for (name, placeholder) in injected.env() {
            if env.iter().any(|(passed, _)| *passed == name) {
                return Err(SettingsError::BadInjectedSecret {
                    name,
                    reason: "the variable is also passed to hooks ([env] or --env); a secret the \
                             host injects is never in the sandbox: drop it there"
                        .into(),
                });
            }
            env.push((name, placeholder));
        }
        let policy = settings::resolve_policy(
            &[file.egress.allow, self.allow.clone()].concat(),
            &[
                file.egress.unverified_tls,
                self.allow_unverified_tls.clone(),
            ]
            .concat(),
        )?;
        let ca_bundle_path = self
            .ca_bundle
            .clone()
            .or_else(|| file.egress.ca_bundle.clone());
        let ca_bundle = settings::read_ca_bundle(ca_bundle_path.as_deref())?;
        let client_identities = settings::resolve_client_certificates(
            &[self.client_cert.clone(), file.egress.client_certificates].concat(),
        )?;
        let secrets = SecretPolicy::passing(
            file.secrets
                .pass
                .iter()
                .cloned()
                .chain(self.pass_secret.iter().cloned()),
        );
        Ok(SandboxSettings {
            config: SandboxConfig {
                limits,
                env,
                egress: Arc::new(policy),
                client_identities: Arc::new(client_identities),
                egress_mode: Default::default(),
                secrets,
                url_masks: Arc::new(settings::resolve_url_masks(&file.secrets.mask_urls)?),
                injected_secrets: Arc::new(injected),
            },
            ca_bundle,
            ca_bundle_path,
        })
    }
}
