//! The service: sustained intake rate and end-to-end latency (accepted ->
//! hook done) of `hookbox serve` over real HTTP on loopback, for a trivial
//! hook and a forwarding hook, at concurrency 1, 8 and 64 (clients and
//! workers alike), beside `python3 hook.py` per event (what Hoop does, with
//! no spool); then how the spool grows while the receiver is down, and how
//! fast it drains when the receiver comes back.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use tokio::sync::oneshot;

use super::receivers::HttpReceiver;
use super::{Figures, Table, figures};
use crate::intake::Event;
use crate::intake::hoop_payload;
use crate::runtime::Runtime;
use crate::runtime::config::SandboxConfig;
use crate::sandbox::egress::policy::EgressPolicy;
use crate::service::auth::Auth;
use crate::service::hooks::HookSource;
use crate::service::metrics::Metrics;
use crate::service::retry::RetryPolicy;
use crate::service::spool::sqlite::{FILE_NAME, SqliteSpool};
use crate::service::spool::{RunFilter, RunState, Spool, now_millis};
use crate::service::{self, Shared};

const TOKEN: &str = "bench-token";

/// Prints one line (the trivial hook).
const TRIVIAL: &str = r#"import json, os
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
print("session", event["sid"], "opened")
"#;

/// Posts the event to `$TARGET` (the forwarding hook).
const FORWARDING: &str = r#"import json, os, urllib.request
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
body = json.dumps({"sid": event["sid"], "user": event["event_session_open"]["user_email"]}).encode()
urllib.request.urlopen(urllib.request.Request(os.environ["TARGET"], data=body, method="POST"), timeout=5)
print("forwarded", event["sid"])
"#;

/// What to measure.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    /// Events posted per row.
    pub events: usize,
    /// Client and worker concurrency levels.
    pub levels: Vec<usize>,
    /// Seconds of posting while the receiver is down.
    pub outage_seconds: u64,
    /// Events posted per second during the outage.
    pub outage_rate: u64,
    /// Where the runtime's compiled runner is cached.
    pub cache_dir: std::path::PathBuf,
}

struct Row {
    name: String,
    intake: Option<Figures>,
    end_to_end: Figures,
}

/// Runs the benchmark and returns a Markdown report.
pub fn run(plan: &ServicePlan) -> anyhow::Result<String> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let runtime = Arc::new(Runtime::load(&crate::runtime::RuntimeOptions {
            cache_dir: plan.cache_dir.clone(),
            engine: Default::default(),
            show_progress: false,
            ca_bundle: Vec::new(),
        })?);
        let receiver = HttpReceiver::start(None).await?;
        let mut rows = Vec::new();
        for (label, hook) in [("trivial hook", TRIVIAL), ("forwarding hook", FORWARDING)] {
            let setup = Setup::new(runtime.clone(), hook, receiver.address, 1)?;
            rows.push(Row {
                name: format!("hookbox serve, {label}, one event at a time"),
                intake: None,
                end_to_end: setup.one_at_a_time(plan.events / 4).await?,
            });
            for &concurrency in &plan.levels {
                let setup = Setup::new(runtime.clone(), hook, receiver.address, concurrency)?;
                let (intake, end_to_end) = setup.measure(plan.events, concurrency).await?;
                rows.push(Row {
                    name: format!("hookbox serve, {label}, concurrency {concurrency}"),
                    intake: Some(intake),
                    end_to_end,
                });
            }
        }
        for &concurrency in &plan.levels {
            rows.push(Row {
                name: format!(
                    "baseline: `python3 hook.py` per event, trivial hook, concurrency {concurrency}"
                ),
                intake: None,
                end_to_end: python3_baseline(plan.events, concurrency).await?,
            });
        }
        let forwarded = receiver.count.load(Ordering::SeqCst);
        let outage = outage(runtime, plan).await?;
        Ok(report(plan, &rows, forwarded, &outage))
    })
}

/// A service with a fresh spool and one hook, ready to start.
struct Setup {
    shared: Arc<Shared>,
    data: tempfile::TempDir,
    _hooks: tempfile::TempDir,
}

