//! Noisy neighbours: trivial hooks posted one at a time to `hookbox serve`
//! while a hostile hook of one kind runs in a loop beside them (the next
//! hostile event is posted as soon as the last one ended), against the same
//! service with no hostile hook.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::super::{Figures, figures};
use super::server::{Client, Setup, close_event, end_to_end, in_state, open_event};
use super::{ServicePlan, TRIVIAL};
use hookbox::runtime::Runtime;
use hookbox::service::retry::RetryPolicy;
use hookbox::service::spool::{RunState, now_millis};

/// The hostile hooks, each run as `session-close` in a loop.
pub(super) const HOSTILE: &[(&str, &str)] = &[
    (
        "busy loop (until its fuel runs out)",
        "while True:\n    pass\n",
    ),
    (
        "memory bomb (refused at once)",
        "block = bytearray(1 << 30)\n",
    ),
    (
        "many small allocations (up to the memory limit)",
        "hoard = []\nwhile True:\n    hoard.append('x' * 100 + str(len(hoard)))\n",
    ),
    (
        "sleeps past its wall-clock limit",
        "import time\ntime.sleep(3600)\n",
    ),
    (
        "floods stdout and stderr",
        "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n    sys.stderr.write('y' * 4096)\n",
    ),
    (
        "refused requests in a loop",
        "import urllib.request\nwhile True:\n    try:\n        urllib.request.urlopen('http://10.1.2.3/', timeout=1)\n    except OSError:\n        pass\n",
    ),
];

/// One row: the trivial hooks beside one kind of hostile hook (or none).
pub(super) struct NeighbourRow {
    pub(super) beside: String,
    pub(super) trivial: Figures,
    pub(super) hostile_runs: usize,
    pub(super) lost: usize,
}

/// Measures the trivial hook quiet, then beside each hostile hook.
pub(super) async fn neighbours(
    runtime: Arc<Runtime>,
    plan: &ServicePlan,
) -> anyhow::Result<Vec<NeighbourRow>> {
    let mut rows = vec![beside(runtime.clone(), None, plan.neighbour_events).await?];
    for &(name, hook) in HOSTILE {
        rows.push(beside(runtime.clone(), Some((name, hook)), plan.neighbour_events).await?);
    }
    Ok(rows)
}

/// Posts `events` trivial events one at a time (two workers), with the
/// hostile hook, if any, running in a loop meanwhile.
async fn beside(
    runtime: Arc<Runtime>,
    hostile: Option<(&str, &str)>,
    events: usize,
) -> anyhow::Result<NeighbourRow> {
    // A failed run is not retried: each hostile event is one run.
    let retry = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let unused = hookbox_testkit::ports::ClosedPort::new()?;
    let setup = Setup::with_retry(runtime, TRIVIAL, unused.address(), 2, retry)?;
    if let Some((_, hook)) = hostile {
        setup.add_hook("session-close.runbook.py", hook)?;
    }
    let (address, stop, task) = setup.start().await?;
    let stopping = Arc::new(AtomicBool::new(false));
    let hostile_runs = Arc::new(AtomicUsize::new(0));
    let looping = hostile.map(|_| {
        let (stopping, hostile_runs) = (stopping.clone(), hostile_runs.clone());
        let spool = setup.shared.spool.clone();
        tokio::spawn(async move {
            let mut client = Client::connect(address).await?;
            while !stopping.load(Ordering::SeqCst) {
                let posted = hostile_runs.fetch_add(1, Ordering::SeqCst) + 1;
                let body = close_event(&format!("hostile-{posted}-{}", uuid::Uuid::new_v4()));
                if client.post(body).await? != 202 {
                    bail!("intake refused a hostile event");
                }
                // The next one once this one has ended (dead: it failed).
                while in_state(&spool.stats(now_millis()).await?, RunState::Dead) < posted {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            anyhow::Ok(())
        })
    });
    let mut client = Client::connect(address).await?;
    let started = Instant::now();
    for i in 0..events {
        let body = open_event(&format!("beside-{i}-{}", uuid::Uuid::new_v4()));
        if client.post(body).await? != 202 {
            bail!("intake refused a trivial event");
        }
        setup.wait_until_succeeded(i + 1).await?;
    }
    let elapsed = started.elapsed();
    stopping.store(true, Ordering::SeqCst);
    if let Some(looping) = looping {
        looping.await??;
    }
    let _ = stop.send(());
    let _ = task.await;
    let samples = end_to_end(setup.shared.spool.as_ref(), events).await?;
    Ok(NeighbourRow {
        beside: hostile.map_or("nothing (a quiet service)".into(), |(name, _)| name.into()),
        lost: events - samples.len(),
        trivial: figures(String::new(), samples, elapsed),
        hostile_runs: hostile_runs.load(Ordering::SeqCst),
    })
}
