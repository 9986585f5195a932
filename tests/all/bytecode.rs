//! No run compiles the standard library: every module outside the runner's
//! snapshot loads from bytecode hookbox compiled once, which hooks can read
//! but not change.

use hookbox::sandbox::limits::Limits;
use std::time::Duration;

use crate::support::{TestHook, run_source, runtime};

/// Counts what the import system compiles from source while the hook runs.
const SPY: &str = r#"
from importlib import _bootstrap_external
compiled = []
_compile = _bootstrap_external.SourceLoader.source_to_code
def _spy(self, data, path, *args, **kwargs):
    compiled.append(path)
    return _compile(self, data, path, *args, **kwargs)
_bootstrap_external.SourceLoader.source_to_code = _spy
"#;

#[tokio::test]
async fn every_importable_standard_module_loads_from_bytecode() {
    let source = format!(
        "{SPY}\n\
import io, pkgutil, sys, contextlib
# Modules whose import opens a browser or prints, and __main__ modules, which
# run programs.
skip = {{'antigravity', 'this'}}
imported, failed = 0, 0
names = sorted(name for _, name, _ in pkgutil.walk_packages(['/python'], onerror=lambda name: None)
               if name.split('.')[0] not in skip and not name.endswith('__main__'))
for name in names:
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            __import__(name)
        imported += 1
    except BaseException:
        failed += 1
print(len(names), imported, [path for path in compiled if path.startswith('/python/')])
"
    );
    let limits = Limits {
        timeout: Duration::from_secs(120),
        memory_bytes: 512 * 1024 * 1024,
        output_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let outcome = TestHook::new(&source).run(&limits).await;
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}");
    let fields: Vec<&str> = outcome.stdout.trim().splitn(3, ' ').collect();
    let (found, imported): (usize, usize) =
        (fields[0].parse().unwrap(), fields[1].parse().unwrap());
    assert!(found > 500, "{}", outcome.stdout);
    assert!(imported > 400, "{}", outcome.stdout);
    assert_eq!(fields[2], "[]", "compiled from source: {}", outcome.stdout);
}

/// Modules forwarding hooks import that are not in the runner's snapshot.
const OUTSIDE_THE_SNAPSHOT: &[&str] = &[
    "statistics",
    "configparser",
    "difflib",
    "platform",
    "pprint",
    "gettext",
    "mimetypes",
    "http.cookies",
];

#[tokio::test]
async fn importing_a_module_costs_less_fuel_than_compiling_it() {
    let baseline = run_source("pass\n").await.fuel_consumed;
    for module in OUTSIDE_THE_SNAPSHOT {
        let imported = run_source(&format!("import {module}\n")).await;
        assert_eq!(imported.exit_code, Some(0), "{imported:?}");
        let compile = format!(
            "import importlib.util\n\
             path = importlib.util.find_spec('{module}').origin\n\
             compile(open(path, 'rb').read(), path, 'exec')\n"
        );
        let compiled = run_source(&compile).await;
        assert_eq!(compiled.exit_code, Some(0), "{compiled:?}");
        let (import_cost, compile_cost) = (
            imported.fuel_consumed - baseline,
            compiled.fuel_consumed - baseline,
        );
        // Importing runs the module's body and imports what it needs, so it
        // is not free; compiling its source alone costs far more.
        assert!(
            import_cost * 2 < compile_cost,
            "importing {module} took {import_cost} fuel; compiling its source alone {compile_cost}"
        );
    }
}

#[tokio::test]
async fn hooks_cannot_write_into_the_standard_library() {
    let outcome = run_source(
        "import os\n\
         for path in ('/python/json/__init__.py', '/python/__pycache__/evil.cpython-314.pyc', '/python/json/__pycache__/__init__.cpython-314.pyc'):\n\
         \x20   try:\n\
         \x20       open(path, 'ab').write(b'x')\n\
         \x20       print('WROTE', path)\n\
         \x20   except OSError as error:\n\
         \x20       print('refused', type(error).__name__)\n",
    )
    .await;
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}");
    assert!(!outcome.stdout.contains("WROTE"), "{}", outcome.stdout);
    assert_eq!(outcome.stdout.matches("refused").count(), 3);
    // The bytecode a hook reads is hookbox's: it is there, beside the source.
    let json_cache = runtime().stdlib_dir().join("json/__pycache__");
    assert!(
        std::fs::read_dir(&json_cache).unwrap().count() > 0,
        "{}",
        json_cache.display()
    );
}
