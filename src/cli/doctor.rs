//! `hookbox doctor`: checks a set-up as a whole, reading the configuration
//! and environment the drop-in and the service read, and says for each
//! check that fails how to fix it. A check that does not apply (no git
//! source, no service) is shown as skipped. Never prints a secret.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::sandbox_flags::SandboxFlags;
use super::stdout::outln;
use crate::env_names;
use crate::runtime::Runtime;
use crate::settings::ConfigFile;
use crate::source::git::SourceError;
use crate::source::git::fetch::FetchError;

/// `hookbox doctor`
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    sandbox: SandboxFlags,
    /// One JSON object instead of lines.
    #[arg(long)]
    json: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Failed,
    Skipped,
}

/// One check: what was checked, what was found, and how to fix a failure.
#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn ok(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Ok,
        detail: detail.into(),
        fix: None,
    }
}

fn failed(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Failed,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

fn skipped(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Skipped,
        detail: detail.into(),
        fix: None,
    }
}

impl DoctorArgs {
    /// Runs every check; exit 0 only when every check that applies holds.
    pub fn run(self) -> anyhow::Result<u8> {
        let checks = self.checks();
        let healthy = checks.iter().all(|check| check.status != Status::Failed);
        if self.json {
            outln!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "ok": healthy,
                    "checks": checks,
                }))?
            );
        } else {
            for check in &checks {
                let mark = match check.status {
                    Status::Ok => "✓",
                    Status::Failed => "✗",
                    Status::Skipped => "-",
                };
                outln!("{mark} {}: {}", check.name, check.detail);
                if let Some(fix) = &check.fix {
                    outln!("  fix: {fix}");
                }
            }
        }
        Ok(if healthy {
            crate::exit_code::OK
        } else {
            crate::exit_code::TESTS_FAILED
        })
    }

    fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let default = super::python::default_config_paths()
            .into_iter()
            .find(|path| path.is_file());
        let file = match self.sandbox.config_file(default.as_deref()) {
            Ok(file) => {
                checks.push(ok("configuration", describe_file(&self.sandbox, default)));
                file
            }
            Err(error) => {
                checks.push(failed(
                    "configuration",
                    format!("{error:#}"),
                    "correct the file (the error names the line), or point HOOKBOX_CONFIG at the right one",
                ));
                checks.push(skipped(
                    "everything else",
                    "the configuration must parse first",
                ));
                return checks;
            }
        };
        let mut ca_bundle = Vec::new();
        checks.push(match self.sandbox.resolve_with(file.clone()) {
            Ok(settings) => {
                ca_bundle.clone_from(&settings.ca_bundle);
                let policy = &settings.config.egress;
                let rules: Vec<String> = policy.rules().map(ToString::to_string).collect();
                let mut detail = if rules.is_empty() {
                    "no egress rule: hooks may reach no network (the safe default)".to_owned()
                } else {
                    format!("egress to {}", rules.join(", "))
                };
                if let Some(path) = &settings.ca_bundle_path {
                    detail += &format!("; CA bundle {} reads", path.display());
                }
                if !settings.config.client_identities.is_empty() {
                    detail += "; client certificates read and match their keys";
                }
                ok("sandbox settings", detail)
            }
            Err(error) => failed(
                "sandbox settings",
                format!("{error:#}"),
                "correct the setting the error names ([limits], [egress], [env], [secrets], or the flags)",
            ),
        });
        checks.push(check_cache());
        checks.push(check_repository(&file));
        checks.push(check_spool(&file));
        checks.extend(check_service_client(&file, &ca_bundle));
        checks.push(check_python3_on_path(&file));
        checks
    }
}

fn describe_file(sandbox: &SandboxFlags, default: Option<PathBuf>) -> String {
    match sandbox.named_config_file() {
        Ok(Some(_)) | Err(_) => "the file named by --config or HOOKBOX_CONFIG parses".into(),
        Ok(None) => match default {
            Some(path) => format!("{} parses", path.display()),
            None => "no configuration file (HOOKBOX_CONFIG, ~/.config/hookbox/config.toml, \
                     /etc/hookbox/config.toml): defaults apply, no network for hooks"
                .into(),
        },
    }
}

