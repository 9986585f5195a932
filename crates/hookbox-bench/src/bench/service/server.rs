//! A `hookbox serve` under measurement: a fresh spool and one hook, its
//! intake over real HTTP on loopback, and the clients that post to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hookbox_testkit::poll::poll_until;
use http_body_util::{BodyExt, Full};
use tokio::sync::oneshot;

use super::super::{Figures, figures};
use super::TOKEN;
use hookbox::intake::Event;
use hookbox::intake::hoop_payload;
use hookbox::runtime::Runtime;
use hookbox::runtime::config::SandboxConfig;
use hookbox::sandbox::egress::policy::EgressPolicy;
use hookbox::service::auth::Auth;
use hookbox::service::hooks::HookSource;
use hookbox::service::metrics::Metrics;
use hookbox::service::retry::RetryPolicy;
use hookbox::service::spool::sqlite::SqliteSpool;
use hookbox::service::spool::{RunFilter, RunState, Spool, SpoolStats, now_millis};
use hookbox::service::{self, Shared};

/// A service with a fresh spool and one hook, ready to start.
pub(super) struct Setup {
    pub(super) shared: Arc<Shared>,
    pub(super) data: tempfile::TempDir,
    hooks: tempfile::TempDir,
}

impl Setup {
    pub(super) fn new(
        runtime: Arc<Runtime>,
        hook: &str,
        target: SocketAddr,
        concurrency: usize,
    ) -> anyhow::Result<Setup> {
        Self::with_retry(runtime, hook, target, concurrency, RetryPolicy::default())
    }

    pub(super) fn with_retry(
        runtime: Arc<Runtime>,
        hook: &str,
        target: SocketAddr,
        concurrency: usize,
        retry: RetryPolicy,
    ) -> anyhow::Result<Setup> {
        let data = tempfile::tempdir()?;
        let spool = Arc::new(SqliteSpool::open(data.path())?);
        Self::with_spool(runtime, hook, target, concurrency, retry, data, spool)
    }

    /// A service on `spool` (`data` is its data directory, if it has one).
    pub(super) fn with_spool(
        runtime: Arc<Runtime>,
        hook: &str,
        target: SocketAddr,
        concurrency: usize,
        retry: RetryPolicy,
        data: tempfile::TempDir,
        spool: Arc<dyn Spool>,
    ) -> anyhow::Result<Setup> {
        let hooks = hooks_folder(hook)?;
        let url = format!("http://{target}");
        let sandbox = SandboxConfig {
            egress: Arc::new(EgressPolicy::parse([url.as_str()])?),
            env: vec![("TARGET".into(), format!("{url}/events"))],
            ..SandboxConfig::default()
        };
        let shared = Arc::new(Shared {
            spool,
            runtime,
            max_payload: sandbox.limits.payload_bytes,
            sandbox,
            hooks: HookSource::Dir(hooks.path().to_path_buf()),
            retry,
            retention: hookbox::service::spool::Retention::default(),
            auth: Auth::new(Some(TOKEN.into()), None)?,
            metrics: Arc::new(Metrics::new(false)),
            wake: Arc::new(tokio::sync::Notify::new()),
            concurrency,
            max_spool: 1_000_000,
            release_idle: Duration::from_secs(3600),
        });
        Ok(Setup {
            shared,
            data,
            hooks,
        })
    }

    /// Adds a hook file beside the first one.
    pub(super) fn add_hook(&self, file_name: &str, source: &str) -> anyhow::Result<()> {
        std::fs::write(self.hooks.path().join("hoop-hooks").join(file_name), source)?;
        Ok(())
    }

