//! What an attack pass broke, each break kept as a test: a runbooks folder
//! that stalls the wall clock or mounts host folders, credentials in the
//! texts hookbox writes, a repository granting itself host variables and
//! files, an "anywhere" block reaching loopback, a C stack overflow reported
//! as hookbox's own fault, datagrams recorded wrongly, a compiled hook
//! reaching the runner's code cache, a cache folder others can write.

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use hookbox::record::RunStatus;
use hookbox::runtime::config::SandboxConfig;
use hookbox::sandbox::egress::mask::UrlMasks;
use hookbox::sandbox::egress::policy::EgressPolicy;
use hookbox::sandbox::limits::Limits;
use hookbox::source::hook_folder::FolderEntryError;
use hookbox::source::{HookFile, HookFileError};

use crate::receiver::{Receiver, Reply};
use crate::support::{SESSION_CLOSE, SESSION_OPEN, TestHook, hookbox, run_source, runtime};

/// Runs `command`, killing it if it is still running after `deadline`.
fn output_within(mut command: Command, deadline: Duration) -> Output {
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().expect("starting hookbox");
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(deadline) {
        Ok(output) => output.expect("waiting for hookbox"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("hookbox was still running after {deadline:?}");
        }
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn payload_file() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), SESSION_OPEN).unwrap();
    file
}

fn run_command(hook: &Path, payload: &Path, flags: &[&str]) -> Command {
    let mut command = hookbox();
    command
        .arg("run")
        .arg(hook)
        .arg("--payload")
        .arg(payload)
        .args(flags);
    command
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

/// A runbooks repository whose `hoop-hooks/` holds `files` (name, text).
fn repository(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("hoop-hooks/tests")).unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join("hoop-hooks").join(name), contents).unwrap();
    }
    dir
}

#[test]
fn a_fifo_in_the_hook_folder_is_refused_before_anything_opens_it() {
    let hook = TestHook::new("print(open('/hook/fifo').read())\n");
    let fifo = hook.dir.path().join("fifo");
    mkfifo(&fifo);
    let payload = payload_file();
    let output = output_within(
        run_command(&hook.path, payload.path(), &["--timeout", "2s"]),
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains(&format!("{}, a FIFO", fifo.display())),
        "{}",
        text(&output)
    );
    match HookFile::open(&hook.path) {
        Err(HookFileError::Folder(FolderEntryError::Special { path, .. })) => {
            assert_eq!(path, fifo)
        }
        other => panic!("{other:?}"),
    }

    // `hookbox test` on a repository holding one: the case fails at once.
    let repo = repository(&[("session-open.runbook.py", "print('hi')\n")]);
    mkfifo(&repo.path().join("hoop-hooks/pipe"));
    let mut test = hookbox();
    test.arg("test").arg(repo.path());
    let output = output_within(test, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("a FIFO"), "{}", text(&output));
}

