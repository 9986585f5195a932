//! `hookbox python` and hookbox called as `python3`: Hoop's agent feeds the
//! hook on stdin with the payload in the environment and nothing else.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::receiver::{Receiver, Reply};
use crate::support::{SESSION_OPEN, cache_dir, runtime};

/// `python3` as Hoop's agent starts it: a symlink to hookbox, the script on
/// stdin, only the payload, HOME and PATH in the environment (plus the test
/// cache and whatever `extra` adds).
fn python3(script: &str, extra: &[(&str, String)]) -> Output {
    python3_with(&[], script, extra)
}

/// `python3 ARGS...` through a symlink named `python3`, as [`python3`] starts it.
fn python3_args(args: &[&str], stdin: &str) -> Output {
    python3_with(args, stdin, &[])
}

fn python3_with(args: &[&str], stdin: &str, extra: &[(&str, String)]) -> Output {
    runtime();
    let bin = tempfile::tempdir().unwrap();
    let shim = bin.path().join("python3");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_hookbox"), &shim).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(&shim)
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", "/usr/bin:/bin")
        .env("HOOP_RUNBOOK_HOOK_PAYLOAD", SESSION_OPEN)
        .env("HOOKBOX_CACHE_DIR", cache_dir())
        .envs(extra.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_hook_on_stdin_runs_sandboxed_with_its_exit_code() {
    let script = r#"
import json, os, sys
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
print("session", event["sid"])
try:
    open("/etc/passwd").read()
    print("read the host's files")
except OSError:
    print("host files are out of reach")
print("env:", sorted(k for k in os.environ if k != "HOOP_RUNBOOK_HOOK_PAYLOAD"))
sys.exit(3)
"#;
    let output = python3(script, &[]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("session 8c59a347"), "{stdout}");
    assert!(stdout.contains("host files are out of reach"), "{stdout}");
    assert!(
        stdout.contains("env: []"),
        "the agent's HOME and PATH stay outside: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_comes_from_the_operators_config_file() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let target = format!("http://127.0.0.1:{}", receiver.port());
    let script = format!(
        "import urllib.request\nurllib.request.urlopen('{target}/events', data=b'{{}}', timeout=5)\nprint('sent')\n"
    );
    let denied = {
        let script = script.clone();
        tokio::task::spawn_blocking(move || python3(&script, &[]))
            .await
            .unwrap()
    };
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied));
    assert!(text(&denied).contains("egress denied"), "{}", text(&denied));
    assert_eq!(receiver.connections(), 0);

    // Hoop passes no flags: the file is found in the user's config folder.
    let config_home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config_home.path().join("hookbox")).unwrap();
    std::fs::write(
        config_home.path().join("hookbox/config.toml"),
        format!("[egress]\nallow = [\"{target}\"]\n"),
    )
    .unwrap();
    let extra = vec![("XDG_CONFIG_HOME", config_home.path().display().to_string())];
    let allowed = tokio::task::spawn_blocking(move || python3(&script, &extra))
        .await
        .unwrap();
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed));
    assert_eq!(receiver.requests().len(), 1);
}

#[test]
fn without_a_payload_nothing_runs() {
    runtime();
    let output = Command::new(env!("CARGO_BIN_EXE_hookbox"))
        .arg("python")
        .env_remove("HOOP_RUNBOOK_HOOK_PAYLOAD")
        .env("HOOKBOX_CACHE_DIR", cache_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("HOOP_RUNBOOK_HOOK_PAYLOAD"),
        "{}",
        text(&output)
    );
}

#[test]
fn the_command_lines_python3_callers_use_work_through_the_drop_in() {
    let version = python3_args(&["--version"], "");
    assert_eq!(version.status.code(), Some(0));
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(version.starts_with("Python 3.14."), "{version}");
    assert!(version.contains("hookbox"), "{version}");
    assert_eq!(
        python3_args(&["-V"], "").stdout,
        python3_args(&["--version"], "").stdout
    );

    let code = python3_args(
        &[
            "-I",
            "-c",
            "import sys, json, os; print(sys.argv[1:], json.loads(os.environ['HOOP_RUNBOOK_HOOK_PAYLOAD'])['sid'])",
            "one",
            "-two",
        ],
        "",
    );
    assert_eq!(
        String::from_utf8_lossy(&code.stdout),
        "['one', '-two'] 8c59a347-62bd-4db2-a456-2b25963dfebf\n",
        "{}",
        text(&code)
    );

    let stdin = python3_args(&["-u", "-"], "print('from standard input')\n");
    assert_eq!(
        String::from_utf8_lossy(&stdin.stdout),
        "from standard input\n",
        "{}",
        text(&stdin)
    );

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("notify.py");
    std::fs::write(&script, "import sys\nprint(sys.argv[1:])\nsys.exit(4)\n").unwrap();
    let file = python3_args(&["-B", script.to_str().unwrap(), "--to", "soc"], "");
    assert_eq!(
        String::from_utf8_lossy(&file.stdout),
        "['--to', 'soc']\n",
        "{}",
        text(&file)
    );
    assert_eq!(file.status.code(), Some(4));
}

#[test]
fn python3_forms_the_sandbox_cannot_honour_are_refused_by_name() {
    for (args, named) in [
        (&["-m", "http.server"][..], "`-m`"),
        (&["-X", "dev", "-c", "pass"][..], "`-X`"),
        (&["-c"][..], "`-c` needs the code"),
    ] {
        let output = python3_args(args, "");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        assert!(text(&output).contains(named), "{args:?}: {}", text(&output));
    }
}

