//! The dashboard `hookbox serve` shows at `/`: runs (newest first, counted
//! by state, filtered by status, event, session, payload text such as a user
//! or a connection, and time), every firing of one Hoop event together, dead
//! letters with their replay buttons, a run with its payload (secrets as
//! redacted), every attempt with its output and every egress attempt with its
//! verdict; the hook source (folder, or the git snapshot's commit, branch,
//! age, hooks and last fetch error), the egress policy as normalized rules
//! and the limits (`/settings`); pictures of how things go: attempts per
//! hour or per 7 hours by how they ended, their latency, and egress by
//! destination (`/activity`).
//!
//! Server-rendered from templates checked at compile time (askama, which
//! escapes everything it inserts, so hook output and payload fields are
//! inert text), one small script that refreshes the runs table, a strict
//! Content-Security-Policy. Signing in takes the service's token and sets an
//! HttpOnly, SameSite=Strict session cookie; forms that change something
//! carry a CSRF token. With `--no-auth` it is open, as the API is.

mod activity;
mod session;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Shared;
use super::spool::{RunFilter, RunState, SpoolError, now_millis};
use activity::{Activity, Window};
use session::Sessions;
use views::{ActivityPage, LoginPage, RunPage, RunsPage, RunsRows, SettingsPage};

/// The policy every dashboard answer carries: only this origin's stylesheet
/// and one script (the live runs table), no inline script, no frames, forms
/// and fetches only to here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

const STYLESHEET: &str = include_str!("app.css");
const LIVE_SCRIPT: &str = include_str!("live.js");

/// Runs listed on one page.
const PAGE_RUNS: usize = 200;

struct Dashboard {
    shared: Arc<Shared>,
    sessions: Sessions,
}

/// The dashboard's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    let dashboard = Arc::new(Dashboard {
        shared,
        sessions: Sessions::new(),
    });
    Router::new()
        .route("/", get(runs))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/runs/{id}", get(run))
        .route("/runs/{id}/replay", post(replay))
        .route("/settings", get(settings))
        .route("/activity", get(activity))
        .route("/runs/rows", get(rows))
        .route("/static/app.css", get(stylesheet))
        .route("/static/live.js", get(live_script))
        .with_state(dashboard)
}

fn now_seconds() -> i64 {
    now_millis() / 1000
}

/// A page with the dashboard's headers.
fn page(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn render(status: StatusCode, template: impl askama::Template) -> Response {
    match template.render() {
        Ok(html) => page(status, html),
        Err(error) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render the page: {error}"),
        ),
    }
}

fn problem(status: StatusCode, message: impl std::fmt::Display) -> Response {
    page(status, views::problem(&message.to_string()))
}

/// The visitor's session (with `--no-auth`, everyone shares one); without
/// one, the answer is a redirect to the sign-in page.
struct Session(String);

impl FromRequestParts<Arc<Dashboard>> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        dashboard: &Arc<Dashboard>,
    ) -> Result<Session, Response> {
        if dashboard.shared.auth.is_open() {
            return Ok(Session("open".into()));
        }
        let cookie = parts
            .headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok());
        dashboard
            .sessions
            .current(cookie, now_seconds())
            .map(Session)
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

/// The answer to a form whose CSRF token is not its session's.
fn stale_form() -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "this form is stale or was not sent from the dashboard: reload and try again",
    )
}

async fn stylesheet() -> Response {
    asset(STYLESHEET, "text/css; charset=utf-8")
}

async fn live_script() -> Response {
    asset(LIVE_SCRIPT, "text/javascript; charset=utf-8")
}

fn asset(text: &'static str, content_type: &'static str) -> Response {
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn login_form(State(dashboard): State<Arc<Dashboard>>) -> Response {
    let message = (!dashboard.shared.auth.has_token() && !dashboard.shared.auth.is_open())
        .then(|| "this service has no HOOKBOX_TOKEN, so the dashboard cannot be opened".into());
    render(StatusCode::OK, LoginPage { message })
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(dashboard): State<Arc<Dashboard>>, Form(form): Form<LoginForm>) -> Response {
    if !dashboard.shared.auth.accepts_token(&form.token) {
        let message = Some("that is not this service's token".to_owned());
        return render(StatusCode::UNAUTHORIZED, LoginPage { message });
    }
    let mut response = Redirect::to("/").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&dashboard.sessions.start(now_seconds())) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(dashboard): State<Arc<Dashboard>>,
    Session(session): Session,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !dashboard.sessions.csrf_matches(&session, &form.csrf) {
        return stale_form();
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&Sessions::end()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `/?status=&event=&event_id=&sid=&contains=&since=`
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RunsQuery {
    status: Option<String>,
    event: Option<String>,
    /// Every firing of one Hoop event, and their replays.
    event_id: Option<String>,
    sid: Option<String>,
    /// Text the payload holds: a user's email, a connection's name, ...
    contains: Option<String>,
    /// How far back: `30m`, `6h`, `7d`.
    since: Option<String>,
}

impl RunsQuery {
    /// The filter with empty fields dropped.
    fn cleaned(self) -> RunsQuery {
        let keep = |text: Option<String>| text.filter(|t| !t.is_empty());
        RunsQuery {
            status: keep(self.status),
            event: keep(self.event),
            event_id: keep(self.event_id),
            sid: keep(self.sid),
            contains: keep(self.contains),
            since: keep(self.since),
        }
    }

    /// The filter as a query string: `?status=dead&sid=...`, or nothing.
    pub(crate) fn query_string(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("status", &self.status),
            ("event", &self.event),
            ("event_id", &self.event_id),
            ("sid", &self.sid),
            ("contains", &self.contains),
            ("since", &self.since),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        let query = query.finish();
        if query.is_empty() {
            query
        } else {
            format!("?{query}")
        }
    }
}

/// The runs `query` selects, newest first, and the counts by state.
async fn listed(
    dashboard: &Dashboard,
    query: &RunsQuery,
) -> Result<(Vec<super::spool::RunSummary>, Vec<(String, u64)>), Response> {
    let state = match query.status.as_deref().map(RunState::parse) {
        Some(None) => return Err(problem(StatusCode::BAD_REQUEST, "no such status")),
        Some(Some(state)) => Some(state),
        None => None,
    };
    let since = match query.since.as_deref().map(humantime::parse_duration) {
        Some(Err(_)) => {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "write the time window like 30m, 6h or 7d",
            ));
        }
        Some(Ok(window)) => Some(now_millis() - window.as_millis().min(i64::MAX as u128) as i64),
        None => None,
    };
    let filter = RunFilter {
        state,
        event: query.event.clone(),
        event_id: query.event_id.clone(),
        sid: query.sid.clone(),
        contains: query.contains.clone(),
        since,
        limit: PAGE_RUNS,
    };
    let spool = &dashboard.shared.spool;
    let unavailable = |error| problem(StatusCode::SERVICE_UNAVAILABLE, error);
    let runs = spool.list(&filter).await.map_err(unavailable)?;
    let stats = spool.stats(now_millis()).await.map_err(unavailable)?;
    Ok((runs, stats.by_state))
}

