//! The HTTP server: routes, and the pipeline every request goes through
//! (latency, counting, the header log and duplicate-header refusal,
//! faults, authentication, primary and secondary rate limits, GitHub's
//! response headers) before its handler runs.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

use crate::limits::RateInfo;
use crate::limits::WriteFault;
use crate::shapes::DOCS;
use crate::{Shared, graphql, headers, lock, rest, rest_pulls};

/// The route of installation tokens: JWT-authenticated, not content-creating.
const ACCESS_TOKENS: &str = "/app/installations/{installation_id}/access_tokens";

/// Marks a response of the fallbacks (unknown route or method).
#[derive(Clone, Copy)]
struct Unexpected;

/// Runs the server until `shutdown` fires.
pub(crate) fn run(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("fake-github-worker")
        .enable_all()
        .build()
        .expect("tokio runtime for the fake");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let app = router(shared);
        tokio::select! {
            _ = axum::serve(listener, app).into_future() => {}
            _ = shutdown => {}
        }
    });
    runtime.shutdown_background();
}

fn router(shared: Arc<Shared>) -> Router {
    let repo = "/repos/{owner}/{repo}";
    Router::new()
        .route("/graphql", post(graphql::handle))
        .route("/rate_limit", get(rest::rate_limit))
        .route(ACCESS_TOKENS, post(rest::access_token))
        .route(repo, get(rest::get_repo))
        .route(&format!("{repo}/git/blobs/{{sha}}"), get(rest::get_blob))
        .route(
            &format!("{repo}/git/commits/{{sha}}"),
            get(rest::get_commit),
        )
        .route(&format!("{repo}/git/trees"), post(rest::create_tree))
        .route(&format!("{repo}/git/commits"), post(rest::create_commit))
        .route(&format!("{repo}/git/refs"), post(rest::create_ref))
        .route(
            &format!("{repo}/git/ref/heads/{{*branch}}"),
            get(rest::get_ref),
        )
        .route(
            &format!("{repo}/git/refs/heads/{{*branch}}"),
            patch(rest::update_ref).delete(rest::delete_ref),
        )
        .route(
            &format!("{repo}/pulls"),
            post(rest_pulls::create).get(rest_pulls::list),
        )
        .route(
            &format!("{repo}/pulls/{{number}}"),
            get(rest_pulls::get).patch(rest_pulls::update),
        )
        .route(
            &format!("{repo}/pulls/{{number}}/commits"),
            get(rest_pulls::commits),
        )
        .route(
            &format!("{repo}/pulls/{{number}}/requested_reviewers"),
            post(rest_pulls::request_reviewers),
        )
        .route(
            &format!("{repo}/issues/{{number}}/comments"),
            post(rest_pulls::comment).get(rest_pulls::comments),
        )
        .route(
            &format!("{repo}/issues/{{number}}/labels"),
            post(rest_pulls::add_labels),
        )
        .fallback(unexpected)
        .method_not_allowed_fallback(unexpected)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            pipeline,
        ))
        .layer(DefaultBodyLimit::max(512 * 1024 * 1024))
        .with_state(shared)
}

async fn unexpected() -> Response {
    let mut response = json_response(
        404,
        json!({"message": "Not Found", "documentation_url": DOCS}),
    );
    response.extensions_mut().insert(Unexpected);
    response
}

/// A JSON response (an empty body for 204).
pub(crate) fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::NO_CONTENT {
        return status.into_response();
    }
    (status, body.to_string()).into_response()
}

/// Counts requests in flight for as long as it lives.
struct InFlight {
    shared: Arc<Shared>,
    count: usize,
}

impl InFlight {
    fn enter(shared: &Arc<Shared>) -> InFlight {
        let mut limits = lock(&shared.limits);
        limits.in_flight += 1;
        let count = limits.in_flight;
        limits.counters.max_in_flight = limits.counters.max_in_flight.max(count);
        InFlight {
            shared: shared.clone(),
            count,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.shared.limits).in_flight -= 1;
    }
}

