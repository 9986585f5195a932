//! The HTTP interface (axum): event intake, reading and replaying runs,
//! health and metrics. Every error answer is JSON `{"error": "..."}`.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/events` | 202 `{run_id, event_id, duplicate}` once stored; 400 bad payload; 401; 413 over the cap; 503 spool full |
//! | `GET /v1/runs?status=&event=&limit=` | 200 `{runs: [...]}`, newest first |
//! | `GET /v1/runs/{id}` | 200 the run, its payload and every attempt; 404 |
//! | `POST /v1/runs/{id}/replay` | 202 `{run_id, replay_of}`; 404 |
//! | `GET /healthz` | 200 spool depth, oldest pending age, source snapshot age |
//! | `GET /metrics` | Prometheus text |

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde_json::json;

use super::Shared;
use super::client::{SCRIPT_DIGEST_HEADER, sha256_hex};
use super::metrics::Rejection;
use super::spool::{NewEvent, RunFilter, RunState, now_millis};
use hookbox_intake::hoop_event;
use hookbox_intake::{Event, Payload};

/// Seconds a client is told to wait when the spool is full.
const RETRY_AFTER_SECONDS: u32 = 30;
/// Runs listed when no `limit` is given, and the most ever listed.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

/// The service's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/events", post(post_event))
        .route("/v1/runs", get(list_runs))
        .route("/v1/runs/{id}", get(show_run))
        .route("/v1/runs/{id}/replay", post(replay_run))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .with_state(shared.clone())
        .merge(super::dashboard::router(shared))
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "error": message.to_string() }))).into_response()
}

fn unauthorized(message: impl std::fmt::Display) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, message);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// What makes this delivery one: the sender's `webhook-id` (Standard
/// Webhooks' idempotency key; the drop-in sends one per firing), else
/// Hoop's event id and the payload's SHA-256, so the same POST twice is one
/// delivery and a second firing with another payload is another.
fn delivery_key(headers: &HeaderMap, event_id: &str, body: &[u8]) -> String {
    let sent = headers
        .get("webhook-id")
        .and_then(|value| value.to_str().ok())
        .filter(|key| !key.is_empty() && key.len() <= 256);
    match sent {
        Some(key) => format!("webhook-id:{key}"),
        None => format!("{event_id}:{}", sha256_hex(body)),
    }
}

/// The drop-in's digest of the script it was given, when it is one.
fn script_digest(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(SCRIPT_DIGEST_HEADER)?.to_str().ok()?;
    let hex = value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| value.to_ascii_lowercase())
}

fn now_seconds() -> i64 {
    now_millis() / 1000
}

async fn post_event(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    // Who may not post is refused before a byte of the body is read.
    if let Err(refused) = shared.auth.check_headers(&headers, now_seconds()) {
        shared.metrics.rejected(Rejection::Unauthorized);
        return unauthorized(refused);
    }
    let cap = shared.max_payload;
    let bytes = match Limited::new(body, cap as usize).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            shared.metrics.rejected(Rejection::TooLarge);
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the payload is larger than {cap} bytes"),
            );
        }
        Err(e) => {
            shared.metrics.rejected(Rejection::BadPayload);
            return error(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            );
        }
    };
    if let Err(refused) = shared.auth.check_body(&headers, &bytes, now_seconds()) {
        shared.metrics.rejected(Rejection::Unauthorized);
        return unauthorized(refused);
    }
    let payload = match Payload::from_bytes(bytes.to_vec(), "the request") {
        Ok(payload) => payload,
        Err(e) => {
            shared.metrics.rejected(Rejection::BadPayload);
            return error(StatusCode::BAD_REQUEST, e);
        }
    };
    let identity = match hoop_event::identify(&payload) {
        Ok(identity) => identity,
        Err(e) => {
            shared.metrics.rejected(Rejection::BadPayload);
            return error(StatusCode::BAD_REQUEST, e);
        }
    };
    let max_spool = shared.max_spool;
    let depth = match shared.spool.depth().await {
        Ok(depth) => depth,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    if depth >= max_spool {
        shared.metrics.rejected(Rejection::SpoolFull);
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the spool holds {depth} waiting runs, its limit; retry later"),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        return response;
    }
    // Secrets the operator does not pass to hooks never reach the disk.
    let event = NewEvent {
        delivery: delivery_key(&headers, &identity.id, &bytes),
        id: identity.id,
        event: identity.event.name().to_owned(),
        sid: identity.sid,
        payload: shared.sandbox.secrets.redact(&payload).as_str().to_owned(),
        script_sha256: script_digest(&headers),
    };
    match shared.spool.accept(&event, now_millis()).await {
        Ok(accepted) => {
            if accepted.duplicate {
                shared.metrics.events_duplicate.inc();
            } else {
                shared.metrics.events_accepted.inc();
                shared.wake.notify_one();
            }
            (StatusCode::ACCEPTED, axum::Json(accepted)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store an event");
            error(StatusCode::SERVICE_UNAVAILABLE, e)
        }
    }
}

/// A request that may read and replay runs: they hold payloads and output,
/// so it needs the bearer token. Taking a `Reader` argument is how a route
/// says so; a request that may not is refused before the route runs.
struct Reader;

impl FromRequestParts<Arc<Shared>> for Reader {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Reader, Response> {
        if shared.auth.is_open() {
            return Ok(Reader);
        }
        if !shared.auth.has_token() {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!(
                    "reading runs needs a bearer token: set {}",
                    hookbox_core::env_names::TOKEN
                ),
            ));
        }
        shared
            .auth
            .check_token(&parts.headers)
            .map(|()| Reader)
            .map_err(unauthorized)
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    event: Option<String>,
    /// Every firing of one Hoop event (and their replays).
    event_id: Option<String>,
    sid: Option<String>,
    limit: Option<usize>,
}

