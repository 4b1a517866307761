//! Request headers: a log of the header names of recent requests (so a
//! test can check what a client sends), and the refusal of a request that
//! repeats a single-valued header, as a strict HTTP front end (a GHES
//! behind a proxy, a corporate gateway) answers it: 400.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use crate::server::json_response;
use crate::{Shared, lock};

/// Headers HTTP allows only once in a request (RFC 9110; `accept` is
/// list-valued in HTTP but GitHub's clients send one, and proxies treat a
/// repeat as an error).
pub(crate) const SINGLE_VALUED: [&str; 7] = [
    "host",
    "user-agent",
    "authorization",
    "accept",
    "content-type",
    "content-length",
    "x-github-api-version",
];

/// Requests kept in the log (oldest dropped first).
pub(crate) const LOG_LIMIT: usize = 10_000;

/// One request as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaders {
    /// The request's kind, as in the counters.
    pub kind: String,
    /// Header names (lower case) in the order received, repeats included.
    pub names: Vec<String>,
}

/// Logs the request's header names; returns a single-valued header it
/// repeats when the fake refuses those.
pub(crate) fn log_and_check(
    shared: &Arc<Shared>,
    kind: &str,
    headers: &HeaderMap,
) -> Option<String> {
    let names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.as_str().to_string())
        .collect();
    let repeated = SINGLE_VALUED
        .iter()
        .find(|h| headers.get_all(**h).iter().count() > 1)
        .map(|h| h.to_string());
    let mut limits = lock(&shared.limits);
    if limits.header_log.len() >= LOG_LIMIT {
        limits.header_log.pop_front();
    }
    limits.header_log.push_back(RequestHeaders {
        kind: kind.to_string(),
        names,
    });
    let refuse = repeated.is_some() && limits.refuse_duplicate_headers;
    if refuse {
        limits.counters.duplicate_header_refusals += 1;
    }
    repeated.filter(|_| refuse)
}

/// The 400 answer to a repeated single-valued header.
pub(crate) fn refusal(name: &str) -> Response {
    json_response(
        400,
        json!({ "message": format!("Bad Request: the header `{name}` appears more than once") }),
    )
}
