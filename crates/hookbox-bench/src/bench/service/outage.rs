//! How the spool grows while the forwarding hook's receiver is down, and how
//! fast it drains once it is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::receivers::HttpReceiver;
use super::server::{Client, open_event};
use super::{FORWARDING, ServicePlan, Setup};
use hookbox::runtime::Runtime;
use hookbox::service::retry::RetryPolicy;
use hookbox::service::spool::now_millis;
use hookbox::service::spool::sqlite::FILE_NAME;
use hookbox_testkit::ports::ClosedPort;

/// One sample of the spool during the outage.
pub(super) struct OutageSample {
    pub(super) second: u64,
    pub(super) accepted: usize,
    pub(super) depth: u64,
    pub(super) bytes: u64,
}

pub(super) struct Outage {
    pub(super) samples: Vec<OutageSample>,
    pub(super) drain: Duration,
}

/// Posts at a fixed rate while the receiver is down (connections refused),
/// sampling the spool each second; then brings the receiver up and times
/// the drain.
pub(super) async fn outage(runtime: Arc<Runtime>, plan: &ServicePlan) -> anyhow::Result<Outage> {
    // A port nothing listens on until the receiver comes back on it.
    let closed = ClosedPort::new()?;
    let down = closed.address();
    let retry = RetryPolicy {
        max_attempts: 1000,
        first_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(1),
        max_age: Duration::from_secs(3600),
    };
    let setup = Setup::with_retry(runtime, FORWARDING, down, 8, retry)?;
    let (address, stop, task) = setup.start().await?;
    let mut client = Client::connect(address).await?;
    let spool_bytes = |dir: &std::path::Path| -> u64 {
        ["", "-wal"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(dir.join(format!("{FILE_NAME}{suffix}"))).ok())
            .map(|m| m.len())
            .sum()
    };
    let mut samples = Vec::new();
    let mut accepted = 0;
    let interval = Duration::from_secs_f64(1.0 / plan.outage_rate as f64);
    let started = Instant::now();
    let mut posted = 0u32;
    for second in 1..=plan.outage_seconds {
        let until = started + Duration::from_secs(second);
        while Instant::now() < until {
            let body = open_event(&format!("outage-{posted}-{}", uuid::Uuid::new_v4()));
            if client.post(body).await? == 202 {
                accepted += 1;
            }
            posted += 1;
            tokio::time::sleep_until((started + interval * posted).into()).await;
        }
        samples.push(OutageSample {
            second,
            accepted,
            depth: setup.shared.spool.stats(now_millis()).await?.depth,
            bytes: spool_bytes(setup.data.path()),
        });
    }
    let back = Instant::now();
    let _receiver = HttpReceiver::start_on(closed.listen()?, None)?;
    setup.wait_until_done(accepted).await?;
    let drain = back.elapsed();
    let _ = stop.send(());
    let _ = task.await;
    Ok(Outage { samples, drain })
}
