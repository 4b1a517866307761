//! The daemon's HTTP endpoints, all answered from [`Shared`] without
//! waiting on the reconcile loop:
//!
//! | path           | answers                                                   |
//! |----------------|-----------------------------------------------------------|
//! | `POST /webhook`| verified GitHub deliveries queue a [`CycleRequest`]       |
//! | `GET /healthz` | `200 ok` while the process runs                           |
//! | `GET /readyz`  | `200` while configured and cycles succeed, else `503`     |
//! | `GET /metrics` | Prometheus text from [`Metrics::render`]                  |
//! | `GET /status`  | the ledger as JSON (`distributor.fleet-status/v1`)        |
//! | `GET /`        | the HTML dashboard ([`dashboard::render`])                |
//!
//! This module only reads shared state and sends requests on the loop's
//! channel; it never runs a cycle, and never echoes the webhook secret.
//!
//! A webhook is refused before its body is read when it has no
//! well-formed signature (`401`) or announces a body over the limit
//! (`413`). At most [`Limits::webhook_bodies`] bodies are read at once
//! (others wait up to [`Limits::webhook_wait`], then get `503`), each
//! within [`Limits::body_read_timeout`] (`408`): an unsigned flood keeps
//! memory bounded. Connection limits are in [`server`].
//!
//! [`Metrics::render`]: super::metrics::Metrics::render

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use tokio::sync::Semaphore;

use super::server;
pub use super::server::Limits;
use super::webhook::{self, DELIVERY_HEADER, Decision, EVENT_HEADER, SIGNATURE_HEADER};
use super::{CycleRequest, Health, Shared, dashboard};
use crate::forge::Forge as _;

/// Content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the handlers see: the shared state, and the webhook body slots.
#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    bodies: Arc<Semaphore>,
    limits: Limits,
}

impl FromRef<App> for Arc<Shared> {
    fn from_ref(app: &App) -> Arc<Shared> {
        Arc::clone(&app.shared)
    }
}

/// The router of every endpoint, over `shared`, within `limits`.
pub fn router(shared: Arc<Shared>, limits: &Limits) -> Router {
    let app = App {
        shared,
        bodies: Arc::new(Semaphore::new(limits.webhook_bodies.max(1))),
        limits: limits.clone(),
    };
    Router::new()
        .route("/", get(dashboard_page))
        .route("/webhook", post(webhook_delivery))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .fallback(not_found)
        .with_state(app)
}

/// Serves [`router`] on `listener` within `limits` until `shutdown`
/// completes, then lets requests in flight finish ([`server::serve`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, router(shared, &limits), &limits, shutdown).await
}

/// Whether the daemon is ready, given the seconds since the epoch and
/// since it started. `Err` holds the one-line reason for `503`.
///
/// Ready means: a configuration is loaded and the port bound, and the last
/// successful cycle (or, before the first, the start) is no older than
/// `ready_after_failed_intervals` intervals. `0` intervals turns the age
/// check off.
pub fn readiness(
    health: &Health,
    last_success_at: Option<u64>,
    now_epoch: u64,
    since_start: Duration,
) -> Result<(), String> {
    if !health.ready.load(Ordering::Relaxed) {
        return Err("not ready: configuration not loaded yet, or stopping".into());
    }
    let intervals = health.ready_after_failed_intervals.load(Ordering::Relaxed);
    if intervals == 0 {
        return Ok(());
    }
    let interval_ms = health.interval_ms.load(Ordering::Relaxed);
    let allowed = intervals.saturating_mul(interval_ms).div_ceil(1000);
    match last_success_at {
        Some(at) => {
            let age = now_epoch.saturating_sub(at);
            if age > allowed {
                return Err(format!(
                    "not ready: no successful cycle for {age}s (limit {allowed}s, {intervals} intervals)"
                ));
            }
        }
        None => {
            let age = since_start.as_secs();
            if age > allowed {
                return Err(format!(
                    "not ready: no successful cycle since the start {age}s ago (limit {allowed}s, {intervals} intervals)"
                ));
            }
        }
    }
    Ok(())
}

