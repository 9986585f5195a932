//! The dashboard's pages: what each template shows, taken from the spool's
//! records.

use askama::Template;

use super::RunsQuery;
use super::activity::{self, Activity};
use crate::hooks::HookSource;
use crate::spool::{AttemptView, RunDetail, RunSummary};
use hookbox_core::units::format_bytes;
use hookbox_record::stored::from_stored;
use hookbox_record::{EgressAttempt, Provenance};
use hookbox_runtime::config::SandboxConfig;

/// The activity page.
#[derive(Template)]
#[template(path = "activity.html")]
pub(super) struct ActivityPage {
    activity: Activity,
    csrf: String,
    chart_width: u32,
    chart_height: u32,
    destination_width: u32,
}

impl ActivityPage {
    pub(super) fn new(activity: Activity, csrf: String) -> ActivityPage {
        ActivityPage {
            activity,
            csrf,
            chart_width: activity::CHART_WIDTH,
            chart_height: activity::CHART_HEIGHT,
            destination_width: activity::DESTINATION_WIDTH,
        }
    }

    /// A time in ms as the page writes it.
    fn ms(value: &Option<f64>) -> String {
        value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0} ms"))
    }
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    pub(super) message: Option<String>,
}

/// The runs page.
#[derive(Template)]
#[template(path = "runs.html")]
pub(super) struct RunsPage {
    counts: Vec<(String, u64)>,
    runs: Vec<RunRow>,
    /// The filter as a query string (`?status=dead`), for the live rows.
    query_string: String,
    filter: RunsQuery,
    states: Vec<String>,
    events: Vec<String>,
    csrf: String,
}

/// The runs table's rows alone, as the live page fetches them.
#[derive(Template)]
#[template(path = "runs_rows.html")]
pub(super) struct RunsRows {
    runs: Vec<RunRow>,
    /// For the replay buttons of dead runs.
    csrf: String,
}

impl RunsRows {
    pub(super) fn new(runs: Vec<RunSummary>, csrf: String) -> RunsRows {
        RunsRows {
            runs: runs.into_iter().map(RunRow::from).collect(),
            csrf,
        }
    }
}

struct RunRow {
    id: String,
    event: String,
    /// The start of Hoop's event id, which every firing of the event shares.
    event_id_prefix: String,
    /// The runs page showing every firing of the event.
    firings_link: String,
    delivery: String,
    sid: String,
    state: String,
    attempts: u32,
    created_at: String,
    last_note: String,
}

impl From<RunSummary> for RunRow {
    fn from(run: RunSummary) -> RunRow {
        RunRow {
            state: run.state.as_str().to_owned(),
            id: run.id,
            event: run.event,
            event_id_prefix: run.event_id.chars().take(8).collect(),
            firings_link: format!(
                "/?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("event_id", &run.event_id)
                    .finish()
            ),
            delivery: run.delivery,
            sid: run.sid,
            attempts: run.attempts,
            created_at: run.created_at,
            last_note: run.last_note.unwrap_or_default(),
        }
    }
}

impl RunsPage {
    pub(super) fn new(
        runs: Vec<RunSummary>,
        counts: Vec<(String, u64)>,
        filter: RunsQuery,
        csrf: String,
    ) -> RunsPage {
        RunsPage {
            counts,
            runs: runs.into_iter().map(RunRow::from).collect(),
            query_string: filter.query_string(),
            filter,
            states: ["pending", "running", "succeeded", "skipped", "dead"]
                .map(String::from)
                .to_vec(),
            events: ["session-open", "session-close"].map(String::from).to_vec(),
            csrf,
        }
    }
}

/// One run.
#[derive(Template)]
#[template(path = "run.html")]
pub(super) struct RunPage {
    run: RunSummary,
    /// Every run of the same Hoop event: its other firings and replays.
    firings: Vec<RunRow>,
    payload: String,
    script_sha256: Option<String>,
    attempts: Vec<AttemptRow>,
    csrf: String,
}

struct AttemptRow {
    number: u32,
    started_at: String,
    finished_at: String,
    note: String,
    status: String,
    exit_code: Option<i64>,
    duration_ms: String,
    fuel: String,
    peak_memory: String,
    /// The commit the hook came from and its signer, for a git source.
    hook_from: Option<String>,
    stdout: String,
    stderr: String,
    egress: Vec<EgressRow>,
}

