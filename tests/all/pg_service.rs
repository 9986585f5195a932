//! Several `hookbox serve` instances on one PostgreSQL spool, the real
//! binary against a real server the test starts: deliveries posted to two
//! instances at once run once, an instance killed mid-load loses nothing,
//! and intake refuses (503) what it cannot commit while the database is away
//! and runs everything it accepted once it is back.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::future::join_all;
use hookbox::service::spool::postgres::PostgresSpool;
use hookbox::service::spool::{RunFilter, RunState, Spool};

use crate::pg::Cluster;
use crate::receiver::Reply;
use crate::service::{Server, Setup, eventually, get, open_event, post_event};

/// A view of the shared spool for the test's own checks.
async fn inspect(cluster: &Cluster) -> PostgresSpool {
    let tls = hookbox::tls::TlsSettings::new(&[])
        .unwrap()
        .config()
        .unwrap();
    PostgresSpool::open(
        &cluster.url(),
        tls,
        "test-inspector".into(),
        Duration::from_secs(30),
    )
    .await
    .unwrap()
}

async fn all_runs(spool: &PostgresSpool) -> Vec<hookbox::service::spool::RunSummary> {
    spool
        .list(&RunFilter {
            limit: 100_000,
            ..RunFilter::default()
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_share_one_spool_and_a_killed_one_loses_nothing() {
    const EVENTS: usize = 2000;
    let cluster = Cluster::start();
    let mut setup = Setup::new(Reply::Status(200, "ok"), "").await;
    // Long enough that the instance killed below is always mid-hook.
    setup.sleep = "0.02";
    let url = cluster.url();
    let args = ["--spool", &url, "--lease", "2s", "--concurrency", "4"];
    let mut servers: Vec<Option<Server>> = (0..4).map(|_| Some(setup.start(&args))).collect();
    let sids: Vec<String> = (0..EVENTS).map(|n| format!("shared-{n}")).collect();

    for (chunk_index, chunk) in sids.chunks(25).enumerate() {
        if chunk_index == 20 {
            // A quarter in: one instance dies without warning, its claimed
            // runs mid-hook and never renewed again.
            servers[3] = None;
        }
        let live: Vec<&Server> = servers.iter().flatten().collect();
        let posts = chunk.iter().enumerate().flat_map(|(i, sid)| {
            let n = chunk_index * 25 + i;
            // The same delivery to two different instances.
            let first = live[n % live.len()];
            let second = live[(n + 1) % live.len()];
            [first, second].map(|server| post_event(server, open_event(sid)))
        });
        for (status, body) in join_all(posts).await {
            assert_eq!(status, 202, "{body}");
        }
    }

    eventually("every event's hook to run", async || {
        let seen = setup.forwarded_sids();
        sids.iter().all(|sid| seen.contains(sid)).then_some(())
    })
    .await;
    let spool = inspect(&cluster).await;
    let runs = eventually("every run to be recorded", async || {
        let runs = all_runs(&spool).await;
        runs.iter()
            .all(|run| run.state == RunState::Succeeded)
            .then_some(runs)
    })
    .await;
    // Exactly one run, succeeded, per event: the second post of each was a
    // duplicate wherever it landed, and the dead instance's runs were taken
    // over, not run again as new runs.
    let mut per_event: HashMap<&str, usize> = HashMap::new();
    for run in &runs {
        *per_event.entry(run.sid.as_str()).or_default() += 1;
    }
    assert_eq!(per_event.len(), EVENTS);
    assert!(per_event.values().all(|&n| n == 1), "one run per event");
    // The dead instance's claims were taken over when their leases expired:
    // a second claim, and only the second attempt recorded.
    let taken_over: Vec<_> = runs.iter().filter(|run| run.attempts == 2).collect();
    assert!(
        !taken_over.is_empty(),
        "the killed instance had runs in hand"
    );
    for run in taken_over {
        let attempts = spool.show(&run.id).await.unwrap().unwrap().attempt_log;
        assert_eq!(attempts.len(), 1, "{}: {attempts:?}", run.id);
    }
    assert_eq!(
        spool.depth().await.unwrap(),
        0,
        "nothing left claimed or waiting"
    );
    // Any instance shows every instance's runs, and so does the CLI.
    let live = servers[0].as_ref().unwrap();
    let listed = get(live, "/v1/runs?status=succeeded&limit=1000").await;
    assert_eq!(listed["runs"].as_array().unwrap().len(), 1000);
    let cli = crate::support::hookbox()
        .args(["runs", "list", "--status", "succeeded", "--limit", "5000"])
        .args(["--spool", &cluster.url_without_password()])
        .env("HOOKBOX_SPOOL_PASSWORD", crate::pg::PASSWORD)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&cli.stdout).lines().count(), EVENTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_away_intake_refuses_and_every_accepted_event_runs() {
    let cluster = Cluster::start();
    let setup = Setup::new(Reply::Status(200, "ok"), "").await;
    let url = cluster.url();
    let server = setup.start(&["--spool", &url, "--lease", "2s"]);
    let mut accepted = Vec::new();
    let mut refused = 0;
    let post = async |sid: String, accepted: &mut Vec<String>, refused: &mut usize| {
        let (status, body) = post_event(&server, open_event(&sid)).await;
        match status {
            202 => accepted.push(sid),
            503 => *refused += 1,
            other => panic!("{other}: {body}"),
        }
    };
    for n in 0..20 {
        post(format!("before-{n}"), &mut accepted, &mut refused).await;
    }
    assert_eq!((accepted.len(), refused), (20, 0));

    cluster.stop_server();
    for n in 0..10 {
        post(format!("down-{n}"), &mut accepted, &mut refused).await;
    }
    assert_eq!(refused, 10, "nothing is accepted that was not committed");
    let (status, _, health) =
        crate::service::call(&server.base, "GET", "/healthz", &[], Vec::new()).await;
    assert_eq!(status, 503, "unhealthy while the spool is away: {health}");

    cluster.start_server();
    // The pool reconnects on the next request.
    eventually("intake to accept again", async || {
        let sid = format!("after-{}", accepted.len());
        let (status, _) = post_event(&server, open_event(&sid)).await;
        (status == 202).then(|| accepted.push(sid))
    })
    .await;
    for n in 0..10 {
        post(format!("back-{n}"), &mut accepted, &mut refused).await;
    }

    eventually("every accepted event to run", async || {
        let seen = setup.forwarded_sids();
        accepted.iter().all(|sid| seen.contains(sid)).then_some(())
    })
    .await;
    let spool = inspect(&cluster).await;
    eventually("every accepted event to have succeeded", async || {
        let runs = all_runs(&spool).await;
        let succeeded: HashSet<&str> = runs
            .iter()
            .filter(|run| run.state == RunState::Succeeded)
            .map(|run| run.sid.as_str())
            .collect();
        (runs.len() == accepted.len()
            && accepted.iter().all(|sid| succeeded.contains(sid.as_str())))
        .then_some(())
    })
    .await;
}
