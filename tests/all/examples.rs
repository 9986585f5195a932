//! Every shipped example passes `hookbox test`, its fixtures answered by the
//! recording receiver; the Rust example is compiled to a component first.
//! The SDKs' own checks run here too: the Rust SDK's tests on the host, and
//! the Python type stubs against what the SDK defines.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{hookbox, repo_path};

/// The examples that are runbooks repositories (they have `hoop-hooks/`).
fn example_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo_path("hooks-examples"))
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.join("hoop-hooks").is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn assert_passes(dir: &Path) {
    let output = hookbox().arg("test").arg(dir).output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}:\n{report}{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(" passed, 0 failed"), "{report}");
}

/// Copies `from` into `to`, leaving out build output.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_name() == "target" {
            continue;
        }
        if source.is_dir() {
            copy_tree(&source, &target);
        } else {
            std::fs::copy(&source, &target).unwrap();
        }
    }
}

#[test]
fn every_python_example_passes_its_fixtures() {
    let dirs: Vec<PathBuf> = example_dirs()
        .into_iter()
        .filter(|dir| !dir.join("hook/Cargo.toml").exists())
        .collect();
    assert!(dirs.len() >= 6, "{dirs:?}");
    for dir in dirs {
        assert_passes(&dir);
    }
}

#[test]
fn the_rust_example_builds_to_a_component_and_passes_its_fixtures() {
    let example = repo_path("hooks-examples/splunk-hec-rust");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(example.join("hook/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "building the Rust example needs `rustup target add wasm32-wasip2`:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&example, copy.path());
    std::fs::copy(
        target_dir.join("wasm32-wasip2/release/session-open.wasm"),
        copy.path().join("hoop-hooks/session-open.wasm"),
    )
    .unwrap();
    assert_passes(copy.path());
}

#[test]
fn the_rust_sdk_passes_its_own_tests_on_the_host() {
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["test", "--manifest-path"])
        .arg(repo_path("guest-sdk/rust/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_python_type_stubs_say_what_the_sdk_defines() {
    let python3 = hookbox::bench::real_python3().expect("python3 is installed");
    let checker = repo_path("guest-sdk/python/stubs/check_stubs.py");
    let sdk = repo_path("guest-sdk/python/sdk/hookbox");
    let check = |stubs: &Path| {
        Command::new(&python3)
            .arg(&checker)
            .arg(stubs)
            .arg(&sdk)
            .output()
            .unwrap()
    };
    let stubs = repo_path("guest-sdk/python/stubs/hookbox");
    let output = check(&stubs);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    // A stub that drifted (a parameter renamed) is caught.
    let drifted = tempfile::tempdir().unwrap();
    copy_tree(&stubs, drifted.path());
    let http = drifted.path().join("http.pyi");
    let text = std::fs::read_to_string(&http).unwrap();
    std::fs::write(
        &http,
        text.replacen("def text(self, encoding", "def text(self, charset", 1),
    )
    .unwrap();
    let output = check(drifted.path());
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains("Response.text"), "{report}");
}
