//! Hooks that speak HTTP over sockets (`requests` and `urllib3` copied next
//! to the hook, a hand-written HTTP/1.1 client) run with an `http://` or
//! `https://` rule alone, each also under the real `python3` against the
//! same receivers; and a hook cannot use such a connection to reach another
//! host, hide a request in a body or name another target.

use crate::compat::{Case, allow, allow_trusting, assert_same_requests};
use crate::receiver::{ClientCa, Receiver, Reply, TestCa};
use crate::support::{HTTPX, REQUESTS, TestHook, hookbox, install_packages};

/// A hook folder holding `source` and the `requests` packages.
fn requests_hook(source: &str) -> TestHook {
    let hook = TestHook::new(source);
    install_packages(hook.dir.path(), REQUESTS);
    hook
}

/// The hook run against an HTTPS `receiver` (`SIEM_URL`), its rule and the
/// test CA the hook keeps as `ca.pem` given to hookbox.
fn https_case<'a>(hook: &'a TestHook, receiver: &Receiver) -> Case<'a> {
    let url = format!("https://127.0.0.1:{}", receiver.port());
    Case {
        hook,
        env: vec![("SIEM_URL", url.clone())],
        hookbox_args: allow_trusting(url, hook),
    }
}

/// A receiver requiring a client certificate, and `hook` given the test CA
/// and a client certificate and key it accepts.
async fn mutual_tls(hook: TestHook) -> (TestHook, Receiver) {
    let ca = TestCa::new();
    let clients = ClientCa::new();
    let receiver = Receiver::https_requiring(Reply::Status(200, "mutual"), &ca, &clients).await;
    let hook = hook
        .with_file("ca.pem", &ca.ca_pem)
        .with_file("client.pem", &clients.cert_pem)
        .with_file("client.key", &clients.key_pem);
    (hook, receiver)
}

fn no_warnings(case_output: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&case_output.stderr);
    assert!(!stderr.contains("Warning"), "{stderr}");
}

