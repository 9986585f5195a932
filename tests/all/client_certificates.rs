//! Client certificates the operator holds (`--client-cert`,
//! `[[egress.client_certificates]]`): presented by the host to the
//! destinations of their rule, over every TLS path, never to another; the
//! key never enters the sandbox and the record names the certificate by its
//! digest. The same hook under the real `python3` loads the files itself.

use std::path::Path;

use crate::compat::{Case, allow_trusting};
use crate::receiver::{ClientCa, Receiver, Reply, TestCa};
use crate::support::{REQUESTS, TestHook, hookbox, install_packages};

/// Sends with `requests` (HTTP over a socket the host wraps in TLS) and
/// `urllib` (the host's HTTP client) to each URL in `SIEM_URLS`; presents
/// `CERT`/`KEY` itself only when given them (under `python3`).
const OPERATOR_HELD: &str = r#"
import os, ssl, urllib.error, urllib.request
import requests

cert = (os.environ["CERT"], os.environ["KEY"]) if "CERT" in os.environ else None
for url in os.environ["SIEM_URLS"].split():
    try:
        response = requests.post(url + "/requests", json={"n": 1}, timeout=5, verify="ca.pem", cert=cert)
        print("requests", response.status_code, response.text)
    except requests.exceptions.RequestException:
        print("requests refused by the server")
    context = ssl.create_default_context(cafile="ca.pem")
    if cert:
        context.load_cert_chain(*cert)
    try:
        with urllib.request.urlopen(urllib.request.Request(url + "/urllib", data=b"{}"), context=context, timeout=5) as reply:
            print("urllib", reply.status, reply.read().decode())
    except (urllib.error.URLError, ConnectionError, ssl.SSLError):
        print("urllib refused by the server")
"#;

/// The client CA's certificate and key, written outside the hook's folder.
fn operator_files(clients: &ClientCa) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("client.pem"), &clients.cert_pem).unwrap();
    std::fs::write(dir.path().join("client.key"), &clients.key_pem).unwrap();
    dir
}

