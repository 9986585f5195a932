//! `hookbox doctor`: the whole set-up checked, with a fix for each failure,
//! skipped checks shown as such, and no secret printed.

use std::path::Path;
use std::process::{Command, Output};

use crate::receiver::{Receiver, Reply, TestCa};
use crate::source::TestRepo;
use crate::support::{cache_dir, runtime};

const SECRETS: [(&str, &str); 2] = [
    ("HOOKBOX_TOKEN", "doctor-token-that-must-not-show"),
    ("GIT_PASSWORD", "doctor-password-that-must-not-show"),
];

/// `hookbox doctor ARGS` with only `env` (and a PATH of `path`), the
/// configuration file `config` and a home of its own.
fn doctor(config: &Path, path: &Path, env: &[(&str, String)], args: &[&str]) -> Output {
    runtime();
    let home = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_hookbox"))
        .arg("doctor")
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("HOOKBOX_DATA_DIR", home.path().join("data"))
        .env("HOOKBOX_CACHE_DIR", cache_dir())
        .env("HOOKBOX_CONFIG", config)
        .env("PATH", format!("{}:/usr/bin:/bin", path.display()))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sound_set_up_passes_and_shows_what_does_not_apply() {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-open.runbook.py", b"print('open')\n");
    let commit = repo.commit("open hook");
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.ca_pem).unwrap();
    // The drop-in on the agent's PATH, and a service that answers.
    let service = Receiver::http(Reply::Status(200, "{}")).await;
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_hookbox"), bin.join("python3")).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[egress]\nallow = [\"https://siem.example.com\"]\nca_bundle = \"ca.pem\"\n\
             [git]\nurl = \"{}\"\nttl = 300\n\
             [python]\nservice = \"http://127.0.0.1:{}\"\n",
            repo.path().display(),
            service.port()
        ),
    )
    .unwrap();
    let env: Vec<(&str, String)> = SECRETS.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let output = tokio::task::spawn_blocking(move || {
        let output = doctor(&config, &bin, &env, &[]);
        drop(dir);
        output
    })
    .await
    .unwrap();
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    for line in [
        "✓ configuration: the file named by --config or HOOKBOX_CONFIG parses",
        "✓ sandbox settings: egress to https://siem.example.com:443; CA bundle ",
        "✓ cache: ",
        &format!(
            "✓ runbooks repository: {}: reachable, fetched {commit} on main (hooks: session-open)",
            repo.path().display()
        ),
        "✓ service token: set (not shown)",
        &format!(
            "✓ service: http://127.0.0.1:{}/healthz answers 200 OK",
            service.port()
        ),
        "is the drop-in (this hookbox)",
        "- service spool: no spool in ",
    ] {
        assert!(shown.contains(line), "{line:?} in:\n{shown}");
    }
    for (_, secret) in SECRETS {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn each_failure_is_named_with_a_fix_and_the_exit_code_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let empty_bin = dir.path().join("bin");
    std::fs::create_dir(&empty_bin).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[egress]\nca_bundle = \"missing-ca.pem\"\n\
             [git]\nurl = \"{}\"\nttl = 300\n\
             [python]\nservice = \"http://svcuser:SVCSECRET@127.0.0.1:9/?token=QUERYSECRET\"\n",
            dir.path().join("no-such-repository").display()
        ),
    )
    .unwrap();
    let output = doctor(&config, &empty_bin, &[], &["--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let status = |name: &str| {
        let check = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|check| check["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {report}"));
        (
            check["status"].as_str().unwrap().to_owned(),
            check["detail"].as_str().unwrap().to_owned(),
            check["fix"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let (state, detail, fix) = status("sandbox settings");
    assert_eq!(state, "failed");
    assert!(detail.contains("missing-ca.pem"), "{detail}");
    assert!(!fix.is_empty());
    let (state, _, fix) = status("runbooks repository");
    assert_eq!(state, "failed");
    assert!(fix.contains("hookbox source fetch"), "{fix}");
    assert_eq!(status("service token").0, "failed");
    assert_eq!(status("service").0, "failed");
    let (state, _, fix) = status("python3 on PATH");
    assert_eq!(
        state, "failed",
        "[python] is configured, no drop-in on PATH"
    );
    assert!(fix.contains("python3"), "{fix}");
    assert_eq!(status("configuration").0, "ok");
    for secret in ["SVCSECRET", "QUERYSECRET"] {
        assert!(!text(&output).contains(secret), "{}", text(&output));
    }
}

#[test]
fn what_an_operator_wrote_is_quoted_without_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    for (config, secret) in [
        // A typo on the line holding a password: the parser quotes the line.
        (
            "[service]\nspol = \"postgres://pguser:TYPOSECRET@db.internal/hookbox\"\n",
            "TYPOSECRET",
        ),
        ("[git]\npasword = \"KEYSECRET\"\n", "KEYSECRET"),
        // A rule with user info is refused, quoted without it.
        (
            "[egress]\nallow = [\"https://tok:RULESECRET@siem.example.com\"]\n",
            "RULESECRET",
        ),
    ] {
        let file = dir.path().join("config.toml");
        std::fs::write(&file, config).unwrap();
        let output = doctor(&file, dir.path(), &[], &[]);
        let shown = text(&output);
        assert_eq!(output.status.code(), Some(1), "{shown}");
        assert!(shown.contains("✗ "), "{shown}");
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
}

#[test]
fn a_configuration_that_does_not_parse_stops_there() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[egress]\nallow = \"not a list\"\n").unwrap();
    let output = doctor(&config, dir.path(), &[], &[]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.starts_with("✗ configuration: "), "{shown}");
    assert!(shown.contains("  fix: "), "{shown}");
    assert!(shown.contains("- everything else: "), "{shown}");
}
