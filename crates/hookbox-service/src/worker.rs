//! The workers: take due runs from the spool, at most `concurrency` at a
//! time, run each through the sandbox with the operator's policy and limits,
//! store the outcome and decide what comes next (done, retry later, dead).
//! On shutdown no new run starts; running ones get the grace period, and
//! whatever is cut short goes back to pending for the next start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::Shared;
use super::client::sha256_hex;
use super::metrics::AttemptStatus;
use super::spool::{AttemptRecord, Claimed, Next, now_millis};
use hookbox_intake::Event;
use hookbox_intake::Payload;
use hookbox_record::{RunOutcome, RunStatus};
use hookbox_runtime::RunRequest;
use hookbox_source::HookFile;

/// The longest sleep between looks at the spool when nothing is due (runs
/// replayed from another process show up within it).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Works until `stop` turns true, then drains within `grace`.
pub async fn work(shared: Arc<Shared>, mut stop: watch::Receiver<bool>, grace: Duration) {
    let permits = Arc::new(Semaphore::new(shared.concurrency.max(1)));
    let mut running = JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("never closed"),
            _ = stop.changed() => break,
        };
        if *stop.borrow() {
            break;
        }
        match shared.spool.claim(now_millis()).await {
            Ok(Some(claimed)) => {
                let shared = shared.clone();
                running.spawn(async move {
                    run_one(&shared, claimed).await;
                    drop(permit);
                });
            }
            Ok(None) => {
                drop(permit);
                let due = shared.spool.next_due().await.ok().flatten();
                let wait = due.map_or(IDLE_POLL, |at| {
                    Duration::from_millis(
                        (at - now_millis()).clamp(0, IDLE_POLL.as_millis() as i64) as u64,
                    )
                });
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => break,
                }
            }
            Err(error) => {
                drop(permit);
                tracing::error!(%error, "cannot take runs from the spool; retrying in a second");
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }
    let in_flight = running.len();
    if in_flight > 0 {
        tracing::info!(in_flight, grace = ?grace, "waiting for running hooks to finish");
    }
    let drained = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        running.abort_all();
        while running.join_next().await.is_some() {}
        match shared.spool.release_running(now_millis()).await {
            Ok(released) => {
                tracing::warn!(released, "runs cut short by shutdown go back to pending")
            }
            Err(error) => {
                tracing::error!(%error, "cannot put cut-short runs back; they are retried at the next start")
            }
        }
    }
}

/// How often runs past their retention are removed (and once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Removes runs past the service's retention every [`PRUNE_EVERY`] until
/// `stop` turns true.
pub async fn prune(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let retention = shared.retention;
    loop {
        match shared.spool.prune(now_millis(), &retention).await {
            Ok(0) => {}
            Ok(pruned) => {
                shared.metrics.runs_pruned.inc_by(pruned);
                tracing::info!(pruned, "removed runs past their retention");
            }
            Err(error) => tracing::error!(%error, "cannot remove runs past their retention"),
        }
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Returns the runtime's warm memory to the system once no hook has run for
/// [`Shared::release_idle`]; checked every half of it, so the release comes
/// between one and one and a half idle periods after the last run.
pub async fn release_when_idle(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let runtime = &shared.runtime;
    let check_every = shared.release_idle / 2;
    let mut seen = runtime.runs_started();
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(check_every) => {}
            _ = stop.changed() => return,
        }
        let started = runtime.runs_started();
        if started != seen || runtime.runs_in_flight() > 0 {
            seen = started;
            quiet_since = tokio::time::Instant::now();
            continue;
        }
        if runtime.warm_memory_bytes() == 0 || quiet_since.elapsed() < shared.release_idle {
            continue;
        }
        let runtime = runtime.clone();
        match tokio::task::spawn_blocking(move || runtime.release_warm_memory()).await {
            Ok(Ok(())) => {
                shared.metrics.warm_memory_releases.inc();
                tracing::debug!("no hook ran for a while; warm memory released");
            }
            Ok(Err(error)) => tracing::warn!(%error, "cannot release the warm memory"),
            Err(error) => tracing::warn!(%error, "cannot release the warm memory"),
        }
    }
}

/// One attempt of one run, start to stored result.
async fn run_one(shared: &Shared, claimed: Claimed) {
    let started_at = now_millis();
    let attempted = match shared.spool.lease() {
        None => attempt(shared, &claimed).await,
        Some(lease) => tokio::select! {
            attempted = attempt(shared, &claimed) => attempted,
            () = hold_lease(shared, &claimed.run_id, lease) => {
                // Another instance runs it now; this attempt stops here.
                tracing::warn!(run = %claimed.run_id, "the run's lease was lost; stopping this attempt");
                return;
            }
        },
    };
    let (outcome, note, next) = attempted;
    let status = match (&outcome, next) {
        (Some(outcome), _) => AttemptStatus::Ran(outcome.status),
        (None, Next::Skipped) => AttemptStatus::Skipped,
        (None, _) => AttemptStatus::Error,
    };
    record(shared, &claimed, started_at, outcome, note, next, status).await;
}

/// Renews this instance's claim on `run_id` every third of `lease` while the
/// hook runs; returns only if another instance took the run over. A database
/// that does not answer is retried: no other instance can take the run
/// while it is away either.
async fn hold_lease(shared: &Shared, run_id: &str, lease: Duration) {
    loop {
        tokio::time::sleep(lease / 3).await;
        let run = run_id.to_owned();
        match shared.spool.renew(&run, now_millis()).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => tracing::warn!(%error, run = run_id, "cannot renew the run's lease"),
        }
    }
}

