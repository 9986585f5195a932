//! The PostgreSQL spool against a real PostgreSQL server the test starts:
//! the guarantees every spool keeps (`spool_conformance.rs`: one run per
//! delivery, retries, replay, listing, counts, retention), claims that another instance skips,
//! leases that expire to another instance, and schema versions.

use std::sync::Arc;
use std::time::Duration;

use hookbox::service::spool::postgres::PostgresSpool;
use hookbox::service::spool::{DatabaseFailure, Next, Spool, SpoolError};

use crate::pg::Cluster;
use crate::spool_conformance::{self, event, record};

async fn open(cluster: &Cluster, instance: &str, lease: Duration) -> PostgresSpool {
    let tls = hookbox::tls::TlsSettings::new(&[])
        .unwrap()
        .config()
        .unwrap();
    PostgresSpool::open(&cluster.url(), tls, instance.to_owned(), lease)
        .await
        .unwrap()
}

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_postgres_spool_keeps_the_spools_guarantees() {
    let cluster = Cluster::start();
    spool_conformance::keeps_the_spools_guarantees(&open(&cluster, "a", LEASE).await).await;
}

#[tokio::test]
async fn the_postgres_spool_reads_attempts_back_by_time() {
    let cluster = Cluster::start();
    spool_conformance::attempts_are_read_back_by_time(&open(&cluster, "a", LEASE).await).await;
}

