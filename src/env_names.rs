//! Every environment variable hookbox reads or sets, named in one place.

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

/// Where `hookbox serve` keeps its spool when `--data-dir` is not given.
/// Default: `$XDG_DATA_HOME/hookbox` (`~/.local/share/hookbox`).
pub const DATA_DIR: &str = "HOOKBOX_DATA_DIR";

/// The bearer token clients of `hookbox serve` must present.
pub const TOKEN: &str = "HOOKBOX_TOKEN";

/// A Standard Webhooks secret (`whsec_...`); when set, `hookbox serve`
/// requires a valid signature on every event.
pub const WEBHOOK_SECRET: &str = "HOOKBOX_WEBHOOK_SECRET";

/// `json` makes hookbox's own logs one JSON object per line.
pub const LOG_FORMAT: &str = "HOOKBOX_LOG_FORMAT";