fn client_cert_flag(rule: &str, files: &Path) -> [String; 2] {
    [
        "--client-cert".into(),
        format!(
            "{rule},{},{}",
            files.join("client.pem").display(),
            files.join("client.key").display()
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_client_certificate_is_presented_for_its_destination_only() {
    let ca = TestCa::new();
    let clients = ClientCa::new();
    let siem = Receiver::https_requiring(Reply::Status(200, "mutual"), &ca, &clients).await;
    let other = Receiver::https_requiring(Reply::Status(200, "mutual"), &ca, &clients).await;
    let files = operator_files(&clients);
    let hook = TestHook::new(OPERATOR_HELD).with_file("ca.pem", &ca.ca_pem);
    install_packages(hook.dir.path(), REQUESTS);
    let siem_url = format!("https://127.0.0.1:{}", siem.port());
    let other_url = format!("https://127.0.0.1:{}", other.port());

    // python3 holds the key itself, and sends only to the SIEM.
    let python = Case {
        hook: &hook,
        env: vec![
            ("SIEM_URLS", siem_url.clone()),
            (
                "CERT",
                files.path().join("client.pem").display().to_string(),
            ),
            ("KEY", files.path().join("client.key").display().to_string()),
        ],
        hookbox_args: Vec::new(),
    }
    .python3()
    .await;
    let expected = "requests 200 mutual\nurllib 200 mutual\n";
    assert_eq!(
        String::from_utf8_lossy(&python.stdout),
        expected,
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );

    // hookbox holds it for the SIEM's rule; the hook names no certificate.
    let mut args = allow_trusting(siem_url.clone(), &hook);
    args.extend(["--allow".into(), other_url.clone()]);
    args.extend(client_cert_flag(&siem_url, files.path()));
    args.push("--json".into());
    let output = Case {
        hook: &hook,
        env: vec![("SIEM_URLS", format!("{siem_url} {other_url}"))],
        hookbox_args: args,
    }
    .hookbox()
    .await;
    let record: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        record["stdout"],
        format!("{expected}requests refused by the server\nurllib refused by the server\n"),
        "{record}"
    );
    let paths = |receiver: &Receiver| -> Vec<String> {
        receiver.requests().iter().map(|r| r.path.clone()).collect()
    };
    assert_eq!(
        paths(&siem),
        ["/requests", "/urllib", "/requests", "/urllib"]
    );
    assert!(paths(&other).is_empty(), "{:?}", paths(&other));

    // The record names the operator's certificate, by digest, on the SIEM's
    // attempts only; the key is nowhere.
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(clients.cert_pem.as_bytes())
        .map(|cert: rustls::pki_types::CertificateDer<'_>| cert.to_vec())
        .unwrap();
    let note = format!(
        "operator's client certificate sha256:{} offered to the server (client certificate for {siem_url}",
        hookbox::digest::sha256_hex(&der)
    );
    for attempt in record["egress"].as_array().unwrap() {
        let reason = attempt["reason"].as_str().unwrap_or_default();
        let to_siem = attempt["port"] == siem.port();
        assert_eq!(reason.contains(&note), to_siem, "{attempt}");
    }
    assert!(!record.to_string().contains("PRIVATE KEY"), "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_the_hook_wraps_itself_presents_it_too() {
    // Syslog over TLS (RFC 5425) to a collector requiring a client
    // certificate, through ssl.wrap_socket on a tcp:// rule.
    let ca = TestCa::new();
    let clients = ClientCa::new();
    let collector = Receiver::https_requiring(Reply::Status(200, "mutual"), &ca, &clients).await;
    let files = operator_files(&clients);
    let hook = TestHook::new(
        "import os, socket, ssl\n\
         context = ssl.create_default_context(cafile='ca.pem')\n\
         if 'CERT' in os.environ:\n    \
             context.load_cert_chain(os.environ['CERT'], os.environ['KEY'])\n\
         with socket.create_connection(('127.0.0.1', int(os.environ['PORT'])), timeout=5) as raw:\n    \
             with context.wrap_socket(raw, server_hostname='127.0.0.1') as tls:\n        \
                 tls.sendall(b'GET /syslog HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n        \
                 print(tls.recv(12).decode())\n",
    )
    .with_file("ca.pem", &ca.ca_pem);
    let port = collector.port().to_string();
    let python = Case {
        hook: &hook,
        env: vec![
            ("PORT", port.clone()),
            (
                "CERT",
                files.path().join("client.pem").display().to_string(),
            ),
            ("KEY", files.path().join("client.key").display().to_string()),
        ],
        hookbox_args: Vec::new(),
    }
    .python3()
    .await;
    let rule = format!("tcp://127.0.0.1:{port}");
    let mut args = allow_trusting(rule.clone(), &hook);
    args.extend(client_cert_flag(&rule, files.path()));
    let sandboxed = Case {
        hook: &hook,
        env: vec![("PORT", port)],
        hookbox_args: args,
    }
    .hookbox()
    .await;
    for output in [&python, &sandboxed] {
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "HTTP/1.1 200\n",
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_client_certificate_that_cannot_be_used_is_refused_at_start_naming_it() {
    let clients = ClientCa::new();
    let files = operator_files(&clients);
    let hook = TestHook::new("print('ran')\n");
    let payload = hook.dir.path().join("payload.json");
    std::fs::write(&payload, crate::support::SESSION_OPEN).unwrap();
    let run = |flag: String| {
        hookbox()
            .arg("run")
            .arg(&hook.path)
            .arg("--payload")
            .arg(&payload)
            .args(["--client-cert", &flag])
            .output()
            .unwrap()
    };
    let cert = files.path().join("client.pem").display().to_string();
    let key = files.path().join("client.key").display().to_string();
    for (flag, says) in [
        (
            format!("https://siem.example.com,{cert},/nonexistent.key"),
            "cannot read /nonexistent.key",
        ),
        (
            format!("https://siem.example.com,{cert},{cert}"),
            "not an unencrypted private key",
        ),
        (
            format!("http://siem.example.com,{cert},{key}"),
            "is for https:// or tcp:// destinations",
        ),
        (
            "https://siem.example.com".to_owned(),
            "is not RULE,CERT_FILE,KEY_FILE",
        ),
    ] {
        let output = run(flag.clone());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag}: {stderr}");
        assert!(stderr.contains(says), "{flag}: {stderr}");
        assert!(output.stdout.is_empty(), "{flag}: the hook ran");
    }
}

#[test]
fn a_repository_cannot_hand_the_hosts_keys_to_its_hooks() {
    let clients = ClientCa::new();
    let files = operator_files(&clients);
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join("hoop-hooks")).unwrap();
    std::fs::write(
        repo.path().join("hoop-hooks/session-open.runbook.py"),
        "print('ran')\n",
    )
    .unwrap();
    std::fs::write(
        repo.path().join("hookbox.toml"),
        format!(
            "[[egress.client_certificates]]\ndestination = \"https://siem.example.com\"\n\
             cert = \"{}\"\nkey = \"{}\"\n",
            files.path().join("client.pem").display(),
            files.path().join("client.key").display()
        ),
    )
    .unwrap();
    let output = hookbox().arg("test").arg(repo.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("a repository's settings cannot hand the host's keys to its hooks"),
        "{stderr}"
    );
}
