//! Scale-out: 1, 2 and 4 service instances on one PostgreSQL spool beside
//! one instance on the embedded SQLite spool, the same events posted
//! round-robin to the instances, measured in one run; and the database work
//! per event (transactions, from `pg_stat_database`).

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use super::super::{Figures, Table, figures};
use super::server::{Setup, end_to_end, post_from_clients};
use super::{LATENCY_COLUMNS, ServicePlan, TRIVIAL, latency_cells};
use hookbox::runtime::Runtime;
use hookbox::service::retry::RetryPolicy;
use hookbox::service::spool::Spool;
use hookbox::service::spool::postgres::PostgresSpool;

/// Clients posting at once, spread over the instances.
const CLIENTS: usize = 16;
/// Workers per instance.
const WORKERS: usize = 4;

struct Row {
    name: String,
    intake: Figures,
    end_to_end: Figures,
    transactions_per_event: Option<f64>,
}

/// Measures and returns the Markdown report.
pub(super) async fn scaling(
    runtime: Arc<Runtime>,
    plan: &ServicePlan,
    url: &str,
) -> anyhow::Result<String> {
    let receiver = super::super::receivers::HttpReceiver::start(None).await?;
    let mut rows = Vec::new();
    let setup = Setup::new(runtime.clone(), TRIVIAL, receiver.address, WORKERS)?;
    let (intake, end_to_end, _) = measure(std::slice::from_ref(&setup), plan.events).await?;
    rows.push(Row {
        name: "SQLite (embedded), 1 instance".into(),
        intake,
        end_to_end,
        transactions_per_event: None,
    });
    for instances in [1, 2, 4] {
        let database = Database::create(url).await?;
        let mut setups = Vec::new();
        for i in 0..instances {
            let spool = database.spool(&format!("bench-{i}")).await?;
            setups.push(Setup::with_spool(
                runtime.clone(),
                TRIVIAL,
                receiver.address,
                WORKERS,
                RetryPolicy::default(),
                tempfile::tempdir()?,
                Arc::new(spool),
            )?);
        }
        let before = database.transactions().await?;
        let (intake, end_to_end, polls) = measure(&setups, plan.events).await?;
        drop(setups);
        // The server publishes its counts when a backend goes idle.
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Less the benchmark's own polling (two statements a poll).
        let after = database.transactions().await? - 2 * polls as i64;
        rows.push(Row {
            name: format!(
                "PostgreSQL, {instances} instance{}",
                if instances > 1 { "s" } else { "" }
            ),
            intake,
            end_to_end,
            transactions_per_event: Some((after - before) as f64 / plan.events as f64),
        });
        database.drop().await?;
    }
    Ok(report(plan, &rows))
}

/// Starts every instance, posts `events` from [`CLIENTS`] clients spread
/// round-robin over them, and waits until every run succeeded: intake and
/// end-to-end figures, and how many times the spool was polled meanwhile.
async fn measure(setups: &[Setup], events: usize) -> anyhow::Result<(Figures, Figures, u64)> {
    let mut started_services = Vec::new();
    for setup in setups {
        started_services.push(setup.start().await?);
    }
    let addresses: Vec<_> = started_services.iter().map(|(a, _, _)| *a).collect();
    let started = Instant::now();
    let intake = post_from_clients(&addresses, events, CLIENTS).await?;
    let posting = started.elapsed();
    let total = intake.len();
    let polls = setups[0].wait_until_done(total).await?;
    let done = started.elapsed();
    for (_, stop, task) in started_services {
        let _ = stop.send(());
        let _ = task.await;
    }
    let spool: &dyn Spool = setups[0].shared.spool.as_ref();
    let end_to_end = end_to_end(spool, total).await?;
    Ok((
        figures("intake".into(), intake, posting),
        figures("end to end".into(), end_to_end, done),
        polls,
    ))
}

/// A database made for one measurement on the server at the given URL.
struct Database {
    admin: tokio_postgres::Client,
    name: String,
    config: tokio_postgres::Config,
}