struct EgressRow {
    verdict: &'static str,
    target: String,
    why: String,
    status: String,
    bytes_out: u64,
    bytes_in: u64,
}

impl RunPage {
    pub(super) fn new(detail: RunDetail, firings: Vec<RunSummary>, csrf: String) -> RunPage {
        let attempts = detail.attempt_log.into_iter().map(AttemptRow::of).collect();
        RunPage {
            payload: serde_json::to_string_pretty(&detail.payload).unwrap_or_default(),
            script_sha256: detail.script_sha256,
            run: detail.run,
            firings: firings.into_iter().map(RunRow::from).collect(),
            attempts,
            csrf,
        }
    }
}

impl AttemptRow {
    /// One stored attempt as its row shows it.
    fn of(attempt: AttemptView) -> AttemptRow {
        let mut row = AttemptRow {
            number: attempt.number,
            started_at: attempt.started_at,
            finished_at: attempt.finished_at,
            note: attempt.note,
            status: "no run".into(),
            exit_code: None,
            duration_ms: String::new(),
            fuel: String::new(),
            peak_memory: String::new(),
            hook_from: None,
            stdout: String::new(),
            stderr: String::new(),
            egress: Vec::new(),
        };
        // An attempt with no hook to run has no outcome; one whose
        // stored outcome cannot be read says so, never shows blanks.
        match attempt.outcome.map(from_stored) {
            None => {}
            Some(Err(error)) => {
                row.status = "unreadable".into();
                row.note = format!("{} (its stored outcome cannot be read: {error})", row.note);
            }
            Some(Ok(outcome)) => {
                row.status = outcome.status.as_str().to_owned();
                row.exit_code = outcome.exit_code.map(i64::from);
                row.duration_ms = format!("{:.1}", outcome.duration_ms);
                row.fuel = outcome.fuel_consumed.to_string();
                row.peak_memory = format_bytes(outcome.peak_memory_bytes);
                row.hook_from = outcome.provenance.as_ref().map(describe_provenance);
                row.egress = outcome.egress.iter().map(egress_row).collect();
                row.stdout = outcome.stdout;
                row.stderr = outcome.stderr;
            }
        }
        row
    }
}

fn describe_provenance(from: &Provenance) -> String {
    let mut text = format!("commit {} on {}", from.commit, from.branch);
    if let Some(signer) = &from.signer {
        text.push_str(&format!(", signed by {signer}"));
    }
    text
}

fn egress_row(attempt: &EgressAttempt) -> EgressRow {
    let target = match &attempt.url {
        Some(url) => format!("{} {url}", attempt.method.as_deref().unwrap_or_default())
            .trim()
            .to_owned(),
        None => attempt.destination(),
    };
    let reason = attempt.reason.clone().unwrap_or_default();
    EgressRow {
        verdict: if attempt.allowed { "allowed" } else { "denied" },
        target,
        why: if attempt.allowed {
            [attempt.rule.clone().unwrap_or_default(), reason]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            reason
        },
        status: attempt.status.map_or_else(String::new, |s| s.to_string()),
        bytes_out: attempt.bytes_out,
        bytes_in: attempt.bytes_in,
    }
}

/// The hook source, the egress policy and the limits.
#[derive(Template)]
#[template(path = "settings.html")]
pub(super) struct SettingsPage {
    csrf: String,
    source: Vec<(String, String)>,
    rules: Vec<String>,
    unverified_tls: Vec<String>,
    /// Each injected secret's variable and where its value may go.
    injected: Vec<(String, String)>,
    limits: Vec<(String, String)>,
}

impl SettingsPage {
    pub(super) fn new(hooks: &HookSource, sandbox: &SandboxConfig, csrf: String) -> SettingsPage {
        let limits = &sandbox.limits;
        SettingsPage {
            csrf,
            source: source_facts(hooks),
            rules: sandbox.egress.rules().map(ToString::to_string).collect(),
            unverified_tls: sandbox
                .egress
                .unverified_tls_rules()
                .map(ToString::to_string)
                .collect(),
            injected: sandbox
                .injected_secrets
                .secrets()
                .iter()
                .map(|secret| (secret.name().to_owned(), secret.destinations().join(", ")))
                .collect(),
            limits: vec![
                (
                    "wall clock".into(),
                    humantime::format_duration(limits.timeout).to_string(),
                ),
                ("fuel".into(), limits.fuel.to_string()),
                ("memory".into(), format_bytes(limits.memory_bytes)),
                (
                    "output (each stream)".into(),
                    format_bytes(limits.output_bytes),
                ),
                ("payload".into(), format_bytes(limits.payload_bytes)),
                (
                    "HTTP body (each way)".into(),
                    format_bytes(limits.http_body_bytes),
                ),
            ],
        }
    }
}