impl Setup {
    fn new(
        runtime: Arc<Runtime>,
        hook: &str,
        target: SocketAddr,
        concurrency: usize,
    ) -> anyhow::Result<Setup> {
        Self::with_retry(runtime, hook, target, concurrency, RetryPolicy::default())
    }

    fn with_retry(
        runtime: Arc<Runtime>,
        hook: &str,
        target: SocketAddr,
        concurrency: usize,
        retry: RetryPolicy,
    ) -> anyhow::Result<Setup> {
        let hooks = tempfile::tempdir()?;
        std::fs::create_dir_all(hooks.path().join("hoop-hooks"))?;
        std::fs::write(
            hooks.path().join("hoop-hooks/session-open.runbook.py"),
            hook,
        )?;
        let data = tempfile::tempdir()?;
        let url = format!("http://{target}");
        let sandbox = SandboxConfig {
            egress: Arc::new(EgressPolicy::parse([url.as_str()])?),
            env: vec![("TARGET".into(), format!("{url}/events"))],
            ..SandboxConfig::default()
        };
        let shared = Arc::new(Shared {
            spool: Arc::new(SqliteSpool::open(data.path())?),
            runtime,
            max_payload: sandbox.limits.payload_bytes,
            sandbox,
            hooks: HookSource::Dir(hooks.path().to_path_buf()),
            retry,
            auth: Auth::new(Some(TOKEN.into()), None)?,
            metrics: Arc::new(Metrics::new(false)),
            wake: tokio::sync::Notify::new(),
            concurrency,
            max_spool: 1_000_000,
        });
        Ok(Setup {
            shared,
            data,
            _hooks: hooks,
        })
    }

