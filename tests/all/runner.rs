//! The Python runner: how a hook is executed and how it exits.

use hookbox::record::RunStatus;
use hookbox::sandbox::limits::Limits;

use crate::support::{SESSION_CLOSE, TestHook, run_source};

#[tokio::test]
async fn hook_reads_the_payload_and_prints() {
    let outcome = run_source(
        "import json, os\n\
         event = json.loads(os.environ['HOOP_RUNBOOK_HOOK_PAYLOAD'])\n\
         print('closed', event['sid'], event['event_session_close']['exit_code'])\n",
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(
        outcome.stdout,
        "closed 8c59a347-62bd-4db2-a456-2b25963dfebf 0\n"
    );
    assert_eq!(outcome.stderr, "");
    assert!(outcome.fuel_consumed > 0);
    assert!(outcome.peak_memory_bytes > 0);
    assert!(outcome.egress.is_empty());
}

#[tokio::test]
async fn payload_arrives_byte_for_byte() {
    let hook = TestHook::new(
        "import os, sys\nsys.stdout.write(os.environ['HOOP_RUNBOOK_HOOK_PAYLOAD'])\n",
    );
    // A payload without connection secrets reaches the hook unchanged.
    let outcome = hook.run_with(SESSION_CLOSE, &[], &Limits::default()).await;
    assert_eq!(outcome.stdout, SESSION_CLOSE);
}

#[tokio::test]
async fn hook_runs_as_main_with_its_file_and_argv() {
    let outcome = run_source(
        "import sys\n\
         print(__name__, __file__, sys.argv)\n\
         if __name__ == '__main__':\n    print('main block ran')\n",
    )
    .await;
    assert_eq!(
        outcome.stdout,
        "__main__ /hook/session-close.runbook.py ['/hook/session-close.runbook.py']\nmain block ran\n"
    );
}

#[tokio::test]
async fn helper_module_next_to_the_hook_is_importable() {
    let hook = TestHook::new("import helpers\nprint(helpers.greet('hoop'))\n").with_file(
        "helpers.py",
        "def greet(name):\n    return 'hello ' + name\n",
    );
    let outcome = hook.run(&Limits::default()).await;
    assert_eq!(outcome.stdout, "hello hoop\n", "{outcome:?}");
}

#[tokio::test]
async fn the_hook_directory_comes_first_on_sys_path() {
    // A file named like a standard module next to the hook wins, as with python3.
    let hook = TestHook::new("import sys, colorsys\nprint(sys.path[0], colorsys.MARK)\n")
        .with_file("colorsys.py", "MARK = 'local colorsys'\n");
    let outcome = hook.run(&Limits::default()).await;
    assert_eq!(outcome.stdout, "/hook local colorsys\n", "{outcome:?}");
}

#[tokio::test]
async fn standard_library_modules_import_at_run_time() {
    let outcome = run_source(
        "import csv, io, email.utils, gzip, textwrap, zoneinfo, statistics, xml.etree.ElementTree as ET\n\
         out = io.StringIO()\n\
         csv.writer(out).writerow(['a', 'b'])\n\
         print(out.getvalue().strip(), statistics.mean([1, 2, 3]), ET.fromstring('<a>x</a>').text)\n",
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert_eq!(outcome.stdout, "a,b 2 x\n");
}

#[tokio::test]
async fn common_modules_are_preloaded() {
    let outcome = run_source(
        "import sys\n\
         wanted = ['json', 'os', 'time', 'datetime', 'base64', 'hashlib', 'hmac', 'uuid', 're', 'urllib.parse', 'logging']\n\
         print([m for m in wanted if m not in sys.modules])\n",
    )
    .await;
    assert_eq!(outcome.stdout, "[]\n", "{outcome:?}");
}

#[tokio::test]
async fn sys_exit_code_becomes_the_exit_code() {
    let outcome = run_source("import sys\nprint('bye')\nsys.exit(3)\n").await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.exit_code, Some(3));
    assert_eq!(outcome.stdout, "bye\n");

    let outcome = run_source("import sys\nsys.exit(0)\n").await;
    assert_eq!(outcome.status, RunStatus::Ok);
    assert_eq!(outcome.exit_code, Some(0));

    let outcome = run_source("raise SystemExit('fatal: no endpoint')\n").await;
    assert_eq!(outcome.exit_code, Some(1));
    assert_eq!(outcome.stderr, "fatal: no endpoint\n");

    // The low byte, of a C long long as python3 reads it (-1 when the
    // code does not fit in one).
    for (code, expected) in [
        ("263", 7),
        ("-1", 255),
        ("2**40 + 3", 3),
        ("2**100 + 3", 255),
        ("-(2**70)", 255),
    ] {
        let outcome = run_source(&format!("import sys\nsys.exit({code})\n")).await;
        assert_eq!(outcome.exit_code, Some(expected), "sys.exit({code})");
    }
}

#[tokio::test]
async fn uncaught_exception_is_exit_1_with_a_traceback() {
    let outcome = run_source("def send():\n    raise ValueError('SIEM said no')\n\nsend()\n").await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.exit_code, Some(1));
    assert!(
        outcome
            .stderr
            .starts_with("Traceback (most recent call last):\n"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("File \"/hook/session-close.runbook.py\", line 4")
    );
    assert!(
        outcome.stderr.ends_with("ValueError: SIEM said no\n"),
        "{}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("hookbox_runner"),
        "runner frames leak: {}",
        outcome.stderr
    );
}

#[tokio::test]
async fn syntax_error_is_reported_like_python() {
    let outcome = run_source("print('ok')\ndef broken(:\n    pass\n").await;
    assert_eq!(outcome.exit_code, Some(1));
    assert!(outcome.stdout.is_empty(), "nothing ran: {outcome:?}");
    assert!(outcome.stderr.contains("line 2"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("SyntaxError"), "{}", outcome.stderr);
}

#[tokio::test]
async fn each_run_starts_from_a_fresh_instance() {
    let source = "import json\n\
                  json.leaked = getattr(json, 'leaked', 0) + 1\n\
                  print(json.leaked)\n";
    let hook = TestHook::new(source);
    for _ in 0..3 {
        assert_eq!(hook.run(&Limits::default()).await.stdout, "1\n");
    }
}

#[tokio::test]
async fn random_numbers_differ_between_runs() {
    let hook = TestHook::new("import random, uuid\nprint(random.random(), uuid.uuid4())\n");
    let first = hook.run(&Limits::default()).await.stdout;
    let second = hook.run(&Limits::default()).await.stdout;
    assert_ne!(first, second);
}

#[tokio::test]
async fn operator_listed_variables_reach_the_hook() {
    let hook = TestHook::new("import os\nprint(os.environ.get('SIEM_REGION'))\n");
    let env = [("SIEM_REGION".to_string(), "eu-west-1".to_string())];
    let outcome = hook.run_with(SESSION_CLOSE, &env, &Limits::default()).await;
    assert_eq!(outcome.stdout, "eu-west-1\n");
}

#[tokio::test]
async fn tracebacks_through_the_sdk_show_its_source_lines() {
    let outcome = run_source("import hookbox\nhookbox.http.post('ftp://example.com/')\n").await;
    assert_eq!(outcome.exit_code, Some(1));
    assert!(
        outcome
            .stderr
            .contains("raise ValueError(f\"unsupported URL scheme"),
        "{}",
        outcome.stderr
    );
}

#[tokio::test]
async fn the_process_and_machine_a_hook_asks_about_are_the_sandboxes() {
    let outcome = run_source(
        "import getpass, os, platform, signal, socket, time\n\
         print(socket.gethostname(), platform.node(), os.uname().nodename)\n\
         print(getpass.getuser(), os.cpu_count())\n\
         print(signal.alarm(30), signal.alarm(0))\n\
         time.sleep(0.001)\n",
    )
    .await;
    assert_eq!(
        outcome.stdout, "hookbox hookbox hookbox\nhookbox 1\n0 30\n",
        "{outcome:?}"
    );
    let user = TestHook::new("import getpass\nprint(getpass.getuser())\n")
        .run_with(
            SESSION_CLOSE,
            &[("USER".to_owned(), "hoop".to_owned())],
            &Limits::default(),
        )
        .await;
    assert_eq!(user.stdout, "hoop\n", "{user:?}");
}

#[tokio::test]
async fn a_hook_that_breaks_what_reports_its_end_still_ends_with_its_own_code() {
    // Each ends as under python3, with the hook's code, never as a fault
    // of the sandbox.
    for (source, code) in [
        (
            "e = FileNotFoundError(2, 'x', '/etc/nowhere')\ne.__notes__ = 5\nraise e\n",
            1,
        ),
        (
            "import sys\nclass Bad:\n    __str__ = lambda self: 1 / 0\nsys.exit(Bad())\n",
            1,
        ),
        ("import sys\nsys.modules['__main__'] = 5\n", 0),
        (
            "import traceback\ntraceback.print_exception = None\nraise ValueError('x')\n",
            1,
        ),
        (
            "import builtins, sys\nbuiltins.print = None\nsys.exit('msg')\n",
            1,
        ),
        // A threading exit hook cannot turn a failed run into a success.
        (
            "import sys, threading\nthreading._register_atexit(sys.exit, 0)\nraise ValueError('x')\n",
            1,
        ),
    ] {
        let outcome = run_source(source).await;
        let status = if code == 0 {
            RunStatus::Ok
        } else {
            RunStatus::Failed
        };
        assert_eq!(outcome.status, status, "{source}: {outcome:?}");
        assert_eq!(outcome.exit_code, Some(code), "{source}: {outcome:?}");
    }
}