async fn list_runs(
    _reader: Reader,
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ListQuery>,
) -> Response {
    let state = match query.status.as_deref().map(|s| (s, RunState::parse(s))) {
        None => None,
        Some((_, Some(state))) => Some(state),
        Some((given, None)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "status {given:?} is not one of pending, running, succeeded, skipped, dead"
                ),
            );
        }
    };
    if let Some(Err(unknown)) = query.event.as_deref().map(str::parse::<Event>) {
        return error(StatusCode::BAD_REQUEST, unknown.to_string());
    }
    let filter = RunFilter {
        state,
        event: query.event,
        event_id: query.event_id,
        sid: query.sid,
        limit: query.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
        ..RunFilter::default()
    };
    match shared.spool.list(&filter).await {
        Ok(runs) => axum::Json(json!({ "runs": runs })).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn show_run(
    _reader: Reader,
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    match shared.spool.show(&id).await {
        Ok(Some(detail)) => axum::Json(detail).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such run"),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn replay_run(
    _reader: Reader,
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let of = id.clone();
    match shared.spool.replay(&id, now_millis()).await {
        Ok(Some(run_id)) => {
            shared.wake.notify_one();
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({ "run_id": run_id, "replay_of": of })),
            )
                .into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "no such run"),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let stats = match shared.spool.stats(now_millis()).await {
        Ok(stats) => stats,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let source = shared.hooks.git_figures();
    axum::Json(json!({
        "status": "ok",
        "spool_depth": stats.depth,
        "oldest_pending_age_seconds": stats.oldest_pending_age_seconds,
        "source_snapshot_age_seconds": source.and_then(|s| s.snapshot_age),
        "source_fetch_failures": source.map(|s| s.fetch_failures),
        "source_commits_refused": source.map(|s| s.commits_refused),
    }))
    .into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    if let Ok(stats) = shared.spool.stats(now_millis()).await {
        let m = &shared.metrics;
        m.spool_depth.set(stats.depth as i64);
        m.oldest_pending_age
            .set(stats.oldest_pending_age_seconds.unwrap_or(0.0));
        for (state, count) in stats.by_state {
            // Counts of states this hookbox does not know are not exported.
            if let Some(state) = RunState::parse(&state) {
                m.spool_runs
                    .get_or_create(&super::metrics::StateLabel {
                        state: super::metrics::StateValue(state),
                    })
                    .set(count as i64);
            }
        }
    }
    let warm = shared.runtime.warm_memory_bytes();
    shared.metrics.warm_memory_bytes.set(warm as i64);
    if let Some(figures) = shared.hooks.git_figures() {
        let m = &shared.metrics;
        if let Some(age) = figures.snapshot_age {
            m.git_snapshot_age.set(age);
        }
        m.git_fetch_failures.set(figures.fetch_failures as i64);
        // The count lives with the cache (fetches of other processes count
        // too); the counter catches up with it.
        let counted = m.git_commits_refused.get();
        m.git_commits_refused
            .inc_by(figures.commits_refused.saturating_sub(counted));
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
        .into_response()
}
