//! The git source over the network, against real servers the tests start on
//! 127.0.0.1: `git http-backend` behind a small HTTP(S) server that checks
//! basic auth itself, and an `sshd` with a host key and a client key made by
//! `ssh-keygen`. Settings go through `GitConfig::resolve`, as from the
//! environment.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::io::TokioIo;

use hookbox::intake::Event;
use hookbox::source::git::config::{GitConfig, GitSection};
use hookbox::source::git::fetch::FetchError;
use hookbox::source::git::{GitSource, SourceError};

use crate::signed_commits::Keys;
use crate::source::{TestRepo, hook_text};
use hookbox_testkit::ports::{Started, start_on_a_free_port};

/// The hook every repository here holds.
const HOOK: &[u8] = b"print('from the network')\n";

fn repo_with_hook() -> (TestRepo, String) {
    let repo = TestRepo::new("main");
    repo.write("hoop-hooks/session-open.runbook.py", HOOK);
    let commit = repo.commit("hook");
    (repo, commit)
}

/// A source resolved from `vars` as if they were the environment, with a
/// cache directory of its own.
fn source_from(vars: &[(&str, String)]) -> (tempfile::TempDir, GitSource) {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain([("GIT_HOOK_CONFIG_TTL".to_owned(), "300".to_owned())])
        .collect();
    let settings = GitConfig::resolve(&GitSection::default(), |name| vars.get(name).cloned())
        .unwrap_or_else(|e| panic!("settings refused: {e}"));
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::new(settings, cache.path());
    (cache, source)
}

/// The fetch error, whose message must never contain `secret`.
fn fetch_error(source: &GitSource, secret: &str) -> FetchError {
    let error = match source.fetch() {
        Ok(snapshot) => panic!("the fetch should fail, got {snapshot:?}"),
        Err(SourceError::Fetch(error)) => error,
        Err(other) => panic!("{other:?}"),
    };
    let text = error.to_string();
    assert!(!text.contains(secret), "the secret leaked: {text}");
    let recorded = source.status().fetch.last_error.unwrap();
    assert!(!recorded.contains(secret), "the secret leaked: {recorded}");
    error
}

/// The reason a refused fetch gives; panics on any other failure.
fn refusal(error: FetchError) -> String {
    match error {
        FetchError::Refused { reason, .. } => reason,
        other => panic!("not a refusal: {other:?}"),
    }
}

/// Every file under `dir`, for checking no key material was left behind.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

// ---------------------------------------------------------------- HTTP(S)

/// Smart HTTP on 127.0.0.1: every request is checked for basic auth (when
/// credentials are set) and then handed to `git http-backend` as CGI.
struct GitHttpServer {
    addr: SocketAddr,
    tls: bool,
    requests: Arc<Mutex<Vec<String>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl GitHttpServer {
    /// Serves the repositories under `root`, asking for `credentials`.
    fn start(
        root: &Path,
        credentials: Option<(&str, &str)>,
        tls: Option<hookbox_testkit::tls::TlsAcceptor>,
    ) -> GitHttpServer {
        use base64::Engine;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let expected = credentials.map(|(user, password)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        });
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(CgiState {
            root: root.to_path_buf(),
            expected,
            requests: requests.clone(),
        });
        let is_tls = tls.is_some();
        let acceptor = tls;
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, acceptor) = (state.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(state.answer(request).await) }
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
        GitHttpServer {
            addr,
            tls: is_tls,
            requests,
            runtime: Some(runtime),
        }
    }

    /// The URL of the repository at `path` under the root.
    fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/{path}", self.addr)
    }

    /// `METHOD path -> status` for each request so far.
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

struct CgiState {
    root: PathBuf,
    expected: Option<String>,
    requests: Arc<Mutex<Vec<String>>>,
}

type Reply = hyper::Response<Full<Bytes>>;