/// Where hooks come from and, for the git source, its snapshot.
fn source_facts(hooks: &HookSource) -> Vec<(String, String)> {
    let source = match hooks {
        HookSource::Dir(dir) => return vec![("folder".into(), dir.display().to_string())],
        HookSource::Git(source) => source,
    };
    let status = source.status();
    let mut facts = vec![("repository".into(), source.config().display_url())];
    match &status.snapshot {
        Some(snapshot) => {
            let age = humantime::format_duration(std::time::Duration::from_secs(
                source.age(snapshot).as_secs(),
            ));
            facts.extend([
                ("branch".into(), snapshot.branch.clone()),
                ("commit".into(), snapshot.commit.clone()),
                (
                    "signed by".into(),
                    snapshot
                        .signer
                        .as_ref()
                        .map_or_else(|| "(signatures not required)".into(), ToString::to_string),
                ),
                (
                    "fetched".into(),
                    format!("{age} ago{}", if status.stale { " (stale)" } else { "" }),
                ),
                ("hooks found".into(), snapshot.files.join(", ")),
            ]);
        }
        None => facts.push(("snapshot".into(), "none yet".into())),
    }
    if let Some(refused) = &status.fetch.refused_commit {
        facts.push((
            format!("refused commit {}", refused.commit),
            match &refused.key {
                Some(key) => format!("{} (signed by {key})", refused.reason),
                None => refused.reason.clone(),
            },
        ));
    }
    if let Some(error) = &status.fetch.last_error {
        facts.push((
            format!("last fetch error ({} in a row)", status.fetch.failures),
            error.clone(),
        ));
    }
    facts
}

/// A page that only says what went wrong.
#[derive(Template)]
#[template(
    ext = "html",
    source = "{% extends \"base.html\" %}{% block signout %}{% endblock %}{% block main %}<p class=\"error\">{{ message }}</p><p><a href=\"/\">all runs</a></p>{% endblock %}"
)]
struct ProblemPage<'a> {
    message: &'a str,
}

/// The HTML of a page saying `message`.
pub(super) fn problem(message: &str) -> String {
    ProblemPage { message }
        .render()
        .unwrap_or_else(|_| "hookbox: error".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookbox_record::stored::{RECORD_VERSION, VERSION_FIELD, to_stored};
    use hookbox_record::{RunOutcome, RunStatus};

    fn attempt(outcome: Option<serde_json::Value>) -> AttemptView {
        AttemptView {
            number: 1,
            started_at: "2026-12-03T12:00:00Z".into(),
            finished_at: "2026-12-03T12:00:01Z".into(),
            note: "exited 0".into(),
            outcome,
        }
    }

    fn outcome() -> RunOutcome {
        let mut outcome = RunOutcome::not_started(String::new());
        outcome.status = RunStatus::Ok;
        outcome.exit_code = Some(0);
        outcome.stdout = "sent\n".into();
        outcome
    }

    #[test]
    fn a_stored_outcome_shows_its_fields() {
        let row = AttemptRow::of(attempt(Some(to_stored(&outcome()))));
        assert_eq!(row.status, "ok");
        assert_eq!(row.exit_code, Some(0));
        assert_eq!(row.stdout, "sent\n");
        assert_eq!(row.note, "exited 0");
    }

    #[test]
    fn an_outcome_a_newer_hookbox_stored_says_so_and_shows_no_blanks() {
        let mut stored = to_stored(&outcome());
        stored[VERSION_FIELD] = (RECORD_VERSION + 1).into();
        let row = AttemptRow::of(attempt(Some(stored)));
        assert_eq!(row.status, "unreadable");
        assert!(
            row.note
                .starts_with("exited 0 (its stored outcome cannot be read: ")
        );
        assert!(row.note.contains("newer hookbox"), "{}", row.note);
        assert!(row.stdout.is_empty() && row.exit_code.is_none());
    }

    #[test]
    fn an_attempt_without_a_hook_run_has_no_outcome() {
        let row = AttemptRow::of(attempt(None));
        assert_eq!(row.status, "no run");
    }
}
