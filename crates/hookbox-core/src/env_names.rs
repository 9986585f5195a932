//! Every environment variable hookbox reads or sets, named in one place, and
//! the one accessor settings read the process's environment through.

/// The process's value of `name` (unset or not UTF-8: none). Settings take the
/// environment as a function of this shape, so tests pass their own instead.
pub fn from_process(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The variable that carries the event JSON into a hook, as Hoop names it.
pub const HOOK_PAYLOAD: &str = "HOOP_RUNBOOK_HOOK_PAYLOAD";

/// Overrides where hookbox keeps its caches (compiled runner, standard library).
/// Default: the platform cache directory (`$XDG_CACHE_HOME/hookbox` on Linux).
pub const CACHE_DIR: &str = "HOOKBOX_CACHE_DIR";

/// A `tracing` filter for hookbox's own logs on stderr (for example `debug`).
/// Default: `warn`.
pub const LOG: &str = "HOOKBOX_LOG";

/// A configuration file (TOML) to read when `--config` is not given.
pub const CONFIG: &str = "HOOKBOX_CONFIG";

/// The runbooks repository hooks come from, as Hoop names it.
pub const GIT_URL: &str = "GIT_URL";

/// The branch to follow (default: the remote's HEAD, else `main`, else `master`).
pub const GIT_BRANCH: &str = "GIT_BRANCH";

/// Seconds a fetched snapshot of the repository is used before fetching again,
/// as Hoop names it; hooks from git are off without it.
pub const GIT_HOOK_CONFIG_TTL: &str = "GIT_HOOK_CONFIG_TTL";

/// The HTTPS user for the runbooks repository, as Hoop names it (default `oauth2`).
pub const GIT_USER: &str = "GIT_USER";

/// The HTTPS password or token for the runbooks repository, as Hoop names it.
/// A secret: read only from the environment, never shown.
pub const GIT_PASSWORD: &str = "GIT_PASSWORD";

/// The SSH private key (PEM or OpenSSH text) for the runbooks repository, as
/// Hoop names it. A secret: read only from the environment, never shown.
pub const GIT_SSH_KEY: &str = "GIT_SSH_KEY";

/// The SSH user (default: the URL's user, else `git`), as Hoop names it.
pub const GIT_SSH_USER: &str = "GIT_SSH_USER";

/// The passphrase of `GIT_SSH_KEY`, as Hoop names it. A secret: read only
/// from the environment, never shown.
pub const GIT_SSH_KEYPASS: &str = "GIT_SSH_KEYPASS";

/// The SSH host keys to trust, as `known_hosts` text, as Hoop names it.
pub const GIT_SSH_KNOWN_HOSTS: &str = "GIT_SSH_KNOWN_HOSTS";

/// `true` accepts any SSH host key for the runbooks repository. Insecure:
/// whoever is on the network path can then serve the hooks.
pub const GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY: &str = "GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY";

/// An allowed-signers file (git's `gpg.ssh.allowedSignersFile` format):
/// when set, only runbooks commits signed by a key it lists are used.
pub const GIT_ALLOWED_SIGNERS: &str = "GIT_ALLOWED_SIGNERS";

/// Where `hookbox serve` keeps its spool when `--data-dir` is not given.
/// Default: `$XDG_DATA_HOME/hookbox` (`~/.local/share/hookbox`).
pub const DATA_DIR: &str = "HOOKBOX_DATA_DIR";

/// A PostgreSQL URL: the spool `hookbox serve` shares with other instances
/// (`--spool`).
pub const SPOOL: &str = "HOOKBOX_SPOOL";

/// The password of the `--spool` database, kept out of the URL.
pub const SPOOL_PASSWORD: &str = "HOOKBOX_SPOOL_PASSWORD";

/// The bearer token clients of `hookbox serve` must present.
pub const TOKEN: &str = "HOOKBOX_TOKEN";

/// A Standard Webhooks secret (`whsec_...`); when set, `hookbox serve`
/// requires a valid signature on every event.
pub const WEBHOOK_SECRET: &str = "HOOKBOX_WEBHOOK_SECRET";

/// `json` makes hookbox's own logs one JSON object per line.
pub const LOG_FORMAT: &str = "HOOKBOX_LOG_FORMAT";

/// `0` keeps a one-shot run (`hookbox run`, `hookbox python`) and
/// `hookbox test` from starting `hookbox warm --hook` in the background for
/// a new version of the packages next to its hook; `hookbox warm` then
/// prepares them.
pub const PREPARE_IN_BACKGROUND: &str = "HOOKBOX_PREPARE_IN_BACKGROUND";

/// Set by hookbox (inside the sandbox only) for the step that compiles the
/// standard library's bytecode: `i/n`, the share of files one run compiles.
pub const COMPILE_SHARE: &str = "HOOKBOX_COMPILE_SHARE";