/// Runs a claimed run's hook once: what it produced, a note for the record,
/// and what becomes of the run.
async fn attempt(shared: &Shared, claimed: &Claimed) -> (Option<RunOutcome>, String, Next) {
    let event = match claimed.event.parse::<Event>() {
        Ok(event) => event,
        // Only a spool written by something else can hold another name;
        // retrying cannot help.
        Err(error) => {
            let note = format!("the stored run cannot be run: {error}");
            return (None, note, Next::Dead);
        }
    };
    let hooks = shared.hooks.clone();
    let found = tokio::task::spawn_blocking(move || hooks.find(event))
        .await
        .unwrap_or_else(|e| Err(anyhow::anyhow!("the hook lookup failed: {e}")));
    let (outcome, note) = match found {
        Ok(None) => {
            let note = format!("no hook for {} in the runbooks repository", event.name());
            return (None, note, Next::Skipped);
        }
        Ok(Some(hook)) => {
            match Payload::from_bytes(claimed.payload.clone().into_bytes(), "the spool") {
                Ok(payload) => {
                    let outcome = shared
                        .runtime
                        .run(RunRequest {
                            hook: &hook,
                            payload: &payload,
                            config: &shared.sandbox,
                            args: &[],
                        })
                        .await;
                    shared
                        .runtime
                        .prepare_hook_in_background(&hook, &shared.sandbox.limits);
                    let mut note = describe(&outcome);
                    if let Some(sent) = &claimed.script_sha256 {
                        check_script(shared, &hook, sent, &mut note);
                    }
                    (Some(outcome), note)
                }
                Err(error) => (None, error.to_string()),
            }
        }
        Err(error) => (None, format!("the hook source is unavailable: {error:#}")),
    };
    let next = if outcome.as_ref().is_some_and(|o| o.status == RunStatus::Ok) {
        Next::Succeeded
    } else {
        shared.retry.after_failure(
            claimed.attempt,
            claimed.created_at,
            now_millis(),
            fastrand::f64(),
        )
    };
    (outcome, note, next)
}

/// Stores an attempt, counts it and logs it.
async fn record(
    shared: &Shared,
    claimed: &Claimed,
    started_at: i64,
    outcome: Option<RunOutcome>,
    note: String,
    next: Next,
    status: AttemptStatus,
) {
    shared.metrics.attempt(status, outcome.as_ref());
    match next {
        Next::RetryAt(_) => {
            shared.metrics.retries.inc();
        }
        Next::Dead => {
            shared.metrics.dead_letters.inc();
        }
        Next::Succeeded | Next::Skipped => {}
    }
    let (run_id, event_id, attempt) = (&claimed.run_id, &claimed.event_id, claimed.attempt);
    let status = status.as_str();
    match next {
        Next::Dead => tracing::warn!(run_id, event_id, attempt, status, note, "run dead-lettered"),
        Next::RetryAt(at) => tracing::info!(
            run_id,
            event_id,
            attempt,
            status,
            note,
            retry_in_ms = at - now_millis(),
            "run failed; retrying"
        ),
        _ => tracing::info!(run_id, event_id, attempt, status, note, "run finished"),
    }
    let record = AttemptRecord {
        started_at,
        finished_at: now_millis(),
        outcome,
        note,
    };
    // On a task of its own: a shutdown that aborts this run's task past its
    // grace period must not cut the attempt's transaction short (the run
    // would go back to pending and its hook run again).
    let (spool, run_id) = (shared.spool.clone(), claimed.run_id.clone());
    let stored =
        tokio::spawn(async move { spool.finish(&run_id, &record, next, now_millis()).await });
    match stored.await {
        Ok(Ok(())) => {}
        // The run stays `running` and is retried after the next start.
        Ok(Err(error)) => {
            tracing::error!(run_id = %claimed.run_id, %error, "cannot store the attempt")
        }
        Err(error) => {
            tracing::error!(run_id = %claimed.run_id, %error, "storing the attempt stopped")
        }
    }
}

/// Notes on `note` whether the hook the service ran is the script the
/// drop-in was given (its SHA-256 `sent`), counting a mismatch.
fn check_script(shared: &Shared, hook: &HookFile, sent: &str, note: &mut String) {
    match std::fs::read(hook.path()) {
        Ok(source) => {
            let ran = sha256_hex(&source);
            if ran != sent {
                shared.metrics.script_mismatches.inc();
                note.push_str(&format!(
                    "; the hook run ({}, sha256 {}) is not the script Hoop sent (sha256 {})",
                    hook.file_name(),
                    &ran[..12],
                    &sent[..12.min(sent.len())]
                ));
            }
        }
        Err(error) => note.push_str(&format!(
            "; the hook run could not be compared with the script Hoop sent: {error}"
        )),
    }
}

/// A one-line summary of an outcome.
fn describe(outcome: &RunOutcome) -> String {
    let mut note = match (outcome.status, outcome.exit_code) {
        (RunStatus::Ok, _) => "exit 0".to_owned(),
        (RunStatus::Failed, Some(code)) => format!("exit {code}"),
        (status, _) => status.as_str().to_owned(),
    };
    if let Some(error) = &outcome.error {
        note.push_str(": ");
        note.push_str(error);
    } else if outcome.status != RunStatus::Ok
        && let Some(line) = outcome.stderr.lines().rev().find(|l| !l.trim().is_empty())
    {
        note.push_str(": ");
        note.push_str(line.trim());
    }
    note
}