async fn pipeline(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().replace("{*", "{"));
    let is_graphql = matched.as_deref() == Some("/graphql") && method == Method::POST;
    let (req, kind, units) = if is_graphql {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let units = graphql::mutation_units(&bytes);
        let kind = if units > 0 {
            "graphql mutation"
        } else {
            "graphql query"
        };
        (
            Request::from_parts(parts, Body::from(bytes)),
            kind.to_string(),
            units,
        )
    } else {
        match &matched {
            Some(m) => {
                let creating = ![Method::GET, Method::HEAD].contains(&method) && m != ACCESS_TOKENS;
                (req, format!("{method} {m}"), u32::from(creating))
            }
            None => (req, format!("unexpected {method} {path}"), 0),
        }
    };
    let duplicated = headers::log_and_check(&shared, &kind, req.headers());
    let resource = if is_graphql { "graphql" } else { "core" };
    // The latency is time in flight, like a slow server.
    let flight = InFlight::enter(&shared);
    let latency = lock(&shared.limits).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let request_id = {
        let mut limits = lock(&shared.limits);
        limits.record(&kind);
        limits.request_id()
    };
    let mut rate: Option<RateInfo> = None;
    let mut response = 'answer: {
        if let Some(name) = duplicated {
            break 'answer headers::refusal(&name);
        }
        if let Some(status) = lock(&shared.limits).take_fault() {
            break 'answer json_response(status, json!({"message": "Server Error"}));
        }
        let header = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let caller = if matched.as_deref() == Some(ACCESS_TOKENS) {
            None
        } else {
            match lock(&shared.auth).authenticate(header.as_deref()) {
                Some(caller) => Some(caller),
                None => {
                    break 'answer json_response(
                        401,
                        json!({"message": "Bad credentials", "documentation_url": DOCS}),
                    );
                }
            }
        };
        if let Some(caller) = &caller {
            let cost = u32::from(path != "/rate_limit");
            let spent = lock(&shared.limits).spend(&caller.token, resource, cost);
            match spent {
                Ok(info) => rate = Some(info),
                Err(info) => {
                    rate = Some(info);
                    break 'answer primary_refusal(is_graphql);
                }
            }
        }
        let admitted = lock(&shared.limits).admit(units, flight.count);
        if let Err(retry_after) = admitted {
            break 'answer secondary_refusal(retry_after, &request_id);
        }
        let fault = if units > 0 {
            lock(&shared.limits).write_fault()
        } else {
            WriteFault::None
        };
        if fault == WriteFault::Before {
            break 'answer json_response(502, json!({"message": "Server Error"}));
        }
        let mut req = req;
        if let Some(caller) = caller {
            req.extensions_mut().insert(caller);
        }
        let answer = next.run(req).await;
        if fault == WriteFault::After && answer.status().is_success() {
            lock(&shared.limits).counters.ambiguous_after_apply += 1;
            break 'answer json_response(502, json!({"message": "Server Error"}));
        }
        answer
    };
    drop(flight);
    if response.extensions().get::<Unexpected>().is_some() && matched.is_some() {
        // A known path with an unknown method: recount as unexpected.
        let mut limits = lock(&shared.limits);
        if let Some(n) = limits.counters.by_kind.get_mut(&kind) {
            *n -= 1;
        }
        limits.counters.by_kind.retain(|_, n| *n > 0);
        *limits
            .counters
            .by_kind
            .entry(format!("unexpected {method} {path}"))
            .or_default() += 1;
    }
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("content-type", "application/json; charset=utf-8".into());
    set("x-github-media-type", "github.v3; format=json".into());
    set("x-github-request-id", request_id);
    let rate = rate.unwrap_or(RateInfo {
        limit: 60,
        remaining: 60,
        used: 0,
        reset: crate::util::now_secs() + 3600,
    });
    set("x-ratelimit-limit", rate.limit.to_string());
    set("x-ratelimit-remaining", rate.remaining.to_string());
    set("x-ratelimit-reset", rate.reset.to_string());
    set("x-ratelimit-used", rate.used.to_string());
    set("x-ratelimit-resource", resource.to_string());
    response
}

fn primary_refusal(graphql: bool) -> Response {
    if graphql {
        json_response(
            200,
            json!({"errors": [{"type": "RATE_LIMITED", "message": "API rate limit already exceeded for user ID 1."}]}),
        )
    } else {
        json_response(
            403,
            json!({"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}),
        )
    }
}

fn secondary_refusal(retry_after: u64, request_id: &str) -> Response {
    let message = format!(
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID {request_id}."
    );
    let mut response = json_response(
        403,
        json!({"message": message, "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}),
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert("retry-after", v);
    }
    response
}