async fn runs(
    State(dashboard): State<Arc<Dashboard>>,
    Session(session): Session,
    Query(query): Query<RunsQuery>,
) -> Response {
    let query = query.cleaned();
    match listed(&dashboard, &query).await {
        Ok((runs, counts)) => {
            let csrf = dashboard.sessions.csrf(&session);
            render(StatusCode::OK, RunsPage::new(runs, counts, query, csrf))
        }
        Err(answer) => answer,
    }
}

async fn rows(
    State(dashboard): State<Arc<Dashboard>>,
    Session(session): Session,
    Query(query): Query<RunsQuery>,
) -> Response {
    match listed(&dashboard, &query.cleaned()).await {
        Ok((runs, _)) => {
            let csrf = dashboard.sessions.csrf(&session);
            render(StatusCode::OK, RunsRows::new(runs, csrf))
        }
        Err(answer) => answer,
    }
}

async fn run(
    State(dashboard): State<Arc<Dashboard>>,
    Session(session): Session,
    Path(id): Path<String>,
) -> Response {
    let spool = &dashboard.shared.spool;
    let found = async {
        let Some(detail) = spool.show(&id).await? else {
            return Ok(None);
        };
        let firings = spool
            .list(&RunFilter {
                event_id: Some(detail.run.event_id.clone()),
                limit: PAGE_RUNS,
                ..RunFilter::default()
            })
            .await?;
        Ok::<_, SpoolError>(Some((detail, firings)))
    };
    match found.await {
        Ok(Some((detail, firings))) => render(
            StatusCode::OK,
            RunPage::new(detail, firings, dashboard.sessions.csrf(&session)),
        ),
        Ok(None) => problem(StatusCode::NOT_FOUND, "no such run"),
        Err(error) => problem(StatusCode::SERVICE_UNAVAILABLE, error),
    }
}

async fn replay(
    State(dashboard): State<Arc<Dashboard>>,
    Session(session): Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !dashboard.sessions.csrf_matches(&session, &form.csrf) {
        return stale_form();
    }
    match dashboard.shared.spool.replay(&id, now_millis()).await {
        Ok(Some(new_id)) => {
            dashboard.shared.wake.notify_one();
            Redirect::to(&format!("/runs/{new_id}")).into_response()
        }
        Ok(None) => problem(StatusCode::NOT_FOUND, "no such run"),
        Err(error) => problem(StatusCode::SERVICE_UNAVAILABLE, error),
    }
}

async fn settings(State(dashboard): State<Arc<Dashboard>>, Session(session): Session) -> Response {
    let shared = dashboard.shared.clone();
    let csrf = dashboard.sessions.csrf(&session);
    // The git source's status reads its cache from disk.
    let page = tokio::task::spawn_blocking(move || {
        SettingsPage::new(&shared.hooks, &shared.sandbox, csrf)
    })
    .await;
    match page {
        Ok(page) => render(StatusCode::OK, page),
        Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}

/// `/activity?within=24h|7d`
#[derive(Deserialize)]
struct ActivityQuery {
    within: Option<String>,
}

async fn activity(
    State(dashboard): State<Arc<Dashboard>>,
    Session(session): Session,
    Query(query): Query<ActivityQuery>,
) -> Response {
    let Some(window) = Window::parse(query.within.as_deref()) else {
        return problem(StatusCode::BAD_REQUEST, "show activity within 24h or 7d");
    };
    let now = now_millis();
    let since = window.start(now);
    let interval = window.interval();
    let spool = &dashboard.shared.spool;
    let read = async {
        Ok::<_, SpoolError>((
            spool.attempt_counts(since, interval).await?,
            spool
                .attempts_since(since, activity::MOST_ATTEMPTS + 1)
                .await?,
        ))
    };
    match read.await {
        Ok((counts, samples)) => render(
            StatusCode::OK,
            ActivityPage::new(
                Activity::new(window, now, &counts, &samples),
                dashboard.sessions.csrf(&session),
            ),
        ),
        Err(error) => problem(StatusCode::SERVICE_UNAVAILABLE, error),
    }
}
