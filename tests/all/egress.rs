//! Egress: what an allowed request delivers, and every trick that must reach
//! nothing. Each case asserts what a real receiver on loopback got.

use std::time::{Duration, Instant};

use hookbox::record::RunStatus;
use hookbox::runtime::engine::EngineOptions;
use hookbox::runtime::{Runtime, RuntimeOptions};
use hookbox::sandbox::limits::Limits;

use crate::receiver::{Receiver, Reply, TestCa};
use crate::support::{SESSION_CLOSE, TestHook, cache_dir};
use hookbox::record::EgressScheme;

fn runtime_trusting(ca: &TestCa) -> Runtime {
    Runtime::load(&RuntimeOptions {
        guest: &hookbox::guest::GUEST,
        cache_dir: cache_dir(),
        engine: EngineOptions::default(),
        show_progress: false,
        ca_bundle: ca.ca_pem.clone().into_bytes(),
        ca_bundle_path: None,
    })
    .expect("runtime with the test CA")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_post_delivers_the_event_and_is_recorded() {
    let receiver = Receiver::http(Reply::Status(202, "queued")).await;
    let rule = format!("http://127.0.0.1:{}", receiver.port());
    let hook = TestHook::new(&format!(
        "import hookbox\n\
         e = hookbox.event()\n\
         r = hookbox.http.post('http://127.0.0.1:{}/events?source=hoop', json={{'sid': e.sid, 'event': e.name}}, headers={{'X-Token': 'abc'}})\n\
         print(r.status, r.text())\n",
        receiver.port()
    ));
    let outcome = hook.run_allowing(&[&rule]).await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert_eq!(outcome.stdout, "202 queued\n");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/events?source=hoop");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-token"), Some("abc"));
    assert_eq!(
        request.header("host"),
        Some(format!("127.0.0.1:{}", receiver.port()).as_str())
    );
    assert_eq!(
        request.body,
        br#"{"sid": "8c59a347-62bd-4db2-a456-2b25963dfebf", "event": "session-close"}"#
    );
    let attempt = &outcome.egress[0];
    assert!(attempt.allowed);
    assert_eq!(attempt.rule.as_deref(), Some(rule.as_str()));
    assert_eq!(attempt.scheme, EgressScheme::Http);
    assert_eq!(attempt.method.as_deref(), Some("POST"));
    assert_eq!(attempt.status, Some(202));
    assert_eq!(
        attempt.address.as_deref(),
        Some(receiver.addr.to_string().as_str())
    );
    assert_eq!(attempt.bytes_out, request.body.len() as u64);
    assert_eq!(attempt.bytes_in, 6);
    assert_eq!(
        attempt.url.as_deref(),
        Some(format!("http://127.0.0.1:{}/events", receiver.port()).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hoops_documented_example_runs_unmodified_over_https() {
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, "{\"ok\":true}"), &ca).await;
    // The example from Hoop's runbook-hooks page, with only the endpoint
    // pointed at the test's receiver.
    let example =
        include_str!("../../hooks-examples/hoop-documented/hoop-hooks/session-close.runbook.py")
            .replace(
                "https://your-siem.example.com/events",
                &format!("https://localhost:{}/events", receiver.port()),
            );
    let hook = TestHook::new(&example);
    let runtime = runtime_trusting(&ca);
    let rules = [
        format!("https://localhost:{}", receiver.port()),
        format!("https://127.0.0.1:{}", receiver.port()),
    ];
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let outcome = hook
        .run_on(&runtime, SESSION_CLOSE, &[], &Limits::default(), &rules)
        .await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .ends_with("Forwarded session 8c59a347-62bd-4db2-a456-2b25963dfebf to SIEM\n"),
        "{outcome:?}"
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(
        requests[0].body,
        SESSION_CLOSE.as_bytes(),
        "the exact payload bytes"
    );
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer <your-token>")
    );
    assert_eq!(outcome.egress[0].scheme, EgressScheme::Https);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_server_the_roots_do_not_trust_fails() {
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, "ok"), &ca).await;
    let hook = TestHook::new(&format!(
        "import hookbox\n\
         try:\n    hookbox.http.get('https://127.0.0.1:{}/')\n    print('TRUSTED')\n\
         except hookbox.http.HTTPError as e:\n    print('refused', e.code)\n",
        receiver.port()
    ));
    let rule = format!("https://127.0.0.1:{}", receiver.port());
    let outcome = hook.run_allowing(&[&rule]).await;
    assert_eq!(
        outcome.stdout, "refused TlsCertificateError\n",
        "{outcome:?}"
    );
    assert!(receiver.requests().is_empty());
}

