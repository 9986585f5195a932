//! `hookbox serve` over real HTTP on loopback: the real binary, a hook that
//! forwards to a receiver the test owns, and a spool that must survive
//! SIGKILL.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hookbox::intake::Event;
use hookbox::intake::hoop_payload;
use hookbox::service::auth::Auth;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use hookbox_testkit::poll::poll_until;

use crate::receiver::{Receiver, Reply};
use crate::source::TestRepo;
use crate::support::hookbox;

pub(crate) const TOKEN: &str = "test-token-0123456789";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Forwards the event's ids to `$TARGET/events`, after `$SLEEP` seconds.
pub(crate) const FORWARD_HOOK: &str = r#"
import json, os, time, urllib.request
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
time.sleep(float(os.environ.get("SLEEP", "0")))
body = json.dumps({"sid": event["sid"], "id": event["id"]}).encode()
request = urllib.request.Request(os.environ["TARGET"] + "/events", data=body, method="POST")
urllib.request.urlopen(request, timeout=5)
print("forwarded", event["sid"])
"#;

/// A running `hookbox serve`.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything a server needs that outlives one process.
pub(crate) struct Setup {
    hooks: tempfile::TempDir,
    data: tempfile::TempDir,
    config: tempfile::NamedTempFile,
    pub(crate) receiver: Receiver,
    /// Seconds the forwarding hook waits before it sends.
    pub(crate) sleep: &'static str,
    envs: Vec<(&'static str, String)>,
    /// Pass `--hooks-dir` (else the git source in `envs` is used).
    hooks_dir: bool,
}

impl Setup {
    pub(crate) async fn new(reply: Reply, retry: &str) -> Setup {
        let hooks = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(hooks.path().join("hoop-hooks")).unwrap();
        std::fs::write(
            hooks.path().join("hoop-hooks/session-open.runbook.py"),
            FORWARD_HOOK,
        )
        .unwrap();
        let config = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(config.path(), format!("[service.retry]\n{retry}\n")).unwrap();
        Setup {
            hooks,
            data: tempfile::tempdir().unwrap(),
            config,
            receiver: Receiver::http(reply).await,
            sleep: "0",
            envs: vec![("HOOKBOX_TOKEN", TOKEN.to_owned())],
            hooks_dir: true,
        }
    }

