//! The Python SDK's host-side tests (`guest-sdk/python/tests`): each test
//! module runs in an interpreter of its own on the host's CPython, with a
//! fake host in place of the bindings the runner is built with.

use std::process::Command;

use crate::support::repo_path;

#[test]
fn the_sdks_host_side_tests_pass() {
    let python = hookbox_testkit::real_python3().expect("python3");
    let tests = repo_path("guest-sdk/python/tests");
    let python_path = std::env::join_paths([
        tests.join("fake_host"),
        repo_path("guest-sdk/python/sdk"),
        tests.clone(),
    ])
    .unwrap();
    let mut modules: Vec<String> = std::fs::read_dir(&tests)
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with("test_") && name.ends_with(".py"))
        .map(|name| name.trim_end_matches(".py").to_owned())
        .collect();
    modules.sort();
    assert!(modules.len() >= 2, "{modules:?}");
    for module in modules {
        let output = Command::new(&python)
            .args(["-m", "unittest", "-v", &module])
            .current_dir(&tests)
            .env("PYTHONPATH", &python_path)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{module}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("\nOK"),
            "{module} ran no test"
        );
    }
}