    /// Starts the service; dropping the sender stops it.
    async fn start(
        &self,
    ) -> anyhow::Result<(SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(error) =
                service::serve(shared, listener, Duration::from_secs(5), shutdown).await
            {
                tracing::error!(%error, "the benchmark service failed");
            }
        });
        Ok((address, stop, task))
    }

    /// Posts `events` events from `concurrency` clients and waits until every
    /// run is done: the intake latency of each post and the end-to-end
    /// latency of each run.
    async fn measure(
        &self,
        events: usize,
        concurrency: usize,
    ) -> anyhow::Result<(Figures, Figures)> {
        let (address, stop, task) = self.start().await?;
        let started = Instant::now();
        let per_client = events.div_ceil(concurrency);
        let clients = (0..concurrency).map(|client| {
            tokio::spawn(async move {
                let mut connection = Client::connect(address).await?;
                let mut samples = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let body = open_event(&format!("bench-{client}-{i}-{}", uuid::Uuid::new_v4()));
                    let posted = Instant::now();
                    let status = connection.post(body).await?;
                    samples.push(posted.elapsed());
                    if status != 202 {
                        bail!("intake answered {status}");
                    }
                }
                anyhow::Ok(samples)
            })
        });
        let mut intake = Vec::new();
        for client in clients.collect::<Vec<_>>() {
            intake.extend(client.await??);
        }
        let posting = started.elapsed();
        let total = intake.len();
        self.wait_until_done(total).await?;
        let done = started.elapsed();
        let _ = stop.send(());
        let _ = task.await;
        let end_to_end = end_to_end(self.shared.spool.as_ref(), total)?;
        Ok((
            figures("intake".into(), intake, posting),
            figures("end to end".into(), end_to_end, done),
        ))
    }

    /// Posts `events` events one after another, each once the one before is
    /// done: end-to-end latency without a queue.
    async fn one_at_a_time(&self, events: usize) -> anyhow::Result<Figures> {
        let (address, stop, task) = self.start().await?;
        let mut client = Client::connect(address).await?;
        let started = Instant::now();
        for i in 0..events {
            let body = open_event(&format!("serial-{i}-{}", uuid::Uuid::new_v4()));
            if client.post(body).await? != 202 {
                bail!("intake refused an event");
            }
            self.wait_until_done(i + 1).await?;
        }
        let elapsed = started.elapsed();
        let _ = stop.send(());
        let _ = task.await;
        let samples = end_to_end(self.shared.spool.as_ref(), events)?;
        Ok(figures(String::new(), samples, elapsed))
    }

    async fn wait_until_done(&self, total: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let stats = self.shared.spool.stats(now_millis())?;
            let finished: u64 = stats
                .by_state
                .iter()
                .filter(|(state, _)| state == "succeeded")
                .map(|(_, count)| count)
                .sum();
            if finished as usize >= total {
                return Ok(());
            }
            if stats.by_state.iter().any(|(state, _)| state == "dead") {
                bail!("a benchmark run died: {stats:?}");
            }
            if Instant::now() > deadline {
                bail!("runs did not finish within 10 minutes: {stats:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Accepted -> hook done, per run, from the stored timestamps.
fn end_to_end(spool: &dyn Spool, total: usize) -> anyhow::Result<Vec<Duration>> {
    let runs = spool.list(&RunFilter {
        state: Some(RunState::Succeeded),
        event: None,
        limit: total,
    })?;
    let parse = |text: &str| humantime::parse_rfc3339(text).context("a stored time");
    runs.iter()
        .map(|run| {
            let detail = spool.show(&run.id)?.context("a listed run")?;
            let created = parse(&detail.run.created_at)?;
            let finished = parse(&detail.attempt_log.last().context("an attempt")?.finished_at)?;
            Ok(finished.duration_since(created).unwrap_or_default())
        })
        .collect()
}

fn open_event(sid: &str) -> Vec<u8> {
    let mut payload = hoop_payload::sample(Event::SessionOpen);
    payload["sid"] = sid.into();
    payload["id"] = hoop_payload::event_id(Event::SessionOpen, sid).into();
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// One keep-alive HTTP/1.1 connection to the intake.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<bytes::Bytes>>,
    host: String,
}

impl Client {
    async fn connect(address: SocketAddr) -> anyhow::Result<Client> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(wasmtime_wasi_http::io::TokioIo::new(stream))
                .await?;
        tokio::spawn(connection);
        Ok(Client {
            sender,
            host: address.to_string(),
        })
    }

    async fn post(&mut self, body: Vec<u8>) -> anyhow::Result<u16> {
        let request = http::Request::post("/v1/events")
            .header("host", &self.host)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Full::new(bytes::Bytes::from(body)))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok(status)
    }
}

/// `python3 hook.py` per event, `concurrency` at a time.
async fn python3_baseline(events: usize, concurrency: usize) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let hook = dir.path().join("session-open.runbook.py");
    std::fs::write(&hook, TRIVIAL)?;
    let python3 = super::real_python3()?;
    let started = Instant::now();
    let per_task = events.div_ceil(concurrency);
    let tasks = (0..concurrency).map(|task| {
        let (hook, python3) = (hook.clone(), python3.clone());
        tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let payload = open_event(&format!("py-{task}-{i}"));
                let launched = Instant::now();
                let output = tokio::process::Command::new(&python3)
                    .arg(&hook)
                    .env(
                        crate::env_names::HOOK_PAYLOAD,
                        String::from_utf8_lossy(&payload).as_ref(),
                    )
                    .output()
                    .await
                    .context("launching python3")?;
                samples.push(launched.elapsed());
                if !output.status.success() {
                    bail!(
                        "python3 failed: {}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
            }
            anyhow::Ok(samples)
        })
    });
    let mut samples = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        samples.extend(task.await??);
    }
    Ok(figures(String::new(), samples, started.elapsed()))
}

/// One sample of the spool during the outage.
struct OutageSample {
    second: u64,
    accepted: usize,
    depth: u64,
    bytes: u64,
}

struct Outage {
    samples: Vec<OutageSample>,
    drain: Duration,
}