#[tokio::test]
async fn a_claim_is_one_instances_until_its_lease_expires() {
    let cluster = Cluster::start();
    let a = open(&cluster, "a", Duration::from_secs(10)).await;
    let b = open(&cluster, "b", Duration::from_secs(10)).await;
    let run = a.accept(&event("d1", "e1"), 0).await.unwrap().run_id;
    let taken = a.claim(1_000).await.unwrap().unwrap();
    assert_eq!(taken.run_id, run);
    // B finds nothing while A's lease is live, renewed or not.
    assert!(b.claim(5_000).await.unwrap().is_none());
    assert!(a.renew(&run, 5_000).await.unwrap());
    assert!(
        b.claim(14_000).await.unwrap().is_none(),
        "renewed until 15 s"
    );
    assert_eq!(
        b.next_due().await.unwrap(),
        Some(15_000),
        "B knows when to look"
    );
    // A stops renewing (it died): B takes the run over, as a new attempt.
    let over = b.claim(15_001).await.unwrap().unwrap();
    assert_eq!((over.run_id.as_str(), over.attempt), (run.as_str(), 2));
    assert!(
        !a.renew(&run, 15_002).await.unwrap(),
        "A learns it lost the run"
    );
    match a
        .finish(&run, &record("late"), Next::Succeeded, 15_003)
        .await
    {
        Err(SpoolError::LeaseLost { run_id }) => assert_eq!(run_id, run),
        other => panic!("expected LeaseLost, got {other:?}"),
    }
    b.finish(&run, &record("ok"), Next::Succeeded, 15_004)
        .await
        .unwrap();
    let attempts = b.show(&run).await.unwrap().unwrap().attempt_log;
    assert_eq!(attempts.len(), 1, "only the holder's attempt is recorded");
    assert_eq!(attempts[0].number, 2);

    // A stopping cleanly hands back only its own runs.
    let mine = a.accept(&event("d2", "e2"), 20_000).await.unwrap().run_id;
    let theirs = b.accept(&event("d3", "e3"), 20_001).await.unwrap().run_id;
    assert_eq!(a.claim(20_002).await.unwrap().unwrap().run_id, mine);
    assert_eq!(b.claim(20_003).await.unwrap().unwrap().run_id, theirs);
    assert_eq!(a.release_running(20_004).await.unwrap(), 1);
    assert_eq!(b.claim(20_005).await.unwrap().unwrap().run_id, mine);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_instances_claiming_at_once_never_take_one_run_twice() {
    let cluster = Cluster::start();
    let mut spools: Vec<Arc<PostgresSpool>> = Vec::new();
    for i in 0..4 {
        spools.push(Arc::new(open(&cluster, &format!("i{i}"), LEASE).await));
    }
    for n in 0..200 {
        // Each delivery offered to two instances at once: stored once.
        let delivery = event(&format!("d{n}"), &format!("e{n}"));
        let offers: Vec<_> = [&spools[n % 4], &spools[(n + 1) % 4]]
            .into_iter()
            .map(|spool| {
                let (spool, delivery) = (spool.clone(), delivery.clone());
                tokio::spawn(async move { spool.accept(&delivery, 1).await.unwrap() })
            })
            .collect();
        let mut accepted = Vec::new();
        for offer in offers {
            accepted.push(offer.await.unwrap());
        }
        assert_eq!(accepted[0].run_id, accepted[1].run_id);
        assert_eq!(accepted.iter().filter(|a| a.duplicate).count(), 1);
    }
    let workers: Vec<_> = spools
        .iter()
        .map(|spool| {
            let spool = spool.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(run) = spool.claim(2).await.unwrap() {
                    spool
                        .finish(&run.run_id, &record("ok"), Next::Succeeded, 3)
                        .await
                        .unwrap();
                    mine.push(run.run_id);
                }
                mine
            })
        })
        .collect();
    let mut claimed: Vec<Vec<String>> = Vec::new();
    for worker in workers {
        claimed.push(worker.await.unwrap());
    }
    let mut all: Vec<&String> = claimed.iter().flatten().collect();
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!((total, all.len()), (200, 200), "each run once");
    assert_eq!(spools[0].depth().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_versioned_and_a_newer_one_refused() {
    let cluster = Cluster::start();
    drop(open(&cluster, "a", LEASE).await);
    // Opening again (and by a second instance at once) changes nothing.
    tokio::join!(open(&cluster, "b", LEASE), open(&cluster, "b", LEASE));
    let spool = open(&cluster, "c", LEASE).await;
    spool.accept(&event("d1", "e1"), 1).await.unwrap();
    drop(spool);
    let admin = open(&cluster, "admin", LEASE).await;
    drop(admin);
    set_schema_version(
        &cluster,
        hookbox::service::spool::postgres::SCHEMA_VERSION + 1,
    )
    .await;
    let tls = hookbox::tls::TlsSettings::new(&[])
        .unwrap()
        .config()
        .unwrap();
    match PostgresSpool::open(&cluster.url(), tls, "d".into(), LEASE).await {
        Err(SpoolError::SchemaTooNew { found, known, .. }) => {
            assert_eq!(found, known + 1);
        }
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

/// Sets the stored schema version, as a newer hookbox would have.
async fn set_schema_version(cluster: &Cluster, version: i32) {
    execute(
        cluster,
        &format!("UPDATE hookbox_schema SET version = {version}"),
    )
    .await;
}

/// Runs `sql` on the cluster's database, as another writer would.
async fn execute(cluster: &Cluster, sql: &str) {
    let (client, connection) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
}

#[tokio::test]
async fn a_stored_row_that_does_not_read_is_an_error_naming_its_column() {
    let cluster = Cluster::start();
    let spool = open(&cluster, "a", LEASE).await;
    spool.accept(&event("d1", "e1"), 10).await.unwrap();
    // Another writer (an older tool, a hand edit) leaves a NULL where the
    // schema had none.
    execute(
        &cluster,
        "ALTER TABLE events ALTER COLUMN sid DROP NOT NULL; UPDATE events SET sid = NULL",
    )
    .await;
    let listed = spool
        .list(&hookbox::service::spool::RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await;
    match listed {
        Err(SpoolError::Database {
            failure: DatabaseFailure::Unreadable,
            detail,
        }) => {
            assert!(detail.contains("column sid"), "{detail}");
        }
        other => panic!("expected a database error, got {other:?}"),
    }
    // The spool goes on working for what does read.
    assert_eq!(spool.depth().await.unwrap(), 1);
}

#[tokio::test]
async fn tls_and_the_password_come_from_the_operator_and_the_password_is_never_shown() {
    use hookbox::service::spool::{SharedSpool, SpoolLocation};
    let ca = crate::receiver::TestCa::new();
    let cluster = Cluster::start_with_tls(Some(&ca));
    let location = |password: Option<&str>| {
        SpoolLocation::Shared(SharedSpool {
            url: format!("{}?sslmode=require", cluster.url_without_password()),
            password: password.map(str::to_owned),
            lease: LEASE,
        })
    };
    let refused =
        async |location: &SpoolLocation, ca_bundle: &[u8]| match hookbox::service::open_spool(
            location, ca_bundle, "a",
        )
        .await
        {
            Ok(_) => panic!("the spool opened"),
            Err(error) => error.to_string(),
        };
    // The server's certificate is not trusted until the operator's CA is.
    let untrusted = refused(&location(Some(crate::pg::PASSWORD)), &[]).await;
    assert!(untrusted.contains("cannot connect"), "{untrusted}");
    // A wrong password is refused, and neither it nor the right one shows.
    let wrong = refused(&location(Some("not-the-password")), ca.ca_pem.as_bytes()).await;
    assert!(wrong.contains("password"), "{wrong}");
    assert!(!wrong.contains("not-the-password") && !wrong.contains(crate::pg::PASSWORD));
    assert!(!format!("{:?}", location(Some(crate::pg::PASSWORD))).contains(crate::pg::PASSWORD));

    let spool = hookbox::service::open_spool(
        &location(Some(crate::pg::PASSWORD)),
        ca.ca_pem.as_bytes(),
        "a",
    )
    .await
    .unwrap();
    spool.accept(&event("d1", "e1"), 1).await.unwrap();
    // The spool's connections are TLS ones, as the server sees them.
    let (client, connection) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let over_tls: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
              WHERE s.ssl AND a.backend_type = 'client backend'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(over_tls >= 1, "no TLS connection from the spool");
}