impl Database {
    async fn create(url: &str) -> anyhow::Result<Database> {
        let (admin, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .context("connecting to the --spool server (a local one, without TLS)")?;
        tokio::spawn(connection);
        let name = format!(
            "hookbox_bench_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let mut config = tokio_postgres::Config::from_str(url)?;
        config.dbname(&name);
        Ok(Database {
            admin,
            name,
            config,
        })
    }

    async fn spool(&self, instance: &str) -> anyhow::Result<PostgresSpool> {
        let tls = hookbox::tls::TlsSettings::new(&[])
            .and_then(|settings| settings.config())
            .map_err(anyhow::Error::msg)?;
        Ok(PostgresSpool::open_config(
            self.config.clone(),
            tls,
            instance.into(),
            Duration::from_secs(30),
        )
        .await?)
    }

    /// Transactions committed or rolled back in the database so far.
    async fn transactions(&self) -> anyhow::Result<i64> {
        let row = self
            .admin
            .query_one(
                "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = $1",
                &[&self.name],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn drop(self) -> anyhow::Result<()> {
        self.admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await?;
        Ok(())
    }
}

fn report(plan: &ServicePlan, rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Scale-out: instances on one PostgreSQL spool\n\n\
         Written by `hookbox-bench --service --spool URL --events {}` (release build) on {} \
         cores, {}, with a PostgreSQL server on the same machine. Each row posts {} events of \
         the trivial hook from {CLIENTS} clients (keep-alive connections) spread round-robin \
         over the instances, each instance with {WORKERS} workers, all in one process; the \
         SQLite row is one instance on the embedded spool. On this machine every instance \
         shares the same cores, so more instances cannot add throughput here: the rows show \
         what sharing one spool costs. Transactions per event are the database's own count \
         (`pg_stat_database`) over the row, less the benchmark's own polling; idle workers' \
         empty claims and every intake's depth check are included.\n",
        plan.events,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        humantime::format_rfc3339_seconds(SystemTime::now()),
        plan.events,
    );
    let mut table = Table::new(
        &[
            ["spool"].as_slice(),
            &LATENCY_COLUMNS,
            &["transactions/event"],
        ]
        .concat(),
    );
    for row in rows {
        table.row(
            [row.name.clone()]
                .into_iter()
                .chain(latency_cells(Some(&row.intake), &row.end_to_end))
                .chain([row
                    .transactions_per_event
                    .map_or_else(|| "-".into(), |t| format!("{t:.1}"))]),
        );
    }
    out.push_str(table.markdown());
    out.push_str(PAPER);
    out
}

/// What a large deployment needs, worked out from the table's kind of
/// figures rather than measured.
const PAPER: &str = "
## On paper: 50 gateways at 20 session events a second

That is 1,000 events a second. **Hooks:** a realistic forwarding hook costs 4-9 ms of CPU
in-process (`benches/hooks.md`), so 1,000 runs a second need 4-9 cores of hook execution:
for example 4 instances of 2-4 cores each, with headroom for retries after a SIEM outage.
Instances hold no state, so more are added behind the same load balancer or beside more
gateways. **Connections:** each instance keeps a pool of at most 16 connections and one
listening connection, so 4 instances use at most 68, well inside PostgreSQL's default 100;
a PgBouncer in transaction mode would not do for the listener, which needs a session.
**Database:** an event's own work is four short transactions (intake's depth check, the
insert of the event and its run with its commit, the claim, and the finish with its
attempt) in 11 round trips (the insert is BEGIN, two INSERTs, NOTIFY and COMMIT; the finish
BEGIN, UPDATE, INSERT and COMMIT), plus a lease renewal every 10 s of a long hook; the table above also counts idle
workers' empty claims, which shrink as instances get busier. At 1,000 events a second
that is 4,000-15,000 small transactions a second, half of them writes with a WAL flush,
which one PostgreSQL server on SSD sustains with group commit. Attempts' outcomes
(stdout, stderr, egress records: a few KiB each) make about 5-20 MB of WAL a second, and
retention keeps 7 days of finished runs (about 600 million rows at this rate:
partitioning by day, or a shorter `--retain`, is what to reach for).

**Where this design stops scaling:** every commit that `NOTIFY`s takes PostgreSQL's one
notification queue lock, so intake commits are serialized there (thousands a second, not
tens of thousands); the claim query walks one `next_attempt_at` index that every instance
updates, so beyond some tens of instances workers spend more time skipping locked rows;
and the per-state counts, though sharded 16 ways, are written on every change of state.
Past that, the remedies are batching (claim several runs per query, notify once per
batch) and partitioning the spool by gateway, each partition with its own instances.
";
