//! The HTTP stack under octocrab, built by hand so that one place owns the
//! request headers. octocrab's default stack appends its own `User-Agent`
//! (`octocrab`) to every request and its request builder appends
//! `X-GitHub-Api-Version`, so headers we set too went out twice, which a
//! strict front end (a GHES behind a proxy, a corporate gateway) refuses.
//! Here [`StandardHeaders`] *sets* (replaces) `User-Agent`, `Accept` and
//! `X-GitHub-Api-Version` on every request, the GitHub App token exchange
//! included; `Authorization` is set by the client per request (or by
//! octocrab alone for the token exchange), `Content-Type` and
//! `Content-Length` by octocrab's body handling.
//!
//! It must not add retries or redirects: `client` owns the one retry
//! policy.

use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Request, Uri};
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::{AuthState, Octocrab, OctocrabBuilder};
use tower::{Layer, Service};

/// The user agent GitHub asks integrations to send: the application's name.
pub const USER_AGENT: &str = concat!("distributor/", env!("CARGO_PKG_VERSION"));
/// The media type GitHub recommends for REST.
pub const ACCEPT: &str = "application/vnd.github+json";
/// The REST API version the forge is written against.
pub const API_VERSION: &str = "2022-11-28";

/// Sets the standard headers on every request (replacing any value
/// octocrab put there).
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardHeaders;

impl<S> Layer<S> for StandardHeaders {
    type Service = WithStandardHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithStandardHeaders { inner }
    }
}

/// The service of [`StandardHeaders`].
#[derive(Debug, Clone)]
pub struct WithStandardHeaders<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for WithStandardHeaders<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let headers = req.headers_mut();
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(USER_AGENT),
        );
        headers.insert(http::header::ACCEPT, HeaderValue::from_static(ACCEPT));
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        self.inner.call(req)
    }
}

/// An octocrab client on our own stack: rustls (ring, webpki roots),
/// HTTP/1, connect and read timeouts, `base` as the base URI, the standard
/// headers, and `auth` (`AuthState::None`: the client sets
/// `Authorization` itself; `AuthState::App`: octocrab signs JWTs).
pub fn build(
    base: &str,
    auth: AuthState,
    connect_timeout: Duration,
    read_timeout: Duration,
) -> Result<Octocrab, String> {
    let uri: Uri = base
        .parse()
        .map_err(|e| format!("GitHub API URL `{base}`: {e}"))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let mut connector = hyper_timeout::TimeoutConnector::new(connector);
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_read_timeout(Some(read_timeout));
    connector.set_write_timeout(Some(read_timeout));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, octocrab::OctoBody>(connector);
    OctocrabBuilder::new_empty()
        .with_service(client)
        .with_layer(&StandardHeaders)
        .with_layer(&BaseUriLayer::new(uri))
        .with_auth(auth)
        .build()
        .map_err(|e| format!("cannot build the GitHub client: {e}"))
}
