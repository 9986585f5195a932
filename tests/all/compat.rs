//! Hooks written for plain `python3` (standard library only, no SDK), the way
//! operators copy them for Splunk, Elastic or syslog, run unchanged: each
//! runs under the real `python3` and under `hookbox run`, against the same
//! receivers, in the same test, and both must behave alike.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hookbox_testkit::poll::poll_until;

use crate::receiver::{Received, Receiver, Reply, TestCa};
use crate::support::{SESSION_OPEN, TestHook, hookbox};

/// The real interpreter behind `python3` (on these machines `python3` on
/// PATH may be a version manager's shim).
pub(crate) fn real_python3() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        hookbox_testkit::real_python3()
            .expect("python3 is needed to compare hooks with (tests/run.sh installs it)")
    })
    .clone()
}

/// Set for both interpreters: glibc's resolver then makes no attempt, so a
/// name that is not in `/etc/hosts` fails at once and no lookup ever leaves
/// the machine.
const NO_DNS: (&str, &str) = ("RES_OPTIONS", "attempts:0");

/// What a hook needs to run in both places.
pub(crate) struct Case<'a> {
    pub hook: &'a TestHook,
    pub env: Vec<(&'static str, String)>,
    /// `--allow`, `--ca-bundle` and the like, for hookbox only.
    pub hookbox_args: Vec<String>,
}

