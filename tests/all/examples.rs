//! Every shipped example passes `hookbox test`, its fixtures answered by the
//! recording receiver; the Rust example is compiled to a component first.
//! The SDKs' own checks run here too: the Rust SDK's tests on the host, and
//! the Python type stubs against what the SDK defines.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::receiver::{Receiver, Reply};
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

/// Builds the Rust example's component; its path.
fn build_rust_example() -> PathBuf {
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
    target_dir.join("wasm32-wasip2/release/session-open.wasm")
}

#[test]
fn the_rust_example_builds_to_a_component_and_passes_its_fixtures() {
    let wasm = build_rust_example();
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&repo_path("hooks-examples/splunk-hec-rust"), copy.path());
    std::fs::copy(wasm, copy.path().join("hoop-hooks/session-open.wasm")).unwrap();
    assert_passes(copy.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_hook_skips_tls_verification_only_where_the_operator_allows_it() {
    let wasm = tokio::task::spawn_blocking(build_rust_example)
        .await
        .unwrap();
    // A collector whose certificate hookbox was not told to trust, as
    // Splunk's own self-signed HEC certificate.
    let ca = crate::receiver::TestCa::new();
    let receiver = Receiver::https(Reply::Status(200, r#"{"text":"Success","code":0}"#), &ca).await;
    let collector = format!("https://127.0.0.1:{}", receiver.port());
    let run = |verify: &str, unverified_rule: bool| {
        let mut command = hookbox();
        command
            .arg("run")
            .arg(&wasm)
            .arg("--payload")
            .arg(repo_path("hooks-examples/payloads/session-open.json"))
            .args(["--allow", &collector])
            .args(["--env", &format!("SPLUNK_HEC_URL={collector}")])
            .args(["--env", "SPLUNK_HEC_TOKEN=test-token"])
            .args(["--env", &format!("SPLUNK_HEC_VERIFY={verify}")]);
        if unverified_rule {
            command.args(["--allow-unverified-tls", &collector]);
        }
        command.output().unwrap()
    };
    let text = |output: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };

    // The hook asks, the operator did not allow it: verified, refused.
    let refused = run("false", false);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("TlsCertificateError"),
        "{}",
        text(&refused)
    );
    // The operator allows it, the hook does not ask: verified, refused.
    let verified = run("true", true);
    assert_eq!(verified.status.code(), Some(1), "{}", text(&verified));
    assert_eq!(receiver.requests().len(), 0);

    // Both: sent, and the header asking for it is not.
    let sent = run("false", true);
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0]
            .headers
            .iter()
            .all(|(name, _)| !name.eq_ignore_ascii_case("hookbox-tls-verify")),
        "{:?}",
        requests[0].headers
    );
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
    let python3 = hookbox_testkit::real_python3().expect("python3 is installed");
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
