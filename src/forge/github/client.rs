//! The one GitHub HTTP client: every REST and GraphQL request goes through
//! [`Client::send`], which authenticates (token or GitHub App installation
//! token, refreshed before expiry), paces content-creating requests, waits
//! for the primary budget, retries under one policy, and counts requests by
//! kind. It never logs or returns a credential.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Semaphore;

pub use super::limits::OpKind;
use super::limits::{Failure, Pacer, Pacing, RateTracker, Retry, RetryPolicy, units_of};
use super::transport;

/// How distributor authenticates to GitHub.
pub enum Auth {
    /// A personal access token (classic or fine-grained).
    Token(SecretString),
    /// A GitHub App installation.
    App {
        app_id: u64,
        /// The App's private key, PEM.
        key_pem: SecretString,
        installation_id: u64,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Auth::Token(<redacted>)"),
            Auth::App {
                app_id,
                installation_id,
                ..
            } => write!(
                f,
                "Auth::App {{ app_id: {app_id}, installation_id: {installation_id} }}"
            ),
        }
    }
}

/// Where GitHub's API lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// Path prefix of REST routes: empty for api.github.com, `/api/v3` on
    /// GitHub Enterprise Server.
    pub rest_prefix: String,
    /// Path of the GraphQL endpoint: `/graphql`, or `/api/graphql` on GHES.
    pub graphql_path: String,
}

impl Endpoint {
    /// From the REST API base URL: `https://api.github.com` or a GHES
    /// `https://HOST/api/v3`.
    pub fn from_api_url(url: &str) -> Result<Endpoint, String> {
        let url = url.trim_end_matches('/');
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("GitHub API URL `{url}` is not a URL: {e}"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(format!(
                "GitHub API URL `{url}` needs a scheme and a host, e.g. https://api.github.com or https://github.example.com/api/v3"
            ));
        };
        if scheme != "https" && scheme != "http" {
            return Err(format!("GitHub API URL `{url}`: use https"));
        }
        let path = uri.path().trim_end_matches('/').to_string();
        let graphql_path = match path.strip_suffix("/v3") {
            Some(api) => format!("{api}/graphql"),
            None => format!("{path}/graphql"),
        };
        Ok(Endpoint {
            origin: format!("{scheme}://{authority}"),
            rest_prefix: path,
            graphql_path,
        })
    }
}

/// Settings of the client.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub pacing: Pacing,
    pub retry: RetryPolicy,
    /// Requests in flight at once (GitHub refuses above 100).
    pub max_in_flight: usize,
    /// Per-request timeout (GitHub's GraphQL gives up at 10 s).
    pub timeout: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            pacing: Pacing::default(),
            retry: RetryPolicy::default(),
            max_in_flight: 8,
            timeout: Duration::from_secs(30),
        }
    }
}

/// An answer from GitHub.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub body: Value,
}

/// A request that got no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    #[error(
        "GitHub rejected the credentials (401 {0}): check the token (GITHUB_TOKEN or --github-token-file) or the GitHub App id, private key and installation id"
    )]
    Unauthorized(String),
    #[error("GitHub request {kind} failed: {message}")]
    Failed { kind: String, message: String },
    /// GitHub could not run a batch query in time (502/504): asked again
    /// whole it would likely fail again; a smaller one may pass.
    #[error("GitHub could not run the {kind} query in time: {message}")]
    TooBig { kind: String, message: String },
    /// A compare-and-swap write or a creation got a 5xx or no answer: it
    /// may have landed. The caller re-observes before sending it again.
    #[error("GitHub request {kind} may or may not have taken effect: {message}")]
    Ambiguous { kind: String, message: String },
}

/// Requests made, by kind, for the end-of-run summary and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub by_kind: BTreeMap<String, u64>,
    /// Answers by kind and HTTP status (0: no answer).
    pub by_status: BTreeMap<(String, u16), u64>,
    /// Content-creating requests sent (retries included).
    pub writes: u64,
    /// Their content-creating units (see [`units_of`]): what the pacer
    /// and GitHub's secondary limits count.
    pub units: u64,
    pub retries: u64,
    /// Writes whose answer was lost (a 5xx or no answer), by what reading
    /// the branch again found (see [`super::landed::Landed::verdict`]).
    pub ambiguous: BTreeMap<&'static str, u64>,
}