/// Posts at a fixed rate while the receiver is down (connections refused),
/// sampling the spool each second; then brings the receiver up and times
/// the drain.
async fn outage(runtime: Arc<Runtime>, plan: &ServicePlan) -> anyhow::Result<Outage> {
    // A port nothing listens on until the receiver comes back.
    let down = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
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
            depth: setup.shared.spool.stats(now_millis())?.depth,
            bytes: spool_bytes(setup.data.path()),
        });
    }
    let back = Instant::now();
    let _receiver = HttpReceiver::start_on(down, None).await?;
    setup.wait_until_done(accepted).await?;
    let drain = back.elapsed();
    let _ = stop.send(());
    let _ = task.await;
    Ok(Outage { samples, drain })
}

fn report(plan: &ServicePlan, rows: &[Row], forwarded: usize, outage: &Outage) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Service\n\nWritten by `hookbox bench --service --events {}` (release build) on {} cores, {}. \
         Each concurrency row posts {} events to `hookbox serve` over HTTP on loopback as fast \
         as it can from as many clients as its concurrency (each on one keep-alive connection), \
         with as many workers, so end to end there includes the time queued behind earlier \
         events; the one-at-a-time rows post a quarter as many, each after the one before is \
         done. Every event is stored durably (SQLite, WAL, `synchronous = FULL`) before its \
         202. End to end is from the event's arrival to its hook's end, from the stored times \
         (millisecond resolution). The forwarding hook posts each event to a receiver on \
         loopback ({forwarded} requests received in all). The baseline runs `python3 hook.py` \
         per event, as Hoop does, with no spool and no sandbox.\n",
        plan.events,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        humantime::format_rfc3339_seconds(SystemTime::now()),
        plan.events,
    );
    let mut table = Table::new(&[
        "measurement",
        "intake p50 (ms)",
        "intake p99 (ms)",
        "accepted/s",
        "end to end p50 (ms)",
        "end to end p99 (ms)",
        "done/s",
    ]);
    for row in rows {
        let intake = row.intake.as_ref().map_or_else(
            || ["-".to_owned(), "-".to_owned(), "-".to_owned()],
            |f| {
                [
                    format!("{:.2}", ms(f.p50)),
                    format!("{:.2}", ms(f.p99)),
                    format!("{:.0}", f.per_second),
                ]
            },
        );
        table.row([row.name.clone()].into_iter().chain(intake).chain([
            format!("{:.1}", ms(row.end_to_end.p50)),
            format!("{:.1}", ms(row.end_to_end.p99)),
            format!("{:.0}", row.end_to_end.per_second),
        ]));
    }
    out.push_str(table.markdown());
    let _ = writeln!(
        out,
        "\n## Spool growth while the receiver is down\n\nOne client posts events, paced to at \
         most {} a second, for {} s to the forwarding hook, whose receiver refuses connections; \
         every run fails and is retried (backoff 0.5 s to 1 s for this measurement, 8 workers), \
         and every failed attempt's outcome (with its traceback) is stored. Bytes are the \
         database and its write-ahead log (SQLite lets the log reach about 4 MB before it folds \
         it back).\n",
        plan.outage_rate, plan.outage_seconds
    );
    let mut table = Table::new(&["second", "accepted", "spool depth", "spool bytes"]);
    for sample in &outage.samples {
        table.row([
            sample.second.to_string(),
            sample.accepted.to_string(),
            sample.depth.to_string(),
            sample.bytes.to_string(),
        ]);
    }
    out.push_str(table.markdown());
    if let (Some(first), Some(last)) = (outage.samples.first(), outage.samples.last()) {
        let _ = writeln!(
            out,
            "\nFrom second {} to {} the spool grew by {:.0} bytes per accepted event.",
            first.second,
            last.second,
            last.bytes.saturating_sub(first.bytes) as f64
                / last.accepted.saturating_sub(first.accepted).max(1) as f64
        );
    }
    let _ = writeln!(
        out,
        "\nWhen the receiver came back, the {} waiting runs were done in {:.1} s (retries are due within 1 s).",
        outage.samples.last().map_or(0, |s| s.accepted),
        outage.drain.as_secs_f64()
    );
    out
}
