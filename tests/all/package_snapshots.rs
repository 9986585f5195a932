//! Packages installed next to a hook (a `*.dist-info` record beside them, as
//! `pip install --target` leaves them) are imported once per version into a
//! snapshot of the runner, so a run starts with them imported; a package
//! that uses the system when imported, or reads what differs between runs,
//! is refused a snapshot and imported on every run, as before.

use std::path::Path;
use std::time::Duration;

use hookbox::record::RunStatus;
use hookbox::runtime::PackagesSnapshot;
use hookbox::sandbox::limits::Limits;
use hookbox::source::HookFile;

use hookbox_testkit::poll::poll_until_blocking;

use crate::compat::{Case, allow_trusting};
use crate::receiver::{Receiver, Reply, TestCa};
use crate::support::{REQUESTS, TestHook, cache_dir, hookbox, install_packages, runtime};

/// Installs a one-module package `name` whose `__init__.py` is `source`,
/// with the record pip leaves.
fn install_package(dir: &Path, name: &str, source: &str) {
    std::fs::create_dir_all(dir.join(name)).unwrap();
    std::fs::write(dir.join(name).join("__init__.py"), source).unwrap();
    let record = dir.join(format!("{name}-1.0.dist-info"));
    std::fs::create_dir_all(&record).unwrap();
    std::fs::write(
        record.join("RECORD"),
        format!("{name}/__init__.py,sha256=x,1\n{name}-1.0.dist-info/RECORD,,\n"),
    )
    .unwrap();
}

async fn prepare(hook: &TestHook, limits: &Limits) -> PackagesSnapshot {
    let file = HookFile::open(&hook.path).unwrap();
    runtime().prepare_hook(&file, limits).await.snapshot
}

/// Says, first thing, whether `module` was imported before the hook ran.
fn reports_preloaded(module: &str, rest: &str) -> String {
    format!("import sys\nprint('preloaded:', {module:?} in sys.modules)\n{rest}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_is_imported_once_into_a_snapshot_and_posts_as_under_python3() {
    let ca = TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, "{\"text\":\"Success\"}"), &ca).await;
    let source = r#"
import json, os, sys
print("preloaded:", "requests" in sys.modules, file=sys.stderr)
import requests
if "SIEM_URL" in os.environ:
    response = requests.post(
        os.environ["SIEM_URL"],
        json={"sid": json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])["sid"]},
        timeout=5,
        verify="ca.pem",
    )
    print(response.status_code, response.json())