/// A configuration file handing events to `service`.
fn forwarding_config(service: &str, more: &str) -> tempfile::NamedTempFile {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!("[python]\nservice = \"{service}\"\n{more}"),
    )
    .unwrap();
    config
}

/// The script Hoop would send: here it only says where it ran.
const RAN_HERE: &str = "print('the hook ran in the drop-in')\n";

/// Runs `script` through the drop-in configured by `config`, with the
/// service's token and `payload` (the sample session-open when `None`);
/// returns the run id it printed.
async fn queue(config: &Path, script: &'static str, payload: Option<Vec<u8>>) -> String {
    let mut env = vec![
        ("HOOKBOX_CONFIG", config.display().to_string()),
        ("HOOKBOX_TOKEN", crate::service::TOKEN.to_owned()),
    ];
    if let Some(payload) = payload {
        env.push((
            "HOOP_RUNBOOK_HOOK_PAYLOAD",
            String::from_utf8(payload).unwrap(),
        ));
    }
    let output = tokio::task::spawn_blocking(move || python3(script, &env))
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    stdout
        .trim()
        .strip_prefix("queued ")
        .and_then(|rest| rest.split(" as run ").nth(1))
        .filter(|run| !run.contains(' '))
        .unwrap_or_else(|| panic!("not one new queued run: {stdout:?}"))
        .to_owned()
}

/// The run once the service has run it successfully.
async fn succeeded(server: &crate::service::Server, run_id: &str) -> serde_json::Value {
    crate::service::eventually("the queued run to succeed", async || {
        let run = crate::service::get(server, &format!("/v1/runs/{run_id}")).await;
        (run["state"] == "succeeded").then_some(run)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_service_configured_the_event_is_queued_there() {
    let setup = crate::service::Setup::new(Reply::Status(200, "ok"), "").await;
    let server = setup.start(&[]);
    let config = forwarding_config(&server.base, "");

    // The service runs its own hook for the event (it forwards), not the
    // script Hoop sent, and the run says so.
    let first = queue(config.path(), RAN_HERE, None).await;
    let run = succeeded(&server, &first).await;
    assert_eq!(run["event"], "session-open", "{run}");
    assert_eq!(setup.receiver.requests().len(), 1);
    assert_eq!(run["script_sha256"], sha256_hex(RAN_HERE), "{run}");
    let note = run["attempt_log"][0]["note"].as_str().unwrap();
    assert!(note.contains("is not the script Hoop sent"), "{note}");

    // Sent the very hook the service runs (another session), nothing is noted.
    let same = crate::service::open_event("sess-same-script");
    let run_id = queue(config.path(), crate::service::FORWARD_HOOK, Some(same)).await;
    let run = succeeded(&server, &run_id).await;
    assert_eq!(run["attempt_log"][0]["note"], "exit 0", "{run}");

    // Hoop firing the first event again (same payload, same id) is another
    // run: each invocation of the drop-in is one firing.
    let again = queue(config.path(), RAN_HERE, None).await;
    assert_ne!(again, first);
    // The two firings are listed together by their event id, apart from the
    // other session's run.
    let event_id = crate::service::get(&server, &format!("/v1/runs/{first}")).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = crate::service::get(&server, &format!("/v1/runs?event_id={event_id}")).await;
    let mut firings: Vec<&str> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["id"].as_str().unwrap())
        .collect();
    firings.sort_unstable();
    let mut expected = [first.as_str(), again.as_str()];
    expected.sort_unstable();
    assert_eq!(firings, expected, "{listed}");
}

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn when_the_service_does_not_answer_the_hook_runs_here_or_the_drop_in_fails() {
    // A port nothing listens on, held for the whole test.
    let closed = hookbox_testkit::ports::ClosedPort::new().unwrap();
    let service = format!("http://{}", closed.address());

    let run_here = forwarding_config(&service, "patience = \"300ms\"\n");
    let output = python3(
        RAN_HERE,
        &[("HOOKBOX_CONFIG", run_here.path().display().to_string())],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "the hook ran in the drop-in\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach the hookbox service at")
            && stderr.contains("running the hook here instead"),
        "{stderr}"
    );

    let fail = forwarding_config(&service, "patience = \"300ms\"\nfallback = \"fail\"\n");
    let output = python3(
        RAN_HERE,
        &[("HOOKBOX_CONFIG", fail.path().display().to_string())],
    );
    assert_eq!(output.status.code(), Some(69), "{}", text(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "", "nothing ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the event was not handed over ([python] fallback = \"fail\")")
            && stderr.contains("cannot reach the hookbox service at"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_refuses_the_token_is_named_and_the_hook_runs_here() {
    let setup = crate::service::Setup::new(Reply::Status(200, "ok"), "").await;
    let server = setup.start(&[]);
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), "not-the-token\n").unwrap();
    let config = forwarding_config(
        &server.base,
        &format!("token_file = \"{}\"\n", token_file.path().display()),
    );
    let env = [("HOOKBOX_CONFIG", config.path().display().to_string())];
    let output = tokio::task::spawn_blocking(move || python3(RAN_HERE, &env))
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "the hook ran in the drop-in\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refused the event: HTTP 401"), "{stderr}");
    assert_eq!(setup.receiver.requests().len(), 0);
}

#[test]
fn a_script_that_cannot_be_opened_is_reported_as_python3_reports_it() {
    let missing = tempfile::tempdir().unwrap().path().join("nosuch.py");
    let output = python3_args(&[missing.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let real = Command::new(hookbox_testkit::real_python3().unwrap())
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(real.status.code(), Some(2));
    // The same words after the program's name.
    let tail = |output: &Output| {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        stderr[stderr.find(": can't open file").unwrap()..].to_owned()
    };
    assert_eq!(tail(&output), tail(&real));
}