/// What one request is, for pacing, counting and retrying.
#[derive(Debug, Clone, Copy)]
struct Call<'a> {
    /// Names it in counts and logs.
    kind: &'a str,
    /// Its content-creating units (see [`units_of`]).
    units: u32,
    /// The primary budget it spends (`core`, `graphql`).
    resource: &'a str,
    /// A batched read: a 502/504 is handed back for splitting, not retried.
    batch: bool,
    /// What sending it twice would do (see [`OpKind`]).
    op: OpKind,
}

/// The shared client (one per installation or token).
pub struct Client {
    http: Octocrab,
    /// For GitHub App auth: the installation client that mints and caches
    /// installation tokens (octocrab refreshes them 30 s before expiry).
    installation: Option<Octocrab>,
    token: Option<SecretString>,
    endpoint: Endpoint,
    settings: ClientSettings,
    pacer: Pacer,
    rates: RateTracker,
    in_flight: Semaphore,
    counts: Mutex<Counts>,
}

impl Client {
    pub fn new(endpoint: Endpoint, auth: Auth, settings: ClientSettings) -> Result<Client, String> {
        let connect = Duration::from_secs(10);
        let http = transport::build(
            &endpoint.origin,
            octocrab::AuthState::None,
            connect,
            settings.timeout,
        )?;
        let (token, installation) = match auth {
            Auth::Token(t) => (Some(t), None),
            Auth::App {
                app_id,
                key_pem,
                installation_id,
            } => {
                let key = octocrab::EncodingKey::from_rsa_pem(key_pem.expose_secret().as_bytes())
                    .map_err(|e| {
                    format!("GitHub App private key is not an RSA PEM key: {e}")
                })?;
                let base = format!("{}{}", endpoint.origin, endpoint.rest_prefix);
                let app = transport::build(
                    &base,
                    octocrab::AuthState::App(octocrab::auth::AppAuth {
                        app_id: octocrab::models::AppId(app_id),
                        key,
                    }),
                    connect,
                    settings.timeout,
                )?;
                let inst = app
                    .installation(octocrab::models::InstallationId(installation_id))
                    .map_err(|e| format!("GitHub App installation {installation_id}: {e}"))?;
                (None, Some(inst))
            }
        };
        Ok(Client {
            http,
            installation,
            token,
            pacer: Pacer::new(&settings.pacing),
            in_flight: Semaphore::new(settings.max_in_flight.max(1)),
            rates: RateTracker::default(),
            counts: Mutex::new(Counts::default()),
            endpoint,
            settings,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn counts(&self) -> Counts {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Counts what re-reading a branch after an ambiguous write found.
    pub fn record_ambiguous(&self, verdict: &'static str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .ambiguous
            .entry(verdict)
            .or_default() += 1;
    }

    pub fn rates(&self) -> &RateTracker {
        &self.rates
    }

    /// Writes waiting for the pacer right now.
    pub fn pacer_waiting(&self) -> usize {
        self.pacer.waiting()
    }

    /// The bearer token for the next request (also lent to `git` to fetch
    /// a private platform repository).
    pub async fn bearer(&self) -> Result<SecretString, SendError> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let inst = self.installation.as_ref().expect("token or installation");
        inst.installation_token().await.map_err(|e| {
            SendError::Unauthorized(format!(
                "GitHub App installation token could not be minted: {e}"
            ))
        })
    }

    /// A REST request; `route` is relative to the API base, e.g.
    /// `/repos/o/r/pulls`. `kind` names it in counts and logs. Its
    /// [`OpKind`] follows from the method: GET a read, PUT and PATCH
    /// idempotent writes, POST and DELETE creations (verified before they
    /// are sent again); see [`Client::rest_op`] to say otherwise.
    pub async fn rest(
        &self,
        method: Method,
        route: &str,
        body: Option<&Value>,
        kind: &str,
    ) -> Result<Response, SendError> {
        let op = match method {
            Method::GET | Method::HEAD | Method::OPTIONS => OpKind::Read,
            Method::PUT | Method::PATCH => OpKind::IdempotentWrite,
            _ => OpKind::Create,
        };
        self.rest_op(method, route, body, kind, op).await
    }

    /// A REST request of a stated [`OpKind`].
    pub async fn rest_op(
        &self,
        method: Method,
        route: &str,
        body: Option<&Value>,
        kind: &str,
        op: OpKind,
    ) -> Result<Response, SendError> {
        let path = format!("{}{}", self.endpoint.rest_prefix, route);
        let units = units_of(&method, None);
        let call = Call {
            kind,
            units,
            resource: "core",
            batch: false,
            op,
        };
        self.send(method, &path, body, call).await
    }

    /// A batched GraphQL read: like [`Client::graphql`], but a 502 or 504
    /// (GitHub's answer to a query past its 10 s) is not retried whole; it
    /// is [`SendError::TooBig`], for the caller to split the batch.
    pub async fn graphql_batch(
        &self,
        query: &str,
        variables: &Value,
        kind: &str,
    ) -> Result<Value, SendError> {
        self.graphql_request(query, variables, kind, OpKind::Read, true)
            .await
    }

    /// A GraphQL request. Returns the whole body (`data` and `errors`).
    /// Its content-creating units are counted from the document itself;
    /// `op` says what the caller expects (a read has none; checked in
    /// debug builds) and how it is retried.
    pub async fn graphql(
        &self,
        query: &str,
        variables: &Value,
        kind: &str,
        op: OpKind,
    ) -> Result<Value, SendError> {
        self.graphql_request(query, variables, kind, op, false)
            .await
    }

    async fn graphql_request(
        &self,
        query: &str,
        variables: &Value,
        kind: &str,
        op: OpKind,
        batch: bool,
    ) -> Result<Value, SendError> {
        let units = units_of(&Method::POST, Some(query));
        debug_assert_eq!(
            op != OpKind::Read,
            units > 0,
            "{kind}: operation kind and document disagree"
        );
        let body = serde_json::json!({ "query": query, "variables": variables });
        let path = self.endpoint.graphql_path.clone();
        let response = self
            .send(
                Method::POST,
                &path,
                Some(&body),
                Call {
                    kind,
                    units,
                    resource: "graphql",
                    batch,
                    op,
                },
            )
            .await?;
        if !response.status.is_success() {
            return Err(SendError::Failed {
                kind: kind.into(),
                message: format!(
                    "HTTP {}: {}",
                    response.status.as_u16(),
                    message_of(&response.body)
                ),
            });
        }
        Ok(response.body)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        call: Call<'_>,
    ) -> Result<Response, SendError> {
        let Call {
            kind,
            units,
            resource,
            batch,
            op,
        } = call;
        let writes = units > 0;
        let mut attempt = 0u32;
        loop {
            // Primary budget: wait for the reset rather than be refused.
            if let Some(wait) = self.rates.reserve(resource, 1, crate::time::now_secs()) {
                tracing::warn!(
                    resource,
                    wait_s = wait.as_secs(),
                    "GitHub {resource} rate-limit budget used up; waiting for its reset"
                );
                tokio::time::sleep(wait).await;
            }
            let _write_slot = if writes {
                Some(self.pacer.admit(units).await)
            } else {
                None
            };
            let _permit = self.in_flight.acquire().await.expect("semaphore open");
            {
                let mut c = self
                    .counts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *c.by_kind.entry(kind.to_string()).or_default() += 1;
                if writes {
                    c.writes += 1;
                    c.units += u64::from(units);
                }
            }
            let outcome = self.attempt(&method, path, body).await;
            {
                let status = outcome.as_ref().map(|(s, _, _)| s.as_u16()).unwrap_or(0);
                let mut c = self
                    .counts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *c.by_status.entry((kind.to_string(), status)).or_default() += 1;
            }
            let failure = match outcome {
                Ok((status, headers, body)) => {
                    self.rates.record(&headers);
                    if status == StatusCode::UNAUTHORIZED {
                        return Err(SendError::Unauthorized(message_of(&body)));
                    }
                    let graphql_limited = resource == "graphql"
                        && status.is_success()
                        && graphql_error_types(&body).any(|t| t == "RATE_LIMITED");
                    if status.is_success() && !graphql_limited {
                        return Ok(Response { status, body });
                    }
                    if batch && matches!(status.as_u16(), 502 | 504) {
                        return Err(SendError::TooBig {
                            kind: kind.into(),
                            message: format!("HTTP {}: {}", status.as_u16(), message_of(&body)),
                        });
                    }
                    let failure = classify(status, &headers, &body, graphql_limited);
                    if matches!(failure, Failure::Status { status: s, .. } if (400..500).contains(&s) && s != 403 && s != 429)
                    {
                        return Ok(Response { status, body });
                    }
                    (failure, Some(Response { status, body }))
                }
                Err(message) => {
                    tracing::debug!(kind, error = %message, "GitHub request got no answer");
                    (Failure::Network, None)
                }
            };
            let (failure, response) = failure;
            match self.settings.retry.decide(
                op,
                &failure,
                attempt,
                crate::time::now_secs(),
                fastrand::f64(),
            ) {
                Retry::After(wait, why) => {
                    tracing::warn!(
                        kind,
                        attempt = attempt + 1,
                        wait_ms = wait.as_millis() as u64,
                        "GitHub: {why}"
                    );
                    self.counts
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .retries += 1;
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                Retry::Verify => {
                    tracing::warn!(
                        kind,
                        "GitHub: a write got a server error or no answer; re-observing before sending it again"
                    );
                    let message = match &response {
                        Some(r) => format!("HTTP {}: {}", r.status.as_u16(), message_of(&r.body)),
                        None => "no answer".to_string(),
                    };
                    return Err(SendError::Ambiguous {
                        kind: kind.into(),
                        message,
                    });
                }
                Retry::No => {
                    return match response {
                        Some(r) if !matches!(failure, Failure::Network) => Err(SendError::Failed {
                            kind: kind.into(),
                            message: format!(
                                "HTTP {} after {} attempt(s): {}",
                                r.status.as_u16(),
                                attempt + 1,
                                message_of(&r.body)
                            ),
                        }),
                        _ => Err(SendError::Failed {
                            kind: kind.into(),
                            message: format!("no answer after {} attempt(s)", attempt + 1),
                        }),
                    };
                }
            }
        }
    }

    /// One HTTP exchange.
    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, http::HeaderMap, Value), String> {
        let token = self.bearer().await.map_err(|e| e.to_string())?;
        let mut auth = http::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| {
                "the GitHub token contains characters not allowed in a header".to_string()
            })?;
        auth.set_sensitive(true);
        // User-Agent, Accept and the API version: set once by the
        // transport (see [`transport`]).
        let builder = http::Request::builder()
            .method(method.clone())
            .uri(path)
            .header(http::header::AUTHORIZATION, auth);
        let request = self
            .http
            .build_request(builder, body)
            .map_err(|e| e.to_string())?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((status, headers, body))
    }
}

fn classify(
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &Value,
    graphql_limited: bool,
) -> Failure {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry_after = header("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    let exhausted_until = if exhausted || graphql_limited {
        header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())
    } else {
        None
    };
    let secondary = message_of(body)
        .to_lowercase()
        .contains("secondary rate limit");
    Failure::Status {
        // A GraphQL RATE_LIMITED answer comes as 200; treat it as a 403.
        status: if graphql_limited {
            403
        } else {
            status.as_u16()
        },
        retry_after,
        exhausted_until: if secondary { None } else { exhausted_until },
        secondary,
    }
}

/// The `message` of a GitHub error body, or the body itself.
pub fn message_of(body: &Value) -> String {
    match body {
        Value::Object(o) => o
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                o.get("errors")
                    .and_then(Value::as_array)
                    .and_then(|e| e.first())
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| body.to_string()),
        Value::String(s) => s.chars().take(200).collect(),
        Value::Null => "(empty body)".into(),
        other => other.to_string(),
    }
}