"#;
    let hook = TestHook::new(source).with_file("ca.pem", &ca.ca_pem);
    install_packages(hook.dir.path(), REQUESTS);
    let before = hook.run(&Limits::default()).await;
    assert_eq!(before.stderr, "preloaded: False\n", "{before:?}");

    let made = prepare(&hook, &Limits::default()).await;
    let PackagesSnapshot::Made {
        imported,
        imported_when_called,
        left_out,
    } = made
    else {
        panic!("{made:?}");
    };
    assert!(left_out.is_empty(), "{left_out:?}");
    // `requests` imports `netrc` whenever it looks for credentials.
    assert_eq!(imported_when_called, ["netrc"]);
    assert_eq!(
        imported,
        [
            "certifi",
            "charset_normalizer",
            "idna",
            "requests",
            "urllib3"
        ]
    );
    assert!(matches!(
        prepare(&hook, &Limits::default()).await,
        PackagesSnapshot::Ready
    ));

    let url = format!("https://127.0.0.1:{}", receiver.port());
    let case = Case {
        hook: &hook,
        env: vec![("SIEM_URL", url.clone())],
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
    assert_eq!(
        String::from_utf8_lossy(&python.stderr),
        "preloaded: False\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&sandboxed.stderr),
        "preloaded: True\n"
    );
    assert_eq!(receiver.requests().len(), 2);

    // In-process too, and the import costs nothing any more.
    let after = hook.run(&Limits::default()).await;
    assert_eq!(after.stderr, "preloaded: True\n", "{after:?}");
    assert!(
        after.fuel_consumed * 20 < before.fuel_consumed,
        "{} then {}",
        before.fuel_consumed,
        after.fuel_consumed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_hook_keeps_the_snapshot_and_changing_a_package_makes_a_new_one() {
    let hook = TestHook::new(&reports_preloaded(
        "siemfmt",
        "import siemfmt\nprint(siemfmt.VERSION)\n",
    ));
    install_package(hook.dir.path(), "siemfmt", "VERSION = 'v1'\n");
    assert!(matches!(
        prepare(&hook, &Limits::default()).await,
        PackagesSnapshot::Made { .. }
    ));
    let run = hook.run(&Limits::default()).await;
    assert_eq!(run.stdout, "preloaded: True\nv1\n", "{run:?}");

    std::fs::write(
        &hook.path,
        reports_preloaded(
            "siemfmt",
            "import siemfmt\nprint('edited', siemfmt.VERSION)\n",
        ),
    )
    .unwrap();
    let run = hook.run(&Limits::default()).await;
    assert_eq!(run.stdout, "preloaded: True\nedited v1\n", "{run:?}");

    // The package's new version is imported on each run until its own
    // snapshot is made; the old one is never used for it.
    std::fs::write(
        hook.dir.path().join("siemfmt/__init__.py"),
        "VERSION = 'v2'\n",
    )
    .unwrap();
    let run = hook.run(&Limits::default()).await;
    assert_eq!(run.stdout, "preloaded: False\nedited v2\n", "{run:?}");
    assert!(runtime().packages_snapshot_wanted(&HookFile::open(&hook.path).unwrap()));
    assert!(matches!(
        prepare(&hook, &Limits::default()).await,
        PackagesSnapshot::Made { .. }
    ));
    let run = hook.run(&Limits::default()).await;
    assert_eq!(run.stdout, "preloaded: True\nedited v2\n", "{run:?}");
}

/// A package doing `source` when imported is refused a snapshot with a
/// reason containing `reason`, and still imports on every run, where the
/// hook prints what it holds.
async fn refused(source: &str, reason: &str) -> (TestHook, String) {
    let hook = TestHook::new(&reports_preloaded(
        "sneaky",
        "import sneaky\nprint(sneaky.SEEN)\n",
    ));
    install_package(hook.dir.path(), "sneaky", source);
    let made = prepare(&hook, &Limits::default()).await;
    let PackagesSnapshot::Refused(why) = made else {
        panic!("{source}: {made:?}");
    };
    assert!(why.contains(reason), "{source}: {why}");
    // Remembered for this version: not tried again on the next runs.
    let file = HookFile::open(&hook.path).unwrap();
    assert!(!runtime().packages_snapshot_wanted(&file), "{source}");
    assert!(matches!(
        prepare(&hook, &Limits::default()).await,
        PackagesSnapshot::Refused(again) if again == why
    ));
    (hook, why)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_differs_between_runs_is_never_frozen_into_a_snapshot() {
    // The environment: each run's own value, not the snapshot's.
    let (hook, _) = refused(
        "import os\nSEEN = os.environ.get('SIEM_TOKEN')\n",
        "reads the environment",
    )
    .await;
    for token in ["first", "second"] {
        let env = [("SIEM_TOKEN".to_owned(), token.to_owned())];
        let run = hook
            .run_with(crate::support::SESSION_CLOSE, &env, &Limits::default())
            .await;
        assert_eq!(
            run.stdout,
            format!("preloaded: False\n{token}\n"),
            "{run:?}"
        );
    }

    // Random bytes drawn at import: a secret every run would share.
    let (hook, why) = refused(
        "import os\nSEEN = os.urandom(16).hex()\n",
        "a package draws random bytes when imported",
    )
    .await;
    assert!(!why.contains("wasm backtrace"), "said in one line: {why}");
    let first = hook.run(&Limits::default()).await;
    let second = hook.run(&Limits::default()).await;
    assert_eq!(first.status, RunStatus::Ok, "{first:?}");
    assert_ne!(first.stdout, second.stdout, "{why}");

    // Numbers drawn from `random` (seeded for this step), or its seeding
    // turned off before each run reseeds it: every run would repeat them.
    for (source, reason) in [
        (
            "import random\nSEEN = random.getrandbits(64)\n",
            "draws random numbers",
        ),
        (
            "import random\nrandom.seed = lambda *a, **k: None\nSEEN = 0\n",
            "changes random.seed",
        ),
        (
            "import sys\nsys.modules['hookbox_runner']._reset_process_state = lambda *a: None\nSEEN = 0\n",
            "changes the runner._reset_process_state",
        ),
    ] {
        let (hook, _) = refused(source, reason).await;
        let run = hook.run(&Limits::default()).await;
        assert_eq!(run.status, RunStatus::Ok, "{source}: {run:?}");
    }

    // The clock, output and files: WASI is not there while importing.
    for (source, called) in [
        ("import time\nSEEN = time.time() > 0\n", "reads the clock"),
        ("print('hello from import')\nSEEN = 1\n", "prints"),
        (
            "SEEN = open('/hook/sneaky/data.txt').read()\n",
            "reads or opens a file",
        ),
    ] {
        let (hook, why) = refused(source, called).await;
        assert!(why.contains("sneaky/__init__"), "names the module: {why}");
        std::fs::write(hook.dir.path().join("sneaky/data.txt"), "data").unwrap();
        let run = hook.run(&Limits::default()).await;
        assert_eq!(run.status, RunStatus::Ok, "{source}: {run:?}");
        assert!(run.stdout.starts_with("preloaded: False\n"), "{run:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_cannot_reach_out_keep_a_fake_socket_or_read_a_hook_while_imported() {
    let receiver = Receiver::http(Reply::Status(200, "ok")).await;
    refused(
        &format!(
            "import socket\ns = socket.socket()\ntry:\n    s.connect(('127.0.0.1', {}))\nexcept OSError:\n    pass\nSEEN = 1\n",
            receiver.port()
        ),
        "reaches the network",
    )
    .await;
    refused(
        "from socket import socket\nSEEN = socket\n",
        "keeps socket.socket",
    )
    .await;
    // The hooks are left out of a snapshot's key, so none may be read,
    // nor their bytecode, even through the host's own interface.
    refused(
        "import importlib.util\n\
         spec = importlib.util.spec_from_file_location('h', '/hook/session-close.runbook.py')\n\
         spec.loader.exec_module(importlib.util.module_from_spec(spec))\nSEEN = 1\n",
        "FileNotFoundError",
    )
    .await;
    refused(
        "import sys\nfrom hookbox import _host\n\
         found = [_host.preload_read(f'/hook-bytecode/hook/__pycache__/session-close.runbook.{sys.implementation.cache_tag}.pyc'), _host.preload_read('/hook/session-close.runbook.py')]\n\
         assert found == [None, None], found\nSEEN = 1\nimport time\ntime.time()\n",
        "wasi:clocks",
    )
    .await;
    refused(
        "import socket\nSEEN = socket.getaddrinfo('localhost', 80)\n",
        "looks up a name or opens a connection when imported",
    )
    .await;
    assert!(receiver.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_that_never_ends_is_held_to_the_limits_and_runs_go_on() {
    let hook = TestHook::new(&reports_preloaded("spin", "print('not reached')\n"));
    install_package(hook.dir.path(), "spin", "while True:\n    pass\n");
    let limits = Limits {
        fuel: 2_000_000_000,
        ..Limits::default()
    };
    let made = prepare(&hook, &limits).await;
    assert!(
        matches!(&made, PackagesSnapshot::Refused(why) if why.contains("spin: a package ran out of fuel while imported")),
        "{made:?}"
    );
    let run = hook.run(&Limits::default()).await;
    assert_eq!(run.stdout, "preloaded: False\nnot reached\n", "{run:?}");
}

/// `hookbox test` leaves the repository's packages to be imported into a
/// snapshot in the background, as a one-shot run does: a later pass starts
/// with them imported.
#[test]
fn hookbox_test_prepares_the_packages_in_the_background() {
    let repo = tempfile::tempdir().unwrap();
    let hooks = repo.path().join("hoop-hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(
        hooks.join("session-open.runbook.py"),
        reports_preloaded("siemfmt", "import siemfmt\nprint(siemfmt.VERSION)\n"),
    )
    .unwrap();
    install_package(&hooks, "siemfmt", "VERSION = 'under test'\n");
    let pass = || {
        let output = hookbox()
            .env_remove("HOOKBOX_PREPARE_IN_BACKGROUND")
            .args(["test", "--json"])
            .arg(repo.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        report["cases"][0]["outcome"]["stdout"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(pass(), "preloaded: False\nunder test\n");
    until_preloaded(pass, "preloaded: True\nunder test\n");
}

#[test]
fn a_one_shot_run_prepares_a_new_version_in_the_background() {
    let hook = TestHook::new(&reports_preloaded(
        "siemfmt",
        "import siemfmt\nprint(siemfmt.VERSION)\n",
    ));
    install_package(hook.dir.path(), "siemfmt", "VERSION = 'bg'\n");
    let payload = hook.dir.path().join("payload.json");
    std::fs::write(&payload, crate::support::SESSION_OPEN).unwrap();
    let run = || {
        let output = hookbox()
            .env_remove("HOOKBOX_PREPARE_IN_BACKGROUND")
            .arg("run")
            .arg(&hook.path)
            .arg("--payload")
            .arg(&payload)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(run(), "preloaded: False\nbg\n");
    until_preloaded(run, "preloaded: True\nbg\n");
}

/// Runs `run` again until it prints `preloaded` (the snapshot made in the
/// background is used), for at most 300 s.
fn until_preloaded(run: impl Fn() -> String, preloaded: &str) {
    let mut seen = Vec::new();
    let last = poll_until_blocking(
        Duration::from_secs(300),
        Duration::from_millis(500),
        || {
            let output = run();
            seen.push(output.clone());
            output
        },
        |output| output == preloaded,
    );
    assert!(
        last == preloaded,
        "no snapshot within 300 s (cache {}): {seen:?}",
        cache_dir().display()
    );
}

/// Installs `package` (its `__init__.py` is `source`) and `siemfmt` beside
/// `hook`, snapshots them, and returns why `package` was left out, the only
/// one left out.
async fn left_out_beside_siemfmt(hook: &TestHook, package: &str, source: &str) -> String {
    install_package(hook.dir.path(), package, source);
    install_package(hook.dir.path(), "siemfmt", "VERSION = 'kept'\n");
    let made = prepare(hook, &Limits::default()).await;
    let PackagesSnapshot::Made {
        imported, left_out, ..
    } = made
    else {
        panic!("{made:?}");
    };
    assert_eq!(imported, ["siemfmt"]);
    let [why] = &left_out[..] else {
        panic!("{left_out:?}");
    };
    why.clone()
}

/// What a package's functions import from the standard library is in the
/// snapshot too, but a module that uses the system when imported (the
/// standard library's `_ios_support` prints without `ctypes`), and one the
/// hook's folder has its own of, which a run imports instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_packages_functions_import_from_the_standard_library_is_imported_once_too() {
    let hook = TestHook::new(&reports_preloaded(
        "colorsys",
        "print(sorted(m for m in ('_ios_support', 'netrc') if m in sys.modules))\n\
         import shades\nprint(shades.shade(), shades.mine().SHADOW)\n",
    ))
    .with_file("netrc.py", "SHADOW = 'the folder'\n");
    install_package(
        hook.dir.path(),
        "shades",
        "def shade():\n    import colorsys\n    return colorsys.rgb_to_hsv(1.0, 0.0, 0.0)\n\
         def ios():\n    import _ios_support\n\
         def mine():\n    import netrc\n    return netrc\n",
    );
    let made = prepare(&hook, &Limits::default()).await;
    let PackagesSnapshot::Made {
        imported,
        imported_when_called,
        left_out,
    } = made
    else {
        panic!("{made:?}");
    };
    assert_eq!(
        (imported, imported_when_called),
        (vec!["shades".to_owned()], vec!["colorsys".to_owned()])
    );
    let [why] = &left_out[..] else {
        panic!("{left_out:?}");
    };
    assert!(
        why.starts_with("_ios_support: prints (or reads its input) when imported"),
        "{why}"
    );
    let run = hook.run(&Limits::default()).await;
    assert_eq!(
        run.stdout, "preloaded: True\n[]\n(0.0, 1.0, 1.0) the folder\n",
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_that_cannot_be_snapshotted_is_left_out_and_the_others_kept() {
    let hook = TestHook::new(
        "import sys\nprint(sorted(m for m in ('chatty', 'siemfmt') if m in sys.modules))\n\
         import chatty, siemfmt\nprint(siemfmt.VERSION)\n",
    );
    let why = left_out_beside_siemfmt(&hook, "chatty", "print('chatty imported')\n").await;
    assert!(
        why.starts_with("chatty: prints (or reads its input) when imported"),
        "{why}"
    );
    let run = hook.run(&Limits::default()).await;
    assert_eq!(
        run.stdout, "['siemfmt']\nchatty imported\nkept\n",
        "{run:?}"
    );
}

/// A package that replaces what the standard library holds when imported
/// (`marshal.dumps`, which the runner hands the host the hook's compiled
/// code with, to plant other code for the hook) is left out: in the
/// snapshot it would change every hook of the folder, even one that never
/// imports it. Each run of the hook then runs its own source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_that_patches_the_standard_library_is_left_out_and_plants_nothing() {
    let hook = TestHook::new(
        "import json, sys\nprint('own code', json.dumps(1), 'planter' in sys.modules)\n",
    );
    let why = left_out_beside_siemfmt(
        &hook,
        "planter",
        "import json, marshal\n\
         planted = marshal.dumps(compile(\"print('PLANTED')\", '/hook/session-close.runbook.py', 'exec'))\n\
         marshal.dumps = lambda *args: planted\n\
         json.dumps = lambda *args, **kwargs: 'POISONED'\n",
    )
    .await;
    assert!(
        why.starts_with(
            "planter: replaces or adds marshal.dumps of the standard library when imported"
        ),
        "{why}"
    );
    for _ in 0..3 {
        let run = hook.run(&Limits::default()).await;
        assert_eq!(run.stdout, "own code 1 False\n", "{run:?}");
    }
}

/// A snapshot starts with the memory its packages' imports left: a run
/// whose memory limit that does not fit in runs on the shipped runner and
/// imports what it imports itself, as under `python3`, instead of being
/// refused before it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_bigger_than_a_runs_memory_limit_is_not_used_for_that_run() {
    let hook = TestHook::new(&reports_preloaded("fat", "print('ran')\n"));
    install_package(
        hook.dir.path(),
        "fat",
        "HELD = bytearray(70 * 1024 * 1024)\n",
    );
    let made = prepare(&hook, &Limits::default()).await;
    assert!(
        matches!(&made, PackagesSnapshot::Made { imported, .. } if imported == &["fat"]),
        "{made:?}"
    );
    let roomy = hook.run(&Limits::default()).await;
    assert_eq!(roomy.stdout, "preloaded: True\nran\n", "{roomy:?}");
    let tight = Limits {
        memory_bytes: 64 * 1024 * 1024,
        ..Limits::default()
    };
    let run = hook.run(&tight).await;
    assert_eq!(run.status, RunStatus::Ok, "{run:?}");
    assert_eq!(run.stdout, "preloaded: False\nran\n", "{run:?}");
}

/// A package whose source does not compile is left out for that (the
/// parser rereading the file for the error's line is not the package
/// reading a file), and fails each run with a `SyntaxError` as under
/// `python3`, the packages beside it kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_that_does_not_compile_is_named_for_it_and_fails_as_under_python3() {
    let hook = TestHook::new("import siemfmt\nprint(siemfmt.VERSION, flush=True)\nimport broken\n");
    let why = left_out_beside_siemfmt(&hook, "broken", "def f(:\n    pass\n").await;
    assert!(
        why.starts_with("broken: /hook/broken/__init__.py does not compile (invalid syntax"),
        "{why}"
    );
    let run = hook.run(&Limits::default()).await;
    let python3 = std::process::Command::new(crate::compat::real_python3())
        .arg(&hook.path)
        .current_dir(hook.dir.path())
        .output()
        .unwrap();
    for (stdout, stderr) in [
        (run.stdout.clone(), run.stderr.clone()),
        (
            String::from_utf8_lossy(&python3.stdout).into_owned(),
            String::from_utf8_lossy(&python3.stderr).into_owned(),
        ),
    ] {
        assert_eq!(stdout, "kept\n", "{stderr}");
        assert!(stderr.contains("SyntaxError: invalid syntax"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_served_through_a_symlink_so_no_link_can_reach_a_hook_or_swap_a_package() {
    // A folder linked to the hook's own: the hook would be read, and kept
    // in the snapshot after it changed. The package reaches the clock (and
    // is refused for it) only if nothing of the hook was found.
    let hook = TestHook::new("print('hook')\n");
    std::os::unix::fs::symlink(".", hook.dir.path().join("sub")).unwrap();
    install_package(
        hook.dir.path(),
        "sneaky",
        "from hookbox import _host\n\
         found = [_host.preload_read('/hook/sub/session-close.runbook.py'), \
         _host.preload_status('/hook/session-close.runbook.py'), \
         [n for n in _host.preload_list('/hook') if n.endswith('.runbook.py')]]\n\
         assert found == [None, None, []], found\nimport time\ntime.time()\n",
    );
    let made = prepare(&hook, &Limits::default()).await;
    assert!(
        matches!(&made, PackagesSnapshot::Refused(why) if why.contains("wasi:clocks")),
        "{made:?}"
    );

    // A package that is a link to one of two versions: the link is not in
    // the snapshot's key, so it is not snapshotted at all.
    let hook = TestHook::new(&reports_preloaded(
        "swapped",
        "import swapped\nprint(swapped.VERSION)\n",
    ));
    let dir = hook.dir.path();
    for version in ["1", "2"] {
        std::fs::create_dir_all(dir.join(format!("v{version}"))).unwrap();
        std::fs::write(
            dir.join(format!("v{version}/__init__.py")),
            format!("VERSION = {version}\n"),
        )
        .unwrap();
    }
    std::os::unix::fs::symlink("v1", dir.join("swapped")).unwrap();
    install_package(dir, "steady", "X = 1\n");
    std::fs::create_dir_all(dir.join("swapped-1.0.dist-info")).unwrap();
    std::fs::write(
        dir.join("swapped-1.0.dist-info/RECORD"),
        "swapped/__init__.py,,\n",
    )
    .unwrap();
    let made = prepare(&hook, &Limits::default()).await;
    let PackagesSnapshot::Made {
        imported, left_out, ..
    } = made
    else {
        panic!("{made:?}");
    };
    assert_eq!(imported, ["steady"]);
    assert!(
        left_out[0].starts_with("swapped: ModuleNotFoundError"),
        "{left_out:?}"
    );
    std::fs::remove_file(dir.join("swapped")).unwrap();
    std::os::unix::fs::symlink("v2", dir.join("swapped")).unwrap();
    let run = hook.run(&Limits::default()).await;
    assert_eq!(run.stdout, "preloaded: False\n2\n", "{run:?}");
}

/// A thread an import started is that import's: the packages imported
/// after it are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_that_starts_a_thread_is_left_out_alone() {
    let hook = TestHook::new("import siemfmt\nprint(siemfmt.VERSION)\n");
    let why = left_out_beside_siemfmt(
        &hook,
        "athread",
        "import threading\nthreading.Thread(target=print).start()\n",
    )
    .await;
    assert!(why.starts_with("athread: starts a thread"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_import_leaves_running_or_makes_of_the_socket_stand_in_is_left_out() {
    // Each would run, or be changed, in every hook of the folder, also in
    // those that never import it.
    for (source, reason) in [
        (
            "import threading\nthreading.Thread(target=print).start()\nSEEN = 0\n",
            "starts a thread",
        ),
        (
            "import sys\nsys.settrace(lambda *a: None)\nSEEN = 0\n",
            "sets a trace",
        ),
        (
            "import socket\nclass Proxy(socket.socket):\n    pass\nSEEN = 0\n",
            "sneaky.Proxy",
        ),
    ] {
        let (hook, _) = refused(source, reason).await;
        let run = hook.run(&Limits::default()).await;
        assert_eq!(run.status, RunStatus::Ok, "{source}: {run:?}");
    }
}
