//! Secrets stay home: connection credentials in the payload are redacted
//! before a hook sees them, unless the operator passes a key through.

use std::process::Output;

use hookbox::intake::{REDACTED, SecretPolicy};
use hookbox::runtime::config::SandboxConfig;

use crate::support::{SESSION_OPEN, TestHook, hookbox, runtime};

/// The base64 values of the sample payload's `connection_envs`.
const HOST_VALUE: &str = "ZGIucHJvZC5pbnRlcm5hbA==";
const USER_VALUE: &str = "cmVhZG9ubHk=";
const PASS_VALUE: &str = "czNjcjN0LXBhc3N3b3Jk";

const PRINT_PAYLOAD: &str = "import os\nprint(os.environ['HOOP_RUNBOOK_HOOK_PAYLOAD'])\n";

#[tokio::test]
async fn a_hook_sees_key_names_but_no_credential_values() {
    let outcome = TestHook::new(PRINT_PAYLOAD)
        .run_with(SESSION_OPEN, &[], &Default::default())
        .await;
    for secret in [HOST_VALUE, USER_VALUE, PASS_VALUE] {
        assert!(
            !outcome.stdout.contains(secret),
            "{secret} leaked: {}",
            outcome.stdout
        );
    }
    let seen: serde_json::Value = serde_json::from_str(outcome.stdout.trim()).unwrap();
    let envs = &seen["event_session_open"]["connection_envs"];
    assert_eq!(envs["envvar:PASS"], REDACTED);
    assert_eq!(envs["envvar:HOST"], REDACTED);
    // Everything else is as Hoop sent it.
    assert_eq!(
        seen["event_session_open"]["user_email"],
        "alice@example.com"
    );
    let sent: serde_json::Value = serde_json::from_str(SESSION_OPEN).unwrap();
    assert_eq!(seen["id"], sent["id"]);
    assert_eq!(
        seen["event_session_open"]["input"],
        sent["event_session_open"]["input"]
    );
}

#[tokio::test]
async fn a_passed_key_keeps_its_value() {
    let config = SandboxConfig {
        secrets: SecretPolicy::passing(["envvar:HOST"]),
        ..SandboxConfig::default()
    };
    let outcome = TestHook::new(PRINT_PAYLOAD)
        .run_configured(runtime(), SESSION_OPEN, &config)
        .await;
    assert!(outcome.stdout.contains(HOST_VALUE), "{}", outcome.stdout);
    assert!(!outcome.stdout.contains(PASS_VALUE));
    assert!(!outcome.stdout.contains(USER_VALUE));
}

/// Runs `hookbox run --json` on `hook` with the sample session-open payload
/// and every log on (`HOOKBOX_LOG=trace`); returns the output and all it
/// printed, stdout and stderr together.
fn run_traced(hook: &TestHook, extra: &[&str]) -> (Output, String) {
    let payload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(payload.path(), SESSION_OPEN).unwrap();
    let output = hookbox()
        .env("HOOKBOX_LOG", "trace")
        .args(["run", "--json"])
        .args(extra)
        .arg(&hook.path)
        .arg("--payload")
        .arg(payload.path())
        .output()
        .unwrap();
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, everything)
}

#[test]
fn no_credential_value_reaches_json_output_or_logs() {
    let hook = TestHook::new(
        "import hookbox\n\
         e = hookbox.event()\n\
         print(e.open.connection_envs)\n\
         hookbox.http.post('https://siem.example.com/x', json=e.raw)\n",
    );
    let (_, everything) = run_traced(&hook, &["--pass-secret", "envvar:USER"]);
    assert!(everything.contains("envvar:PASS"), "{everything}");
    assert!(!everything.contains(PASS_VALUE), "{everything}");
    assert!(!everything.contains(HOST_VALUE), "{everything}");
    assert!(
        everything.contains(USER_VALUE),
        "the passed key is visible: {everything}"
    );
}

/// Webhook URLs whose path is the credential are recorded masked: in the
/// egress record, the hook's stderr and hookbox's logs, built-in services and
/// the operator's hosts alike.
#[test]
fn webhook_credentials_in_urls_never_reach_records_or_logs() {
    let hook = TestHook::new(
        "import urllib.request\n\
         for url in ['https://hooks.slack.com/services/T0/B0/s3cr3tW3bh00k',\n\
         \x20           'https://collector.example.com/in/0p3r4t0r-t0k3n',\n\
         \x20           'https://siem.example.org/services/collector/event']:\n\
         \x20   try:\n\
         \x20       urllib.request.urlopen(urllib.request.Request(url, data=b'{}'), timeout=5)\n\
         \x20   except Exception as error:\n\
         \x20       print('refused', type(error).__name__)\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookbox.toml");
    std::fs::write(&config, "[secrets]\nmask_urls = [\"*.example.com\"]\n").unwrap();
    let (output, everything) = run_traced(&hook, &["--config", config.to_str().unwrap()]);
    for secret in ["s3cr3tW3bh00k", "T0/B0", "0p3r4t0r-t0k3n"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let urls: Vec<&str> = outcome["egress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| attempt["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "https://hooks.slack.com:443/services/[redacted]",
            "https://collector.example.com:443/in/[redacted]",
            "https://siem.example.org:443/services/collector/event",
        ],
        "{everything}"
    );
    assert!(
        outcome["stderr"]
            .as_str()
            .unwrap()
            .contains("egress denied: POST https://hooks.slack.com:443/services/[redacted]"),
        "{everything}"
    );
}