impl CgiState {
    async fn answer(self: Arc<Self>, request: hyper::Request<hyper::body::Incoming>) -> Reply {
        let (parts, body) = request.into_parts();
        let line = format!("{} {}", parts.method, parts.uri.path());
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let authorized = match &self.expected {
            None => true,
            Some(expected) => header("authorization").as_deref() == Some(expected.as_str()),
        };
        if !authorized {
            self.requests.lock().unwrap().push(format!("{line} -> 401"));
            return hyper::Response::builder()
                .status(401)
                .header("www-authenticate", "Basic realm=\"runbooks\"")
                .body(Full::new(Bytes::from_static(b"authentication required\n")))
                .unwrap();
        }
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut env: Vec<(&str, String)> = vec![
            ("GIT_PROJECT_ROOT", self.root.display().to_string()),
            ("GIT_HTTP_EXPORT_ALL", "1".into()),
            ("PATH_INFO", parts.uri.path().to_owned()),
            ("REQUEST_METHOD", parts.method.to_string()),
            ("QUERY_STRING", parts.uri.query().unwrap_or("").to_owned()),
            ("CONTENT_TYPE", header("content-type").unwrap_or_default()),
            ("CONTENT_LENGTH", body.len().to_string()),
            ("REMOTE_ADDR", "127.0.0.1".into()),
        ];
        if self.expected.is_some() {
            env.push(("REMOTE_USER", "tester".into()));
        }
        if let Some(protocol) = header("git-protocol") {
            env.push(("GIT_PROTOCOL", protocol));
        }
        if let Some(encoding) = header("content-encoding") {
            env.push(("HTTP_CONTENT_ENCODING", encoding));
        }
        let owned: Vec<(String, String)> =
            env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let reply = tokio::task::spawn_blocking(move || run_http_backend(&owned, &body))
            .await
            .unwrap();
        self.requests
            .lock()
            .unwrap()
            .push(format!("{line} -> {}", reply.status().as_u16()));
        reply
    }
}

/// Runs `git http-backend` once and turns its CGI output into a response.
fn run_http_backend(env: &[(String, String)], body: &[u8]) -> Reply {
    use std::io::Write;
    let mut child = Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git http-backend (installed with git)");
    let mut stdin = child.stdin.take().unwrap();
    let body = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let raw = output.stdout;
    let (head, content) = match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (&raw[..at], &raw[at + 4..]),
        None => match raw.windows(2).position(|w| w == b"\n\n") {
            Some(at) => (&raw[..at], &raw[at + 2..]),
            None => (&raw[..0], &raw[..]),
        },
    };
    let mut response = hyper::Response::builder().status(200);
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(500);
            response = response.status(code);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response
        .body(Full::new(Bytes::copy_from_slice(content)))
        .unwrap()
}

/// A repository under a root directory the HTTP server serves.
fn served_repo() -> (TestRepo, String, PathBuf, String) {
    let (repo, commit) = repo_with_hook();
    let (root, name) = root_and_name(&repo);
    (repo, commit, root, name)
}

/// The folder the HTTP server serves `repo` from, and its name there.
fn root_and_name(repo: &TestRepo) -> (PathBuf, String) {
    let root = repo.path().parent().unwrap().to_path_buf();
    let name = repo.path().file_name().unwrap().to_string_lossy();
    (root, name.into_owned())
}

#[test]
fn smart_http_with_good_credentials_fetches_the_hooks() {
    let (_repo, commit, root, name) = served_repo();
    let server = GitHttpServer::start(&root, Some(("tester", "s3cret-token")), None);
    let (_cache, source) = source_from(&[
        ("GIT_URL", server.url(&name)),
        ("GIT_USER", "tester".into()),
        ("GIT_PASSWORD", "s3cret-token".into()),
    ]);
    let snapshot = source.fetch().unwrap();
    assert_eq!(snapshot.commit, commit);
    assert_eq!(snapshot.hooks(), vec!["session-open"]);
    assert_eq!(
        hook_text(&source, Event::SessionOpen).as_deref(),
        Some("print('from the network')\n")
    );
    let requests = server.requests();
    assert!(
        requests.iter().any(|r| r.ends_with("-> 401")),
        "credentials are sent when asked for: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("POST") && r.ends_with("-> 200")),
        "{requests:?}"
    );
}

#[test]
fn smart_http_with_the_password_in_the_url_fetches_and_never_shows_it() {
    let (_repo, commit, root, name) = served_repo();
    let server = GitHttpServer::start(&root, Some(("tester", "url-s3cret")), None);
    let url = server
        .url(&name)
        .replace("http://", "http://tester:url-s3cret@");
    let (_cache, source) = source_from(&[("GIT_URL", url)]);
    assert!(!format!("{source:?}").contains("url-s3cret"));
    assert!(!source.config().display_url().contains("url-s3cret"));
    assert_eq!(source.fetch().unwrap().commit, commit);
}

