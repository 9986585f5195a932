//! The dashboard in a real browser: Debian's headless Chromium, driven over
//! WebDriver (chromedriver), against a `hookbox serve` the test starts. An
//! operator signs in, sees a run a test posted appear without a reload,
//! opens it, reads the denied egress attempt and its reason, finds the hook's
//! `<script>` shown as text and never run, and replays the dead letter once
//! the hook is fixed.
//!
//! Screenshots of the pages it visits go to `$HOOKBOX_SCREENSHOTS` when set
//! (`just screenshots` writes the ones in `docs/`), else under cargo's target
//! tmp directory.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::receiver::Reply;
use crate::service::{FORWARD_HOOK, Setup, TOKEN, eventually, get, open_event, post_event};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long one page or element may take to show up.
const PAGE_DEADLINE: Duration = Duration::from_secs(30);

/// Prints markup that would raise an alert if it ran, tries a host no rule
/// allows, then fails.
const HOSTILE_OUTPUT: &str = r#"
import urllib.request
print("<script>alert(1)</script>")
print('<img src=x onerror="alert(2)">')
try:
    urllib.request.urlopen("http://10.9.9.9/steal", timeout=2)
except OSError as error:
    print("refused:", type(error).__name__)
raise SystemExit(3)
"#;

/// chromedriver on a loopback port, and one headless Chromium session.
struct Browser {
    driver: Child,
    client: Option<Client>,
    _profile: tempfile::TempDir,
}

/// The port in chromedriver's "ChromeDriver was started successfully on port
/// 40841." line.
fn started_on_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("started successfully on port ")?;
    rest.trim_end_matches('.').trim().parse().ok()
}

impl Browser {
    async fn start() -> Browser {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver \
                 (tests/run.sh does)"
            );
        }
        // chromedriver picks its own port (0) and says which: no port is
        // found free and then taken by something else before it binds.
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = driver.stdout.take().unwrap();
        let (started, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = started_on_port(&line) {
                    let _ = started.send(port);
                }
            }
        });
        let Ok(port) = ready.recv_timeout(PAGE_DEADLINE) else {
            let _ = driver.kill();
            panic!("chromedriver did not start within {PAGE_DEADLINE:?}");
        };
        let profile = tempfile::tempdir().unwrap();
        // Headless, as root, and with none of Chromium's own background
        // traffic: only the service under test is reached.
        let capabilities = json!({
            "browserName": "chrome",
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,860",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session through chromedriver");
        Browser {
            driver,
            client: Some(client),
            _profile: profile,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("HOOKBOX_SCREENSHOTS").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot of {name}");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// The text of the first element `css` finds, once it is there.
async fn text_of(client: &Client, css: &str) -> String {
    match client
        .wait()
        .at_most(PAGE_DEADLINE)
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element.text().await.unwrap(),
        Err(error) => panic!("no {css} on {}: {error}", client.source().await.unwrap()),
    }
}

async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(PAGE_DEADLINE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css} to click: {error}"))
        .click()
        .await
        .unwrap();
}

async fn path_of(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_owned()
}