impl<'a> Case<'a> {
    /// The hook alone: no environment, no flags.
    pub fn plain(hook: &'a TestHook) -> Case<'a> {
        Case {
            hook,
            env: Vec::new(),
            hookbox_args: Vec::new(),
        }
    }

    /// Runs the hook with the real `python3`, as Hoop's agent would (in the
    /// hook's folder, the payload in the environment).
    pub async fn python3(&self) -> Output {
        let mut command = Command::new(real_python3());
        command
            .arg(&self.hook.path)
            .current_dir(self.hook.dir.path())
            .env_clear()
            .env("HOOP_RUNBOOK_HOOK_PAYLOAD", SESSION_OPEN)
            .env(NO_DNS.0, NO_DNS.1)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    /// Runs the same file with `hookbox run`.
    pub async fn hookbox(&self) -> Output {
        let payload = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(payload.path(), SESSION_OPEN).unwrap();
        let mut command = hookbox();
        command
            .arg("run")
            .arg(&self.hook.path)
            .arg("--payload")
            .arg(payload.path())
            .args(&self.hookbox_args)
            .env(NO_DNS.0, NO_DNS.1);
        for (name, value) in &self.env {
            command.arg("--env").arg(format!("{name}={value}"));
        }
        tokio::task::spawn_blocking(move || {
            let output = command.output().unwrap();
            drop(payload);
            output
        })
        .await
        .unwrap()
    }

    /// Runs both and checks that both succeeded with the same output.
    pub async fn both_succeed_alike(&self) -> String {
        let python = self.python3().await;
        let sandboxed = self.hookbox().await;
        let show = |output: &Output| {
            format!(
                "exit {:?}\nstdout:\n{}\nstderr:\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        };
        assert_eq!(python.status.code(), Some(0), "python3: {}", show(&python));
        assert_eq!(
            sandboxed.status.code(),
            Some(0),
            "hookbox: {}",
            show(&sandboxed)
        );
        assert_eq!(
            String::from_utf8_lossy(&python.stdout),
            String::from_utf8_lossy(&sandboxed.stdout),
            "python3 and hookbox printed different things"
        );
        String::from_utf8(sandboxed.stdout).unwrap()
    }
}

/// The parts of a request that must not depend on who sent it.
fn essence(request: &Received) -> (String, String, Option<String>, Option<String>) {
    (
        request.method.clone(),
        request.path.clone(),
        request.header("content-type").map(str::to_owned),
        request.header("authorization").map(str::to_owned),
    )
}

/// Both runs sent the same requests, `per_run` each (the bodies too, unless
/// they carry the payload: hookbox hands hooks the payload without secrets).
pub(crate) fn assert_same_requests(
    receiver: &Receiver,
    per_run: usize,
    same_bodies: bool,
) -> Vec<Received> {
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2 * per_run, "{requests:#?}");
    let (python, sandboxed) = requests.split_at(per_run);
    for (a, b) in python.iter().zip(sandboxed) {
        assert_eq!(essence(a), essence(b));
        if same_bodies {
            assert_eq!(
                String::from_utf8_lossy(&a.body),
                String::from_utf8_lossy(&b.body)
            );
        }
    }
    requests
}

pub(crate) fn allow(url: String) -> Vec<String> {
    vec!["--allow".into(), url]
}

/// `--allow rule`, trusting the test CA the hook keeps as `ca.pem`.
pub(crate) fn allow_trusting(rule: String, hook: &TestHook) -> Vec<String> {
    let mut args = allow(rule);
    args.extend([
        "--ca-bundle".into(),
        hook.dir.path().join("ca.pem").display().to_string(),
    ]);
    args
}

const URLLIB_WITH_SSL_CONTEXT: &str = r#"
import json, os, ssl, urllib.request

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
context = ssl.create_default_context(cafile="ca.pem")
body = json.dumps({"event": "session-open", "sid": event["sid"]}).encode()
request = urllib.request.Request(
    os.environ["SIEM_URL"] + "/services/collector/event",
    data=body,
    headers={"Content-Type": "application/json", "Authorization": "Splunk 0000-token"},
    method="POST",
)
with urllib.request.urlopen(request, context=context, timeout=5) as response:
    print(response.status, response.reason, response.read().decode())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urllib_with_an_explicit_ssl_context() {
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, "{\"text\":\"Success\"}"), &ca).await;
    let hook = TestHook::new(URLLIB_WITH_SSL_CONTEXT).with_file("ca.pem", &ca.ca_pem);
    let siem = format!("https://127.0.0.1:{}", receiver.port());
    let hookbox_args = allow_trusting(format!("https://127.0.0.1:{}", receiver.port()), &hook);
    let case = Case {
        hook: &hook,
        env: vec![("SIEM_URL", siem)],
        hookbox_args,
    };
    assert_eq!(
        case.both_succeed_alike().await,
        "200 OK {\"text\":\"Success\"}\n"
    );
    let requests = assert_same_requests(&receiver, 1, true);
    assert!(
        String::from_utf8_lossy(&requests[1].body).contains("\"sid\": \"8c59a347"),
        "{requests:?}"
    );
}

const HTTPS_CONNECTION_SPLUNK_HEC: &str = r#"
import http.client, json, os, ssl
from urllib.parse import urlsplit

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
siem = urlsplit(os.environ["SIEM_URL"])
context = ssl.create_default_context()
context.load_verify_locations(cafile="ca.pem")
connection = http.client.HTTPSConnection(siem.hostname, siem.port, context=context, timeout=5)
payload = {"sourcetype": "hoop:session", "event": {"sid": event["sid"], "user": event["event_session_open"]["user_email"]}}
connection.request(
    "POST",
    "/services/collector/event",
    body=json.dumps(payload),
    headers={"Authorization": "Splunk 0000-token", "Content-Type": "application/json"},
)
response = connection.getresponse()
print(response.status, response.reason, response.getheader("Content-Length"), response.read().decode())
# A second request on the same connection, as keep-alive clients do.
connection.request("GET", "/services/collector/health?detail=1")
response = connection.getresponse()
print(response.status, response.read().decode())
connection.close()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_https_connection_as_in_the_splunk_snippet() {
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, "{\"code\":0}"), &ca).await;
    let hook = TestHook::new(HTTPS_CONNECTION_SPLUNK_HEC).with_file("ca.pem", &ca.ca_pem);
    let hookbox_args = allow_trusting(format!("https://127.0.0.1:{}", receiver.port()), &hook);
    let case = Case {
        hook: &hook,
        env: vec![("SIEM_URL", format!("https://127.0.0.1:{}", receiver.port()))],
        hookbox_args,
    };
    assert_eq!(
        case.both_succeed_alike().await,
        "200 OK 10 {\"code\":0}\n200 {\"code\":0}\n"
    );
    let requests = assert_same_requests(&receiver, 2, true);
    assert_eq!(requests[3].path, "/services/collector/health?detail=1");
}

const HTTP_CONNECTION_BY_HAND: &str = r#"
import http.client, json, os

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
connection = http.client.HTTPConnection("127.0.0.1", int(os.environ["SIEM_PORT"]), timeout=5)
# The low-level calls, then a chunked body from a generator.
body = json.dumps({"sid": event["sid"]}).encode()
connection.putrequest("PUT", "/_doc/" + event["sid"])
connection.putheader("Content-Type", "application/json")
connection.putheader("Content-Length", str(len(body)))
connection.endheaders()
connection.send(body)
response = connection.getresponse()
print("put", response.status, response.read().decode())
lines = (f'{{"n": {i}}}\n'.encode() for i in range(3))
connection.request("POST", "/_bulk", body=lines, headers={"Content-Type": "application/x-ndjson"}, encode_chunked=True)
response = connection.getresponse()
print("bulk", response.status, response.read().decode())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_http_connection_needs_only_an_http_rule() {
    let receiver = Receiver::http(Reply::Status(201, "created")).await;
    let hook = TestHook::new(HTTP_CONNECTION_BY_HAND);
    let case = Case {
        hook: &hook,
        env: vec![("SIEM_PORT", receiver.port().to_string())],
        hookbox_args: allow(format!("http://127.0.0.1:{}", receiver.port())),
    };
    assert_eq!(
        case.both_succeed_alike().await,
        "put 201 created\nbulk 201 created\n"
    );
    let requests = assert_same_requests(&receiver, 2, true);
    assert_eq!(requests[3].body, b"{\"n\": 0}\n{\"n\": 1}\n{\"n\": 2}\n");
}