#[test]
fn smart_http_with_bad_credentials_fails_without_showing_the_password() {
    let (_repo, _commit, root, name) = served_repo();
    let server = GitHttpServer::start(&root, Some(("tester", "s3cret-token")), None);
    let (_cache, source) = source_from(&[
        ("GIT_URL", server.url(&name)),
        ("GIT_USER", "tester".into()),
        ("GIT_PASSWORD", "wr0ng-passw0rd".into()),
    ]);
    let failure = fetch_error(&source, "wr0ng-passw0rd");
    let error = failure.to_string();
    assert!(matches!(failure, FetchError::Refused { .. }), "{failure:?}");
    assert!(
        error
            .contains("the server refused the credentials (GIT_USER \"tester\" with GIT_PASSWORD)"),
        "{error}"
    );
    assert!(error.contains(&server.url(&name)), "{error}");
    // A refusal is not retried for other branches.
    let refused = server
        .requests()
        .iter()
        .filter(|r| r.ends_with("-> 401"))
        .count();
    assert_eq!(refused, 2, "{:?}", server.requests());
}

#[test]
fn smart_http_without_credentials_fails_naming_the_setting() {
    let (_repo, _commit, root, name) = served_repo();
    let server = GitHttpServer::start(&root, Some(("tester", "s3cret-token")), None);
    let (_cache, source) = source_from(&[("GIT_URL", server.url(&name))]);
    let failure = fetch_error(&source, "s3cret-token");
    let error = failure.to_string();
    assert!(matches!(failure, FetchError::Refused { .. }), "{failure:?}");
    assert!(
        error.contains("the server asks for credentials: set GIT_PASSWORD"),
        "{error}"
    );
}

#[test]
fn smart_http_without_auth_needs_no_credentials() {
    let (_repo, commit, root, name) = served_repo();
    let server = GitHttpServer::start(&root, None, None);
    let (_cache, source) = source_from(&[("GIT_URL", server.url(&name))]);
    assert_eq!(source.fetch().unwrap().commit, commit);
}

#[test]
fn an_unreachable_server_is_tried_once_not_once_per_branch() {
    // Nothing listens on port 1.
    let (_cache, source) = source_from(&[("GIT_URL", "http://127.0.0.1:1/runbooks".into())]);
    let failure = fetch_error(&source, "-----");
    let error = failure.to_string();
    assert!(
        matches!(failure, FetchError::Transfer { .. }),
        "{failure:?}"
    );
    assert!(
        error.starts_with("cannot fetch http://127.0.0.1:1/runbooks: "),
        "{error}"
    );
    assert!(error.contains("Connection refused"), "{error}");
}

#[test]
fn https_with_an_untrusted_certificate_is_refused() {
    let (_repo, _commit, root, name) = served_repo();
    // A CA made for this test, which the source is never told to trust.
    let untrusted = hookbox_testkit::tls::TestCa::new();
    let server = GitHttpServer::start(&root, None, Some(untrusted.acceptor()));
    let (_cache, source) = source_from(&[("GIT_URL", server.url(&name))]);
    let failure = fetch_error(&source, "-----");
    let error = failure.to_string();
    assert!(
        matches!(failure, FetchError::Transfer { .. }),
        "{failure:?}"
    );
    assert!(
        error.to_ascii_lowercase().contains("certificate"),
        "{error}"
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn the_cli_never_shows_the_password() {
    let (_repo, _commit, root, name) = served_repo();
    let server = GitHttpServer::start(&root, Some(("tester", "s3cret-token")), None);
    let cache = tempfile::tempdir().unwrap();
    let in_a_header = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode("tester:wr0ng-passw0rd")
    };
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_hookbox"))
            .env("HOOKBOX_CACHE_DIR", cache.path())
            .env("HOOKBOX_LOG", "trace")
            .env("GIT_URL", server.url(&name))
            .env("GIT_HOOK_CONFIG_TTL", "300")
            .env("GIT_USER", "tester")
            .env("GIT_PASSWORD", "wr0ng-passw0rd")
            .env_remove("GIT_BRANCH")
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!text.contains("wr0ng-passw0rd"), "{text}");
        assert!(!text.contains(&in_a_header), "{text}");
        (output.status.code(), text)
    };
    let (code, text) = run(&["source", "fetch"]);
    assert_eq!(code, Some(69), "{text}");
    assert!(text.contains("refused the credentials"), "{text}");
    let (code, text) = run(&["source", "status"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("last fetch failed"), "{text}");
    let payload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(payload.path(), crate::support::SESSION_OPEN).unwrap();
    let payload = payload.path().display().to_string();
    let (code, text) = run(&[
        "run",
        "--event",
        "session-open",
        "--payload",
        &payload,
        "--json",
    ]);
    assert_eq!(code, Some(69), "{text}");
    assert!(text.contains("refused the credentials"), "{text}");
}