fn check_cache() -> Check {
    let dir = match crate::settings::cache_dir(env_names::from_process) {
        Ok(dir) => dir,
        Err(error) => {
            return failed(
                "cache",
                error.to_string(),
                "set HOOKBOX_CACHE_DIR to a folder this user can read",
            );
        }
    };
    match Runtime::is_warm(&crate::guest::GUEST, &dir) {
        Ok(true) => ok(
            "cache",
            format!(
                "{} holds the compiled runner and the standard library: the first run is fast{}",
                dir.display(),
                if crate::runtime::cache::writable(&dir) {
                    ""
                } else {
                    " (read-only for this user: used as it is)"
                }
            ),
        ),
        Ok(false) => failed(
            "cache",
            format!(
                "{} lacks the compiled runner or the standard library: the first run would spend about 11 s preparing them",
                dir.display()
            ),
            "run `hookbox warm` as the user the hooks run as (or the one whose cache they share)",
        ),
        Err(error) => failed("cache", error.to_string(), "run `hookbox warm` to see why"),
    }
}

fn check_repository(file: &ConfigFile) -> Check {
    const NAME: &str = "runbooks repository";
    if !super::source::repository_configured(&file.git) {
        return skipped(NAME, "no repository configured (GIT_URL or [git] url)");
    }
    let source = match super::source::git_source_from(&file.git) {
        Ok(source) => source,
        Err(error) => {
            return failed(
                NAME,
                format!("{error:#}"),
                "set the GIT_* variables (or [git]) as the error says",
            );
        }
    };
    let url = source.config().display_url();
    match source.fetch() {
        Ok(snapshot) if snapshot.hooks().is_empty() => failed(
            NAME,
            format!(
                "{url}: fetched {} on {}, but it has no hook",
                snapshot.commit, snapshot.branch
            ),
            "add hoop-hooks/session-open.runbook.py or session-close.runbook.py to the branch",
        ),
        Ok(snapshot) => ok(
            NAME,
            format!(
                "{url}: reachable, fetched {} on {} (hooks: {}){}",
                snapshot.commit,
                snapshot.branch,
                snapshot.hooks().join(", "),
                snapshot
                    .signer
                    .map(|signer| format!(", signed by {signer}"))
                    .unwrap_or_default()
            ),
        ),
        Err(SourceError::Fetch(error @ FetchError::Unverified { .. })) => failed(
            NAME,
            error.to_string(),
            "sign the branch's tip with a key GIT_ALLOWED_SIGNERS lists (git commit -S with gpg.format=ssh), or list the key that signed it",
        ),
        Err(error) => failed(
            NAME,
            format!("{url}: {error:#}"),
            "check the URL, the branch and the credentials (GIT_PASSWORD, GIT_SSH_KEY, GIT_SSH_KNOWN_HOSTS); `hookbox source fetch` shows the same error",
        ),
    }
}

fn check_spool(file: &ConfigFile) -> Check {
    const NAME: &str = "service spool";
    let settings = match file.service.clone().resolve(env_names::from_process) {
        Ok(settings) => settings,
        Err(error) => {
            return failed(
                NAME,
                error.to_string(),
                "correct [service] as the error says",
            );
        }
    };
    use crate::service::spool::SpoolLocation;
    if let SpoolLocation::Embedded(dir) = &settings.spool
        && !dir.join(crate::service::spool::sqlite::FILE_NAME).is_file()
    {
        return skipped(
            NAME,
            format!(
                "no spool in {} yet (`hookbox serve` makes one there)",
                dir.display()
            ),
        );
    }
    let opened = crate::cli::tokio_runtime().and_then(|tokio| {
        let opened = crate::service::open_spool(&settings.spool, &[], "hookbox-doctor");
        // Dropped on the runtime its connections live on.
        Ok(tokio.block_on(async { opened.await.map(drop) })?)
    });
    match opened {
        Ok(_) => ok(NAME, "opens, at this hookbox's schema"),
        Err(error) => failed(
            NAME,
            error.to_string(),
            "check the data directory's permissions or the --spool URL, its password and TLS",
        ),
    }
}