/// Reads a lock even if a writer panicked: the HTTP side must keep
/// answering with the last state the loop left.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let last_success = read(&shared.ledger).last_success_at;
    let since_start = shared.health.started.elapsed();
    match readiness(
        &shared.health,
        last_success,
        crate::time::now_secs(),
        since_start,
    ) {
        Ok(()) => "ready".into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let forge = Arc::clone(&read(&shared.forge));
    let usage = forge.usage();
    let text = shared.metrics.render(&read(&shared.ledger), usage.as_ref());
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response()
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let value = read(&shared.ledger).to_json();
    json(StatusCode::OK, &value)
}

async fn dashboard_page(State(shared): State<Arc<Shared>>) -> Response {
    let rendered = dashboard::render(&read(&shared.ledger), crate::time::now_secs());
    let html = match rendered {
        Ok(html) => html,
        Err(e) => {
            // A bug in the template, not in the ledger: the details go to
            // the log, not to whoever asked.
            tracing::error!(error = %e, "the dashboard could not be rendered");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "dashboard unavailable: see the daemon's log",
            )
                .into_response();
        }
    };
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    // Nothing on the page loads from anywhere: forbid it outright.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

async fn webhook_delivery(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let shared = &app.shared;
    // Cloned so no lock is held while the body streams in.
    let settings = read(&shared.webhook).clone();
    let Some(secret) = &settings.secret else {
        return error(
            StatusCode::NOT_FOUND,
            "webhooks are disabled: set http.webhook_secret_file",
        );
    };
    let header_str = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let delivery = header_str(DELIVERY_HEADER).unwrap_or("-").to_string();
    let event = header_str(EVENT_HEADER).unwrap_or("").to_string();
    let refuse = |status: StatusCode, why: &str, message: &str| {
        shared.metrics.webhook("rejected");
        tracing::warn!(delivery, event, "webhook rejected: {why}");
        error(status, message)
    };

    // Refused before a byte of the body is read: no signature worth
    // checking, or a body announced over the limit.
    let signature = header_str(SIGNATURE_HEADER);
    if !signature.is_some_and(webhook::well_formed) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid or missing signature",
            "invalid or missing X-Hub-Signature-256",
        );
    }
    let announced = header_str(header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > settings.body_limit as u64) {
        return too_large(&refuse, settings.body_limit);
    }
    // Bounded memory: only so many bodies are read at once.
    let wait = app.limits.webhook_wait;
    let Ok(Ok(_slot)) = tokio::time::timeout(wait, app.bodies.acquire()).await else {
        let mut answer = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many webhook bodies at once",
            "too many webhook deliveries at once: retry later",
        );
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        return answer;
    };
    let reading = axum::body::to_bytes(body, settings.body_limit);
    let body = match tokio::time::timeout(app.limits.body_read_timeout, reading).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(err)) if is_length_limit(&err) => return too_large(&refuse, settings.body_limit),
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "webhook body could not be read");
            return refuse(
                StatusCode::BAD_REQUEST,
                "the body could not be read",
                "the body could not be read",
            );
        }
        Err(_) => {
            let secs = app.limits.body_read_timeout.as_secs();
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
                &format!("the body did not arrive within {secs}s"),
            );
        }
    };

    if !webhook::verify(signature, secret, &body) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid or missing signature",
            "invalid or missing X-Hub-Signature-256",
        );
    }

    match webhook::classify(&event, &body, &settings) {
        Decision::Pong => {
            shared.metrics.webhook("ignored");
            tracing::info!(delivery, "webhook ping");
            json(StatusCode::OK, &serde_json::json!({ "ok": true }))
        }
        Decision::Ignored(why) => {
            shared.metrics.webhook("ignored");
            tracing::debug!(delivery, event, why, "webhook ignored");
            json(StatusCode::OK, &serde_json::json!({ "ignored": why }))
        }
        Decision::Invalid(why) => {
            shared.metrics.webhook("rejected");
            tracing::warn!(delivery, event, why, "webhook payload invalid");
            error(StatusCode::BAD_REQUEST, &why)
        }
        Decision::Cycle(request) => queue(shared, request, &delivery, &event),
    }
}