// ---------------------------------------------------------------- SSH

const SSHD: &str = "/usr/sbin/sshd";

/// Panics with what to install when the OpenSSH programs are missing.
fn require_openssh() {
    let missing: Vec<&str> = [
        (SSHD, Path::new(SSHD).exists()),
        (
            "ssh",
            Command::new("ssh")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
        ),
        (
            "ssh-keygen",
            Command::new("ssh-keygen").arg("-?").output().is_ok(),
        ),
    ]
    .into_iter()
    .filter(|(_, present)| !present)
    .map(|(name, _)| name)
    .collect();
    assert!(
        missing.is_empty(),
        "the SSH tests need OpenSSH ({} missing): .ci/run installs openssh-server and openssh-client \
         (apt-get install openssh-server openssh-client)",
        missing.join(", ")
    );
}

/// Makes a key pair at `path` (and `path.pub`).
fn keygen(path: &Path, passphrase: &str) {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-C",
            "hookbox-test",
            "-N",
            passphrase,
            "-f",
        ])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "ssh-keygen failed");
}

/// An sshd on 127.0.0.1 that lets in the keys in its `authorized_keys`.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Sshd {
    fn start() -> Sshd {
        require_openssh();
        // sshd's privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        keygen(&dir.path().join("host_key"), "");
        std::fs::write(dir.path().join("authorized_keys"), "").unwrap();
        // sshd is told its port (it cannot be handed a listening socket),
        // and given another when it finds that one in use.
        let log_path = dir.path().join("sshd.log");
        let (port, child) = start_on_a_free_port(5, |port| {
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\n\
                     AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nUsePAM no\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     PermitRootLogin prohibit-password\nPidFile {dir}/sshd.pid\n",
                    dir = dir.path().display()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(&log_path).unwrap();
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start sshd");
            // Up once it says it listens; its port taken if it exits saying so.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let logged = std::fs::read_to_string(&log_path).unwrap_or_default();
                if logged.contains("Server listening on") {
                    return Started::Up((port, child));
                }
                if let Ok(Some(_)) = child.try_wait() {
                    let logged = std::fs::read_to_string(&log_path).unwrap_or_default();
                    if logged.contains("Address already in use") {
                        return Started::PortTaken;
                    }
                    panic!("sshd did not start: {logged}");
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("sshd did not listen within 10 s: {logged}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Sshd { dir, port, child }
    }

    /// Lets the key at `public_key` in.
    fn authorize(&self, public_key: &Path) {
        let key = std::fs::read_to_string(public_key).unwrap();
        let path = self.dir.path().join("authorized_keys");
        let mut keys = std::fs::read_to_string(&path).unwrap();
        keys.push_str(&key);
        std::fs::write(path, keys).unwrap();
    }

    /// The known_hosts line of this server's host key.
    fn known_hosts(&self) -> String {
        let public = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        let mut fields = public.split_whitespace();
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        format!("[127.0.0.1]:{} {kind} {key}\n", self.port)
    }

    /// The `ssh://` URL of a repository at `path` on this machine.
    fn url(&self, path: &Path) -> String {
        let user =
            String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            user.trim(),
            self.port,
            path.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An sshd, a client key it trusts (with `passphrase`), and the key's text.
fn sshd_and_key(passphrase: &str) -> (Sshd, tempfile::TempDir, String) {
    let sshd = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("id_ed25519");
    keygen(&key, passphrase);
    sshd.authorize(&key.with_extension("pub"));
    let text = std::fs::read_to_string(&key).unwrap();
    (sshd, keys, text)
}

#[test]
fn ssh_with_the_servers_host_key_fetches_and_leaves_no_key_behind() {
    let (repo, commit) = repo_with_hook();
    let (sshd, _keys, key) = sshd_and_key("");
    let (cache, source) = source_from(&[
        ("GIT_URL", sshd.url(repo.path())),
        ("GIT_SSH_KEY", key.clone()),
        ("GIT_SSH_KNOWN_HOSTS", sshd.known_hosts()),
    ]);
    let snapshot = source.fetch().unwrap();
    assert_eq!(snapshot.commit, commit);
    assert_eq!(
        hook_text(&source, Event::SessionOpen).as_deref(),
        Some("print('from the network')\n")
    );
    let key_body = key.lines().nth(1).unwrap();
    for file in files_under(cache.path()) {
        let contents = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&contents).contains(key_body),
            "{} holds the key",
            file.display()
        );
    }
}

#[test]
fn ssh_refuses_a_host_key_not_in_known_hosts_unless_told_it_is_insecure() {
    let (repo, commit) = repo_with_hook();
    let (sshd, keys, key) = sshd_and_key("");
    let other = keys.path().join("other_host");
    keygen(&other, "");
    let other_public = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let mut fields = other_public.split_whitespace();
    let wrong = format!(
        "[127.0.0.1]:{} {} {}\n",
        sshd.port,
        fields.next().unwrap(),
        fields.next().unwrap()
    );
    let (_cache, source) = source_from(&[
        ("GIT_URL", sshd.url(repo.path())),
        ("GIT_SSH_KEY", key.clone()),
        ("GIT_SSH_KNOWN_HOSTS", wrong.clone()),
    ]);
    let failure = fetch_error(&source, key.lines().nth(1).unwrap());
    let error = failure.to_string();
    assert!(matches!(failure, FetchError::Refused { .. }), "{failure:?}");
    assert!(
        error.contains(
            "the SSH host key of 127.0.0.1 is not one GIT_SSH_KNOWN_HOSTS trusts: refused"
        ),
        "{error}"
    );

    // A known_hosts for another host does not help either.
    let (_cache, source) = source_from(&[
        ("GIT_URL", sshd.url(repo.path())),
        ("GIT_SSH_KEY", key.clone()),
        (
            "GIT_SSH_KNOWN_HOSTS",
            sshd.known_hosts()
                .replace("[127.0.0.1]", "[git.example.com]"),
        ),
    ]);
    assert!(refusal(fetch_error(&source, "-----")).contains("refused"));

    let (_cache, source) = source_from(&[
        ("GIT_URL", sshd.url(repo.path())),
        ("GIT_SSH_KEY", key),
        ("GIT_SSH_KNOWN_HOSTS", wrong),
        ("GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY", "true".into()),
    ]);
    assert_eq!(source.fetch().unwrap().commit, commit);
}

#[test]
fn ssh_with_a_key_the_server_does_not_know_is_refused() {
    let (repo, _commit) = repo_with_hook();
    let sshd = Sshd::start();
    let keys = tempfile::tempdir().unwrap();
    keygen(&keys.path().join("stranger"), "");
    let key = std::fs::read_to_string(keys.path().join("stranger")).unwrap();
    let (_cache, source) = source_from(&[
        ("GIT_URL", sshd.url(repo.path())),
        ("GIT_SSH_KEY", key.clone()),
        ("GIT_SSH_KNOWN_HOSTS", sshd.known_hosts()),
    ]);
    let failure = fetch_error(&source, key.lines().nth(1).unwrap());
    let error = failure.to_string();
    assert!(matches!(failure, FetchError::Refused { .. }), "{failure:?}");
    assert!(
        error.contains("the SSH server 127.0.0.1 refused the key of GIT_SSH_KEY"),
        "{error}"
    );
}

#[test]
fn ssh_with_a_passphrase_protected_key_uses_the_keypass() {
    let (repo, commit) = repo_with_hook();
    let (sshd, _keys, key) = sshd_and_key("open sesame");
    let url = sshd.url(repo.path());
    let (_cache, source) = source_from(&[
        ("GIT_URL", url.clone()),
        ("GIT_SSH_KEY", key.clone()),
        ("GIT_SSH_KEYPASS", "open sesame".into()),
        ("GIT_SSH_KNOWN_HOSTS", sshd.known_hosts()),
    ]);
    assert_eq!(source.fetch().unwrap().commit, commit);

    let (_cache, source) = source_from(&[
        ("GIT_URL", url.clone()),
        ("GIT_SSH_KEY", key.clone()),
        ("GIT_SSH_KEYPASS", "wrong sesame".into()),
        ("GIT_SSH_KNOWN_HOSTS", sshd.known_hosts()),
    ]);
    let failure = fetch_error(&source, "wrong sesame");
    let error = failure.to_string();
    assert!(matches!(failure, FetchError::Refused { .. }), "{failure:?}");
    assert!(error.contains("GIT_SSH_KEYPASS"), "{error}");

    let vars: HashMap<&str, String> = [
        ("GIT_URL", url),
        ("GIT_HOOK_CONFIG_TTL", "300".into()),
        ("GIT_SSH_KEY", key),
        ("GIT_SSH_KNOWN_HOSTS", sshd.known_hosts()),
    ]
    .into_iter()
    .collect();
    let error = GitConfig::resolve(&GitSection::default(), |name| vars.get(name).cloned())
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "GIT_SSH_KEY: the key is passphrase-protected: set GIT_SSH_KEYPASS"
    );
}

// ---------------------------------------------------------------- signing

/// A repository whose first commit alice signed and whose second mallory
/// did, the allowed-signers file listing alice, and both commits.
fn signed_then_foreign() -> (TestRepo, Keys, PathBuf, String, String) {
    let keys = Keys::new();
    let alice = keys.make("alice");
    let mallory = keys.make("mallory");
    let allowed = keys.allowed_signers(&[format!("alice@example.com {}", Keys::public(&alice))]);
    let repo = TestRepo::new("main");
    repo.sign_with(&alice);
    repo.write("hoop-hooks/session-open.runbook.py", HOOK);
    let signed = repo.commit("alice's hook");
    repo.sign_with(&mallory);
    repo.write("hoop-hooks/session-open.runbook.py", b"print('mallory')\n");
    let foreign = repo.commit("mallory's hook");
    repo.git(&["branch", "reviewed", &signed]);
    (repo, keys, allowed, signed, foreign)
}

/// Fetches `reviewed` (alice's), then `main` (mallory's), through
/// `source_for(branch)`; the second is refused and the first kept.
fn check_signed_fetches(
    source_for: impl Fn(&str) -> (tempfile::TempDir, GitSource),
    signed: &str,
    foreign: &str,
) {
    let (_cache, source) = source_for("reviewed");
    let snapshot = source.fetch().unwrap();
    assert_eq!(snapshot.commit, signed);
    assert_eq!(snapshot.signer.unwrap().principals, "alice@example.com");
    let (_cache, source) = source_for("main");
    match source.fetch() {
        Err(SourceError::Fetch(FetchError::Unverified { commit, .. })) => {
            assert_eq!(commit, foreign)
        }
        other => panic!("mallory's commit was not refused: {other:?}"),
    }
    assert!(source.status().snapshot.is_none());
}

#[test]
fn signed_commits_are_verified_over_smart_http() {
    let (repo, _keys, allowed, signed, foreign) = signed_then_foreign();
    let (root, name) = root_and_name(&repo);
    let server = GitHttpServer::start(&root, Some(("tester", "s3cret-token")), None);
    let source_for = |branch: &str| {
        source_from(&[
            ("GIT_URL", server.url(&name)),
            ("GIT_BRANCH", branch.to_owned()),
            ("GIT_USER", "tester".into()),
            ("GIT_PASSWORD", "s3cret-token".into()),
            ("GIT_ALLOWED_SIGNERS", allowed.display().to_string()),
        ])
    };
    check_signed_fetches(source_for, &signed, &foreign);
}

#[test]
fn ssh_fetches_verify_signed_commits_too() {
    let (repo, _keys, allowed, signed, foreign) = signed_then_foreign();
    let (sshd, _ssh_keys, key) = sshd_and_key("");
    let source_for = |branch: &str| {
        source_from(&[
            ("GIT_URL", sshd.url(repo.path())),
            ("GIT_BRANCH", branch.to_owned()),
            ("GIT_SSH_KEY", key.clone()),
            ("GIT_SSH_KNOWN_HOSTS", sshd.known_hosts()),
            ("GIT_ALLOWED_SIGNERS", allowed.display().to_string()),
        ])
    };
    check_signed_fetches(source_for, &signed, &foreign);
}