    /// The sessions whose forwarding hook reached the receiver.
    pub(crate) fn forwarded_sids(&self) -> HashSet<String> {
        self.receiver
            .requests()
            .iter()
            .map(|r| {
                serde_json::from_slice::<Value>(&r.body).unwrap()["sid"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    /// Replaces the service's session-open hook.
    pub(crate) fn write_hook(&self, source: &str) {
        std::fs::write(
            self.hooks.path().join("hoop-hooks/session-open.runbook.py"),
            source,
        )
        .unwrap();
    }

    pub(crate) fn start(&self, extra: &[&str]) -> Server {
        let target = format!("http://127.0.0.1:{}", self.receiver.port());
        let mut command: Command = hookbox();
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.data.path())
            .args(if self.hooks_dir {
                vec![
                    "--hooks-dir".into(),
                    self.hooks.path().as_os_str().to_owned(),
                ]
            } else {
                vec![]
            })
            .arg("--config")
            .arg(self.config.path())
            .args(["--allow", &target])
            .args(["--env", &format!("TARGET={target}")])
            .args(["--env", &format!("SLEEP={}", self.sleep)])
            .args(extra)
            .env_remove("HOOKBOX_TOKEN")
            .env_remove("GIT_URL")
            .env_remove("GIT_HOOK_CONFIG_TTL")
            .env_remove("HOOKBOX_WEBHOOK_SECRET")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server { child, base }
    }
}

/// A payload for `session-open` of session `sid`.
pub(crate) fn open_event(sid: &str) -> Vec<u8> {
    let mut payload = hoop_payload::sample(Event::SessionOpen);
    hoop_payload::apply_sets(&mut payload, Event::SessionOpen, &[format!("sid={sid}")]).unwrap();
    serde_json::to_vec(&payload).unwrap()
}

/// One HTTP request; the answer's status, headers and body (as JSON when it
/// is JSON).
pub(crate) async fn call(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Value) {
    let address = base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(wasmtime_wasi_http::io::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", address);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = sender
        .send_request(request.body(Full::new(bytes::Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (parts.status.as_u16(), parts.headers, value)
}

/// Signs in to the dashboard; the session cookie header to send.
pub(crate) async fn sign_in(server: &Server) -> (&'static str, String) {
    let form = (
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    );
    let (_, headers, _) = call(
        &server.base,
        "POST",
        "/login",
        &[form],
        format!("token={TOKEN}").into_bytes(),
    )
    .await;
    let cookie = headers["set-cookie"].to_str().unwrap();
    ("cookie", cookie.split(';').next().unwrap().to_owned())
}

pub(crate) fn bearer() -> (&'static str, String) {
    ("authorization", format!("Bearer {TOKEN}"))
}

pub(crate) async fn post_event(server: &Server, body: Vec<u8>) -> (u16, Value) {
    let (status, _, value) = call(&server.base, "POST", "/v1/events", &[bearer()], body).await;
    (status, value)
}

pub(crate) async fn get(server: &Server, path: &str) -> Value {
    let (status, _, value) = call(&server.base, "GET", path, &[bearer()], Vec::new()).await;
    assert_eq!(status, 200, "{path}: {value}");
    value
}

/// Waits (bounded) until `check` holds.
pub(crate) async fn eventually<T>(what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
    let seen = poll_until(
        Duration::from_secs(60),
        Duration::from_millis(100),
        check,
        Option::is_some,
    )
    .await;
    seen.unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

async fn run_state(server: &Server, run_id: &str) -> Value {
    get(server, &format!("/v1/runs/{run_id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_stored_run_once_and_inspectable() {
    let setup = Setup::new(Reply::Status(200, "ok"), "").await;
    let server = setup.start(&[]);
    let (status, accepted) = post_event(&server, open_event("sess-1")).await;
    assert_eq!(status, 202, "{accepted}");
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    let (status, again) = post_event(&server, open_event("sess-1")).await;
    assert_eq!(status, 202);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["run_id"], run_id.as_str());

    let run = eventually("the run to succeed", async || {
        let run = run_state(&server, &run_id).await;
        (run["state"] == "succeeded").then_some(run)
    })
    .await;
    assert_eq!(setup.receiver.requests().len(), 1, "a duplicate runs once");
    let attempt = &run["attempt_log"][0]["outcome"];
    assert_eq!(
        attempt["record_version"],
        hookbox::record::stored::RECORD_VERSION,
        "{attempt}"
    );
    assert_eq!(attempt["status"], "ok");
    assert!(
        attempt["stdout"]
            .as_str()
            .unwrap()
            .contains("forwarded sess-1")
    );
    assert_eq!(attempt["egress"][0]["allowed"], true);
    assert!(attempt["fuel_consumed"].as_u64().unwrap() > 0);
    assert_eq!(
        run["payload"]["event_session_open"]["connection_envs"]["envvar:PASS"],
        "[redacted by hookbox]",
        "secrets never reach the spool"
    );

    let listed = get(&server, "/v1/runs?status=succeeded&event=session-open").await;
    assert_eq!(listed["runs"].as_array().unwrap().len(), 1);
    let none = get(&server, "/v1/runs?status=dead").await;
    assert!(none["runs"].as_array().unwrap().is_empty());

    let health = get(&server, "/healthz").await;
    assert_eq!(health["spool_depth"], 0);
    let (_, headers, metrics) = call(&server.base, "GET", "/metrics", &[], Vec::new()).await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .contains("openmetrics")
    );
    let metrics = metrics.as_str().unwrap().to_owned();
    for line in [
        "hookbox_events_accepted_total 1",
        "hookbox_events_duplicate_total 1",
        "hookbox_runs_total{status=\"ok\"} 1",
        "hookbox_egress_total{verdict=\"allowed\"} 1",
        "hookbox_run_duration_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    // Hooks come from a folder: there is no snapshot, so no age (not 0).
    assert!(!metrics.contains("hookbox_git_"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_firing_runs_once_and_a_retried_delivery_does_not_run_again() {
    let setup = Setup::new(Reply::Status(200, "ok"), "").await;
    let server = setup.start(&[]);
    let post = async |key: Option<&str>, body: Vec<u8>| {
        let mut headers = vec![bearer()];
        if let Some(key) = key {
            headers.push(("webhook-id", key.to_owned()));
        }
        let (status, _, answer) = call(&server.base, "POST", "/v1/events", &headers, body).await;
        assert_eq!(status, 202, "{answer}");
        answer
    };
    // Hoop fires session-open twice for one session (reviews): same event id.
    let first = post(Some("firing-1"), open_event("sess-f")).await;
    let second = post(Some("firing-2"), open_event("sess-f")).await;
    assert_eq!(first["event_id"], second["event_id"]);
    assert_ne!(first["run_id"], second["run_id"], "two firings, two runs");
    // The first firing's delivery retried: the same run.
    let retried = post(Some("firing-1"), open_event("sess-f")).await;
    assert_eq!(retried["run_id"], first["run_id"]);
    assert_eq!(retried["duplicate"], true);
    // Without a key, the same POST twice is one delivery.
    let plain = post(None, open_event("sess-g")).await;
    let plain_again = post(None, open_event("sess-g")).await;
    assert_eq!(plain_again["run_id"], plain["run_id"]);

    let runs = eventually("three runs to succeed", async || {
        let listed = get(&server, "/v1/runs?status=succeeded").await;
        let runs = listed["runs"].as_array().unwrap().clone();
        (runs.len() == 3).then_some(runs)
    })
    .await;
    let firings: Vec<&Value> = runs
        .iter()
        .filter(|run| run["event_id"] == first["event_id"])
        .collect();
    assert_eq!(firings.len(), 2, "{runs:#?}");
    assert_ne!(firings[0]["delivery"], firings[1]["delivery"]);
    assert_eq!(setup.receiver.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_checked_before_anything_is_stored() {
    let mut setup = Setup::new(Reply::Status(200, "ok"), "").await;
    setup
        .envs
        .push(("HOOKBOX_WEBHOOK_SECRET", SECRET.to_owned()));
    let server = setup.start(&[]);
    let body = open_event("sess-auth");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signed = |timestamp: i64, body: &[u8]| {
        vec![
            bearer(),
            ("webhook-id", "msg_1".to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                Auth::sign(SECRET, "msg_1", timestamp, body).unwrap(),
            ),
        ]
    };
    let post = async |headers: Vec<(&str, String)>, body: Vec<u8>| {
        call(&server.base, "POST", "/v1/events", &headers, body).await
    };

    let (status, headers, _) = post(vec![], body.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (status, _, _) = post(vec![("authorization", "Bearer wrong".into())], body.clone()).await;
    assert_eq!(status, 401);
    let (status, _, error) = post(vec![bearer()], body.clone()).await;
    assert_eq!(
        status, 401,
        "the token alone is not enough with a secret set"
    );
    assert!(
        error["error"].as_str().unwrap().contains("webhook-id"),
        "{error}"
    );
    let mut tampered = signed(now, &body);
    tampered[3].1 = Auth::sign(SECRET, "msg_1", now, b"{}").unwrap();
    let (status, _, _) = post(tampered, body.clone()).await;
    assert_eq!(status, 401, "a signature of another body");
    let (status, _, error) = post(signed(now - 600, &body), body.clone()).await;
    assert_eq!(status, 401, "a replayed delivery from ten minutes ago");
    assert!(
        error["error"].as_str().unwrap().contains("5 minutes"),
        "{error}"
    );

    let listed = get(&server, "/v1/runs").await;
    assert!(
        listed["runs"].as_array().unwrap().is_empty(),
        "nothing stored"
    );
    let (status, _, _) = post(signed(now, &body), body.clone()).await;
    assert_eq!(status, 202);
    let (status, _, _) = call(&server.base, "GET", "/v1/runs", &[], Vec::new()).await;
    assert_eq!(status, 401, "reading runs needs the token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_credentials_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let setup = Setup::new(Reply::Status(200, "ok"), "").await;
    let server = setup.start(&[]);
    let address = server.base.trim_start_matches("http://").to_owned();
    // A request announcing a megabyte it never sends: only an answer given
    // before reading the body can arrive.
    for authorization in ["", "authorization: Bearer wrong\r\n"] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
             {authorization}content-length: 1048576\r\n\r\n{{\"sid\":"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
            .await
            .expect("an answer without the body")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..read]);
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "{authorization:?}: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_only_a_webhook_secret_runs_cannot_be_read() {
    let mut setup = Setup::new(Reply::Status(200, "ok"), "").await;
    setup.envs = vec![("HOOKBOX_WEBHOOK_SECRET", SECRET.to_owned())];
    let server = setup.start(&[]);
    let (status, _, error) = call(&server.base, "GET", "/v1/runs", &[], Vec::new()).await;
    assert_eq!(status, 403, "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("HOOKBOX_TOKEN"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_are_refused_and_nothing_is_stored() {
    let setup = Setup::new(Reply::Status(200, "ok"), "").await;
    let server = setup.start(&["--max-payload", "4KiB"]);
    let mut both = hoop_payload::sample(Event::SessionOpen);
    both["event_session_close"] = serde_json::json!({"exit_code": 0, "output": ""});
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"not json".to_vec(), 400, "not valid JSON"),
        (b"[1, 2]".to_vec(), 400, "JSON object"),
        (b"{\"id\": \"x\", \"sid\": \"y\"}".to_vec(), 400, "neither"),
        (serde_json::to_vec(&both).unwrap(), 400, "both"),
        (vec![b' '; 5000], 413, "larger than 4096 bytes"),
    ];
    for (body, expected, message) in cases {
        let (status, error) = post_event(&server, body).await;
        assert_eq!(status, expected, "{error}");
        assert!(
            error["error"].as_str().unwrap().contains(message),
            "{message}: {error}"
        );
    }
    let listed = get(&server, "/v1/runs").await;
    assert!(listed["runs"].as_array().unwrap().is_empty());
    let (_, _, metrics) = call(&server.base, "GET", "/metrics", &[], Vec::new()).await;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("hookbox_events_rejected_total{reason=\"bad_payload\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hookbox_events_rejected_total{reason=\"too_large\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_is_retried_until_it_succeeds() {
    let setup = Setup::new(
        Reply::FailFirst(2),
        "first_delay = \"100ms\"\nmax_delay = \"200ms\"",
    )
    .await;
    let server = setup.start(&[]);
    let (_, accepted) = post_event(&server, open_event("sess-retry")).await;
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    let run = eventually("the run to succeed", async || {
        let run = run_state(&server, &run_id).await;
        (run["state"] == "succeeded").then_some(run)
    })
    .await;
    assert_eq!(run["attempts"], 3);
    let notes: Vec<&str> = run["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["note"].as_str().unwrap())
        .collect();
    assert!(
        notes[0].starts_with("exit 1") && notes[0].contains("503"),
        "{notes:?}"
    );
    assert_eq!(notes[2], "exit 0");
    assert_eq!(setup.receiver.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_keeps_failing_is_dead_lettered_and_can_be_replayed() {
    let setup = Setup::new(
        Reply::FailFirst(3),
        "max_attempts = 3\nfirst_delay = \"50ms\"\nmax_delay = \"100ms\"",
    )
    .await;
    let server = setup.start(&[]);
    let (_, accepted) = post_event(&server, open_event("sess-dead")).await;
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    let run = eventually("the run to die", async || {
        let run = run_state(&server, &run_id).await;
        (run["state"] == "dead").then_some(run)
    })
    .await;
    assert_eq!(run["attempts"], 3);
    let dead = get(&server, "/v1/runs?status=dead").await;
    assert_eq!(dead["runs"][0]["id"], run_id.as_str());
    let (_, _, metrics) = call(&server.base, "GET", "/metrics", &[], Vec::new()).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("hookbox_dead_letters_total 1")
    );

    // The receiver is back: a replay runs the same event again and succeeds.
    let (status, _, replay) = call(
        &server.base,
        "POST",
        &format!("/v1/runs/{run_id}/replay"),
        &[bearer()],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 202, "{replay}");
    let replay_id = replay["run_id"].as_str().unwrap().to_owned();
    let replayed = eventually("the replay to succeed", async || {
        let run = run_state(&server, &replay_id).await;
        (run["state"] == "succeeded").then_some(run)
    })
    .await;
    assert_eq!(replayed["replay_of"], run_id.as_str());
    assert_eq!(replayed["event_id"], run["event_id"]);
    let (status, _, _) = call(
        &server.base,
        "POST",
        "/v1/runs/no-such-run/replay",
        &[bearer()],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_answers_503_with_retry_after() {
    let mut setup = Setup::new(Reply::Status(200, "ok"), "").await;
    setup.sleep = "3";
    let server = setup.start(&["--max-spool", "1", "--concurrency", "1"]);
    let (status, _) = post_event(&server, open_event("sess-a")).await;
    assert_eq!(status, 202);
    let (status, headers, error) = call(
        &server.base,
        "POST",
        "/v1/events",
        &[bearer()],
        open_event("sess-b"),
    )
    .await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(headers["retry-after"], "30");
}

/// Opens a raw connection to the server.
async fn connect(server: &Server) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads what the server sends until it closes the connection (at most
/// `within`; a server that keeps it open fails the test).
async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut seen))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the server kept the connection open; it sent {:?}",
                String::from_utf8_lossy(&seen)
            )
        })
        .ok();
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_get_503_until_one_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let setup = Setup::new(Reply::Status(200, "ok"), "").await;
    let server = setup.start(&["--max-connections", "2"]);
    // Two connections the server has taken (each answered once), kept open.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&server).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: hookbox\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        held.push(stream);
    }
    let mut third = connect(&server).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: hookbox\r\n\r\n")
        .await
        .unwrap();
    let refused = read_until_closed(&mut third, Duration::from_secs(10)).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
    assert!(refused.contains("too many connections"), "{refused}");

    drop(held.pop());
    eventually("a slot to come back", async || {
        let (status, _, _) = call(&server.base, "GET", "/healthz", &[], Vec::new()).await;
        (status == 200).then_some(())
    })
    .await;
    drop(held);
    let metrics = eventually("the metrics", async || {
        let (status, _, metrics) = call(&server.base, "GET", "/metrics", &[], Vec::new()).await;
        (status == 200).then_some(metrics)
    })
    .await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains(r#"hookbox_events_rejected_total{reason="too_many_connections"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_headers_is_cut_off_and_too_many_headers_are_refused() {
    use tokio::io::AsyncWriteExt;
    let setup = Setup::new(Reply::Status(200, "ok"), "").await;
    let server = setup.start(&["--header-timeout", "1s"]);
    let mut slow = connect(&server).await;
    slow.write_all(b"POST /v1/events HTTP/1.1\r\nhost: hookbox\r\nx-one: 1\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow, Duration::from_secs(20)).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    let crowded: Vec<(String, String)> = (0..100)
        .map(|n| (format!("x-filler-{n}"), "1".to_owned()))
        .collect();
    let headers: Vec<(&str, String)> = crowded
        .iter()
        .map(|(name, value)| (name.as_str(), value.clone()))
        .collect();
    let (status, _, _) = call(&server.base, "GET", "/healthz", &headers, Vec::new()).await;
    assert_eq!(status, 431);
    // And the service goes on.
    let health = get(&server, "/healthz").await;
    assert_eq!(health["spool_depth"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_event_runs_after_a_sigkill() {
    let mut setup = Setup::new(Reply::Status(200, "ok"), "").await;
    setup.sleep = "0.3";
    let server = setup.start(&["--concurrency", "2"]);
    let sids: Vec<String> = (0..12).map(|i| format!("crash-{i}")).collect();
    for sid in &sids {
        let (status, body) = post_event(&server, open_event(sid)).await;
        assert_eq!(status, 202, "{body}");
    }
    // Some hooks are running, most are queued: kill without warning.
    drop(server);
    let before = setup.receiver.requests().len();
    assert!(
        before < sids.len(),
        "the kill came before the work was done"
    );

    let server = setup.start(&["--concurrency", "4"]);
    eventually("every accepted event to run", async || {
        let seen = setup.forwarded_sids();
        sids.iter().all(|sid| seen.contains(sid)).then_some(())
    })
    .await;
    let succeeded = eventually("every run to be recorded", async || {
        let runs = get(&server, "/v1/runs?status=succeeded").await;
        let count = runs["runs"].as_array().unwrap().len();
        (count == sids.len()).then_some(count)
    })
    .await;
    assert_eq!(succeeded, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_running_hook_finish() {
    let mut setup = Setup::new(Reply::Status(200, "ok"), "").await;
    setup.sleep = "1";
    let mut server = setup.start(&[]);
    let (_, accepted) = post_event(&server, open_event("sess-term")).await;
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    eventually("the run to start", async || {
        (run_state(&server, &run_id).await["state"] == "running").then_some(())
    })
    .await;
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().unwrap();
        (status, server)
    })
    .await
    .unwrap()
    .0;
    assert!(status.success(), "{status:?}");
    assert_eq!(
        setup.receiver.requests().len(),
        1,
        "the running hook finished"
    );
}

#[test]
fn runs_can_be_listed_shown_and_replayed_from_the_command_line() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let setup = runtime.block_on(Setup::new(Reply::Status(200, "ok"), ""));
    let server = setup.start(&[]);
    let run_id = runtime.block_on(async {
        let (_, accepted) = post_event(&server, open_event("sess-cli")).await;
        let run_id = accepted["run_id"].as_str().unwrap().to_owned();
        eventually("the run to succeed", async || {
            (run_state(&server, &run_id).await["state"] == "succeeded").then_some(())
        })
        .await;
        run_id
    });
    let runs_output = |args: &[&str]| {
        hookbox()
            .arg("runs")
            .args(args)
            .arg("--data-dir")
            .arg(setup.data.path())
            .output()
            .unwrap()
    };
    let runs = |args: &[&str]| {
        let output = runs_output(args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let listed = runs(&["list"]);
    assert!(
        listed.contains(&run_id) && listed.contains("succeeded"),
        "{listed}"
    );
    let shown: Value = serde_json::from_str(&runs(&["show", &run_id])).unwrap();
    assert_eq!(shown["attempt_log"][0]["outcome"]["status"], "ok");
    let replayed = runs(&["replay", &run_id]);
    let replay_id = replayed
        .trim()
        .strip_prefix(&format!("replayed {run_id} as run "))
        .unwrap_or_else(|| panic!("{replayed}"))
        .to_owned();
    runtime.block_on(eventually("the replay to run", async || {
        (run_state(&server, &replay_id).await["state"] == "succeeded").then_some(())
    }));
    assert_eq!(setup.receiver.requests().len(), 2);
    // The run and its replay are listed together by the event id; another
    // session's run is not.
    let event_id = shown["event_id"].as_str().unwrap();
    let together = runs(&["list", "--event-id", event_id]);
    assert!(
        together.contains(&run_id) && together.contains(&replay_id),
        "{together}"
    );
    assert_eq!(together.lines().count(), 2, "{together}");
    assert!(runs(&["list", "--sid", "sess-other"]).is_empty());
    let missing = hookbox()
        .args(["runs", "show", "nope", "--data-dir"])
        .arg(Path::new("/nonexistent/hookbox-data"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2), "a usage mistake");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no spool"));
    for args in [&["show", "nope"][..], &["replay", "nope"][..]] {
        let unknown = runs_output(args);
        assert_eq!(unknown.status.code(), Some(2), "{args:?}: a usage mistake");
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("no run nope in the spool"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_come_from_the_git_source_and_a_missing_hook_is_skipped() {
    let mut setup = Setup::new(Reply::Status(200, "ok"), "").await;
    let repo = TestRepo::new("main");
    repo.write(
        "hoop-hooks/session-open.runbook.py",
        FORWARD_HOOK.as_bytes(),
    )
    .commit("hooks");
    setup.hooks_dir = false;
    setup
        .envs
        .push(("GIT_URL", repo.path().display().to_string()));
    setup.envs.push(("GIT_HOOK_CONFIG_TTL", "300".into()));
    let server = setup.start(&[]);

    let (_, accepted) = post_event(&server, open_event("sess-git")).await;
    let open_id = accepted["run_id"].as_str().unwrap().to_owned();
    let mut close = hoop_payload::sample(Event::SessionClose);
    hoop_payload::apply_sets(
        &mut close,
        Event::SessionClose,
        &["sid=sess-git".to_owned()],
    )
    .unwrap();
    let (status, accepted) = post_event(&server, serde_json::to_vec(&close).unwrap()).await;
    assert_eq!(status, 202, "{accepted}");
    let close_id = accepted["run_id"].as_str().unwrap().to_owned();

    eventually("the open hook from git to run", async || {
        (run_state(&server, &open_id).await["state"] == "succeeded").then_some(())
    })
    .await;
    let close = eventually("the close event to be skipped", async || {
        let run = run_state(&server, &close_id).await;
        (run["state"] == "skipped").then_some(run)
    })
    .await;
    assert!(
        close["last_note"]
            .as_str()
            .unwrap()
            .contains("no hook for session-close"),
        "{close}"
    );
    assert_eq!(setup.receiver.requests().len(), 1);
    let health = get(&server, "/healthz").await;
    assert!(
        health["source_snapshot_age_seconds"].is_number(),
        "{health}"
    );
    assert_eq!(health["source_fetch_failures"], 0);
    let (_, _, metrics) = call(&server.base, "GET", "/metrics", &[], Vec::new()).await;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("hookbox_git_snapshot_age_seconds "),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_commit_is_counted_and_waited_out_and_the_run_records_its_signer() {
    use crate::signed_commits::Keys;
    let mut setup = Setup::new(
        Reply::Status(200, "ok"),
        "first_delay = \"100ms\"\nmax_delay = \"200ms\"\nmax_attempts = 1000",
    )
    .await;
    let keys = Keys::new();
    let alice = keys.make("alice");
    let allowed = keys.allowed_signers(&[format!("alice@example.com {}", Keys::public(&alice))]);
    let repo = TestRepo::new("main");
    repo.write(
        "hoop-hooks/session-open.runbook.py",
        FORWARD_HOOK.as_bytes(),
    );
    let unsigned = repo.commit_unsigned("unsigned hook");
    setup.hooks_dir = false;
    setup.envs.extend([
        ("GIT_URL", repo.path().display().to_string()),
        ("GIT_HOOK_CONFIG_TTL", "300".into()),
        ("GIT_ALLOWED_SIGNERS", allowed.display().to_string()),
    ]);
    let server = setup.start(&[]);
    let (_, accepted) = post_event(&server, open_event("sess-signed")).await;
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();

    let run = eventually("the unsigned commit to be refused", async || {
        let run = run_state(&server, &run_id).await;
        run["last_note"]
            .as_str()
            .is_some_and(|note| note.contains("not signed"))
            .then_some(run)
    })
    .await;
    assert_eq!(
        run["state"], "pending",
        "waiting for a signed commit: {run}"
    );
    assert!(
        run["last_note"].as_str().unwrap().contains(&unsigned),
        "{run}"
    );
    assert!(
        setup.receiver.requests().is_empty(),
        "the unsigned hook never ran"
    );
    let (_, _, metrics) = call(&server.base, "GET", "/metrics", &[], Vec::new()).await;
    let metrics = metrics.as_str().unwrap().to_owned();
    let refused: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("hookbox_git_commits_refused_total "))
        .unwrap_or_else(|| panic!("{metrics}"))
        .parse()
        .unwrap();
    assert!(refused >= 1, "{metrics}");

    repo.sign_with(&alice);
    let signed = repo.commit("signed");
    let run = eventually("the run from the signed commit", async || {
        let run = run_state(&server, &run_id).await;
        (run["state"] == "succeeded").then_some(run)
    })
    .await;
    let attempts = run["attempt_log"].as_array().unwrap();
    let provenance = &attempts.last().unwrap()["outcome"]["provenance"];
    assert_eq!(provenance["commit"], signed, "{run}");
    assert_eq!(provenance["signer"]["principals"], "alice@example.com");
    assert_eq!(
        provenance["signer"]["fingerprint"],
        Keys::fingerprint(&alice)
    );
    assert_eq!(
        setup.forwarded_sids(),
        HashSet::from(["sess-signed".to_owned()])
    );

    // The dashboard shows each attempt's commit and signer.
    let cookie = sign_in(&server).await;
    let (status, _, page) = call(
        &server.base,
        "GET",
        &format!("/runs/{run_id}"),
        std::slice::from_ref(&cookie),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    let page = page.as_str().unwrap();
    let shown = format!(
        "hook from commit {signed} on main, signed by alice@example.com ({})",
        Keys::fingerprint(&alice)
    );
    assert!(page.contains(&shown), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_secret_never_reaches_the_spool_the_api_or_the_dashboard() {
    const VALUE: &str = "svc-7e1d-REAL-token-value";
    let mut setup = Setup::new(Reply::Echo, "max_attempts = 1").await;
    let target = format!("http://127.0.0.1:{}", setup.receiver.port());
    std::fs::write(
        setup.config.path(),
        format!(
            "[service.retry]\nmax_attempts = 1\n\n[[secrets.inject]]\nname = \"SIEM_TOKEN\"\n\
             from_env = \"HOOKBOX_SIEM_TOKEN\"\ndestinations = [\"{target}\"]\n"
        ),
    )
    .unwrap();
    setup.write_hook(
        r#"
import os, urllib.request
token = os.environ["SIEM_TOKEN"]
request = urllib.request.Request(os.environ["TARGET"] + "/events?token=" + token, data=b"{}",
                                 headers={"Authorization": f"Bearer {token}"})
with urllib.request.urlopen(request, timeout=5) as response:
    print(response.headers["x-echo"], response.read().decode())
print("environment", dict(os.environ))
"#,
    );
    setup.envs.push(("HOOKBOX_SIEM_TOKEN", VALUE.into()));
    let server = setup.start(&[]);
    let (_, accepted) = post_event(&server, open_event("sess-inject")).await;
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    let run = eventually("the run to succeed", async || {
        let run = run_state(&server, &run_id).await;
        (run["state"] == "succeeded").then_some(run)
    })
    .await;
    let received = setup.receiver.requests();
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {VALUE}").as_str())
    );
    let shown = run.to_string();
    assert!(shown.contains("Bearer *****"), "{shown}");
    assert!(shown.contains("hookbox-secret-SIEM_TOKEN-"), "{shown}");
    let (_, _, metrics) = call(&server.base, "GET", "/metrics", &[], Vec::new()).await;
    let cookie = sign_in(&server).await;
    let (_, _, page) = call(
        &server.base,
        "GET",
        &format!("/runs/{run_id}"),
        std::slice::from_ref(&cookie),
        Vec::new(),
    )
    .await;
    let (_, _, settings) = call(&server.base, "GET", "/settings", &[cookie], Vec::new()).await;
    assert!(settings.to_string().contains("SIEM_TOKEN"), "{settings}");
    drop(server);
    let mut spool = Vec::new();
    for entry in std::fs::read_dir(setup.data.path()).unwrap().flatten() {
        spool.extend(std::fs::read(entry.path()).unwrap_or_default());
    }
    for (what, text) in [
        ("the API", shown),
        ("/metrics", metrics.to_string()),
        ("the run page", page.to_string()),
        ("the settings page", settings.to_string()),
        (
            "the spool files",
            String::from_utf8_lossy(&spool).into_owned(),
        ),
    ] {
        assert!(!text.contains("REAL-token"), "{what} shows the value");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_service_on_the_same_spool_is_refused() {
    let setup = Setup::new(Reply::Status(200, "ok"), "").await;
    let _first = setup.start(&[]);
    let second = hookbox()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(setup.data.path())
        .arg("--hooks-dir")
        .arg(setup.hooks.path())
        .env("HOOKBOX_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&second.stderr)
            .contains("another hookbox serve is using the spool"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_from_a_newer_hookbox_is_refused_by_name_and_kept() {
    let setup = Setup::new(Reply::Status(200, "ok"), "").await;
    drop(setup.start(&[]));
    let file = setup
        .data
        .path()
        .join(hookbox::service::spool::sqlite::FILE_NAME);
    let newer = hookbox::service::spool::sqlite::SCHEMA_VERSION + 1;
    let set_version = |version: u32| {
        let connection = rusqlite::Connection::open(&file).unwrap();
        connection
            .execute_batch(&format!("PRAGMA user_version = {version}"))
            .unwrap();
    };
    set_version(newer);
    let serve = |extra: &[&str]| {
        hookbox()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(setup.data.path())
            .arg("--hooks-dir")
            .arg(setup.hooks.path())
            .args(extra)
            .env("HOOKBOX_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    let refused = serve(&[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("schema version {newer}")) && stderr.contains("--data-dir"),
        "{stderr}"
    );
    let runs = hookbox()
        .args(["runs", "list", "--data-dir"])
        .arg(setup.data.path())
        .output()
        .unwrap();
    assert_eq!(runs.status.code(), Some(2), "the CLI refuses it too");

    // Retention is read like every duration; a bad one is named, as is a
    // shared spool that is not PostgreSQL.
    set_version(hookbox::service::spool::sqlite::SCHEMA_VERSION);
    for (args, named) in [
        (&["--retain-dead", "a month"][..], "--retain-dead"),
        (
            &["--spool", "mysql://db/hookbox"][..],
            "--spool takes a PostgreSQL URL",
        ),
    ] {
        let bad = serve(args);
        let stderr = String::from_utf8_lossy(&bad.stderr);
        assert_eq!(bad.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
    }
}

#[test]
fn without_credentials_the_service_does_not_start() {
    let hooks = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(hooks.path().join("hoop-hooks")).unwrap();
    let output = hookbox()
        .args(["serve", "--listen", "127.0.0.1:0", "--hooks-dir"])
        .arg(hooks.path())
        .env_remove("HOOKBOX_TOKEN")
        .env_remove("HOOKBOX_WEBHOOK_SECRET")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("set HOOKBOX_TOKEN"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_signature_over_an_id_that_is_not_header_text_is_refused_not_accepted() {
    // From fuzzing: an id with non-ASCII letters reaches the check as bytes
    // it cannot read as text; it must be refused like any bad signature.
    let auth = Auth::new(None, Some(SECRET)).unwrap();
    let id = "\t+-//\u{627}";
    let now = 1_800_000_000;
    let signature = Auth::sign(SECRET, id, now, b"{}").unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "webhook-id",
        http::HeaderValue::from_bytes(id.as_bytes()).unwrap(),
    );
    headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
    headers.insert("webhook-signature", signature.parse().unwrap());
    assert!(auth.check(&headers, b"{}", now).is_err());
    // The same with an id that is header text verifies.
    let signature = Auth::sign(SECRET, "msg_2Kx9", now, b"{}").unwrap();
    headers.insert("webhook-id", "msg_2Kx9".parse().unwrap());
    headers.insert("webhook-signature", signature.parse().unwrap());
    assert!(auth.check(&headers, b"{}", now).is_ok());
}

/// The value of the metric line starting with `name ` in the service's
/// `/metrics` text.
async fn metric(server: &Server, name: &str) -> f64 {
    let (_, _, text) = call(&server.base, "GET", "/metrics", &[], Vec::new()).await;
    let text = text.as_str().unwrap().to_owned();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_service_returns_its_warm_memory_and_still_runs_the_next_event() {
    let setup = Setup::new(Reply::Status(200, "ok"), "").await;
    let server = setup.start(&["--release-idle", "300ms"]);
    for round in 1..=2 {
        let sid = format!("sess-{round}");
        let (status, accepted) = post_event(&server, open_event(&sid)).await;
        assert_eq!(status, 202, "{accepted}");
        let run_id = accepted["run_id"].as_str().unwrap().to_owned();
        eventually("the run to succeed", async || {
            (run_state(&server, &run_id).await["state"] == "succeeded").then_some(())
        })
        .await;
        assert!(setup.forwarded_sids().contains(&sid), "round {round}");
        // A release only happens when a slot is warm, so each round's run
        // left memory behind and the release took all of it back.
        eventually("the warm memory to be released", async || {
            let released = metric(&server, "hookbox_warm_memory_releases_total").await;
            let warm = metric(&server, "hookbox_warm_memory_bytes").await;
            (released >= f64::from(round) && warm == 0.0).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_imports_a_hooks_packages_into_a_snapshot_in_the_background() {
    let setup = Setup::new(Reply::Status(200, "ok"), "").await;
    let folder = setup.hooks.path().join("hoop-hooks");
    std::fs::create_dir_all(folder.join("siemfmt")).unwrap();
    std::fs::write(folder.join("siemfmt/__init__.py"), "VERSION = 'svc'\n").unwrap();
    std::fs::create_dir_all(folder.join("siemfmt-1.0.dist-info")).unwrap();
    std::fs::write(
        folder.join("siemfmt-1.0.dist-info/RECORD"),
        "siemfmt/__init__.py,,\n",
    )
    .unwrap();
    setup.write_hook(
        "import sys\nprint('preloaded:', 'siemfmt' in sys.modules)\nimport siemfmt\nprint(siemfmt.VERSION)\n",
    );
    let server = setup.start(&[]);
    // Runs go on while the snapshot is made; the runs after it start with
    // the package imported.
    let mut runs = 0;
    let last = poll_until(
        Duration::from_secs(300),
        Duration::from_millis(500),
        async || {
            runs += 1;
            let (status, accepted) = post_event(&server, open_event(&format!("sess-{runs}"))).await;
            assert_eq!(status, 202, "{accepted}");
            let run_id = accepted["run_id"].as_str().unwrap().to_owned();
            let run = eventually("the run to succeed", async || {
                let run = run_state(&server, &run_id).await;
                (run["state"] == "succeeded").then_some(run)
            })
            .await;
            let stdout = run["attempt_log"][0]["outcome"]["stdout"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                ["preloaded: False\nsvc\n", "preloaded: True\nsvc\n"].contains(&stdout.as_str()),
                "{stdout:?}"
            );
            stdout
        },
        |stdout| stdout == "preloaded: True\nsvc\n",
    )
    .await;
    assert_eq!(
        last, "preloaded: True\nsvc\n",
        "no snapshot within 300 s: {runs} runs"
    );
}