/// The drop-in's service, when `[python] service` names one: its token and
/// whether it answers.
fn check_service_client(file: &ConfigFile, ca_bundle: &[u8]) -> Vec<Check> {
    let forwarding = match file.python.forwarding(env_names::from_process) {
        Ok(Some(forwarding)) => forwarding,
        Ok(None) => {
            return vec![skipped(
                "drop-in service",
                "no [python] service: the drop-in runs hooks itself",
            )];
        }
        Err(error) => {
            return vec![failed(
                "drop-in service",
                error.to_string(),
                "correct [python] as the error says",
            )];
        }
    };
    let token = if forwarding.token.is_some() {
        ok("service token", "set (not shown)")
    } else {
        failed(
            "service token",
            "neither HOOKBOX_TOKEN nor [python] token_file gives the token the service wants",
            "set HOOKBOX_TOKEN in the agent's environment, or token_file under [python]",
        )
    };
    let Some(health) = health_url(&forwarding.service) else {
        return vec![
            token,
            failed(
                "service",
                "[python] service is not an http:// or https:// URL",
                "write it as http://host:port",
            ),
        ];
    };
    // What is shown of it: no user info, no query.
    let shown = crate::sandbox::egress::mask::UrlMasks::default().url(health.as_str());
    let answer = crate::tls::TlsSettings::new(ca_bundle)
        .and_then(|settings| settings.config())
        .map_err(anyhow::Error::msg)
        .and_then(|tls| {
            let client = reqwest::blocking::Client::builder()
                .tls_backend_preconfigured(rustls::ClientConfig::clone(&tls))
                .timeout(Duration::from_secs(5))
                .build()?;
            let response = client
                .get(health.clone())
                .send()
                .map_err(|e| e.without_url())?;
            Ok(response.status())
        });
    let health = shown;
    let reachable = match answer {
        Ok(status) if status.is_success() => ok("service", format!("{health} answers {status}")),
        Ok(status) => failed(
            "service",
            format!("{health} answers {status}"),
            "look at the service's logs (`journalctl -u hookbox`)",
        ),
        Err(error) => failed(
            "service",
            format!("{health}: {error:#}"),
            "start `hookbox serve`, or correct [python] service",
        ),
    };
    vec![token, reachable]
}

/// The service's `/healthz`, beside whatever path the configured URL has,
/// without its query.
fn health_url(service: &str) -> Option<url::Url> {
    let mut url = url::Url::parse(service).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let path = format!("{}/healthz", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

fn check_python3_on_path(file: &ConfigFile) -> Check {
    const NAME: &str = "python3 on PATH";
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("python3"))
            .find(|candidate| candidate.is_file())
    });
    let this = std::env::current_exe().and_then(std::fs::canonicalize).ok();
    let is_dropin = |path: &Path| {
        std::fs::canonicalize(path)
            .ok()
            .is_some_and(|real| Some(real) == this)
    };
    let intended = file.python.service.is_some();
    match found {
        Some(path) if is_dropin(&path) => ok(
            NAME,
            format!("{} is the drop-in (this hookbox)", path.display()),
        ),
        Some(path) if intended => failed(
            NAME,
            format!(
                "{} is not hookbox, though [python] is configured",
                path.display()
            ),
            "put the drop-in first on the agent's PATH: a `python3` link to hookbox (e.g. /usr/lib/hookbox/bin)",
        ),
        Some(path) => skipped(
            NAME,
            format!(
                "{} is not hookbox: the drop-in is not on this PATH",
                path.display()
            ),
        ),
        None if intended => failed(
            NAME,
            "no python3 on PATH, though [python] is configured",
            "put a `python3` link to hookbox on the agent's PATH",
        ),
        None => skipped(NAME, "no python3 on PATH"),
    }
}