const REQUESTS_JSON_POST: &str = r#"
import json, os
import requests

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
response = requests.post(
    os.environ["SIEM_URL"] + "/services/collector/event",
    json={"event": "session-open", "sid": event["sid"]},
    headers={"Authorization": "Splunk 0000-token"},
    timeout=5,
    verify=os.environ["CA"],
)
response.raise_for_status()
print(response.status_code, response.json())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_posts_json_over_https_under_an_https_rule_alone() {
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, "{\"text\":\"Success\"}"), &ca).await;
    let hook = requests_hook(REQUESTS_JSON_POST).with_file("ca.pem", &ca.ca_pem);
    let url = format!("https://127.0.0.1:{}", receiver.port());
    let case = Case {
        hook: &hook,
        env: vec![("SIEM_URL", url.clone()), ("CA", "ca.pem".into())],
        hookbox_args: allow_trusting(url, &hook),
    };
    let python = case.python3().await;
    let sandboxed = case.hookbox().await;
    for output in [&python, &sandboxed] {
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "200 {'text': 'Success'}\n",
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    no_warnings(&sandboxed);
    let requests = assert_same_requests(&receiver, 1, false);
    assert!(
        String::from_utf8_lossy(&requests[1].body).contains("8c59a347"),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_operators_ca_bundle_by_its_own_path() {
    // The bundle lives outside the hook's folder, where the operator keeps
    // it; the hook names it there, as it would under python3.
    let ca = TestCa::new();
    let operator = tempfile::tempdir().unwrap();
    let bundle = operator.path().join("internal-ca.pem");
    std::fs::write(&bundle, &ca.ca_pem).unwrap();
    std::fs::write(operator.path().join("secret.key"), "not for hooks").unwrap();
    let receiver = Receiver::https(Reply::Status(200, "{}"), &ca).await;
    let hook = requests_hook(&format!(
        "{REQUESTS_JSON_POST}\ntry:\n    open({:?})\nexcept OSError as error:\n    print(type(error).__name__)\n",
        operator.path().join("secret.key")
    ));
    let url = format!("https://127.0.0.1:{}", receiver.port());
    let mut hookbox_args = allow(url.clone());
    hookbox_args.extend(["--ca-bundle".into(), bundle.display().to_string()]);
    let case = Case {
        hook: &hook,
        env: vec![("SIEM_URL", url), ("CA", bundle.display().to_string())],
        hookbox_args,
    };
    let python = case.python3().await;
    assert_eq!(String::from_utf8_lossy(&python.stdout), "200 {}\n");
    let sandboxed = case.hookbox().await;
    assert_eq!(
        String::from_utf8_lossy(&sandboxed.stdout),
        "200 {}\nFileNotFoundError\n",
        "only the bundle is visible in its folder: {}",
        String::from_utf8_lossy(&sandboxed.stderr)
    );
}

const SESSION_WITH_RETRY: &str = r#"
import json, os
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

session = requests.Session()
retry = Retry(total=3, backoff_factor=0, status_forcelist=[503], allowed_methods=None)
session.mount("http://", HTTPAdapter(max_retries=retry))
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
for n in range(2):
    response = session.post(os.environ["SIEM_URL"] + f"/events/{n}", json={"sid": event["sid"]}, timeout=5)
    print(n, response.status_code, response.text)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_session_with_retry_rides_out_a_503_on_one_connection() {
    let hook = requests_hook(SESSION_WITH_RETRY);
    let mut outputs = Vec::new();
    for sandboxed in [false, true] {
        // Each interpreter gets a receiver whose first answer is a 503.
        let receiver = Receiver::http(Reply::FailFirst(1)).await;
        let url = format!("http://127.0.0.1:{}", receiver.port());
        let case = Case {
            hook: &hook,
            env: vec![("SIEM_URL", url.clone())],
            hookbox_args: allow(url),
        };
        let output = if sandboxed {
            case.hookbox().await
        } else {
            case.python3().await
        };
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let paths: Vec<String> = receiver.requests().iter().map(|r| r.path.clone()).collect();
        assert_eq!(paths, ["/events/0", "/events/0", "/events/1"]);
        outputs.push((
            String::from_utf8(output.stdout).unwrap(),
            receiver.connections(),
        ));
    }
    assert_eq!(
        outputs[0], outputs[1],
        "the same answers, over as many connections"
    );
    assert_eq!(outputs[1].1, 1, "keep-alive holds");
    let outputs: Vec<String> = outputs.into_iter().map(|(stdout, _)| stdout).collect();
    assert!(outputs[1].starts_with("0 200 "), "{}", outputs[1]);
}

const URLLIB3_POOL: &str = r#"
import json, os
import urllib3

pool = urllib3.PoolManager(ca_certs="ca.pem", timeout=5)
body = json.dumps({"sid": json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])["sid"]})
response = pool.request("POST", os.environ["SIEM_URL"] + "/ingest", body=body, headers={"Content-Type": "application/json"})
print(response.status, response.data.decode())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urllib3_directly_with_its_own_ca_certs() {
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(202, "queued"), &ca).await;
    let hook = TestHook::new(URLLIB3_POOL).with_file("ca.pem", &ca.ca_pem);
    install_packages(hook.dir.path(), &["urllib3"]);
    let case = https_case(&hook, &receiver);
    assert_eq!(case.both_succeed_alike().await, "202 queued\n");
    assert_same_requests(&receiver, 1, false);
}

const HTTPX_CLIENT: &str = r#"
import json, os
import httpx

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
with httpx.Client(verify="ca.pem", timeout=5) as client:
    for n in range(2):
        response = client.post(os.environ["SIEM_URL"] + f"/events/{n}", json={"sid": event["sid"], "n": n})
        print(response.status_code, response.text, response.http_version)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpx_sync_client_over_https_keeps_its_connection() {
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, "stored"), &ca).await;
    let hook = TestHook::new(HTTPX_CLIENT).with_file("ca.pem", &ca.ca_pem);
    install_packages(hook.dir.path(), HTTPX);
    let case = https_case(&hook, &receiver);
    assert_eq!(
        case.both_succeed_alike().await,
        "200 stored HTTP/1.1\n200 stored HTTP/1.1\n"
    );
    assert_same_requests(&receiver, 2, false);
    assert_eq!(receiver.connections(), 2, "one connection per interpreter");
}

