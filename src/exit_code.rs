//! Process exit codes of the `hookbox` binary, mapped in one place.
//!
//! When a hook runs to its end, `hookbox run` exits with the hook's own exit
//! code (0-255), as `python3 hook.py` would. The codes below are used when it
//! did not; `hookbox run --json` tells them apart from a hook that happened to
//! exit with the same number through its `status` field.

use crate::failure::{Categorized, Failure};
use crate::record::{RunOutcome, RunStatus};

/// Everything went well (and a hook that ran exited 0).
pub const OK: u8 = 0;
/// `hookbox test`: at least one case failed.
pub const TESTS_FAILED: u8 = 1;
/// Bad input or usage: unreadable or invalid payload, missing or non-UTF-8 hook
/// file, an unknown flag. The hook was not run.
pub const USAGE: u8 = 2;
/// Something needed is unavailable: no snapshot of the runbooks repository
/// exists and fetching one failed, or (`hookbox python` with `[python]
/// service` and `fallback = "fail"`) the service did not take the event.
pub const UNAVAILABLE: u8 = 69;
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

/// The exit code for an error that kept a command from running a hook: the
/// kind of failure the first categorized error in its chain says it is (bad
/// input and settings are [`USAGE`], an unreachable hook source with no
/// snapshot is [`UNAVAILABLE`]); an error no hookbox type describes
/// is [`INTERNAL`].
pub fn for_error(error: &anyhow::Error) -> u8 {
    let failure = error
        .chain()
        .find_map(|cause| CATEGORIZED.iter().find_map(|probe| probe(cause)));
    match failure {
        Some(Failure::Usage) => USAGE,
        Some(Failure::Unavailable) => UNAVAILABLE,
        Some(Failure::Internal) | None => INTERNAL,
    }
}

type Probe = fn(&(dyn std::error::Error + 'static)) -> Option<Failure>;

fn probe<E: Categorized>(cause: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    cause.downcast_ref::<E>().map(E::failure)
}

/// Every error type hookbox defines below the CLI (a test checks none is
/// missing; the CLI's own are turned into exit codes where they occur).
const CATEGORIZED: &[Probe] = &[
    probe::<crate::settings::SettingsError>,
    probe::<crate::units::UnitError>,
    probe::<crate::service::client::ForwardError>,
    probe::<crate::sandbox::egress::address::BadHost>,
    probe::<crate::sandbox::egress::policy::RuleError>,
    probe::<crate::sandbox::egress::operator_identity::IdentityError>,
    probe::<crate::sandbox::egress::NotSent>,
    probe::<crate::sandbox::egress::inject::InjectError>,
    probe::<crate::sandbox::egress::inject::Refused>,
    probe::<crate::runtime::cache::CacheError>,
    probe::<crate::runtime::hook_component::HookComponentError>,
    probe::<crate::runtime::RuntimeError>,
    probe::<crate::runtime::PreloadError>,
    probe::<crate::source::HookFileError>,
    probe::<crate::source::hook_folder::FolderEntryError>,
    probe::<crate::source::git::SourceError>,
    probe::<crate::source::git::fetch::FetchError>,
    probe::<crate::source::git::config::GitConfigError>,
    probe::<crate::source::git::signing::SignatureRefusal>,
    probe::<crate::source::git::allowed_signers::ParseError>,
    probe::<crate::hooktest::scaffold::ScaffoldError>,
    probe::<crate::hooktest::fixture::FixtureError>,
    probe::<crate::hooktest::repository::OutsideRepository>,
    probe::<crate::hooktest::repository::RepositoryFileError>,
    probe::<crate::hooktest::SuiteError>,
    probe::<crate::service::auth::AuthError>,
    probe::<crate::service::auth::BadSecret>,
    probe::<crate::service::SetupError>,
    probe::<crate::service::spool::SpoolError>,
    probe::<crate::record::stored::StoredRecordError>,
    probe::<crate::intake::hoop_event::EventError>,
    probe::<crate::intake::PayloadError>,
    probe::<crate::intake::UnknownEvent>,
    probe::<crate::intake::hoop_payload::SetError>,
];