/// A name that is not UTF-8 would make every listing of the folder fail in
/// the sandbox (so every import from it); the run is refused before it
/// starts, naming the entry.
#[test]
fn an_entry_whose_name_is_not_utf8_is_named_before_the_run() {
    use std::os::unix::ffi::OsStrExt;

    let hook = TestHook::new("import helper\nprint(helper.X)\n").with_file("helper.py", "X = 1\n");
    let odd = hook
        .dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(&odd, "menu").unwrap();
    let payload = payload_file();
    let output = output_within(
        run_command(&hook.path, payload.path(), &[]),
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("not UTF-8"), "{}", text(&output));
    match HookFile::open(&hook.path) {
        Err(HookFileError::Folder(FolderEntryError::NotUtf8Name { path })) => {
            assert_eq!(path, odd)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_hook_that_is_a_symlink_out_of_its_folder_mounts_nothing_of_the_target() {
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(
        elsewhere.path().join("tool.py"),
        "import os\nprint(os.listdir('/hook'))\n",
    )
    .unwrap();
    std::fs::write(elsewhere.path().join("neighbour-secret.txt"), "s").unwrap();
    std::fs::write(elsewhere.path().join("bashrc"), "SECRET_LINE = = 1\n").unwrap();
    let repo = repository(&[]);
    let hooks = repo.path().join("hoop-hooks");
    std::os::unix::fs::symlink(
        elsewhere.path().join("tool.py"),
        hooks.join("session-open.runbook.py"),
    )
    .unwrap();
    let payload = payload_file();
    let output = run_command(&hooks.join("session-open.runbook.py"), payload.path(), &[])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("is a symlink to"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains("neighbour-secret"));
    assert!(matches!(
        HookFile::open(&hooks.join("session-open.runbook.py")),
        Err(HookFileError::SymlinkOutside { .. })
    ));

    // `hookbox test` (CI on a pull request) never shows a line of the host
    // file a hook links to.
    std::os::unix::fs::symlink(
        elsewhere.path().join("bashrc"),
        hooks.join("session-close.runbook.py"),
    )
    .unwrap();
    let output = hookbox().arg("test").arg(repo.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(!text(&output).contains("SECRET_LINE"), "{}", text(&output));
    assert!(
        text(&output).contains("is a symlink to"),
        "{}",
        text(&output)
    );

    // A link that stays inside the folder runs what it leads to.
    std::fs::remove_file(hooks.join("session-open.runbook.py")).unwrap();
    std::fs::remove_file(hooks.join("session-close.runbook.py")).unwrap();
    std::fs::write(hooks.join("session-open.runbook.py"), "print('opened')\n").unwrap();
    std::os::unix::fs::symlink(
        "session-open.runbook.py",
        hooks.join("session-close.runbook.py"),
    )
    .unwrap();
    let output = run_command(&hooks.join("session-close.runbook.py"), payload.path(), &[])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "opened\n");

    // A hoop-hooks folder that is itself a link out of the repository.
    let linked = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), linked.path().join("hoop-hooks")).unwrap();
    std::fs::copy(
        elsewhere.path().join("tool.py"),
        elsewhere.path().join("session-open.runbook.py"),
    )
    .unwrap();
    let output = hookbox().arg("test").arg(linked.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("outside the runbooks folder"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains("neighbour-secret"));
}

/// Tokens in URLs never reach the hook's stderr through the shims' messages
/// (curl's, urllib's, `http.client`'s), nor the record.
#[tokio::test]
async fn credentials_in_urls_are_masked_in_every_message() {
    let outcome = run_source(
        "import http.client, subprocess, sys, urllib.request\n\
         T = 'SEC' + 'RET'\n\
         P = 'PASS' + 'WORD'\n\
         subprocess.run(['curl', f'http://u:{P}@127.0.0.1:9/x?token={T}1'])\n\
         try:\n\
         \x20   urllib.request.urlopen(f'http://127.0.0.1:9/y?token={T}2')\n\
         except Exception as error:\n\
         \x20   print(type(error).__name__, error, file=sys.stderr)\n\
         connection = http.client.HTTPConnection('127.0.0.1', 9)\n\
         connection.request('GET', f'/z?token={T}3')\n",
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed, "{outcome:?}");
    assert!(outcome.stderr.contains("curl: (7)"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("http://127.0.0.1:9/y?[redacted]"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("EgressDenied"),
        "{}",
        outcome.stderr
    );
    let record = serde_json::to_string(&outcome).unwrap();
    for secret in ["SECRET", "PASSWORD"] {
        assert!(!outcome.stderr.contains(secret), "{}", outcome.stderr);
        assert!(!record.contains(secret), "{record}");
    }
    assert_eq!(outcome.egress.len(), 3, "{:?}", outcome.egress);
}

/// Webhook URLs spelled otherwise than the mask expects, and a one-segment
/// path on an operator's masked host, are masked in the record and stderr.
#[tokio::test]
async fn webhook_secrets_are_masked_however_the_path_is_spelled() {
    let hook = TestHook::new(
        "import sys, urllib.request\n\
         T = 'SEC' + 'RET'\n\
         for url in [f'https://hooks.slack.com/%73ervices/T0/B0/{T}',\n\
         \x20           f'https://hooks.slack.com/x/../services/T0/B0/{T}',\n\
         \x20           f'https://x.collector.example.com/{T}']:\n\
         \x20   try:\n\
         \x20       urllib.request.urlopen(url, data=b'{}')\n\
         \x20   except Exception as error:\n\
         \x20       print(error, file=sys.stderr)\n",
    );
    let config = SandboxConfig {
        url_masks: Arc::new(UrlMasks::with_hosts(["*.collector.example.com".to_owned()])),
        ..SandboxConfig::default()
    };
    let outcome = hook.run_configured(runtime(), SESSION_CLOSE, &config).await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    let urls: Vec<&str> = outcome
        .egress
        .iter()
        .filter_map(|attempt| attempt.url.as_deref())
        .collect();
    assert_eq!(
        urls,
        [
            "https://hooks.slack.com:443/services/[redacted]",
            "https://hooks.slack.com:443/services/[redacted]",
            "https://x.collector.example.com:443/[redacted]",
        ]
    );
    assert!(!outcome.stderr.contains("SECRET"), "{}", outcome.stderr);
}

#[test]
fn a_repositorys_settings_cannot_pass_host_variables_or_files_to_its_hooks() {
    let repo = repository(&[(
        "session-open.runbook.py",
        "import os\nprint('token:', os.environ.get('CI_DEPLOY_TOKEN'))\n",
    )]);
    std::fs::write(
        repo.path().join("hookbox.toml"),
        "[env]\npass = [\"CI_DEPLOY_TOKEN\"]\n",
    )
    .unwrap();
    let output = hookbox()
        .env("CI_DEPLOY_TOKEN", "SECRET")
        .arg("test")
        .arg(repo.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("passes the host's variable CI_DEPLOY_TOKEN"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains("SECRET"));

    // The operator's own --config (or --env) is trusted.
    let output = hookbox()
        .env("CI_DEPLOY_TOKEN", "from-the-operator")
        .arg("test")
        .arg(repo.path())
        .arg("--config")
        .arg(repo.path().join("hookbox.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    // A fixture's payload file that links to a host file is not read.
    let host_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(host_file.path(), "{\"aws_secret\": \"SECRET\"}").unwrap();
    std::fs::remove_file(repo.path().join("hookbox.toml")).unwrap();
    let tests = repo.path().join("hoop-hooks/tests");
    std::os::unix::fs::symlink(host_file.path(), tests.join("leak.json")).unwrap();
    std::fs::write(
        tests.join("leak.toml"),
        "hook = \"session-open\"\npayload = \"leak.json\"\n",
    )
    .unwrap();
    let output = hookbox().arg("test").arg(repo.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("outside the repository"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains("SECRET"), "{}", text(&output));
}

#[tokio::test]
async fn an_anywhere_block_does_not_open_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let hook = TestHook::new(&format!(
        "import urllib.request\n\
         try:\n\
         \x20   urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=5)\n\
         \x20   print('reached')\n\
         except OSError as error:\n\
         \x20   print('refused')\n"
    ));
    let outcome = hook.run_allowing(&["http://0.0.0.0/0:*"]).await;
    assert_eq!(outcome.stdout, "refused\n", "{outcome:?}");
    let reason = outcome.egress[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("spans more than that range (127.0.0.0/8)"),
        "{reason}"
    );
    assert!(listener.accept().is_err(), "nothing connected");
    drop(listener);

    // Named inside its range, loopback is reachable (and refuses at once).
    let outcome = hook
        .run_allowing(&[&format!("http://127.0.0.0/8:{port}")])
        .await;
    assert_eq!(outcome.stdout, "refused\n", "nothing listens there now");
    assert!(outcome.egress[0].allowed, "{outcome:?}");
}

/// Deep recursion in C code (a deeply nested JSON document) fails the hook
/// as it fails under `python3`: exit 1 and `RecursionError`, never a fault
/// of hookbox that the service would retry.
#[tokio::test]
async fn a_c_stack_overflow_is_the_hooks_recursion_error() {
    let source = "import json\njson.loads('[' * 200000 + ']' * 200000)\n";
    let outcome = run_source(source).await;
    assert_eq!(
        (outcome.status, outcome.exit_code),
        (RunStatus::Failed, Some(1)),
        "{outcome:?}"
    );
    assert!(
        outcome.stderr.contains("RecursionError"),
        "{}",
        outcome.stderr
    );

    let python = hookbox_testkit::real_python3().expect("python3");
    let hook = TestHook::new(source);
    let output = Command::new(python).arg(&hook.path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("RecursionError"));
}

#[tokio::test]
async fn datagrams_are_counted_and_each_denial_names_its_own_destination() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = receiver.local_addr().unwrap().port();
    let (denied_a, denied_b) = (port.wrapping_add(1).max(1), port.wrapping_add(2).max(1));
    let hook = TestHook::new(&format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.connect(('127.0.0.1', {port}))\n\
         for size in (1, 2, 3):\n\
         \x20   s.send(b'x' * size)\n\
         for denied in ({denied_a}, {denied_b}, {denied_a}):\n\
         \x20   try:\n\
         \x20       socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'y', ('127.0.0.1', denied))\n\
         \x20   except OSError as error:\n\
         \x20       print(error)\n"
    ));
    let outcome = hook
        .run_allowing(&[&format!("udp://127.0.0.1:{port}")])
        .await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    let mut buffer = [0; 16];
    let sizes: Vec<usize> = (0..3)
        .map(|_| receiver.recv(&mut buffer).expect("a datagram"))
        .collect();
    assert_eq!(sizes, [1, 2, 3]);
    let sent: Vec<_> = outcome.egress.iter().filter(|a| a.allowed).collect();
    assert_eq!(sent.len(), 1, "{:?}", outcome.egress);
    assert_eq!(sent[0].bytes_out, 6);
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", outcome.stdout);
    for (line, denied) in lines.iter().zip([denied_a, denied_b, denied_a]) {
        assert!(
            line.ends_with(&format!("no egress rule allows udp://127.0.0.1:{denied}")),
            "{line}"
        );
    }
}

#[tokio::test]
async fn a_compiled_hook_cannot_reach_the_runners_code_cache() {
    let component = wat::parse_str(
        r#"(component
             (import "hookbox:runner/code@0.1.0" (instance
               (export "store" (func (param "code" (list u8))))))
             (core module $m (func (export "run") (result i32) i32.const 0))
             (core instance $i (instantiate $m))
             (func $run (result (result)) (canon lift (core func $i "run")))
             (instance $cli (export "run" (func $run)))
             (export "wasi:cli/run@0.2.0" (instance $cli)))"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session-open.wasm");
    std::fs::write(&path, component).unwrap();
    let hook = TestHook {
        dir,
        path: path.clone(),
    };
    let outcome = hook
        .run_on(runtime(), SESSION_OPEN, &[], &Limits::default(), &[])
        .await;
    assert_eq!(outcome.status, RunStatus::Error, "{outcome:?}");
    let error = outcome.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("cannot run in the sandbox") && error.contains("hookbox:runner/code"),
        "{error}"
    );
}

#[test]
fn a_cache_folder_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    runtime();
    let hook = TestHook::new("print('ran')\n");
    let payload = payload_file();
    // Empty, and warmed (the compiled runner there, loaded only when a run
    // needs it): refused at start either way, nothing extracted into it.
    for warmed in [false, true] {
        let cache = tempfile::tempdir().unwrap();
        if warmed {
            let engine = hookbox::runtime::engine::new_engine(Default::default()).unwrap();
            let runner = hookbox::runtime::cache::ComponentCache::new(crate::support::cache_dir())
                .artifact_path(&engine, "python-runner", hookbox::guest::GUEST.runner_hash);
            for file in [runner.clone(), runner.with_extension("cwasm.xxh3")] {
                std::fs::copy(&file, cache.path().join(file.file_name().unwrap())).unwrap();
            }
        }
        std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let output = run_command(&hook.path, payload.path(), &[])
            .env("HOOKBOX_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        assert!(
            text(&output).contains("refusing the cache") && text(&output).contains("mode 0777"),
            "{}",
            text(&output)
        );
        assert!(!String::from_utf8_lossy(&output.stdout).contains("ran"));
        let extracted = std::fs::read_dir(cache.path())
            .unwrap()
            .filter(|entry| {
                !entry
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("python-runner")
            })
            .count();
        assert_eq!(
            extracted, 0,
            "something was extracted into the refused cache"
        );
    }
}

/// The policy in the record and `EgressPolicy` agree (a quick guard that the
/// public parse path refuses the IPv6 form written outside the brackets).
#[test]
fn an_ipv6_block_outside_its_brackets_is_refused_with_the_right_spelling() {
    let error = EgressPolicy::parse(["http://[::]/0:*"]).unwrap_err();
    assert!(error.reason.contains("[::/0]"), "{}", error.reason);
}

/// A body over `--max-http-body`: refused before anything is sent when its
/// length is declared, cut when it is streamed; either way the hook's error
/// and the record name the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_cap_is_refused_naming_it() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let port = receiver.port();
    let hook = TestHook::new(&format!(
        "import http.client, sys, urllib.request\n\
         big = b'x' * (2 * 1024 * 1024)\n\
         try:\n\
         \x20   urllib.request.urlopen('http://127.0.0.1:{port}/declared', data=big, timeout=5)\n\
         except Exception as error:\n\
         \x20   print('declared:', error)\n\
         connection = http.client.HTTPConnection('127.0.0.1', {port}, timeout=5)\n\
         try:\n\
         \x20   connection.request('POST', '/streamed', body=iter([big]), encode_chunked=True)\n\
         \x20   connection.getresponse()\n\
         except Exception as error:\n\
         \x20   print('streamed:', error)\n"
    ));
    let limits = Limits {
        http_body_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let outcome = hook
        .run_on(
            runtime(),
            SESSION_CLOSE,
            &[],
            &limits,
            &[&format!("http://127.0.0.1:{port}")],
        )
        .await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", outcome.stdout);
    for line in lines {
        assert!(
            line.contains("over hookbox's 1048576-byte cap (--max-http-body)"),
            "{line}"
        );
    }
    assert!(
        !receiver.requests().iter().any(|r| r.path == "/declared"),
        "a declared body over the cap is not sent"
    );
    let reasons: Vec<&str> = outcome
        .egress
        .iter()
        .filter_map(|attempt| attempt.reason.as_deref())
        .collect();
    assert_eq!(reasons.len(), 2, "{:?}", outcome.egress);
    assert!(reasons[0].contains("nothing was sent"), "{reasons:?}");
    assert!(reasons[1].contains("1048576-byte cap"), "{reasons:?}");
}

/// A hook that loops on `connect` gets at most `MAX_TCP_CONNECTIONS` real
/// connections in one run; the rest are refused, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_starts_at_most_the_cap_of_tcp_connections() {
    use hookbox::sandbox::egress::MAX_TCP_CONNECTIONS;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream);
        }
    });
    let hook = TestHook::new(&format!(
        "import socket\n\
         held, refused = [], None\n\
         for attempt in range({}):\n\
         \x20   try:\n\
         \x20       held.append(socket.create_connection(('127.0.0.1', {port}), timeout=5))\n\
         \x20   except OSError as error:\n\
         \x20       refused = error\n\
         \x20       break\n\
         print(len(held), refused)\n",
        MAX_TCP_CONNECTIONS + 10
    ));
    let outcome = hook
        .run_allowing(&[&format!("tcp://127.0.0.1:{port}")])
        .await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .starts_with(&format!("{MAX_TCP_CONNECTIONS} ")),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains(&format!("more than {MAX_TCP_CONNECTIONS} TCP connections")),
        "{}",
        outcome.stdout
    );
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) <= MAX_TCP_CONNECTIONS);
    server.abort();
}