    /// Starts the service; dropping the sender stops it.
    pub(super) async fn start(
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
            let grace = Duration::from_secs(5);
            let connections = service::listen::ConnectionLimits::default();
            if let Err(error) = service::serve(shared, listener, grace, connections, shutdown).await
            {
                tracing::error!(%error, "the benchmark service failed");
            }
        });
        Ok((address, stop, task))
    }

    /// Posts `events` events from `concurrency` clients and waits until every
    /// run is done: the intake latency of each post and the end-to-end
    /// latency of each run.
    pub(super) async fn measure(
        &self,
        events: usize,
        concurrency: usize,
    ) -> anyhow::Result<(Figures, Figures)> {
        let (address, stop, task) = self.start().await?;
        let started = Instant::now();
        let intake = post_from_clients(&[address], events, concurrency).await?;
        let posting = started.elapsed();
        let total = intake.len();
        self.wait_until_done(total).await?;
        let done = started.elapsed();
        let _ = stop.send(());
        let _ = task.await;
        let end_to_end = end_to_end(self.shared.spool.as_ref(), total).await?;
        Ok((
            figures("intake".into(), intake, posting),
            figures("end to end".into(), end_to_end, done),
        ))
    }

    /// Posts `events` events one after another, each once the one before is
    /// done: end-to-end latency without a queue.
    pub(super) async fn one_at_a_time(&self, events: usize) -> anyhow::Result<Figures> {
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
        let samples = end_to_end(self.shared.spool.as_ref(), events).await?;
        Ok(figures(String::new(), samples, elapsed))
    }

    /// Waits until `total` runs succeeded; a run that died fails the wait.
    /// Returns how many times the spool was polled.
    pub(super) async fn wait_until_done(&self, total: usize) -> anyhow::Result<u64> {
        self.wait_for_successes(total, false).await
    }

    /// Waits until `total` runs succeeded, whatever else dies meanwhile.
    pub(super) async fn wait_until_succeeded(&self, total: usize) -> anyhow::Result<u64> {
        self.wait_for_successes(total, true).await
    }

    async fn wait_for_successes(&self, total: usize, deaths_expected: bool) -> anyhow::Result<u64> {
        let mut polls = 0;
        let died = |stats: &SpoolStats| !deaths_expected && in_state(stats, RunState::Dead) > 0;
        let stats = poll_until(
            Duration::from_secs(600),
            Duration::from_millis(1),
            async || {
                polls += 1;
                self.shared.spool.stats(now_millis()).await
            },
            |stats| {
                stats.as_ref().map_or(true, |stats| {
                    in_state(stats, RunState::Succeeded) >= total || died(stats)
                })
            },
        )
        .await?;
        if died(&stats) {
            bail!("a benchmark run died: {stats:?}");
        }
        if in_state(&stats, RunState::Succeeded) < total {
            bail!("runs did not finish within 10 minutes: {stats:?}");
        }
        Ok(polls)
    }
}

/// Posts `events` events (each a new session) from `clients` clients, each
/// on one keep-alive connection to one of `addresses` in turn; the intake
/// latency of each post.
pub(super) async fn post_from_clients(
    addresses: &[SocketAddr],
    events: usize,
    clients: usize,
) -> anyhow::Result<Vec<Duration>> {
    let per_client = events.div_ceil(clients);
    let clients = (0..clients).map(|client| {
        let address = addresses[client % addresses.len()];
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
    Ok(intake)
}

/// A runbooks folder whose session-open hook is `hook`.
pub(super) fn hooks_folder(hook: &str) -> anyhow::Result<tempfile::TempDir> {
    let hooks = tempfile::tempdir()?;
    std::fs::create_dir_all(hooks.path().join("hoop-hooks"))?;
    std::fs::write(
        hooks.path().join("hoop-hooks/session-open.runbook.py"),
        hook,
    )?;
    Ok(hooks)
}

/// How many runs `stats` counts in `state`.
pub(super) fn in_state(stats: &SpoolStats, state: RunState) -> usize {
    stats
        .by_state
        .iter()
        .filter(|(name, _)| name == state.as_str())
        .map(|(_, count)| *count as usize)
        .sum()
}

/// Accepted -> hook done, per run, from the stored timestamps.
pub(super) async fn end_to_end(spool: &dyn Spool, total: usize) -> anyhow::Result<Vec<Duration>> {
    let runs = spool
        .list(&RunFilter {
            state: Some(RunState::Succeeded),
            limit: total,
            ..RunFilter::default()
        })
        .await?;
    let parse = |text: &str| humantime::parse_rfc3339(text).context("a stored time");
    let mut samples = Vec::with_capacity(runs.len());
    for run in &runs {
        let detail = spool.show(&run.id).await?.context("a listed run")?;
        let created = parse(&detail.run.created_at)?;
        let finished = parse(&detail.attempt_log.last().context("an attempt")?.finished_at)?;
        samples.push(finished.duration_since(created).unwrap_or_default());
    }
    Ok(samples)
}

pub(super) fn open_event(sid: &str) -> Vec<u8> {
    event(Event::SessionOpen, sid)
}

pub(super) fn close_event(sid: &str) -> Vec<u8> {
    event(Event::SessionClose, sid)
}

fn event(event: Event, sid: &str) -> Vec<u8> {
    let mut payload = hoop_payload::sample(event);
    payload["sid"] = sid.into();
    payload["id"] = hoop_payload::event_id(event, sid).into();
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// One keep-alive HTTP/1.1 connection to the intake.
pub(super) struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<bytes::Bytes>>,
    host: String,
}

impl Client {
    pub(super) async fn connect(address: SocketAddr) -> anyhow::Result<Client> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Client {
            sender,
            host: address.to_string(),
        })
    }

    /// The body of `GET path`, which must answer 200.
    pub(super) async fn get(&mut self, path: &str) -> anyhow::Result<String> {
        let request = http::Request::get(path)
            .header("host", &self.host)
            .body(Full::new(bytes::Bytes::new()))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        if status != 200 {
            bail!("GET {path} answered {status}");
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    pub(super) async fn post(&mut self, body: Vec<u8>) -> anyhow::Result<u16> {
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