const RAW_HTTP: &str = r#"
import os, socket

port = int(os.environ["SIEM_PORT"])
with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
    for n in range(2):
        body = b'{"n": %d}' % n
        sock.sendall(
            b"POST /raw/%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (n, port, len(body), body)
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(4096)
        head, _, rest = reply.partition(b"\r\n\r\n")
        length = int([line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")][0])
        while len(rest) < length:
            rest += sock.recv(4096)
        print(head.split(b"\r\n")[0].decode(), rest.decode())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_http_client_on_a_raw_socket_needs_only_an_http_rule() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let hook = TestHook::new(RAW_HTTP);
    let case = Case {
        hook: &hook,
        env: vec![("SIEM_PORT", receiver.port().to_string())],
        hookbox_args: allow(format!("http://127.0.0.1:{}", receiver.port())),
    };
    assert_eq!(
        case.both_succeed_alike().await,
        "HTTP/1.1 200 OK ok\nHTTP/1.1 200 OK ok\n"
    );
    assert_same_requests(&receiver, 2, true);
}

const PEER_CERTIFICATE: &str = r#"
import hashlib, os, socket, ssl

port = int(os.environ["SIEM_PORT"])
context = ssl.create_default_context(cafile="ca.pem")
with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        cert = tls.getpeercert()
        print(cert["subject"], cert["subjectAltName"], cert["version"])
        print(hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest() == os.environ["CERT_SHA256"])
        print(tls.version(), tls.cipher()[1], tls.cipher()[2] >= 128)
        tls.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % port)
        reply = b""
        while chunk := tls.recv(4096):
            reply += chunk
        print(reply.split(b"\r\n")[0].decode(), reply.endswith(b"healthy"))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_ca_collector_is_trusted_and_its_certificate_shown() {
    // `openssl req -x509`'s certificate (CA:TRUE, self-signed) is the
    // bundle; python3 (OpenSSL) accepts it, and so must hookbox, on a
    // socket wrapped by the hook; getpeercert() shows what the host saw.
    let ca = TestCa::self_signed_ca();
    let receiver = Receiver::https(Reply::Status(200, "healthy"), &ca).await;
    let hook = TestHook::new(PEER_CERTIFICATE).with_file("ca.pem", &ca.ca_pem);
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(ca.server_cert_pem.as_bytes())
        .map(|cert: rustls::pki_types::CertificateDer<'_>| cert.to_vec())
        .unwrap();
    let case = Case {
        hook: &hook,
        env: vec![
            ("SIEM_PORT", receiver.port().to_string()),
            ("CERT_SHA256", hookbox::digest::sha256_hex(&der)),
        ],
        hookbox_args: allow_trusting(format!("https://127.0.0.1:{}", receiver.port()), &hook),
    };
    assert_eq!(
        case.both_succeed_alike().await,
        "((('commonName', 'self-signed collector'),),) (('DNS', 'localhost'), ('IP Address', '127.0.0.1')) 3\n\
         True\nTLSv1.3 TLSv1.3 True\nHTTP/1.1 200 OK True\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cannot_carry_requests_for_another_host_or_smuggle_one() {
    // Two receivers the policy allows; the hook connects to the first and
    // tries to reach the second over that connection, and to hide a
    // request inside a body.
    let first = Receiver::http(Reply::Status(200, "first")).await;
    let second = Receiver::http(Reply::Status(200, "second")).await;
    let hook = TestHook::new(
        r#"
import os, socket

first, second = int(os.environ["FIRST"]), int(os.environ["SECOND"])
def exchange(request):
    with socket.create_connection(("127.0.0.1", first), timeout=5) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        return reply.split(b"\r\n")[0].decode() or "closed"

# Another host in the Host header.
print(exchange(b"GET /hop HTTP/1.1\r\nHost: 127.0.0.2:%d\r\nConnection: close\r\n\r\n" % second))
# Another authority in an absolute target.
print(exchange(b"GET http://127.0.0.1:%d/abs HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % (second, first)))
# A second Host header, and user info in the Host.
print(exchange(b"GET /two HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nHost: evil.example\r\nConnection: close\r\n\r\n" % first))
print(exchange(b"GET /user HTTP/1.1\r\nHost: evil.example@127.0.0.1:%d\r\nConnection: close\r\n\r\n" % first))
# A tunnel through the allowed server.
print(exchange(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" % first))
# A request inside a body is a body; a second request naming another host is refused.
hidden = b"GET /hidden HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % second
print(exchange(
    b"POST /carrier HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n%s"
    b"GET /pipelined HTTP/1.1\r\nHost: 127.0.0.2:%d\r\nConnection: close\r\n\r\n"
    % (first, len(hidden), hidden, second)
))
"#,
    );
    let output = Case {
        hook: &hook,
        env: vec![
            ("FIRST", first.port().to_string()),
            ("SECOND", second.port().to_string()),
        ],
        hookbox_args: [
            allow(format!("http://127.0.0.1:{}", first.port())),
            allow(format!("http://127.0.0.1:{}", second.port())),
            allow(format!("http://127.0.0.2:{}", second.port())),
        ]
        .concat(),
    }
    .hookbox()
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stdout, "closed\nclosed\nclosed\nclosed\nclosed\nHTTP/1.1 200 OK\n",
        "{stderr}"
    );
    assert!(second.requests().is_empty(), "{:?}", second.requests());
    let reached: Vec<String> = first.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(reached, ["/carrier"]);
    assert!(
        String::from_utf8_lossy(&first.requests()[0].body).starts_with("GET /hidden"),
        "the hidden request arrived as the body it was"
    );
    assert!(
        stderr.contains("hookbox: egress denied")
            && stderr.contains("the connection was opened to 127.0.0.1"),
        "{stderr}"
    );
    assert!(stderr.contains("names 127.0.0.1:"), "{stderr}");
    assert!(
        stderr.contains("protocol upgrades are not relayed"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hookbox_test_records_and_answers_a_requests_hook() {
    let repo = tempfile::tempdir().unwrap();
    let hooks = repo.path().join("hoop-hooks");
    std::fs::create_dir_all(hooks.join("tests")).unwrap();
    install_packages(&hooks, REQUESTS);
    std::fs::write(
        hooks.join("session-open.runbook.py"),
        r#"
import json, os
import requests

event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
response = requests.post("https://siem.example.com/ingest?token=abc", json={"sid": event["sid"]}, timeout=5)
print(response.status_code, response.json())
"#,
    )
    .unwrap();
    std::fs::write(
        repo.path().join("hookbox.toml"),
        "[egress]\nallow = [\"https://siem.example.com\"]\n",
    )
    .unwrap();
    std::fs::write(
        hooks.join("tests/accepted.toml"),
        r#"hook = "session-open"
[[respond]]
url = "https://siem.example.com/ingest"
status = 202
body = '{"accepted": true}'
[expect]
exit_code = 0
stdout_contains = ["202 {'accepted': True}"]
"#,
    )
    .unwrap();
    let output = hookbox()
        .arg("test")
        .arg(repo.path())
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let text = report.to_string();
    assert_eq!(report["passed"], 2, "{text}");
    let case = &report["cases"][1];
    assert_eq!(case["outcome"]["stdout"], "202 {'accepted': True}\n");
    let attempt = &case["outcome"]["egress"][0];
    assert_eq!(attempt["url"], "https://siem.example.com:443/ingest");
    assert_eq!(attempt["status"], 202);
    assert_eq!(
        attempt["request"]["url"],
        "https://siem.example.com/ingest?[redacted]"
    );
    assert!(
        attempt["request"]["body"]
            .as_str()
            .unwrap()
            .starts_with("{\"sid\": "),
        "{text}"
    );
    assert!(!text.contains("token=abc"), "the query is masked: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapped_socket_names_its_destination_to_the_server() {
    // The TLS server name goes to the server (SNI, which front ends route
    // by): it must name the destination, as the Host header must.
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, "ok"), &ca).await;
    let hook = TestHook::new(&format!(
        r#"
import socket, ssl
context = ssl.create_default_context(cafile="ca.pem")
raw = socket.create_connection(("127.0.0.1", {port}), timeout=5)
try:
    context.wrap_socket(raw, server_hostname="evil.example")
    print("wrapped")
except ssl.SSLError as error:
    print("refused:", error)
"#,
        port = receiver.port()
    ))
    .with_file("ca.pem", &ca.ca_pem);
    let output = Case {
        hook: &hook,
        env: Vec::new(),
        hookbox_args: allow_trusting(format!("https://127.0.0.1:{}", receiver.port()), &hook),
    }
    .hookbox()
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("refused:") && stdout.contains("must name the destination"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(receiver.requests().is_empty());
}

const REQUESTS_WITH_CLIENT_CERTIFICATE: &str = r#"
import os
import requests

for cert in [("client.pem", "client.key"), None]:
    try:
        response = requests.post(os.environ["SIEM_URL"] + "/mtls", json={"n": 1}, timeout=5, verify="ca.pem", cert=cert)
        print(cert is not None, response.status_code, response.text)
    except requests.exceptions.SSLError:
        print(cert is not None, "refused by the server")
    except requests.exceptions.ConnectionError:
        print(cert is not None, "refused by the server")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_presents_the_hooks_own_client_certificate() {
    // The collector requires mutual TLS: the hook's load_cert_chain (through
    // requests' cert=) is presented by the host's TLS, as by python3's.
    let (hook, receiver) = mutual_tls(requests_hook(REQUESTS_WITH_CLIENT_CERTIFICATE)).await;
    let case = https_case(&hook, &receiver);
    assert_eq!(
        case.both_succeed_alike().await,
        "True 200 mutual\nFalse refused by the server\n"
    );
    let paths: Vec<String> = receiver.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/mtls", "/mtls"],
        "one request each with the certificate"
    );

    // The record names the certificate offered, by its digest only.
    let pem = std::fs::read(hook.dir.path().join("client.pem")).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(&pem)
        .map(|cert: rustls::pki_types::CertificateDer<'_>| cert.to_vec())
        .unwrap();
    let mut json_args = case.hookbox_args.clone();
    json_args.push("--json".into());
    let output = Case {
        hookbox_args: json_args,
        ..case
    }
    .hookbox()
    .await;
    let record: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let reason = record["egress"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "client certificate sha256:{} offered",
            hookbox::digest::sha256_hex(&der)
        )),
        "{record}"
    );
    assert!(!record.to_string().contains("PRIVATE KEY"), "{record}");
}

const HTTP_CLIENT_WITH_CLIENT_CERTIFICATE: &str = r#"
import http.client, os, ssl
from urllib.parse import urlsplit

siem = urlsplit(os.environ["SIEM_URL"])
context = ssl.create_default_context(cafile="ca.pem")
context.load_cert_chain("client.pem", "client.key")
connection = http.client.HTTPSConnection(siem.hostname, siem.port, context=context, timeout=5)
connection.request("POST", "/mtls", body=b"{}", headers={"Content-Type": "application/json"})
response = connection.getresponse()
print(response.status, response.read().decode())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_presents_the_hooks_own_client_certificate() {
    let (hook, receiver) = mutual_tls(TestHook::new(HTTP_CLIENT_WITH_CLIENT_CERTIFICATE)).await;
    let case = https_case(&hook, &receiver);
    assert_eq!(case.both_succeed_alike().await, "200 mutual\n");
    assert_same_requests(&receiver, 1, true);
}