/// A hook that opens sockets without end stops at the run's resource cap,
/// as its own failure, and the next run is unaffected.
#[tokio::test]
async fn a_run_holds_at_most_the_cap_of_host_resources() {
    use hookbox::sandbox::MAX_RESOURCES;
    let hook = TestHook::new(&format!(
        "import socket\n\
         held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range({})]\n\
         print('held', len(held))\n",
        MAX_RESOURCES + 100
    ));
    let outcome = hook.run(&Limits::default()).await;
    assert_eq!(outcome.status, RunStatus::Failed, "{outcome:?}");
    assert!(!outcome.stdout.contains("held"), "{}", outcome.stdout);
    assert!(
        outcome
            .stderr
            .contains(&format!("{MAX_RESOURCES} host resources")),
        "{}",
        outcome.stderr
    );
    let next = run_source("print('fine')\n").await;
    assert_eq!(next.stdout, "fine\n", "{next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_looks_up_at_most_the_cap_of_names() {
    // Each lookup is a host call that may reach DNS, and its answer is kept
    // for the run: a hook looping on getaddrinfo is stopped at the cap.
    use hookbox::sandbox::egress::MAX_LOOKUPS;
    let hook = TestHook::new(&format!(
        "import socket\n\
         done, refused = 0, None\n\
         for attempt in range({}):\n\
         \x20   try:\n\
         \x20       socket.getaddrinfo('localhost', 9, type=socket.SOCK_STREAM)\n\
         \x20       done += 1\n\
         \x20   except OSError as error:\n\
         \x20       refused = error\n\
         \x20       break\n\
         print(done, refused)\n",
        MAX_LOOKUPS + 10
    ));
    let outcome = hook.run_allowing(&["http://localhost:9"]).await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert!(
        outcome.stdout.starts_with(&format!("{MAX_LOOKUPS} ")),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains(&format!("more than {MAX_LOOKUPS} names")),
        "{}",
        outcome.stdout
    );
}
