//! Python packages copied next to a hook (as `pip install --target` lays them
//! out): they import as under `python3`, from bytecode hookbox compiled once
//! per version of them, which no hook can write or substitute; a native
//! extension is named in the error.

use std::path::{Path, PathBuf};

use hookbox::record::RunStatus;
use hookbox::sandbox::limits::Limits;

use crate::support::{TestHook, cache_dir};

/// A hook that reports which modules the import system compiled from
/// source (none, when their bytecode is used) and what the package says.
const COUNTS_COMPILES: &str = r#"
import importlib.machinery, sys

compiled = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code
def counting(self, data, path, *args, **kwargs):
    compiled.append(path.replace("/hook/", ""))
    return _source_to_code(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = counting

import siemlib
print(siemlib.describe({"sid": "s1"}))
print("compiled from source:", sorted(compiled))
"#;

fn package_v(version: &str) -> [(&'static str, String); 2] {
    [
        (
            "siemlib/__init__.py",
            "from .format import describe\n".to_owned(),
        ),
        (
            "siemlib/format.py",
            format!("def describe(event):\n    return 'v{version} ' + event['sid']\n"),
        ),
    ]
}

fn write_files(dir: &Path, files: &[(&str, String)]) {
    for (name, contents) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

/// The compiled bytecode files hookbox keeps of a folder holding `module`.
fn cached_bytecode_of(module: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![cache_dir().join("hook-bytecode")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().contains(module) {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_next_to_the_hook_import_from_bytecode_compiled_once() {
    let hook = TestHook::new(COUNTS_COMPILES);
    write_files(hook.dir.path(), &package_v("1"));
    for run in 0..2 {
        let outcome = hook.run(&Limits::default()).await;
        assert_eq!(outcome.status, RunStatus::Ok, "run {run}: {outcome:?}");
        assert_eq!(
            outcome.stdout, "v1 s1\ncompiled from source: []\n",
            "run {run}: {}",
            outcome.stderr
        );
    }

    // A change is compiled again before the next run.
    write_files(
        hook.dir.path(),
        &[(
            "siemlib/format.py",
            "def describe(event):\n    return 'v2 ' + event['sid']\n".to_owned(),
        )],
    );
    let outcome = hook.run(&Limits::default()).await;
    assert_eq!(
        outcome.stdout, "v2 s1\ncompiled from source: []\n",
        "{}",
        outcome.stderr
    );
}

/// Runs of a package version nobody compiled yet, started at once: one
/// compiles its bytecode, the others import from source meanwhile, and all
/// finish. (A run that found the version claimed used to deadlock on the
/// claims' lock, and every later run of any hook with it.)
#[test]
fn runs_of_a_new_package_version_started_at_once_all_finish() {
    let (finished, outcomes) = std::sync::mpsc::channel();
    // On a runtime of its own, so a deadlock there cannot stop this thread
    // from giving up at its deadline.
    std::thread::spawn(move || {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let ran = tokio.block_on(async {
            let hook = std::sync::Arc::new(TestHook::new(COUNTS_COMPILES));
            write_files(hook.dir.path(), &package_v("1"));
            let runs: Vec<_> = (0..3)
                .map(|_| {
                    let hook = hook.clone();
                    tokio::spawn(async move { hook.run(&Limits::default()).await })
                })
                .collect();
            let mut ran = Vec::new();
            for run in runs {
                ran.push(run.await.unwrap());
            }
            ran
        });
        let _ = finished.send(ran);
    });
    let ran = outcomes
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("three runs started at once did not all finish within 2 minutes");
    for outcome in ran {
        assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
        assert!(outcome.stdout.starts_with("v1 s1\n"), "{}", outcome.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_can_write_neither_its_bytecode_nor_its_folder() {
    let hook = TestHook::new(
        r#"
import errno, glob, py_compile, siemlib
compiled = sorted(glob.glob("/hook-bytecode/**/*.pyc", recursive=True))
print("compiled files:", len(compiled))
for path in compiled + ["/hook/siemlib/__pycache__/format.cpython-314.pyc", "/hook-bytecode/hook/siemlib/__pycache__/new.pyc"]:
    try:
        with open(path, "wb") as file:
            file.write(b"planted")
        print("wrote", path)
    except OSError as error:
        print("refused", path.rsplit("/", 1)[-1])
try:
    py_compile.compile("/hook/siemlib/format.py", doraise=True)
    print("py_compile wrote")
except (OSError, py_compile.PyCompileError):
    print("py_compile refused")
"#,
    );
    write_files(hook.dir.path(), &package_v("1"));
    let outcome = hook.run(&Limits::default()).await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert!(!outcome.stdout.contains("wrote"), "{}", outcome.stdout);
    assert!(
        outcome.stdout.starts_with("compiled files: 3\n"),
        "the package's two modules and the hook: {}",
        outcome.stdout
    );
    assert_eq!(
        outcome.stdout.matches("refused").count(),
        6,
        "three compiled files, two planted names and py_compile: {}",
        outcome.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytecode_that_does_not_match_its_source_is_not_used() {
    // Two folders with the same package at different versions; the first's
    // bytecode is copied over the second's, as a stale or planted file
    // would be.
    let first = TestHook::new(COUNTS_COMPILES);
    let marker = format!(
        "planted{}",
        first.dir.path().file_name().unwrap().to_string_lossy()
    );
    write_files(first.dir.path(), &package_v(&marker));
    let outcome = first.run(&Limits::default()).await;
    assert!(outcome.stdout.contains(&marker), "{outcome:?}");
    let second = TestHook::new(COUNTS_COMPILES);
    write_files(second.dir.path(), &package_v("genuine"));
    second.run(&Limits::default()).await;

    let planted = std::fs::read(
        cached_bytecode_of("format.cpython")
            .into_iter()
            .find(|path| {
                std::fs::read(path).is_ok_and(|bytes| {
                    bytes
                        .windows(marker.len())
                        .any(|window| window == marker.as_bytes())
                })
            })
            .expect("the first folder's bytecode"),
    )
    .unwrap();
    let mut replaced = 0;
    for path in cached_bytecode_of("format.cpython") {
        let bytes = std::fs::read(&path).unwrap();
        if bytes.windows(b"vgenuine ".len()).any(|w| w == b"vgenuine ") {
            std::fs::write(&path, &planted).unwrap();
            replaced += 1;
        }
    }
    assert!(replaced > 0, "the second folder's bytecode was found");

    let outcome = second.run(&Limits::default()).await;
    assert_eq!(
        outcome.stdout, "vgenuine s1\ncompiled from source: ['siemlib/format.py']\n",
        "{}",
        outcome.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_extension_is_named_in_the_error() {
    let hook = TestHook::new("import fastjson\n").with_file(
        "fastjson.cpython-311-x86_64-linux-gnu.so",
        "\u{7f}ELF not really",
    );
    let outcome = hook.run(&Limits::default()).await;
    assert_eq!(outcome.status, RunStatus::Failed, "{outcome:?}");
    assert!(
        outcome.stderr.contains(
            "ModuleNotFoundError: fastjson is a native extension \
             (/hook/fastjson.cpython-311-x86_64-linux-gnu.so), which cannot load"
        ),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("pure-Python"), "{}", outcome.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_next_to_the_hook_cannot_replace_the_sandboxes_own() {
    // Under python3 these files would shadow the standard modules; here
    // the sandbox's own `ssl` and `socket` stay, and so does the policy.
    let hook = TestHook::new(
        r#"
import socket, ssl
print(ssl.__name__, ssl.__file__.startswith("/hook"), socket.__file__.startswith("/hook"))
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1)
except PermissionError as error:
    print("refused")
"#,
    )
    .with_file("ssl.py", "raise SystemExit('the shadow ssl ran')\n")
    .with_file("socket.py", "raise SystemExit('the shadow socket ran')\n");
    let outcome = hook.run(&Limits::default()).await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert_eq!(outcome.stdout, "ssl False False\nrefused\n");
}