/// `413` for a body over `limit`.
fn too_large(refuse: &impl Fn(StatusCode, &str, &str) -> Response, limit: usize) -> Response {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body too large",
        &format!("body larger than {limit} bytes (http.webhook_body_limit)"),
    )
}

fn queue(shared: &Shared, request: CycleRequest, delivery: &str, event: &str) -> Response {
    let only = request.only.clone();
    if shared.requests.send(request).is_err() {
        // The loop is gone (shutting down): GitHub shows the failure and
        // the next cycle after a restart catches up anyway.
        shared.metrics.webhook("rejected");
        tracing::warn!(
            delivery,
            event,
            "webhook not queued: the reconcile loop has stopped"
        );
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the reconcile loop is not running",
        );
    }
    shared.metrics.webhook("accepted");
    tracing::info!(delivery, event, ?only, "webhook queued a cycle");
    let mut answer = serde_json::json!({ "queued": "cycle" });
    if !only.is_empty() {
        answer["only"] = serde_json::json!(only);
    }
    json(StatusCode::ACCEPTED, &answer)
}

/// Whether reading a body failed because it exceeded the limit.
fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::sync::RwLock;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tokio::sync::mpsc;
    use tower::ServiceExt as _;

    use super::*;
    use crate::daemon::ledger::{Ledger, RepoEntry};
    use crate::daemon::metrics::Metrics;
    use crate::daemon::webhook::tests::{pull_request_body, push_body, settings, sign};
    use crate::daemon::{Trigger, WebhookSettings};
    use crate::forge::AnyForge;
    use crate::forge::local::LocalForge;
    use crate::plan::RepoStatus;

    const SECRET: &str = "s3cret-never-echoed";

    struct Harness {
        shared: Arc<Shared>,
        requests: mpsc::UnboundedReceiver<CycleRequest>,
        _root: tempfile::TempDir,
    }

    fn harness(webhook: WebhookSettings) -> Harness {
        let root = tempfile::tempdir().unwrap();
        let forge = AnyForge::Local(LocalForge::new(root.path()).unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared {
            ledger: RwLock::new(Ledger::default()),
            metrics: Metrics::default(),
            health: Health::new(Duration::from_secs(300), 3),
            webhook: RwLock::new(webhook),
            forge: RwLock::new(Arc::new(forge)),
            requests: tx,
        };
        Harness {
            shared: Arc::new(shared),
            requests: rx,
            _root: root,
        }
    }

    struct Answer {
        status: StatusCode,
        content_type: String,
        body: String,
    }

    async fn call(shared: &Arc<Shared>, request: Request<Body>) -> Answer {
        let response = router(Arc::clone(shared), &Limits::default())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains(SECRET), "{body}");
        Answer {
            status,
            content_type,
            body,
        }
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    fn delivery(event: &str, body: Vec<u8>, signature: Option<String>) -> Request<Body> {
        let mut r = Request::post("/webhook")
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(sig) = signature {
            r = r.header("X-Hub-Signature-256", sig);
        }
        r.body(Body::from(body)).unwrap()
    }

    fn signed(event: &str, body: Vec<u8>) -> Request<Body> {
        let sig = sign(SECRET, &body);
        delivery(event, body, Some(sig))
    }

    fn webhook_count(shared: &Shared, result: &str) -> String {
        let text = shared.metrics.render(&Ledger::default(), None);
        let prefix = format!("distributor_webhooks_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn a_signed_platform_push_queues_exactly_one_cycle() {
        let mut h = harness(settings(Some(SECRET)));
        let body = push_body("acme/platform", "refs/heads/main");
        let a = call(&h.shared, signed("push", body)).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        assert_eq!(a.body, r#"{"queued":"cycle"}"#);
        assert_eq!(a.content_type, "application/json");
        assert_eq!(
            h.requests.try_recv().unwrap(),
            CycleRequest {
                trigger: Trigger::Webhook,
                only: vec![]
            }
        );
        assert!(h.requests.try_recv().is_err());
        assert_eq!(webhook_count(&h.shared, "accepted"), "1");
    }

    #[tokio::test]
    async fn bad_or_missing_signatures_are_rejected_and_trigger_nothing() {
        let mut h = harness(settings(Some(SECRET)));
        let body = push_body("acme/platform", "refs/heads/main");
        let wrong = sign("not the secret", &body);
        for request in [
            delivery("push", body.clone(), Some(wrong)),
            delivery("push", body.clone(), None),
            delivery("push", body.clone(), Some("sha256=".into())),
        ] {
            let a = call(&h.shared, request).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED);
            assert_eq!(
                a.body,
                r#"{"error":"invalid or missing X-Hub-Signature-256"}"#
            );
        }
        // A signature of another body does not carry over.
        let other = sign(SECRET, b"{}");
        let a = call(&h.shared, delivery("push", body, Some(other))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert!(h.requests.try_recv().is_err());
        assert_eq!(webhook_count(&h.shared, "rejected"), "4");
        assert_eq!(webhook_count(&h.shared, "accepted"), "0");
    }

    #[tokio::test]
    async fn without_a_secret_webhooks_are_disabled() {
        let mut h = harness(settings(None));
        let body = push_body("acme/platform", "refs/heads/main");
        let a = call(&h.shared, signed("push", body)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        assert_eq!(
            a.body,
            r#"{"error":"webhooks are disabled: set http.webhook_secret_file"}"#
        );
        assert!(h.requests.try_recv().is_err());
    }

    #[tokio::test]
    async fn pushes_to_other_branches_and_pings_are_ignored() {
        let mut h = harness(settings(Some(SECRET)));
        let body = push_body("acme/platform", "refs/heads/feature");
        let a = call(&h.shared, signed("push", body)).await;
        assert_eq!(a.status, StatusCode::OK);
        let answer: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert!(
            answer["ignored"]
                .as_str()
                .unwrap()
                .contains("refs/heads/feature")
        );
        let a = call(
            &h.shared,
            signed("ping", br#"{"zen":"Keep it simple."}"#.to_vec()),
        )
        .await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (StatusCode::OK, r#"{"ok":true}"#)
        );
        let a = call(&h.shared, signed("issues", b"{}".to_vec())).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(h.requests.try_recv().is_err());
        assert_eq!(webhook_count(&h.shared, "ignored"), "3");
    }

    #[tokio::test]
    async fn a_proposal_pull_request_refreshes_only_its_repo() {
        let mut h = harness(settings(Some(SECRET)));
        let body = pull_request_body("Acme/API", "distributor/sync");
        let a = call(&h.shared, signed("pull_request", body)).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        assert_eq!(
            h.requests.try_recv().unwrap(),
            CycleRequest {
                trigger: Trigger::PullRequest,
                only: vec!["acme/api".into()]
            }
        );
        assert!(h.requests.try_recv().is_err());
        // Another head branch of the same repo: ignored.
        let body = pull_request_body("acme/api", "feature/x");
        let a = call(&h.shared, signed("pull_request", body)).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(h.requests.try_recv().is_err());
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let mut h = harness(WebhookSettings {
            body_limit: 64,
            ..settings(Some(SECRET))
        });
        let body = push_body("acme/platform", "refs/heads/main");
        assert!(body.len() > 64);
        let a = call(&h.shared, signed("push", body)).await;
        assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.body);
        // Also when the length is not announced up front.
        let chunks = futures_util::stream::iter(
            [vec![b' '; 40], vec![b' '; 40]].map(Ok::<_, std::io::Error>),
        );
        let request = Request::post("/webhook")
            .header("X-GitHub-Event", "push")
            .header("X-Hub-Signature-256", sign(SECRET, b"x"))
            .body(Body::from_stream(chunks))
            .unwrap();
        let a = call(&h.shared, request).await;
        assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.body);
        assert_eq!(
            a.body,
            r#"{"error":"body larger than 64 bytes (http.webhook_body_limit)"}"#
        );
        assert!(h.requests.try_recv().is_err());
    }

    /// A webhook whose body sends `first` and then never ends.
    fn endless(signature: Option<String>, length: Option<usize>) -> Request<Body> {
        let first = futures_util::stream::iter([Ok::<_, std::io::Error>(vec![b'{'])]);
        let body = futures_util::StreamExt::chain(first, futures_util::stream::pending());
        let mut r = Request::post("/webhook").header("X-GitHub-Event", "push");
        if let Some(sig) = signature {
            r = r.header("X-Hub-Signature-256", sig);
        }
        if let Some(n) = length {
            r = r.header(header::CONTENT_LENGTH, n);
        }
        r.body(Body::from_stream(body)).unwrap()
    }

    #[tokio::test]
    async fn unsigned_or_oversized_deliveries_are_refused_before_the_body_is_read() {
        let mut h = harness(settings(Some(SECRET)));
        let sig = sign(SECRET, b"{}");
        for (request, status) in [
            (endless(None, None), StatusCode::UNAUTHORIZED),
            (
                endless(Some("sha1=abc".into()), None),
                StatusCode::UNAUTHORIZED,
            ),
            (
                endless(Some(sig[..40].into()), None),
                StatusCode::UNAUTHORIZED,
            ),
            (
                endless(Some(sig), Some(4097)),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
        ] {
            // The body never ends: an answer at all means it was not read.
            let a = tokio::time::timeout(Duration::from_secs(5), call(&h.shared, request))
                .await
                .expect("answered without reading the body");
            assert_eq!(a.status, status, "{}", a.body);
        }
        assert!(h.requests.try_recv().is_err());
        assert_eq!(webhook_count(&h.shared, "rejected"), "4");
    }

    #[tokio::test]
    async fn bodies_are_read_a_few_at_a_time_and_slowly_sent_ones_time_out() {
        let mut h = harness(settings(Some(SECRET)));
        let limits = Limits {
            webhook_bodies: 2,
            webhook_wait: Duration::from_millis(200),
            body_read_timeout: Duration::from_secs(2),
            ..Limits::default()
        };
        let app = router(Arc::clone(&h.shared), &limits);
        // Two deliveries whose bodies never end hold both slots.
        let sig = || Some(sign(SECRET, b"{}"));
        let held: Vec<_> = (0..2)
            .map(|_| tokio::spawn(app.clone().oneshot(endless(sig(), None))))
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        let body = push_body("acme/platform", "refs/heads/main");
        let busy = app
            .clone()
            .oneshot(signed("push", body.clone()))
            .await
            .unwrap();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "10");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let text = axum::body::to_bytes(busy.into_body(), 1024).await.unwrap();
        assert_eq!(
            &text[..],
            br#"{"error":"too many webhook deliveries at once: retry later"}"#
        );
        // The slow ones give up after body_read_timeout, freeing the slots.
        for task in held {
            let answer = task.await.unwrap().unwrap();
            assert_eq!(answer.status(), StatusCode::REQUEST_TIMEOUT);
            let text = axum::body::to_bytes(answer.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(
                &text[..],
                br#"{"error":"the body did not arrive within 2s"}"#
            );
        }
        let ok = app.oneshot(signed("push", body)).await.unwrap();
        assert_eq!(ok.status(), StatusCode::ACCEPTED);
        assert!(h.requests.try_recv().is_ok());
        assert_eq!(webhook_count(&h.shared, "rejected"), "3");
    }

    #[tokio::test]
    async fn a_stopped_loop_is_reported() {
        let h = harness(settings(Some(SECRET)));
        drop(h.requests);
        let body = push_body("acme/platform", "refs/heads/main");
        let a = call(&h.shared, signed("push", body)).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn healthz_and_readyz() {
        let h = harness(settings(None));
        let a = call(&h.shared, get("/healthz")).await;
        assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "ok"));
        let a = call(&h.shared, get("/readyz")).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!a.body.contains('\n'), "{}", a.body);
        h.shared.health.ready.store(true, Ordering::Relaxed);
        let a = call(&h.shared, get("/readyz")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        // A success long ago: 3 intervals of 300s have passed.
        h.shared.ledger.write().unwrap().last_success_at = Some(crate::time::now_secs() - 901);
        let a = call(&h.shared, get("/readyz")).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(a.body.contains("no successful cycle for"), "{}", a.body);
        h.shared.ledger.write().unwrap().last_success_at = Some(crate::time::now_secs() - 10);
        let a = call(&h.shared, get("/readyz")).await;
        assert_eq!(a.status, StatusCode::OK);
    }

    #[test]
    fn readiness_before_a_first_success_allows_the_grace_period() {
        let health = Health::new(Duration::from_secs(60), 2);
        health.ready.store(true, Ordering::Relaxed);
        assert!(readiness(&health, None, 1000, Duration::from_secs(120)).is_ok());
        let err = readiness(&health, None, 1000, Duration::from_secs(121)).unwrap_err();
        assert!(err.contains("since the start"), "{err}");
        health
            .ready_after_failed_intervals
            .store(0, Ordering::Relaxed);
        assert!(readiness(&health, Some(0), 1_000_000, Duration::from_secs(121)).is_ok());
    }

    #[tokio::test]
    async fn metrics_agree_with_status() {
        let h = harness(settings(Some(SECRET)));
        {
            let mut ledger = h.shared.ledger.write().unwrap();
            for (name, status) in [
                ("acme/a", RepoStatus::Drifted),
                ("acme/b", RepoStatus::Drifted),
                ("acme/c", RepoStatus::InSync),
            ] {
                ledger.repos.insert(
                    name.into(),
                    RepoEntry {
                        team: "t".into(),
                        ..RepoEntry::blank(name, status)
                    },
                );
            }
        }
        let m = call(&h.shared, get("/metrics")).await;
        assert_eq!(m.status, StatusCode::OK);
        assert_eq!(m.content_type, METRICS_CONTENT_TYPE);
        let s = call(&h.shared, get("/status")).await;
        assert_eq!(s.content_type, "application/json");
        let status: serde_json::Value = serde_json::from_str(&s.body).unwrap();
        let drifted = status["totals"]["by_status"]["drifted"].as_u64().unwrap();
        assert_eq!(drifted, 2);
        assert!(
            m.body.contains(&format!(
                "distributor_repos{{state=\"drifted\"}} {drifted}\n"
            )),
            "{}",
            m.body
        );
    }

    #[tokio::test]
    async fn the_dashboard_escapes_ledger_text_and_unknown_paths_404() {
        let h = harness(settings(Some(SECRET)));
        h.shared.ledger.write().unwrap().repos.insert(
            "acme/a".into(),
            RepoEntry {
                team: "t".into(),
                error: Some("<script>alert(1)</script>".into()),
                ..RepoEntry::blank("acme/a", RepoStatus::Error)
            },
        );
        let a = call(&h.shared, get("/")).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.content_type, "text/html; charset=utf-8");
        assert!(!a.body.contains("<script>"), "{}", a.body);
        assert!(a.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(
            call(&h.shared, get("/nope")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&h.shared, get("/webhook")).await.status,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