/// Runs `source` under `rules` and checks that the receiver got nothing.
async fn assert_reaches_nothing(
    receiver: &Receiver,
    source: &str,
    rules: &[&str],
) -> hookbox::record::RunOutcome {
    let outcome = TestHook::new(source).run_allowing(rules).await;
    assert_eq!(
        receiver.connections(),
        0,
        "a connection reached the receiver: {outcome:?}"
    );
    assert!(outcome.egress.iter().any(|a| !a.allowed), "{outcome:?}");
    assert!(
        outcome.stderr.contains("hookbox: egress denied: "),
        "{}",
        outcome.stderr
    );
    outcome
}

fn try_get(url: &str) -> String {
    format!(
        "import hookbox\n\
         try:\n    hookbox.http.get('{url}')\n    print('REACHED')\n\
         except hookbox.http.EgressDenied as e:\n    print('denied:', e.reason)\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_hosts_ports_and_schemes_reach_nothing() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let port = receiver.port();
    let url = format!("http://127.0.0.1:{port}/");
    // No rule at all.
    assert_reaches_nothing(&receiver, &try_get(&url), &[]).await;
    // The right host on another port.
    let other_port = format!("http://127.0.0.1:{}", port.wrapping_add(1).max(1));
    assert_reaches_nothing(&receiver, &try_get(&url), &[&other_port]).await;
    // The right host and port, another scheme.
    let https_only = format!("https://127.0.0.1:{port}");
    let outcome = assert_reaches_nothing(&receiver, &try_get(&url), &[&https_only]).await;
    assert!(
        outcome
            .stdout
            .starts_with("denied: no egress rule allows http://127.0.0.1"),
        "{}",
        outcome.stdout
    );
    let tcp_only = format!("tcp://127.0.0.1:{port}");
    assert_reaches_nothing(&receiver, &try_get(&url), &[&tcp_only]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_rule_never_reaches_loopback() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let port = receiver.port();
    let rule = format!("http://localhost:{port}");
    let outcome = assert_reaches_nothing(
        &receiver,
        &try_get(&format!("http://localhost:{port}/")),
        &[&rule],
    )
    .await;
    assert!(
        outcome.stdout.contains("localhost resolves to"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("loopback"), "{}", outcome.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_spellings_of_loopback_reach_nothing_under_a_name_policy() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let port = receiver.port();
    for host in [
        "127.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "[::ffff:127.0.0.1]",
        "[::1]",
        "localhost",
    ] {
        let url = format!("http://{host}:{port}/");
        let outcome = assert_reaches_nothing(
            &receiver,
            &try_get(&url),
            &["*://*:*", "http://localhost:*"],
        )
        .await;
        assert!(
            outcome.stdout.starts_with("denied:"),
            "{host}: {}",
            outcome.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_metadata_is_refused_even_under_allow_all() {
    let outcome = TestHook::new(&try_get("http://169.254.169.254/latest/meta-data/"))
        .run_allowing(&["*://*:*"])
        .await;
    assert!(
        outcome
            .stdout
            .starts_with("denied: 169.254.169.254 is a link-local"),
        "{}",
        outcome.stdout
    );
    assert_eq!(outcome.egress.len(), 1);
    assert!(
        outcome.egress[0].address.is_none(),
        "nothing was connected to"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_an_unlisted_port_is_checked_again() {
    let target = Receiver::http(Reply::Status(200, "secret")).await;
    let redirector = Receiver::http(Reply::Redirect(format!(
        "http://127.0.0.1:{}/steal",
        target.port()
    )))
    .await;
    let source = format!(
        "import urllib.request, urllib.error\n\
         try:\n    urllib.request.urlopen('http://127.0.0.1:{}/start', timeout=5)\n    print('FOLLOWED')\n\
         except urllib.error.URLError as e:\n    print('stopped:', e.reason)\n",
        redirector.port()
    );
    let rule = format!("http://127.0.0.1:{}", redirector.port());
    let outcome = TestHook::new(&source).run_allowing(&[&rule]).await;
    assert!(
        outcome.stdout.starts_with("stopped: egress denied"),
        "{outcome:?}"
    );
    assert_eq!(redirector.requests().len(), 1);
    assert_eq!(target.connections(), 0);
    assert_eq!(outcome.egress.len(), 2);
    assert!(outcome.egress[0].allowed && outcome.egress[0].status == Some(302));
    assert!(!outcome.egress[1].allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_cannot_set_the_host_header() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let port = receiver.port();
    let source = format!(
        "import hookbox, urllib.request\n\
         try:\n    hookbox.http.get('http://127.0.0.1:{port}/a', headers={{'Host': 'internal.example'}})\n\
         except ValueError as e:\n    print('sdk:', e)\n\
         req = urllib.request.Request('http://127.0.0.1:{port}/b', headers={{'Host': 'internal.example'}})\n\
         print('urllib:', urllib.request.urlopen(req).status)\n"
    );
    let rule = format!("http://127.0.0.1:{port}");
    let outcome = TestHook::new(&source).run_allowing(&[&rule]).await;
    assert_eq!(
        outcome.stdout, "sdk: header not allowed: Forbidden\nurllib: 200\n",
        "{outcome:?}"
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("host"),
        Some(format!("127.0.0.1:{port}").as_str())
    );
}

/// Through the raw `wasi:http` bindings a hook names the authority itself:
/// user info there could make a front end upstream route by the name before
/// the `@` (a virtual-host hop), so it is refused; any other spelling of the
/// allowed host goes upstream as the one spelling that was checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_wasi_http_authority_cannot_name_another_virtual_host() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let port = receiver.port();
    let source = format!(
        "from hookbox._host import types, outgoing_handler\n\
         def get(authority, path):\n\
         \x20   request = types.OutgoingRequest(types.Fields.from_list([]))\n\
         \x20   request.set_authority(authority)\n\
         \x20   request.set_path_with_query(path)\n\
         \x20   request.set_scheme(types.Scheme_Http())\n\
         \x20   body = request.body()\n\
         \x20   future = outgoing_handler.handle(request, None)\n\
         \x20   types.OutgoingBody.finish(body, None)\n\
         \x20   while (response := future.get()) is None:\n\
         \x20       future.subscribe().block()\n\
         \x20   try:\n\
         \x20       with response.value.value as answer:\n\
         \x20           return answer.status()\n\
         \x20   except Exception as error:\n\
         \x20       return type(error).__name__\n\
         print(get('internal.example:80@127.0.0.1:{port}', '/hop'))\n\
         print(get('0x7f.1:{port}', '/spelled'))\n"
    );
    let rule = format!("http://127.0.0.1:{port}");
    let outcome = TestHook::new(&source).run_allowing(&[&rule]).await;
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{outcome:?}");
    assert_ne!(lines[0], "200", "{outcome:?}");
    assert_eq!(lines[1], "200", "{outcome:?}");
    assert!(outcome.stderr.contains("user info"), "{outcome:?}");
    assert!(!outcome.egress[0].allowed, "{:?}", outcome.egress);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "only the second request is sent");
    assert_eq!(requests[0].path, "/spelled");
    assert_eq!(
        requests[0].header("host"),
        Some(format!("127.0.0.1:{port}").as_str())
    );
}

/// A connection the other side closed on the hook (here the host, refusing
/// a body over the cap) fails the socket calls after it with `OSError`, as
/// under `python3`, instead of aborting the interpreter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_calls_on_a_connection_closed_under_the_hook_raise_oserror() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let port = receiver.port();
    let source = format!(
        "import socket\n\
         s = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n\
         request = b'POST / HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\nContent-Length: 99999999\\r\\n\\r\\n' + b'x' * 100000\n\
         for call in (lambda: s.sendall(request) or s.recv(100), s.getpeername, lambda: s.shutdown(socket.SHUT_RDWR), lambda: repr(s)):\n\
         \x20   try:\n\
         \x20       call()\n\
         \x20       print('ok')\n\
         \x20   except OSError as error:\n\
         \x20       print(type(error).__name__)\n\
         s.close()\n\
         print('end')\n"
    );
    let rule = format!("http://127.0.0.1:{port}");
    let outcome = TestHook::new(&source).run_allowing(&[&rule]).await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{outcome:?}");
    assert_ne!(
        lines[1], "ok",
        "getpeername on a closed connection: {outcome:?}"
    );
    assert_eq!(lines[3], "ok", "repr never fails: {outcome:?}");
    assert_eq!(lines[4], "end");
    assert!(receiver.requests().is_empty());
}

/// Under an HTTP rule the host connects to the destination when the hook's
/// socket connects: a connection that then carries no request reached the
/// destination all the same, and is recorded as an attempt of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_carries_no_request_is_recorded_too() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let port = receiver.port();
    let source = format!(
        "import socket, urllib.request\n\
         for _ in range(3):\n\
         \x20   socket.create_connection(('127.0.0.1', {port}), timeout=5).close()\n\
         print(urllib.request.urlopen('http://127.0.0.1:{port}/one').status)\n"
    );
    let rule = format!("http://127.0.0.1:{port}");
    let outcome = TestHook::new(&source).run_allowing(&[&rule]).await;
    assert_eq!(outcome.stdout, "200\n", "{outcome:?}");
    assert_eq!(outcome.egress.len(), 4, "{:?}", outcome.egress);
    let (silent, requests): (Vec<_>, Vec<_>) = outcome
        .egress
        .iter()
        .partition(|attempt| attempt.url.is_none());
    assert_eq!(
        (silent.len(), requests.len()),
        (3, 1),
        "{:?}",
        outcome.egress
    );
    for attempt in silent {
        assert!(attempt.allowed, "{attempt:?}");
        assert!(
            attempt
                .reason
                .as_deref()
                .is_some_and(|reason| reason.contains("sent no request")),
            "{attempt:?}"
        );
    }
    assert_eq!(receiver.requests().len(), 1);
}

/// Each request hands the host its options (the timeouts): they are
/// released with the request, so a run can make more requests than it may
/// hold resources at once (1,024), refused ones included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_a_timeout_hold_no_resource_after_they_end() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    let port = receiver.port();
    let source = format!(
        "import urllib.request\n\
         refused = 0\n\
         for _ in range(1100):\n\
         \x20   try:\n\
         \x20       urllib.request.urlopen('http://127.0.0.1:1/denied', timeout=5)\n\
         \x20   except OSError:\n\
         \x20       refused += 1\n\
         for _ in range(3):\n\
         \x20   with urllib.request.urlopen('http://127.0.0.1:{port}/allowed', timeout=5) as response:\n\
         \x20       status = response.status\n\
         print(refused, status)\n"
    );
    let rule = format!("http://127.0.0.1:{port}");
    let outcome = TestHook::new(&source).run_allowing(&[&rule]).await;
    assert_eq!(outcome.stdout, "1100 200\n", "{outcome:?}");
    assert_eq!(receiver.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_response_is_cut_at_the_cap() {
    let receiver = Receiver::http(Reply::Huge(100 * 1024 * 1024)).await;
    let source = format!(
        "import hookbox\n\
         try:\n    hookbox.http.get('http://127.0.0.1:{}/big')\n    print('READ ALL')\n\
         except hookbox.http.HTTPError as e:\n    print('cut:', e)\n",
        receiver.port()
    );
    let rule = format!("http://127.0.0.1:{}", receiver.port());
    let outcome = TestHook::new(&source).run_allowing(&[&rule]).await;
    assert!(outcome.stdout.starts_with("cut:"), "{outcome:?}");
    let limit = Limits::default().http_body_bytes;
    assert!(
        outcome.egress[0].bytes_in <= limit + 64 * 1024,
        "{:?}",
        outcome.egress[0]
    );
    assert!(outcome.peak_memory_bytes < 128 * 1024 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_that_never_ends_is_stopped_by_the_deadline() {
    let receiver = Receiver::http(Reply::Endless).await;
    let source = format!(
        "import hookbox\nhookbox.http.get('http://127.0.0.1:{}/slow')\n",
        receiver.port()
    );
    let rule = format!("http://127.0.0.1:{}", receiver.port());
    let limits = Limits {
        timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let started = Instant::now();
    let outcome = TestHook::new(&source)
        .run_on(
            crate::support::runtime(),
            SESSION_CLOSE,
            &[],
            &limits,
            &[&rule],
        )
        .await;
    assert_eq!(outcome.status, RunStatus::Timeout, "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_tcp_reaches_an_allowed_collector_only() {
    let (port, received) = collector().await;
    let source = format!(
        "import socket, hookbox\n\
         e = hookbox.event()\n\
         line = f'<110>1 2026-11-26T00:00:00Z hookbox hoop - session-close - sid={{e.sid}}\\n'\n\
         with socket.create_connection(('127.0.0.1', {port}), timeout=5) as s:\n    s.sendall(line.encode())\n\
         try:\n    socket.create_connection(('127.0.0.1', {other}), timeout=5)\n    print('OTHER PORT REACHED')\n\
         except OSError as e:\n    print('other port denied')\n",
        other = port.wrapping_add(1).max(1)
    );
    let rule = format!("tcp://127.0.0.1:{port}");
    let outcome = TestHook::new(&source).run_allowing(&[&rule]).await;
    assert_eq!(outcome.stdout, "other port denied\n", "{outcome:?}");
    let line = tokio::time::timeout(Duration::from_secs(5), received)
        .await
        .unwrap()
        .unwrap();
    let line_length = line.len() as u64;
    assert_eq!(
        String::from_utf8(line).unwrap(),
        "<110>1 2026-11-26T00:00:00Z hookbox hoop - session-close - sid=8c59a347-62bd-4db2-a456-2b25963dfebf\n"
    );
    // The relay counted what went through and names the destination.
    let allowed = outcome
        .egress
        .iter()
        .find(|a| a.scheme == EgressScheme::Tcp && a.allowed)
        .expect("the allowed connection is recorded");
    assert_eq!(allowed.bytes_out, line_length, "{allowed:?}");
    assert_eq!(allowed.url.as_deref(), Some(rule.as_str()));
    assert_eq!(allowed.address.as_deref(), Some(&rule["tcp://".len()..]));
    assert!(
        outcome
            .egress
            .iter()
            .any(|a| a.scheme == EgressScheme::Tcp && !a.allowed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_flags_hooks_use_work_and_insecure_is_refused() {
    let receiver = Receiver::http(Reply::Status(201, "created")).await;
    let port = receiver.port();
    let source = format!(
        "import subprocess\n\
         out = subprocess.check_output(['curl', '-sS', '--fail', '-X', 'PUT', 'http://127.0.0.1:{port}/e', '-H', 'Content-Type: text/plain', '--data-binary', 'line1', '-u', 'user:pw', '-w', ' %{{http_code}}', '-m', '5'], text=True)\n\
         print(out)\n\
         r = subprocess.run('curl -k https://127.0.0.1:{port}/', shell=True, capture_output=True, text=True)\n\
         print(r.returncode, r.stderr.strip())\n\
         p = subprocess.Popen(['curl', '-s', 'http://127.0.0.1:{port}/p'], stdout=subprocess.PIPE)\n\
         print(p.communicate()[0], p.returncode)\n"
    );
    let rule = format!("http://127.0.0.1:{port}");
    let outcome = TestHook::new(&source).run_allowing(&[&rule]).await;
    assert_eq!(
        outcome.stdout,
        "created 201\n2 curl: (2) -k/--insecure is refused in hookbox: TLS certificates are always verified\nb'created' 0\n",
        "{outcome:?}"
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "PUT");
    assert_eq!(requests[0].body, b"line1");
    assert_eq!(
        requests[0].header("authorization"),
        Some("Basic dXNlcjpwdw==")
    );
    assert_eq!(requests[1].method, "GET");
}

#[tokio::test]
async fn curl_refuses_numbers_it_cannot_use_as_usage_errors() {
    // Found by fuzz/curl_args.py: these raised ValueError out of the shim.
    let source = "import subprocess\n\
         for flags in (['--max-redirs', 'x'], ['-m', 'nan'], ['--connect-timeout', '-1']):\n\
         \x20   r = subprocess.run(['curl', *flags, 'http://127.0.0.1:9/'], capture_output=True, text=True)\n\
         \x20   print(r.returncode, r.stderr.strip())\n";
    let outcome = TestHook::new(source).run_allowing(&[]).await;
    assert_eq!(
        outcome.stdout,
        "2 curl: (2) option --max-redirs: expected a proper numerical parameter, got 'x'\n\
         2 curl: (2) option -m: expected a number of seconds, got 'nan'\n\
         2 curl: (2) option --connect-timeout: expected a number of seconds, got '-1'\n",
        "{outcome:?}"
    );
    assert!(outcome.egress.is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_fail_turns_an_http_error_into_exit_22() {
    let receiver = Receiver::http(Reply::Status(503, "down")).await;
    let source = format!(
        "import subprocess\n\
         subprocess.run(['curl', '-s', '-f', '-d', 'x', 'http://127.0.0.1:{}/'], check=True)\n",
        receiver.port()
    );
    let rule = format!("http://127.0.0.1:{}", receiver.port());
    let outcome = TestHook::new(&source).run_allowing(&[&rule]).await;
    assert_eq!(outcome.exit_code, Some(1));
    assert!(
        outcome.stderr.contains("CalledProcessError"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("returned non-zero exit status 22"),
        "{}",
        outcome.stderr
    );
}

/// A TCP collector that returns what the first connection sent.
async fn collector() -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await.unwrap();
        received
    });
    (port, task)
}

fn send_line_to(host: &str, port: u16) -> String {
    format!(
        "import socket\n\
         try:\n\
         \x20   with socket.create_connection(('{host}', {port}), timeout=5) as s:\n\
         \x20       s.sendall(b'<110>1 - hookbox - - - - hello\\n')\n\
         \x20   print('sent')\n\
         except OSError as e:\n\
         \x20   print('refused:', e)\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_rule_name_is_looked_up_in_the_host() {
    let (port, received) = collector().await;
    // The name resolves to loopback, which only the CIDR rule may reach.
    let name_rule = format!("tcp://localhost:{port}");
    let cidr_rule = format!("tcp://127.0.0.0/8:{port}");
    let outcome = TestHook::new(&send_line_to("localhost", port))
        .run_allowing(&[&name_rule, &cidr_rule])
        .await;
    assert_eq!(outcome.stdout, "sent\n", "{outcome:?}");
    let line = tokio::time::timeout(Duration::from_secs(5), received)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line, b"<110>1 - hookbox - - - - hello\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_name_rule_alone_never_reaches_loopback() {
    let (port, received) = collector().await;
    let name_rule = format!("tcp://localhost:{port}");
    let outcome = TestHook::new(&send_line_to("localhost", port))
        .run_allowing(&[&name_rule])
        .await;
    assert!(outcome.stdout.starts_with("refused:"), "{outcome:?}");
    assert!(outcome.stderr.contains("loopback"), "{}", outcome.stderr);
    received.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_no_rule_mentions_are_not_looked_up() {
    // A lookup alone can carry data out (in the name), so only the names
    // the operator's rules name are looked up.
    let outcome = TestHook::new(&send_line_to("exfil.example.com", 514))
        .run_allowing(&["tcp://10.1.2.3:514", "https://siem.example.com"])
        .await;
    assert!(outcome.stdout.starts_with("refused:"), "{outcome:?}");
    assert!(
        outcome.stdout.contains("no rule names exfil.example.com"),
        "{}",
        outcome.stdout
    );
    assert_eq!(outcome.egress[0].scheme, EgressScheme::Dns);
    assert!(!outcome.egress[0].allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sockets_with_no_rule_at_all_are_refused_recorded_and_explained() {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let port = tcp.local_addr().unwrap().port();
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let source = format!(
        "import socket\n\
         def tcp():\n    socket.create_connection(('127.0.0.1', {port}), timeout=5)\n\
         def udp():\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {udp_port}))\n\
         for attempt in (tcp, udp):\n\
         \x20   try:\n\
         \x20       attempt()\n\
         \x20       print('SENT')\n\
         \x20   except PermissionError as error:\n\
         \x20       print(error.strerror)\n"
    );
    let outcome = TestHook::new(&source).run_allowing(&[]).await;
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{outcome:?}");
    assert!(
        lines[0].starts_with(&format!("egress denied: tcp://127.0.0.1:{port}: ")),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!("egress denied: udp://127.0.0.1:{udp_port}: ")),
        "{}",
        lines[1]
    );
    let refused: Vec<&str> = outcome
        .egress
        .iter()
        .filter(|attempt| !attempt.allowed)
        .map(|attempt| attempt.scheme.as_str())
        .collect();
    assert_eq!(refused, ["tcp", "udp"], "{:?}", outcome.egress);
    assert_eq!(
        outcome.stderr.matches("hookbox: egress denied: ").count(),
        2,
        "{}",
        outcome.stderr
    );
    // Nothing arrived: a connection or a datagram would be queued by now
    // (loopback delivers before the sender's call returns).
    assert_eq!(
        tcp.accept().err().map(|e| e.kind()),
        Some(std::io::ErrorKind::WouldBlock)
    );
    let mut buffer = [0u8; 16];
    assert!(udp.try_recv(&mut buffer).is_err());
}