const OPENER_WITH_BASIC_AUTH: &str = r#"
import os, urllib.request

url = os.environ["SIEM_URL"]
passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
passwords.add_password(None, url, "hoop", "s3cret")
opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(passwords))
urllib.request.install_opener(opener)
with urllib.request.urlopen(url + "/ingest", data=b"session opened", timeout=5) as response:
    print(response.status, response.read().decode())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_opener_answers_a_basic_auth_challenge() {
    // "hoop:s3cret"
    let receiver = Receiver::http(Reply::BasicAuth("Basic aG9vcDpzM2NyZXQ=")).await;
    let hook = TestHook::new(OPENER_WITH_BASIC_AUTH);
    let case = Case {
        hook: &hook,
        env: vec![("SIEM_URL", format!("http://127.0.0.1:{}", receiver.port()))],
        hookbox_args: allow(format!("http://127.0.0.1:{}", receiver.port())),
    };
    assert_eq!(case.both_succeed_alike().await, "200 authorized\n");
    // Each run: the unauthenticated try, the 401, then the answer.
    let requests = assert_same_requests(&receiver, 2, true);
    assert_eq!(requests[2].header("authorization"), None);
    assert_eq!(
        requests[3].header("authorization"),
        Some("Basic aG9vcDpzM2NyZXQ=")
    );
}

const SYSLOG_HANDLERS: &str = r#"
import json, logging, logging.handlers, os, socket

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
port = int(os.environ["SYSLOG_PORT"])
logger = logging.getLogger("hoop")
logger.setLevel(logging.INFO)
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    handler = logging.handlers.SysLogHandler(address=("127.0.0.1", port), socktype=kind)
    logger.addHandler(handler)
    logger.info("session %s opened by %s", event["sid"], event["event_session_open"]["user_email"])
    logger.removeHandler(handler)
    handler.close()
print("logged")
"#;

/// Collects everything sent to one port over UDP and TCP.
struct SyslogCollector {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
}

