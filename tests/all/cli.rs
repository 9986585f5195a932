//! The `hookbox` binary as a user runs it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use hookbox::guest::GUEST;
use hookbox::runtime::cache::ComponentCache;
use hookbox::runtime::engine::{EngineOptions, new_engine};

use crate::support::{SESSION_CLOSE, TestHook, cache_dir, hookbox, repo_path, runtime};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn payload_file(contents: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(contents).unwrap();
    file
}

#[test]
fn the_readme_example_runs() {
    let output = hookbox()
        .arg("run")
        .arg(repo_path(
            "hooks-examples/session-audit/hoop-hooks/session-open.runbook.py",
        ))
        .arg("--payload")
        .arg(repo_path("hooks-examples/payloads/session-open.json"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let line = stdout(&output);
    assert!(
        line.contains("session 8c59a347-62bd-4db2-a456-2b25963dfebf opened by alice@example.com on pg-prod-customers (database/postgres), reviewers: dba-team"),
        "{line}"
    );
}

#[test]
fn exit_code_is_the_hooks() {
    let hook = TestHook::new("import sys\nprint('partial')\nsys.exit(7)\n");
    let payload = payload_file(SESSION_CLOSE.as_bytes());
    let output = hookbox()
        .arg("run")
        .arg(&hook.path)
        .arg("--payload")
        .arg(payload.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(7));
    assert_eq!(stdout(&output), "partial\n");
}

#[test]
fn json_reports_the_outcome_and_nothing_else_on_stdout() {
    let hook = TestHook::new(
        "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\nsys.exit(4)\n",
    );
    let payload = payload_file(SESSION_CLOSE.as_bytes());
    let output = hookbox()
        .env("HOOKBOX_LOG", "debug")
        .args(["run", "--json"])
        .arg(&hook.path)
        .arg("--payload")
        .arg(payload.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(json["status"], "failed");
    assert_eq!(json["exit_code"], 4);
    assert_eq!(json["stdout"], "to stdout\n");
    assert_eq!(json["stderr"], "to stderr\n");
    assert_eq!(json["stdout_truncated"], false);
    assert_eq!(json["stderr_truncated"], false);
    assert!(json["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(json["fuel_consumed"].as_u64().unwrap() > 0);
    assert!(json["peak_memory_bytes"].as_u64().unwrap() > 0);
    assert_eq!(json["egress"], serde_json::json!([]));
}

#[test]
fn payload_can_come_from_stdin() {
    let hook = TestHook::new(
        "import json, os\nprint(json.loads(os.environ['HOOP_RUNBOOK_HOOK_PAYLOAD'])['sid'])\n",
    );
    let output = run_with_stdin(&hook.path, SESSION_CLOSE.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "8c59a347-62bd-4db2-a456-2b25963dfebf\n");
}

/// Runs `hook` with the payload given on standard input (`--payload -`).
fn run_with_stdin(hook: &Path, payload: &[u8]) -> Output {
    let mut child = hookbox()
        .arg("run")
        .arg(hook)
        .args(["--payload", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(payload).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs a hook that would print "RAN" and checks it was refused with exit 2,
/// one clear line on stderr naming `needle`, and nothing run.
fn assert_refused(hook_path: &Path, payload: &[u8], extra: &[&str], needle: &str) {
    let payload = payload_file(payload);
    let output = hookbox()
        .arg("run")
        .arg(hook_path)
        .arg("--payload")
        .arg(payload.path())
        .args(extra)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert_eq!(stdout(&output), "", "the hook must not run");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("hookbox: error: "), "{err}");
    assert!(err.contains(needle), "{err} should mention {needle}");
}

#[test]
fn bad_payloads_are_refused_before_running() {
    let hook = TestHook::new("print('RAN')\n");
    assert_refused(&hook.path, b"{\"sid\": ", &[], "is not valid JSON");
    assert_refused(&hook.path, b"[1, 2]", &[], "must be a JSON object");
    assert_refused(&hook.path, b"\"text\"", &[], "must be a JSON object");
    assert_refused(&hook.path, b"\xff\xfe", &[], "is not valid JSON");
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(2048));
    assert_refused(
        &hook.path,
        big.as_bytes(),
        &["--max-payload", "1KiB"],
        "larger than the 1024-byte limit",
    );
}

#[test]
fn the_default_payload_cap_is_one_mebibyte() {
    let hook = TestHook::new("print('RAN')\n");
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(1024 * 1024));
    assert_refused(
        &hook.path,
        big.as_bytes(),
        &[],
        "larger than the 1048576-byte limit",
    );
}

#[test]
fn bad_hook_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert_refused(
        &dir.path().join("missing.runbook.py"),
        b"{}",
        &[],
        "does not exist",
    );
    assert_refused(dir.path(), b"{}", &[], "is not a regular file");
    let latin1 = dir.path().join("latin1.runbook.py");
    std::fs::write(&latin1, b"print('caf\xe9')\n").unwrap();
    assert_refused(&latin1, b"{}", &[], "is not valid UTF-8");
}

#[test]
fn bad_flag_values_are_refused() {
    let hook = TestHook::new("print('RAN')\n");
    assert_refused(&hook.path, b"{}", &["--timeout", "soon"], "--timeout");
    assert_refused(&hook.path, b"{}", &["--memory", "lots"], "--memory");
    assert_refused(
        &hook.path,
        b"{}",
        &["--fuel", "0"],
        "--fuel must be greater than zero",
    );
    assert_refused(
        &hook.path,
        b"{}",
        &["--env", "NOT_SET_ANYWHERE_XYZ"],
        "NOT_SET_ANYWHERE_XYZ",
    );
}

#[test]
fn unknown_flags_are_usage_errors() {
    let output = hookbox().args(["run", "--frobnicate"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

fn run_limited(source: &str, flags: &[&str]) -> Output {
    let hook = TestHook::new(source);
    let payload = payload_file(SESSION_CLOSE.as_bytes());
    hookbox()
        .arg("run")
        .arg(&hook.path)
        .arg("--payload")
        .arg(payload.path())
        .args(flags)
        .output()
        .unwrap()
}

#[test]
fn limits_have_their_own_exit_codes_and_messages() {
    let stopped = |source: &str, flags: &[&str], code: i32, message: &str| {
        let output = run_limited(source, flags);
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
        stderr
    };
    stopped(
        "import time\ntime.sleep(30)\n",
        &["--timeout", "300ms"],
        124,
        "hookbox: timeout: the hook ran past its wall-clock limit of 300ms",
    );
    stopped(
        "while True: pass\n",
        &["--fuel", "100000000"],
        123,
        "hookbox: fuel_exhausted: ",
    );
    let stderr = stopped(
        "x = bytearray(100 * 1024 * 1024)\n",
        &["--memory", "64MiB"],
        122,
        "hookbox: memory_exceeded: ",
    );
    assert!(stderr.contains("MemoryError"), "{stderr}");
}

#[test]
fn only_listed_variables_cross_into_the_sandbox() {
    let hook = TestHook::new("import os\nprint(sorted(os.environ.items())[1:])\n");
    let payload = payload_file(SESSION_CLOSE.as_bytes());
    let output = hookbox()
        .env("SIEM_REGION", "eu-west-1")
        .env("AWS_SECRET_ACCESS_KEY", "do-not-leak")
        .arg("run")
        .arg(&hook.path)
        .arg("--payload")
        .arg(payload.path())
        .args(["--env", "SIEM_REGION", "--env", "MODE=test"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "[('MODE', 'test'), ('SIEM_REGION', 'eu-west-1')]\n"
    );
}

/// Puts the shared cache's compiled runner, one byte flipped, and its
/// checksum into `cache`; returns its path there and its bytes.
fn corrupt_runner_in(cache: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let engine = new_engine(EngineOptions::default()).unwrap();
    let artifact =
        ComponentCache::new(cache_dir()).artifact_path(&engine, "python-runner", GUEST.runner_hash);
    let mut corrupt = std::fs::read(&artifact).expect("the shared cache holds the runner");
    let at = corrupt.len() / 2;
    corrupt[at] ^= 0x55;
    let private = cache.join(artifact.file_name().unwrap());
    std::fs::write(&private, &corrupt).unwrap();
    let checksum = artifact.with_extension("cwasm.xxh3");
    std::fs::copy(&checksum, cache.join(checksum.file_name().unwrap())).unwrap();
    (private, corrupt)
}

#[test]
fn a_corrupt_runner_cache_is_rebuilt() {
    runtime();
    let cache = tempfile::tempdir().unwrap();
    corrupt_runner_in(cache.path());
    let hook = TestHook::new("print('ran after rebuild')\n");
    let payload = payload_file(SESSION_CLOSE.as_bytes());
    // Under `script`, stderr is a terminal, so the one-time compile shows progress.
    let command_line = format!(
        "{} run {} --payload {}",
        env!("CARGO_BIN_EXE_hookbox"),
        hook.path.display(),
        payload.path().display()
    );
    let output = Command::new("script")
        .args(["-qec", &command_line, "/dev/null"])
        .env("HOOKBOX_CACHE_DIR", cache.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let terminal = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{terminal}");
    assert!(terminal.contains("ran after rebuild"), "{terminal}");
    assert!(
        terminal.contains("cached component is unusable"),
        "{terminal}"
    );
    assert!(
        terminal.contains("compiling the bundled Python runner"),
        "no progress indicator: {terminal}"
    );
}

/// A run that needs no Python (a compiled hook here; a hook whose packages
/// are in a snapshot likewise) never loads the shipped runner: a corrupt
/// compiled runner in the cache is neither read nor replaced.
#[test]
fn a_run_without_python_never_loads_the_runner() {
    let shared = runtime();
    let cache = tempfile::tempdir().unwrap();
    let (private, corrupt) = corrupt_runner_in(cache.path());
    // What the runtime extracts at start, as the shared cache has it.
    let sources = GUEST.sources_dir(&cache_dir()).unwrap();
    for extracted in [shared.stdlib_dir(), sources.as_path()] {
        std::os::unix::fs::symlink(extracted, cache.path().join(extracted.file_name().unwrap()))
            .unwrap();
    }
    let hook = tempfile::tempdir().unwrap();
    let wasm = hook.path().join("session-close.wasm");
    std::fs::write(
        &wasm,
        wat::parse_str(
            r#"(component
                 (core module $m (func (export "run") (result i32) i32.const 0))
                 (core instance $i (instantiate $m))
                 (func $run (result (result)) (canon lift (core func $i "run")))
                 (instance $cli (export "run" (func $run)))
                 (export "wasi:cli/run@0.2.0" (instance $cli)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let payload = payload_file(SESSION_CLOSE.as_bytes());
    let output = hookbox()
        .env("HOOKBOX_CACHE_DIR", cache.path())
        .env("HOOKBOX_LOG", "warn")
        .arg("run")
        .arg(&wasm)
        .arg("--payload")
        .arg(payload.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stderr(&output).contains("unusable"), "{}", stderr(&output));
    assert!(
        std::fs::read(&private).unwrap() == corrupt,
        "the corrupt runner was replaced"
    );
}

#[test]
fn policy_check_prints_rules_normalized() {
    let output = hookbox()
        .args([
            "policy",
            "check",
            "--allow",
            "https://SIEM.example.com",
            "--allow",
            "tcp://10.1.2.3:514",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("allow https://siem.example.com:443  (public addresses only;"),
        "{text}"
    );
    assert!(text.contains("\nallow tcp://10.1.2.3:514\n"), "{text}");

    let output = hookbox().args(["policy", "check"]).output().unwrap();
    assert_eq!(stdout(&output), "no rules: all network access is denied\n");
}

#[test]
fn a_bad_rule_is_refused_at_start_up_quoting_it() {
    let output = hookbox()
        .args([
            "policy",
            "check",
            "--allow",
            "https://ok.example.com",
            "--allow",
            "tcp://collector",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("bad egress rule \"tcp://collector\""), "{err}");
    assert!(err.contains("no default port"), "{err}");

    let hook = TestHook::new("print('RAN')\n");
    assert_refused(
        &hook.path,
        b"{}",
        &["--allow", "siem.example.com"],
        "bad egress rule \"siem.example.com\"",
    );
}

#[test]
fn a_config_file_sets_limits_rules_variables_and_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookbox.toml");
    std::fs::write(
        &config,
        "[limits]\ntimeout = \"300ms\"\n\n[egress]\nallow = [\"https://siem.example.com\"]\n\n\
         [secrets]\npass = [\"envvar:USER\"]\n\n[env]\npass = [\"MODE=from-file\"]\n",
    )
    .unwrap();
    let hook = TestHook::new(
        "import hookbox, os, time\n\
         e = hookbox.event()\n\
         print(os.environ['MODE'], e.open.connection_envs['envvar:USER'], e.open.connection_envs['envvar:PASS'])\n\
         time.sleep(5)\n",
    );
    let payload = payload_file(crate::support::SESSION_OPEN.as_bytes());
    let output = hookbox()
        .arg("run")
        .arg(&hook.path)
        .arg("--payload")
        .arg(payload.path())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(124),
        "the file's timeout: {}",
        stderr(&output)
    );
    assert_eq!(
        stdout(&output),
        "from-file cmVhZG9ubHk= [redacted by hookbox]\n"
    );

    let checked = hookbox()
        .env("HOOKBOX_CONFIG", &config)
        .args(["policy", "check", "--allow", "tcp://10.1.2.3:514"])
        .output()
        .unwrap();
    let text = stdout(&checked);
    assert!(
        text.starts_with("allow https://siem.example.com:443"),
        "{text}"
    );
    assert!(text.contains("allow tcp://10.1.2.3:514"), "{text}");

    // A flag wins over the file.
    let output = hookbox()
        .arg("run")
        .arg(&hook.path)
        .arg("--payload")
        .arg(payload.path())
        .arg("--config")
        .arg(&config)
        .args(["--timeout", "100ms"])
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("wall-clock limit of 100ms"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_bad_config_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookbox.toml");
    std::fs::write(&config, "[limits]\ntimeout_seconds = 5\n").unwrap();
    let hook = TestHook::new("print('RAN')\n");
    // The parser's picture of where, line by line.
    let payload = payload_file(b"{}");
    let output = hookbox()
        .arg("run")
        .arg(&hook.path)
        .arg("--payload")
        .arg(payload.path())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert_eq!(stdout(&output), "", "the hook must not run");
    assert!(
        err.starts_with(&format!(
            "hookbox: error: configuration file {}:",
            config.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("line 2") && err.contains("\n2 | timeout_seconds = 5\n"),
        "{err}"
    );
    assert!(err.contains("unknown field `timeout_seconds`"), "{err}");
    assert_refused(
        &hook.path,
        b"{}",
        &["--config", "/nonexistent/hookbox.toml"],
        "/nonexistent/hookbox.toml",
    );
}

#[test]
fn payload_prints_hoops_shape_and_feeds_run() {
    let output = hookbox()
        .args([
            "payload",
            "session-open",
            "--set",
            "sid=8c59a347-62bd-4db2-a456-2b25963dfebf",
        ])
        .args(["--set", "event_session_open.user_email=bob@example.com"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let payload: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(payload["id"], "56e79379-b323-58a4-8436-f2e967b04c62");
    assert_eq!(payload["command"], serde_json::json!(["python3"]));
    assert!(payload["event_session_close"].is_null());

    let ran = run_with_stdin(
        &repo_path("hooks-examples/session-audit/hoop-hooks/session-open.runbook.py"),
        &output.stdout,
    );
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    assert!(
        stdout(&ran).contains("opened by bob@example.com"),
        "{}",
        stdout(&ran)
    );

    let bad = hookbox()
        .args(["payload", "session-close", "--set", "oops"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--set \"oops\""), "{}", stderr(&bad));

    // A field Hoop does not send, or the other event's, is refused by name.
    for (event, entry, said) in [
        (
            "session-open",
            "user_mail=bob",
            "the fields there are: id, sid",
        ),
        (
            "session-close",
            "event_session_open.user_email=x",
            "never sends both events",
        ),
    ] {
        let refused = hookbox()
            .args(["payload", event, "--set", entry])
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(2), "{entry}");
        assert!(stderr(&refused).contains(said), "{}", stderr(&refused));
        assert!(refused.stdout.is_empty(), "nothing half-written");
    }
}

/// Runs `hookbox args...` with its stdout a pipe nobody reads any more.
fn with_stdout_closed(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    hookbox()
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let hook = crate::support::TestHook::new("print('x' * 100000)\n");
    let payload = crate::support::repo_path("hooks-examples/payloads/session-close.json");
    let hook_path = hook.path.display().to_string();
    let payload_path = payload.display().to_string();
    let commands: &[&[&str]] = &[
        &["payload", "session-open"],
        &["policy", "check", "--allow", "https://siem.example.com"],
        &["run", &hook_path, "--payload", &payload_path],
        &["run", &hook_path, "--payload", &payload_path, "--json"],
    ];
    for args in commands {
        let output = with_stdout_closed(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(141), "{args:?}: {stderr}");
    }
}

#[test]
fn help_names_the_credentials_every_config_section_and_the_wasm_form() {
    let help = |args: &[&str]| {
        let output = hookbox().args(args).arg("--help").output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let serve = help(&["serve"]);
    for named in ["HOOKBOX_TOKEN", "HOOKBOX_WEBHOOK_SECRET", "--no-auth"] {
        assert!(serve.contains(named), "serve --help does not name {named}");
    }
    let run = help(&["run"]);
    for section in [
        "[limits]",
        "[egress]",
        "[secrets]",
        "[env]",
        "[git]",
        "[service]",
        "[service.retry]",
    ] {
        assert!(run.contains(section), "run --help does not name {section}");
    }
    assert!(
        run.contains(".wasm"),
        "run --event does not mention compiled hooks"
    );
    let python = help(&["python"]);
    assert!(python.contains("/etc/hookbox/config.toml"), "{python}");
    // Hoop passes the drop-in no flags: its policy flags sit apart, after
    // python3's own arguments.
    let (own, by_hand) = python
        .split_once("Policy flags, for trying a hook by hand")
        .unwrap_or_else(|| panic!("no heading for the policy flags: {python}"));
    assert!(own.contains("[PYTHON ARGS]"), "{own}");
    assert!(!own.contains("--allow"), "{own}");
    assert!(by_hand.contains("--allow") && by_hand.contains("--config"));
    // One precedence, stated by every command that reads settings, down to
    // the nested ones.
    for args in [
        &["run"][..],
        &["serve"],
        &["python"],
        &["source", "fetch"],
        &["doctor"],
        &["warm"],
    ] {
        let text = help(args);
        assert!(
            text.contains("a command-line flag wins over an environment variable"),
            "{args:?} --help does not state the precedence"
        );
    }
    assert!(!help(&["payload"]).contains("wins over an environment variable"));
}

#[test]
fn what_a_new_operator_trips_over_is_named_plainly() {
    let empty = tempfile::tempdir().unwrap();
    // `hookbox test` on a folder that is not there.
    let missing = empty.path().join("nonexistent");
    let output = hookbox().arg("test").arg(&missing).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("does not exist or is not a folder"),
        "{}",
        stderr(&output)
    );
    // The git source without its TTL.
    let output = hookbox()
        .args(["source", "status"])
        .env("GIT_URL", empty.path())
        .env_remove("GIT_HOOK_CONFIG_TTL")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("GIT_HOOK_CONFIG_TTL is not set")
            && !stderr(&output).contains("got \"\""),
        "{}",
        stderr(&output)
    );
}

#[test]
fn serve_on_an_address_in_use_says_so_and_leaves_no_spool() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = tempfile::tempdir().unwrap();
    let hooks = tempfile::tempdir().unwrap();
    std::fs::create_dir(hooks.path().join("hoop-hooks")).unwrap();
    let output = hookbox()
        .arg("serve")
        .arg("--listen")
        .arg(taken.local_addr().unwrap().to_string())
        .arg("--data-dir")
        .arg(data.path().join("spool"))
        .arg("--hooks-dir")
        .arg(hooks.path())
        .env("HOOKBOX_TOKEN", "a-token-of-at-least-some-length")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot listen on 127.0.0.1:")
            && stderr(&output).contains("pick another --listen address"),
        "{}",
        stderr(&output)
    );
    assert!(!data.path().join("spool").exists(), "a spool was made");
}

#[test]
fn completions_and_manual_pages_come_from_the_command_definitions() {
    for (shell, marker) in [
        ("bash", "complete -F _hookbox"),
        ("zsh", "#compdef hookbox"),
        ("fish", "complete -c hookbox"),
    ] {
        let output = hookbox().args(["completions", shell]).output().unwrap();
        let script = stdout(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{shell}: {}",
            stderr(&output)
        );
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("doctor") && script.contains("max-scratch"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let output = hookbox().arg("man").arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let listed = stdout(&output);
    for page in [
        "hookbox.1",
        "hookbox-run.1",
        "hookbox-serve.1",
        "hookbox-doctor.1",
    ] {
        assert!(listed.contains(page), "{listed}");
    }
    let run = std::fs::read_to_string(dir.path().join("hookbox-run.1")).unwrap();
    assert!(
        run.contains(".TH hookbox-run 1") && run.contains("max\\-scratch"),
        "{run}"
    );
}

#[test]
fn cli_reference_in_the_docs_is_the_command_definitions() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
    let generated = hookbox::cli::reference_markdown();
    if std::env::var_os("HOOKBOX_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "docs/cli.md differs from the command definitions: run \
         `HOOKBOX_BLESS=1 cargo test --test all cli_reference` and commit it"
    );
    for command in [
        "## `hookbox run`",
        "## `hookbox source fetch`",
        "## `hookbox serve`",
    ] {
        assert!(generated.contains(command), "{command}");
    }
    assert!(generated.contains("`--allow <RULE>`"), "{generated}");
}
