//! Process exit codes of the `hookbox` binary, mapped in one place.
//!
//! When a hook runs to its end, `hookbox run` exits with the hook's own exit
//! code (0-255), as `python3 hook.py` would. The codes below are used when it
//! did not; `hookbox run --json` tells them apart from a hook that happened to
//! exit with the same number through its `status` field.

use crate::record::{RunOutcome, RunStatus};

/// Everything went well (and a hook that ran exited 0).
pub const OK: u8 = 0;
/// `hookbox test`: at least one case failed.
pub const TESTS_FAILED: u8 = 1;
/// Bad input or usage: unreadable or invalid payload, missing or non-UTF-8 hook
/// file, an unknown flag. The hook was not run.
pub const USAGE: u8 = 2;
/// The hook source is unavailable: no snapshot of the runbooks repository
/// exists and fetching one failed.
pub const SOURCE_UNAVAILABLE: u8 = 69;
/// hookbox itself failed (cache, engine, or a sandbox error such as a wasm trap
/// that is not one of the limits below).
pub const INTERNAL: u8 = 70;
/// The hook hit its memory limit.
pub const MEMORY_EXCEEDED: u8 = 122;
/// The hook used up its fuel (CPU) budget.
pub const FUEL_EXHAUSTED: u8 = 123;
/// The hook ran past its wall-clock limit.
pub const TIMEOUT: u8 = 124;
/// Whoever read hookbox's stdout closed it (`hookbox payload ... | head -1`):
/// the command ended quietly, with the code a shell reports for `cat` killed
/// by SIGPIPE (128 + 13).
pub const CLOSED_PIPE: u8 = 141;

/// The exit code for a finished run.
pub fn for_outcome(outcome: &RunOutcome) -> u8 {
    match outcome.status {
        RunStatus::Ok => OK,
        RunStatus::Failed => outcome
            .exit_code
            .and_then(|code| u8::try_from(code).ok())
            .unwrap_or(INTERNAL),
        RunStatus::Timeout => TIMEOUT,
        RunStatus::FuelExhausted => FUEL_EXHAUSTED,
        RunStatus::MemoryExceeded => MEMORY_EXCEEDED,
        RunStatus::Error => INTERNAL,
    }
}

/// The exit code for an error that kept a command from running a hook: bad
/// input and settings are [`USAGE`], an unreachable hook source with no
/// snapshot is [`SOURCE_UNAVAILABLE`], anything else is [`INTERNAL`].
pub fn for_error(error: &anyhow::Error) -> u8 {
    use crate::source::git::SourceError;
    for cause in error.chain() {
        if cause.is::<crate::intake::PayloadError>()
            || cause.is::<crate::source::HookFileError>()
            || cause.is::<crate::settings::SettingsError>()
            || cause.is::<crate::source::git::config::GitConfigError>()
            || cause.is::<crate::intake::hoop_payload::SetError>()
            || cause.is::<crate::hooktest::SuiteError>()
            || cause.is::<crate::hooktest::scaffold::ScaffoldError>()
            || cause.is::<crate::service::SetupError>()
            || cause.is::<crate::service::auth::BadSecret>()
        {
            return USAGE;
        }
        if let Some(
            crate::service::spool::SpoolError::NoSpool { .. }
            | crate::service::spool::SpoolError::NoRun { .. },
        ) = cause.downcast_ref()
        {
            return USAGE;
        }
        if let Some(source_error) = cause.downcast_ref::<SourceError>() {
            return match source_error {
                SourceError::NoSnapshot(_) | SourceError::Fetch(_) => SOURCE_UNAVAILABLE,
                SourceError::Refused { .. } | SourceError::Hook(_) => USAGE,
                SourceError::Io { .. } => INTERNAL,
            };
        }
    }
    INTERNAL
}