/// Whether a JavaScript dialog is open (an `alert` that ran).
async fn alert_open(client: &Client) -> bool {
    client.get_alert_text().await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_the_dashboard_in_chromium() {
    let setup = Setup::new(Reply::Status(200, "ok"), "max_attempts = 1").await;
    setup.write_hook(HOSTILE_OUTPUT);
    let server = setup.start(&[]);
    let dead_run = crate::dashboard::dead_letter(&server, "sess-browser-dead").await;

    let browser = Browser::start().await;
    let client = browser.client();

    // Signed out, the dashboard is the sign-in form; a wrong token is named.
    client.goto(&server.base).await.unwrap();
    assert_eq!(path_of(client).await, "/login");
    let token = client
        .find(Locator::Css("input[name=token]"))
        .await
        .unwrap();
    token.send_keys("not-the-token").await.unwrap();
    click(client, "form button[type=submit]").await;
    assert!(
        text_of(client, "p.error")
            .await
            .contains("not this service's token")
    );
    let token = client
        .find(Locator::Css("input[name=token]"))
        .await
        .unwrap();
    token.send_keys(TOKEN).await.unwrap();
    click(client, "form button[type=submit]").await;
    let dead_link = format!("a[href='/runs/{dead_run}']");
    text_of(client, &dead_link).await;
    assert_eq!(path_of(client).await, "/");
    let cookie = client.get_named_cookie("hookbox_session").await;
    assert!(
        cookie.as_ref().is_ok_and(|c| c.http_only() == Some(true)),
        "an HttpOnly session cookie: {cookie:?}"
    );

    // The hook is fixed; a run posted now appears without a reload.
    setup.write_hook(FORWARD_HOOK);
    let (status, accepted) = post_event(&server, open_event("sess-browser-live")).await;
    assert_eq!(status, 202, "{accepted}");
    let live_run = accepted["run_id"].as_str().unwrap().to_owned();
    let live_link = format!("a[href='/runs/{live_run}']");
    text_of(client, &live_link).await;
    assert_eq!(path_of(client).await, "/", "no navigation happened");
    eventually("the live row to show the run succeeded", async || {
        let row = format!("//a[@href='/runs/{live_run}']/ancestor::tr");
        let text = client
            .find(Locator::XPath(&row))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("succeeded").then_some(())
    })
    .await;
    screenshot(client, "runs").await;

    // The dead run: its denied attempt with the reason, its output as text.
    click(client, &dead_link).await;
    assert_eq!(path_of(client).await, format!("/runs/{dead_run}"));
    let denied = text_of(client, "table.egress tr.verdict-denied").await;
    assert!(
        denied.contains("10.9.9.9") && denied.contains("private address"),
        "{denied}"
    );
    let stdout = text_of(client, "pre.output").await;
    assert!(stdout.contains("<script>alert(1)</script>"), "{stdout}");
    assert!(
        stdout.contains(r#"<img src=x onerror="alert(2)">"#),
        "{stdout}"
    );
    let scripts = client
        .execute(
            "return [document.querySelectorAll('main script, main img').length, \
                     document.querySelectorAll('script:not([src])').length]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(scripts, json!([0, 0]), "the hook's markup made no element");
    assert!(!alert_open(client).await, "the hook's markup ran");
    screenshot(client, "run").await;

    // Dead letters: replay from the list; the new run is the fixed hook's.
    click(client, "header a[href='/?status=dead']").await;
    assert_eq!(text_of(client, "main h1").await, "Dead letters");
    screenshot(client, "dead-letters").await;
    let replay = format!("form[action='/runs/{dead_run}/replay'] button");
    click(client, &replay).await;
    let replay_of = text_of(client, &format!("dl.facts a[href='/runs/{dead_run}']")).await;
    assert_eq!(replay_of, dead_run);
    let new_run = path_of(client)
        .await
        .trim_start_matches("/runs/")
        .to_owned();
    assert_ne!(new_run, dead_run);
    let run = eventually("the replay to succeed", async || {
        let run = get(&server, &format!("/v1/runs/{new_run}")).await;
        (run["state"] == "succeeded").then_some(run)
    })
    .await;
    assert_eq!(run["replay_of"], dead_run.as_str());
    client.refresh().await.unwrap();
    let firings = text_of(client, "table.firings").await;
    assert!(
        firings.contains("this run") && firings.contains(&dead_run),
        "the replay is shown with the run it replays: {firings}"
    );

    // Where hooks come from and what they may reach.
    click(client, "header a[href='/']").await;
    click(client, "header a[href='/settings']").await;
    let rules = text_of(client, "ul.rules").await;
    assert!(
        rules.contains(&format!("http://127.0.0.1:{}", setup.receiver.port())),
        "{rules}"
    );
    screenshot(client, "settings").await;

    // How things went: the dead letter and its successful replay drawn as
    // bars, the receiver among the destinations.
    click(client, "header a[href='/activity']").await;
    assert_eq!(text_of(client, "main h1").await, "Activity");
    let drawn = client
        .execute(
            "return ['rect.ok', 'rect.failed', 'rect.p50', 'rect.allowed'].map(\
             s => [...document.querySelectorAll(s)].filter(r => r.getBBox().height > 0).length)",
            vec![],
        )
        .await
        .unwrap();
    let drawn: Vec<u64> = serde_json::from_value(drawn).unwrap();
    assert!(
        drawn.iter().all(|&count| count > 0),
        "bars drawn: {drawn:?}"
    );
    let destinations = text_of(client, "table.destinations").await;
    assert!(
        destinations.contains(&format!("http://127.0.0.1:{}", setup.receiver.port())),
        "{destinations}"
    );
    screenshot(client, "activity").await;
    assert!(!alert_open(client).await);
    browser.close().await;
}