fn graphql_error_types(body: &Value) -> impl Iterator<Item = &str> {
    body.get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("type").and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_for_github_com_ghes_and_a_local_fake() {
        let gh = Endpoint::from_api_url("https://api.github.com").unwrap();
        assert_eq!(gh.origin, "https://api.github.com");
        assert_eq!(gh.rest_prefix, "");
        assert_eq!(gh.graphql_path, "/graphql");
        let ghes = Endpoint::from_api_url("https://github.example.com/api/v3/").unwrap();
        assert_eq!(ghes.origin, "https://github.example.com");
        assert_eq!(ghes.rest_prefix, "/api/v3");
        assert_eq!(ghes.graphql_path, "/api/graphql");
        let fake = Endpoint::from_api_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(fake.graphql_path, "/graphql");
        assert!(Endpoint::from_api_url("api.github.com").is_err());
    }

    #[test]
    fn auth_debug_never_shows_the_secret() {
        let a = Auth::Token(SecretString::from("ghp_supersecret".to_string()));
        assert!(!format!("{a:?}").contains("supersecret"));
        let b = Auth::App {
            app_id: 1,
            key_pem: SecretString::from("-----BEGIN RSA PRIVATE KEY-----secret".to_string()),
            installation_id: 2,
        };
        assert!(!format!("{b:?}").contains("secret"));
    }

    /// A 127.0.0.1 server that records each request's raw head (request
    /// line and headers, as bytes on the wire) and answers 200 with `{}`,
    /// or an installation token for the token exchange.
    fn raw_recorder() -> (String, std::sync::Arc<Mutex<Vec<String>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = std::sync::Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let answer = if head.contains("/access_tokens") {
                    r#"{"token":"ghs_recorded","expires_at":"2099-01-01T00:00:00Z","permissions":{}}"#
                } else {
                    "{}"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                seen.lock().unwrap().push(head);
            }
        });
        (url, heads)
    }

    /// Header names of a raw request head, lower case, repeats kept.
    fn header_names(head: &str) -> Vec<String> {
        head.lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(name, _)| name.trim().to_ascii_lowercase())
            .collect()
    }

    fn unpaced() -> ClientSettings {
        ClientSettings {
            pacing: Pacing {
                quotas: Vec::new(),
                spacing: Duration::ZERO,
            },
            ..ClientSettings::default()
        }
    }

    /// Every kind of request the GitHub forge sends (REST GET, POST,
    /// PATCH, PUT, DELETE; a GraphQL query and a mutation; the GitHub App
    /// token exchange) carries each header exactly once on the wire, with
    /// distributor's User-Agent.
    #[tokio::test]
    async fn every_request_carries_each_header_once() {
        let (url, heads) = raw_recorder();
        let endpoint = Endpoint::from_api_url(&url).unwrap();
        let token = Auth::Token(SecretString::from("ghp_raw".to_string()));
        let client = Client::new(endpoint.clone(), token, unpaced()).unwrap();
        let body = serde_json::json!({"a": 1});
        for method in [Method::GET, Method::DELETE] {
            client
                .rest(method, "/repos/o/r", None, "rest")
                .await
                .unwrap();
        }
        for method in [Method::POST, Method::PATCH, Method::PUT] {
            client
                .rest(method, "/repos/o/r/x", Some(&body), "rest")
                .await
                .unwrap();
        }
        let vars = serde_json::json!({});
        client
            .graphql("query { viewer { login } }", &vars, "query", OpKind::Read)
            .await
            .unwrap();
        client
            .graphql(
                super::super::query::COMMIT,
                &vars,
                "commit",
                OpKind::CasWrite,
            )
            .await
            .unwrap();
        let key = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/github-app-test-key.pem"),
        )
        .unwrap();
        let app = Auth::App {
            app_id: 1,
            key_pem: SecretString::from(key),
            installation_id: 2,
        };
        let app = Client::new(endpoint, app, unpaced()).unwrap();
        app.rest(Method::GET, "/repos/o/r", None, "rest")
            .await
            .unwrap();

        let heads = heads.lock().unwrap().clone();
        let lines: Vec<&str> = heads.iter().filter_map(|h| h.lines().next()).collect();
        assert_eq!(heads.len(), 9, "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("POST /app/installations/2/access_tokens"))
        );
        for head in &heads {
            let names = header_names(head);
            for name in &names {
                let n = names.iter().filter(|m| *m == name).count();
                assert_eq!(n, 1, "`{name}` {n} times in:\n{head}");
            }
            for needed in [
                "user-agent",
                "accept",
                "x-github-api-version",
                "authorization",
                "host",
            ] {
                assert!(
                    names.iter().any(|n| n == needed),
                    "no `{needed}` in:\n{head}"
                );
            }
            assert!(
                head.to_ascii_lowercase()
                    .contains(&format!("user-agent: {}", transport::USER_AGENT)),
                "{head}"
            );
        }
    }

    #[test]
    fn secondary_refusals_are_told_apart_from_exhaustion() {
        let mut h = http::HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        h.insert("x-ratelimit-remaining", "4000".parse().unwrap());
        let body = serde_json::json!({"message": "You have exceeded a secondary rate limit."});
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &h, &body, false),
            Failure::Status {
                status: 403,
                retry_after: Some(Duration::from_secs(3)),
                exhausted_until: None,
                secondary: true
            }
        );
        let mut h = http::HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset", "123".parse().unwrap());
        let body = serde_json::json!({"message": "API rate limit exceeded"});
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, &h, &body, false),
            Failure::Status {
                exhausted_until: Some(123),
                ..
            }
        ));
    }
}