impl SyslogCollector {
    async fn start() -> SyslogCollector {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let udp = tokio::net::UdpSocket::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        tokio::spawn(async move {
            let mut datagram = vec![0; 65536];
            while let Ok(size) = udp.recv(&mut datagram).await {
                sink.lock().unwrap().extend_from_slice(&datagram[..size]);
            }
        });
        let sink = received.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            while let Ok((mut stream, _)) = tcp.accept().await {
                let mut bytes = Vec::new();
                let _ = stream.read_to_end(&mut bytes).await;
                sink.lock().unwrap().extend_from_slice(&bytes);
            }
        });
        SyslogCollector { port, received }
    }

    /// What arrived once `count` messages are in, or what there was at the
    /// deadline.
    async fn messages(&self, count: usize) -> String {
        poll_until(
            Duration::from_secs(10),
            Duration::from_millis(10),
            async || String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned(),
            |text| text.matches("session ").count() >= count,
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_handler_over_udp_and_tcp() {
    let collector = SyslogCollector::start().await;
    let hook = TestHook::new(SYSLOG_HANDLERS);
    let port = collector.port;
    let case = Case {
        hook: &hook,
        env: vec![("SYSLOG_PORT", port.to_string())],
        hookbox_args: vec![
            "--allow".into(),
            format!("udp://127.0.0.1:{port}"),
            "--allow".into(),
            format!("tcp://127.0.0.1:{port}"),
        ],
    };
    assert_eq!(case.both_succeed_alike().await, "logged\n");
    let text = collector.messages(4).await;
    let line = "<14>session 8c59a347-62bd-4db2-a456-2b25963dfebf opened by alice@example.com";
    assert_eq!(text.matches(line).count(), 4, "{text:?}");
}

const CURL_WITH_BODY_ON_STDIN: &str = r#"
import os, subprocess

payload = os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"]
result = subprocess.run(
    ["curl", "-sS", "--fail", "-H", "Content-Type: application/json", "--data-binary", "@-", os.environ["SIEM_URL"]],
    input=payload.encode(),
    capture_output=True,
)
print(result.returncode, result.stdout.decode())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_the_body_on_stdin() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let hook = TestHook::new(CURL_WITH_BODY_ON_STDIN);
    let case = Case {
        hook: &hook,
        env: vec![
            (
                "SIEM_URL",
                format!("http://127.0.0.1:{}/hoop", receiver.port()),
            ),
            // The real curl finds itself through PATH.
            ("PATH", "/usr/bin:/bin".into()),
        ],
        hookbox_args: allow(format!("http://127.0.0.1:{}", receiver.port())),
    };
    assert_eq!(case.both_succeed_alike().await, "0 ok\n");
    let requests = assert_same_requests(&receiver, 1, false);
    assert_eq!(requests[0].body, SESSION_OPEN.as_bytes());
    // The payload hookbox gave the hook, forwarded whole: the same event,
    // the connection's stored credentials redacted.
    let forwarded: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    let mut expected: serde_json::Value = serde_json::from_str(SESSION_OPEN).unwrap();
    for value in expected["event_session_open"]["connection_envs"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        *value = "[redacted by hookbox]".into();
    }
    assert_eq!(forwarded, expected);
}

const DENIED_HTTP_CLIENT: &str = r#"
import http.client, urllib.error, urllib.request

connection = http.client.HTTPConnection("127.0.0.1", int(__import__("os").environ["PORT"]), timeout=5)
try:
    connection.request("POST", "/", body=b"x")
    print("sent", connection.getresponse().status)
except OSError as error:
    print("http.client refused:", type(error).__name__)
try:
    urllib.request.urlopen("http://127.0.0.1:%s/" % __import__("os").environ["PORT"], timeout=5)
except urllib.error.URLError as error:
    print("urllib refused:", "egress denied" in str(error.reason))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_to_a_host_no_rule_allows_reaches_nothing() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let hook = TestHook::new(DENIED_HTTP_CLIENT);
    let case = Case {
        hook: &hook,
        env: vec![("PORT", receiver.port().to_string())],
        // A raw socket rule to the same port does not open HTTP.
        hookbox_args: vec![
            "--json".into(),
            "--allow".into(),
            format!("tcp://127.0.0.1:{}", receiver.port()),
        ],
    };
    let output = case.hookbox().await;
    let record: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        record["stdout"], "http.client refused: EgressDenied\nurllib refused: True\n",
        "{record:#}"
    );
    let egress = record["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 2, "{record:#}");
    assert!(egress.iter().all(|attempt| attempt["allowed"] == false));
    assert_eq!(receiver.connections(), 0);
}

const BUFFERED_LOGGING: &str = r#"
import logging, logging.handlers, os

# Records are kept in memory and sent when logging shuts down, at exit.
target = logging.handlers.HTTPHandler("127.0.0.1:" + os.environ["PORT"], "/logs", method="POST")
buffered = logging.handlers.MemoryHandler(capacity=100, target=target)
log = logging.getLogger("audit")
log.addHandler(buffered)
log.setLevel(logging.INFO)
log.info("session opened")
print("logged")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_logging_sends_at_exit_is_sent() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let hook = TestHook::new(BUFFERED_LOGGING);
    let case = Case {
        hook: &hook,
        env: vec![("PORT", receiver.port().to_string())],
        hookbox_args: allow(format!("http://127.0.0.1:{}", receiver.port())),
    };
    assert_eq!(case.both_succeed_alike().await, "logged\n");
    // The bodies carry times, paths and process ids of their own.
    let requests = assert_same_requests(&receiver, 1, false);
    for request in &requests {
        assert_eq!(request.path, "/logs");
        let body = String::from_utf8_lossy(&request.body);
        assert!(body.contains("msg=session+opened"), "{body}");
        // Milliseconds since logging started: since this run, not since the
        // runner was built.
        let since_start: f64 = body
            .split('&')
            .find_map(|field| field.strip_prefix("relativeCreated="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(since_start < 5_000.0, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn os_exit_ends_at_once_with_its_code() {
    let hook = TestHook::new(
        "import atexit, os\natexit.register(print, 'never')\ntry:\n    os._exit(300)\nfinally:\n    print('never either')\n",
    );
    let case = Case::plain(&hook);
    for output in [case.python3().await, case.hookbox().await] {
        assert_eq!(output.status.code(), Some(300 & 0xFF), "{output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "", "{output:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pwd_module_in_the_folder_never_stands_in_for_the_built_in_one() {
    // `python3` has `pwd` built in, ahead of the hook's folder; hookbox has
    // none, and does not look in the folder for it either. Without HOME,
    // `expanduser` asks `pwd` on every call.
    let hook = TestHook::new(
        "import os\nhome = os.path.expanduser('~/.netrc')\nprint(home == '~/.netrc' or home.endswith('/.netrc'))\n\
         try:\n    import pwd\n    print('found', pwd.__name__, getattr(pwd, 'SHADOW', 'built in'))\n\
         except ImportError as error:\n    print('missing', error.name)\n",
    )
    .with_file("pwd.py", "SHADOW = 'the folder'\nprint('the folder ran')\n");
    let case = Case::plain(&hook);
    let python3 = case.python3().await;
    assert_eq!(
        String::from_utf8_lossy(&python3.stdout),
        "True\nfound pwd built in\n",
        "{python3:?}"
    );
    let hookbox = case.hookbox().await;
    assert_eq!(
        String::from_utf8_lossy(&hookbox.stdout),
        "True\nmissing pwd\n",
        "{hookbox:?}"
    );
}

/// A hook that raises a signal with no handler, or aborts, ends as the
/// signal ends a `python3` process: a shell reports 128 + its number, and
/// hookbox's run ends with that code, the hook's own failure (never a fault
/// of the sandbox, which the service would retry). A signal with a handler
/// runs it; one ignored by default is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_a_signal_or_aborting_ends_the_run_as_the_signal_ends_python3() {
    use std::os::unix::process::ExitStatusExt;

    for (source, signal) in [
        ("import signal\nsignal.raise_signal(signal.SIGTERM)\n", 15),
        ("import os\nos.abort()\n", 6),
        (
            "import signal\nsignal.signal(signal.SIGUSR1, lambda *a: print('handled', flush=True))\n\
             signal.raise_signal(signal.SIGUSR1)\nsignal.raise_signal(signal.SIGCHLD)\n\
             signal.raise_signal(signal.SIGHUP)\n",
            1,
        ),
    ] {
        let hook = TestHook::new(source);
        let case = Case::plain(&hook);
        let python3 = case.python3().await;
        assert_eq!(
            python3.status.signal(),
            Some(signal),
            "{source}: {python3:?}"
        );
        let hookbox = case.hookbox().await;
        assert_eq!(
            hookbox.status.code(),
            Some(128 + signal),
            "{source}: {hookbox:?}"
        );
        assert_eq!(hookbox.stdout, python3.stdout, "{source}");
    }
}

/// A hook's own `sys.excepthook` reports its uncaught exception (one that
/// sends the failure somewhere, say), as under `python3`; the run still
/// fails with exit code 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hooks_own_excepthook_reports_its_uncaught_exception() {
    let hook = TestHook::new(
        "import sys\n\
         def report(kind, error, tb):\n\
         \x20   print('reported:', kind.__name__, error, tb.tb_frame.f_code.co_filename.endswith('.py'))\n\
         sys.excepthook = report\n\
         raise ValueError('SIEM said no')\n",
    );
    let case = Case::plain(&hook);
    let python3 = case.python3().await;
    let hookbox = case.hookbox().await;
    assert_eq!(
        String::from_utf8_lossy(&hookbox.stdout),
        "reported: ValueError SIEM said no True\n",
        "{hookbox:?}"
    );
    assert_eq!(hookbox.stdout, python3.stdout);
    assert_eq!(hookbox.status.code(), Some(1));
    assert_eq!(python3.status.code(), Some(1));
    assert!(
        !String::from_utf8_lossy(&hookbox.stderr).contains("Traceback"),
        "{hookbox:?}"
    );
}

const NETWORK_FAILURES: &str = r#"
import os, urllib.request, urllib.error

for url in os.environ["URLS"].split():
    try:
        urllib.request.urlopen(url, timeout=5)
        print("sent")
    except urllib.error.URLError as error:
        print(type(error.reason).__name__, "egress denied" in str(error.reason))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_does_not_resolve_or_a_refused_connection_is_no_denial() {
    // A port nothing listens on, held for the whole test.
    let closed = hookbox_testkit::ports::ClosedPort::new().unwrap();
    let closed_port = closed.address().port();
    let hook = TestHook::new(NETWORK_FAILURES);
    let urls = format!("http://siem.invalid/events http://127.0.0.1:{closed_port}/events");
    let case = Case {
        hook: &hook,
        env: vec![("URLS", urls)],
        hookbox_args: vec![
            "--allow".into(),
            "http://siem.invalid".into(),
            "--allow".into(),
            format!("http://127.0.0.1:{closed_port}"),
        ],
    };
    let python = case.python3().await;
    assert_eq!(
        String::from_utf8_lossy(&python.stdout),
        "gaierror False\nConnectionRefusedError False\n",
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    let mut json_args = case.hookbox_args.clone();
    json_args.push("--json".into());
    let record = Case {
        hookbox_args: json_args,
        ..case
    }
    .hookbox()
    .await;
    let log = String::from_utf8_lossy(&record.stderr).into_owned();
    let record: serde_json::Value = serde_json::from_slice(&record.stdout).unwrap();
    assert_eq!(
        record["stdout"],
        String::from_utf8_lossy(&python.stdout).as_ref(),
        "{record:#}"
    );
    assert!(!log.contains("denied"), "{log}");
    assert!(
        !record["stderr"].as_str().unwrap().contains("denied"),
        "{record:#}"
    );
    let egress = record["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 2, "{record:#}");
    for attempt in egress {
        assert_eq!(attempt["allowed"], true, "{attempt:#}");
        assert!(
            !attempt["reason"].as_str().unwrap().contains("denied"),
            "{attempt:#}"
        );
    }
    assert!(
        egress[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("cannot look up siem.invalid"),
        "{record:#}"
    );
}

const UNVERIFIED_CONTEXT: &str = r#"
import os, ssl, urllib.request

context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
try:
    urllib.request.urlopen(os.environ["SIEM_URL"], context=context, timeout=5)
    print("sent")
except urllib.error.URLError as error:
    print(type(error.reason).__name__, "--ca-bundle" in str(error.reason))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_verification_off_does_not_weaken_it() {
    // A certificate hookbox was not told to trust: python3 with CERT_NONE
    // sends; under hookbox the host still verifies, and says how to trust it.
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, "ok"), &ca).await;
    let hook = TestHook::new(UNVERIFIED_CONTEXT);
    let case = Case {
        hook: &hook,
        env: vec![(
            "SIEM_URL",
            format!("https://127.0.0.1:{}/", receiver.port()),
        )],
        hookbox_args: allow(format!("https://127.0.0.1:{}", receiver.port())),
    };
    let python = case.python3().await;
    assert_eq!(String::from_utf8_lossy(&python.stdout), "sent\n");
    let sandboxed = case.hookbox().await;
    assert_eq!(
        String::from_utf8_lossy(&sandboxed.stdout),
        "SSLCertVerificationError True\n",
        "{}",
        String::from_utf8_lossy(&sandboxed.stderr)
    );
    assert_eq!(
        receiver.requests().len(),
        1,
        "only python3's request arrives"
    );

    // Where the operator allows unverified TLS for this destination, the
    // hook's CERT_NONE is honoured, and the record says so.
    let mut hookbox_args = allow(format!("https://127.0.0.1:{}", receiver.port()));
    hookbox_args.extend([
        "--allow-unverified-tls".into(),
        format!("https://127.0.0.1:{}", receiver.port()),
        "--json".into(),
    ]);
    let lax = Case {
        hookbox_args,
        ..case
    };
    let record: serde_json::Value = serde_json::from_slice(&lax.hookbox().await.stdout).unwrap();
    assert_eq!(record["stdout"], "sent\n", "{record:#}");
    assert!(
        record["egress"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("TLS not verified")),
        "{record:#}"
    );
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_tls_rule_does_not_turn_verification_off_by_itself() {
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, "ok"), &ca).await;
    let hook = TestHook::new(URLLIB_WITH_SSL_CONTEXT).with_file("ca.pem", &ca.ca_pem);
    let destination = format!("https://127.0.0.1:{}", receiver.port());
    let case = Case {
        hook: &hook,
        env: vec![("SIEM_URL", destination.clone())],
        hookbox_args: vec![
            "--allow".into(),
            destination.clone(),
            "--allow-unverified-tls".into(),
            destination,
        ],
    };
    // The hook verifies (its own cafile is not hookbox's trust): refused.
    let output = case.hookbox().await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CERTIFICATE_VERIFY_FAILED"), "{stderr}");
    assert_eq!(receiver.requests().len(), 0);
}

/// What a loopback TLS server of these tests received, per connection.
type Transcripts = Arc<Mutex<Vec<String>>>;

/// An SMTP server that offers STARTTLS and records each message it is sent
/// after the upgrade (it refuses mail over plain text).
async fn smtp_server(ca: &TestCa) -> (u16, Transcripts) {
    tls_server(ca, |stream, acceptor, seen| async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let mut plain = BufReader::new(stream);
        plain
            .get_mut()
            .write_all(b"220 test ESMTP\r\n")
            .await
            .unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if plain.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let reply: &[u8] = match line.trim_end().to_ascii_uppercase().as_str() {
                l if l.starts_with("EHLO") => b"250-test\r\n250 STARTTLS\r\n",
                "STARTTLS" => b"220 ready for TLS\r\n",
                "QUIT" => b"221 bye\r\n",
                _ => b"530 STARTTLS first\r\n",
            };
            plain.get_mut().write_all(reply).await.unwrap();
            if line.trim_end().eq_ignore_ascii_case("STARTTLS") {
                break;
            }
        }
        let Ok(tls) = acceptor.accept(plain.into_inner()).await else {
            return;
        };
        let mut tls = BufReader::new(tls);
        let (mut message, mut in_data) = (String::new(), false);
        loop {
            line.clear();
            if tls.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if in_data {
                if line == ".\r\n" {
                    in_data = false;
                    seen.lock().unwrap().push(std::mem::take(&mut message));
                    tls.get_mut().write_all(b"250 queued\r\n").await.unwrap();
                } else {
                    message.push_str(&line);
                }
                continue;
            }
            let command = line.trim_end().to_ascii_uppercase();
            let reply: &[u8] = match command.as_str() {
                c if c.starts_with("EHLO") => b"250 test\r\n",
                "DATA" => {
                    in_data = true;
                    b"354 go ahead\r\n"
                }
                "QUIT" => b"221 bye\r\n",
                _ => b"250 ok\r\n",
            };
            tls.get_mut().write_all(reply).await.unwrap();
            tls.get_mut().flush().await.unwrap();
            if command == "QUIT" {
                return;
            }
        }
    })
    .await
}

/// Serves each connection to a new loopback port with `serve`, given the
/// stream, a TLS acceptor for `ca`'s certificate and the transcripts.
async fn tls_server<F, Served>(ca: &TestCa, serve: F) -> (u16, Transcripts)
where
    F: Fn(tokio::net::TcpStream, tokio_rustls::TlsAcceptor, Transcripts) -> Served + Send + 'static,
    Served: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let transcripts = Transcripts::default();
    let (acceptor, seen) = (ca.acceptor(), transcripts.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, acceptor.clone(), seen.clone()));
        }
    });
    (port, transcripts)
}

/// A TLS syslog collector: records what each TLS connection sent.
async fn tls_collector(ca: &TestCa) -> (u16, Transcripts) {
    tls_server(ca, |stream, acceptor, seen| async move {
        use tokio::io::AsyncReadExt;
        let Ok(mut tls) = acceptor.accept(stream).await else {
            seen.lock().unwrap().push("(no TLS)".into());
            return;
        };
        let mut bytes = Vec::new();
        let _ = tls.read_to_end(&mut bytes).await;
        seen.lock()
            .unwrap()
            .push(String::from_utf8_lossy(&bytes).into_owned());
    })
    .await
}

/// What `transcripts` holds once `count` connections are recorded, or at
/// the deadline.
async fn transcripts_when(transcripts: &Transcripts, count: usize) -> Vec<String> {
    poll_until(
        Duration::from_secs(10),
        Duration::from_millis(10),
        async || transcripts.lock().unwrap().clone(),
        |seen| seen.len() >= count,
    )
    .await
}

const SMTP_STARTTLS: &str = r#"
import json, os, smtplib, ssl
from email.mime.text import MIMEText

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
opened = event["event_session_open"]
message = MIMEText(f"session {event['sid']} opened by {opened['user_email']} on {opened['connection_name']}")
message["Subject"] = "Hoop session opened"
message["From"] = "hoop@example.com"
message["To"] = "soc@example.com"
context = ssl.create_default_context(cafile="ca.pem")
with smtplib.SMTP("127.0.0.1", int(os.environ["SMTP_PORT"]), timeout=5) as smtp:
    smtp.starttls(context=context)
    smtp.send_message(message)
print("mailed")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_with_starttls() {
    let ca = TestCa::new();
    let (port, transcripts) = smtp_server(&ca).await;
    let hook = TestHook::new(SMTP_STARTTLS).with_file("ca.pem", &ca.ca_pem);
    let case = Case {
        hook: &hook,
        env: vec![("SMTP_PORT", port.to_string())],
        hookbox_args: allow_trusting(format!("tcp://127.0.0.1:{port}"), &hook),
    };
    assert_eq!(case.both_succeed_alike().await, "mailed\n");
    let messages = transcripts_when(&transcripts, 2).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    for message in &messages {
        assert!(
            message.contains("opened by alice@example.com on pg-prod-customers"),
            "{message}"
        );
        assert!(
            message.contains("Subject: Hoop session opened"),
            "{message}"
        );
    }
}

const TLS_SYSLOG: &str = r#"
import json, os, socket, ssl

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
context = ssl.create_default_context(cafile="ca.pem")
with socket.create_connection(("127.0.0.1", int(os.environ["SYSLOG_PORT"])), timeout=5) as raw:
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        line = f"<110>1 2026-11-29T00:00:00Z gateway hoop - session - opened {event['sid']}\n"
        tls.sendall(f"{len(line)} {line}".encode())
        print("sent over", tls.version(), isinstance(tls, ssl.SSLSocket))
try:
    socket.create_connection(("127.0.0.1", int(os.environ["CLOSED_PORT"])), timeout=5)
    print("connected to a closed port")
except ConnectionRefusedError:
    print("refused")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_syslog_and_a_closed_port() {
    let ca = TestCa::new();
    let (port, transcripts) = tls_collector(&ca).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let hook = TestHook::new(TLS_SYSLOG).with_file("ca.pem", &ca.ca_pem);
    let mut hookbox_args = allow_trusting(format!("tcp://127.0.0.1:{port}"), &hook);
    hookbox_args.extend(["--allow".into(), format!("tcp://127.0.0.1:{closed}")]);
    let case = Case {
        hook: &hook,
        env: vec![
            ("SYSLOG_PORT", port.to_string()),
            ("CLOSED_PORT", closed.to_string()),
        ],
        hookbox_args,
    };
    assert_eq!(
        case.both_succeed_alike().await,
        "sent over TLSv1.3 True\nrefused\n"
    );
    let lines = transcripts_when(&transcripts, 2).await;
    let expected = "97 <110>1 2026-11-29T00:00:00Z gateway hoop - session - opened 8c59a347-62bd-4db2-a456-2b25963dfebf\n";
    assert_eq!(lines, [expected, expected]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_a_certificate_the_host_does_not_trust_sends_nothing() {
    let ca = TestCa::new();
    let (port, transcripts) = tls_collector(&ca).await;
    let hook = TestHook::new(
        "import os, socket, ssl\n\
         context = ssl._create_unverified_context()\n\
         raw = socket.create_connection(('127.0.0.1', int(os.environ['PORT'])), timeout=5)\n\
         try:\n\
         \x20   context.wrap_socket(raw).sendall(b'secret')\n\
         \x20   print('sent')\n\
         except ssl.SSLCertVerificationError as error:\n\
         \x20   print('refused:', '--ca-bundle' in str(error))\n",
    );
    let case = Case {
        hook: &hook,
        env: vec![("PORT", port.to_string())],
        hookbox_args: vec!["--allow".into(), format!("tcp://127.0.0.1:{port}")],
    };
    let output = case.hookbox().await;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "refused: True\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen = transcripts_when(&transcripts, 1).await;
    assert_eq!(seen, ["(no TLS)"], "the collector got no TLS session");

    // With an unverified_tls rule for it, the hook's unverified context is
    // honoured and the bytes arrive over TLS.
    let destination = format!("tcp://127.0.0.1:{port}");
    let lax = Case {
        hookbox_args: vec![
            "--allow".into(),
            destination.clone(),
            "--allow-unverified-tls".into(),
            destination,
        ],
        ..case
    };
    let output = lax.hookbox().await;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "sent\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(transcripts_when(&transcripts, 2).await[1], "secret");
}

/// The unverified-TLS exception is decided on where the connection really
/// goes: a hook connecting to 127.0.0.1 cannot claim the name an
/// `unverified_tls` rule lists (`legacy.test`) to turn verification off there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unverified_tls_exception_follows_the_real_destination_not_a_claimed_name() {
    let ca = TestCa::new();
    let (port, transcripts) = tls_collector(&ca).await;
    let hook = TestHook::new(
        "import os, socket, ssl\n\
         context = ssl._create_unverified_context()\n\
         raw = socket.create_connection(('127.0.0.1', int(os.environ['PORT'])), timeout=5)\n\
         try:\n\
         \x20   context.wrap_socket(raw, server_hostname='legacy.test').sendall(b'secret')\n\
         \x20   print('sent')\n\
         except ssl.SSLCertVerificationError:\n\
         \x20   print('verified and refused')\n",
    );
    let claimed = Case {
        hook: &hook,
        env: vec![("PORT", port.to_string())],
        hookbox_args: vec![
            "--allow".into(),
            format!("tcp://127.0.0.1:{port}"),
            "--allow-unverified-tls".into(),
            format!("tcp://legacy.test:{port}"),
        ],
    };
    let output = claimed.hookbox().await;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "verified and refused\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(transcripts_when(&transcripts, 1).await, ["(no TLS)"]);

    // The same hook, where the rule names the real destination: unverified.
    let named = Case {
        hookbox_args: vec![
            "--allow".into(),
            format!("tcp://127.0.0.1:{port}"),
            "--allow-unverified-tls".into(),
            format!("tcp://127.0.0.1:{port}"),
        ],
        ..claimed
    };
    let output = named.hookbox().await;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "sent\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(transcripts_when(&transcripts, 2).await[1], "secret");
}
