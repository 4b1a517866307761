//! Pull requests over REST: open (with labels, reviewers and auto-merge),
//! update title and body in place, comment and close. Extras that GitHub
//! refuses (an unknown reviewer, auto-merge not allowed) become warnings on
//! an open pull request, never a half-done repo.
//!
//! Sending twice: creating a pull request and commenting are not
//! idempotent, so after a 5xx or no answer they are sent again only when a
//! look-up shows the first attempt did not take effect (the open pull
//! request from the head branch; our comment's hidden marker). Adding
//! labels and requesting reviewers are idempotent on GitHub (it keeps a
//! set), as are title, body and state updates and enabling auto-merge:
//! those are retried like reads.

use http::Method;
use serde_json::{Value, json};

use super::client::{Client, OpKind, SendError};
use super::landed;
use super::rest::call;
use super::{query, rest_error};
use crate::forge::{ForgeError, OpenedPullRequest, PullRequest, PullRequestSpec, RepoId};

fn base(repo: &RepoId) -> String {
    format!("/repos/{}/{}", repo.owner, repo.name)
}

/// Opens the pull request and applies its extras.
pub async fn open(
    client: &Client,
    spec: &PullRequestSpec,
) -> Result<OpenedPullRequest, ForgeError> {
    let repo = &spec.repo;
    let created = create_pull(client, spec).await?;
    let text = |key: &str| {
        created
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let number = created
        .get("number")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    let (url, node_id) = (text("html_url"), text("node_id"));
    let mut warnings = Vec::new();
    if !spec.labels.is_empty() {
        let r = client
            .rest_op(
                Method::POST,
                &format!("{}/issues/{number}/labels", base(repo)),
                Some(&json!({ "labels": spec.labels })),
                "POST /repos/{owner}/{repo}/issues/{number}/labels",
                OpKind::IdempotentWrite,
            )
            .await;
        if let Some(w) = warning(repo, r, "add labels") {
            warnings.push(w);
        }
    }
    if !spec.reviewers.is_empty() || !spec.team_reviewers.is_empty() {
        let r = client
            .rest_op(
                Method::POST,
                &format!("{}/pulls/{number}/requested_reviewers", base(repo)),
                Some(
                    &json!({ "reviewers": spec.reviewers, "team_reviewers": spec.team_reviewers }),
                ),
                "POST /repos/{owner}/{repo}/pulls/{number}/requested_reviewers",
                OpKind::IdempotentWrite,
            )
            .await;
        if let Some(w) = warning(repo, r, "request reviewers") {
            warnings.push(w);
        }
    }
    if spec.auto_merge {
        let vars = json!({ "input": { "pullRequestId": node_id } });
        match client
            .graphql(
                query::AUTO_MERGE,
                &vars,
                "graphql auto-merge",
                super::client::OpKind::IdempotentWrite,
            )
            .await
        {
            Ok(body) => {
                if let Some(e) = query::errors(&body).first() {
                    warnings.push(format!("auto-merge not enabled: {}", e.message.trim()));
                }
            }
            Err(e) => warnings.push(format!("auto-merge not enabled: {e}")),
        }
    }
    for w in &warnings {
        tracing::warn!(repo = %repo, pull = number, "{w}");
    }
    Ok(OpenedPullRequest {
        number,
        url,
        warnings,
    })
}

fn warning(
    repo: &RepoId,
    r: Result<super::client::Response, super::client::SendError>,
    what: &str,
) -> Option<String> {
    match r {
        Ok(r) if r.status.is_success() => None,
        Ok(r) => Some(format!(
            "could not {what}: {}",
            rest_error(repo, r.status.as_u16(), &r.body, what)
        )),
        Err(e) => Some(format!("could not {what}: {e}")),
    }
}

/// Rewrites title and body.
pub async fn update(
    client: &Client,
    repo: &RepoId,
    pull: &PullRequest,
    title: &str,
    body: &str,
) -> Result<(), ForgeError> {
    call(
        client,
        repo,
        Method::PATCH,
        format!("{}/pulls/{}", base(repo), pull.number),
        Some(json!({ "title": title, "body": body })),
        "PATCH /repos/{owner}/{repo}/pulls/{number}",
        "update the pull request",
    )
    .await
    .map(|_| ())
}

/// Comments, then adds labels (a refused label is a warning).
pub async fn comment(
    client: &Client,
    repo: &RepoId,
    pull: &PullRequest,
    comment: &str,
    labels: &[String],
) -> Result<Vec<String>, ForgeError> {
    post_comment(client, repo, pull.number, comment).await?;
    if labels.is_empty() {
        return Ok(Vec::new());
    }
    let r = client
        .rest_op(
            Method::POST,
            &format!("{}/issues/{}/labels", base(repo), pull.number),
            Some(&json!({ "labels": labels })),
            "POST /repos/{owner}/{repo}/issues/{number}/labels",
            OpKind::IdempotentWrite,
        )
        .await;
    Ok(warning(repo, r, "add labels").into_iter().collect())
}

/// Comments, then closes.
pub async fn close(
    client: &Client,
    repo: &RepoId,
    pull: &PullRequest,
    comment: &str,
) -> Result<(), ForgeError> {
    post_comment(client, repo, pull.number, comment).await?;
    call(
        client,
        repo,
        Method::PATCH,
        format!("{}/pulls/{}", base(repo), pull.number),
        Some(json!({ "state": "closed" })),
        "PATCH /repos/{owner}/{repo}/pulls/{number}",
        "close the pull request",
    )
    .await
    .map(|_| ())
}

/// `POST /pulls`, exactly once: after a 5xx or no answer, the open pull
/// request from `spec.head` into `spec.base` is looked up; if there is
/// one, the first attempt took effect and it is the answer.
async fn create_pull(client: &Client, spec: &PullRequestSpec) -> Result<Value, ForgeError> {
    let repo = &spec.repo;
    let kind = "POST /repos/{owner}/{repo}/pulls";
    let body = json!({
        "title": spec.title,
        "head": spec.head,
        "base": spec.base,
        "body": spec.body,
        "draft": spec.draft,
        "maintainer_can_modify": false,
    });
    let route = format!("{}/pulls", base(repo));
    for attempt in 0..landed::ATTEMPTS {
        match client.rest(Method::POST, &route, Some(&body), kind).await {
            Ok(r) if r.status.is_success() => return Ok(r.body),
            Ok(r) => {
                return Err(rest_error(
                    repo,
                    r.status.as_u16(),
                    &r.body,
                    "open a pull request",
                ));
            }
            Err(SendError::Ambiguous { .. }) => {}
            Err(e) => return Err(super::send_error(e)),
        }
        let found = call(
            client,
            repo,
            Method::GET,
            format!(
                "{route}?state=open&head={}:{}&base={}",
                repo.owner, spec.head, spec.base
            ),
            None,
            "GET /repos/{owner}/{repo}/pulls",
            "look for the pull request",
        )
        .await?;
        if let Some(pull) = found.as_array().and_then(|a| a.first()) {
            tracing::info!(repo = %repo, head = %spec.head, "opening the pull request had taken effect before the failure");
            return Ok(pull.clone());
        }
        super::pause(attempt).await;
    }
    Err(super::gave_up(repo, kind))
}

/// The hidden line that names one comment, so that a retry can tell
/// whether an earlier attempt was posted.
fn comment_marker() -> String {
    format!("<!-- distributor:comment:{:016x} -->", fastrand::u64(..))
}

/// Comments once: the comment carries a fresh hidden marker; after a 5xx
/// or no answer the pull request's comments are searched for it before
/// it is sent again.
async fn post_comment(
    client: &Client,
    repo: &RepoId,
    number: u64,
    comment: &str,
) -> Result<(), ForgeError> {
    let marker = comment_marker();
    let body = json!({ "body": format!("{comment}\n\n{marker}") });
    let route = format!("{}/issues/{number}/comments", base(repo));
    let kind = "POST /repos/{owner}/{repo}/issues/{number}/comments";
    for attempt in 0..landed::ATTEMPTS {
        match client.rest(Method::POST, &route, Some(&body), kind).await {
            Ok(r) if r.status.is_success() => return Ok(()),
            Ok(r) => {
                return Err(rest_error(
                    repo,
                    r.status.as_u16(),
                    &r.body,
                    "comment on the pull request",
                ));
            }
            Err(SendError::Ambiguous { .. }) => {}
            Err(e) => return Err(super::send_error(e)),
        }
        if has_comment(client, repo, &route, &marker).await? {
            tracing::info!(repo = %repo, pull = number, "the comment had been posted before the failure");
            return Ok(());
        }
        super::pause(attempt).await;
    }
    Err(super::gave_up(repo, kind))
}

/// Whether a comment carrying `marker` is on the pull request (the
/// first 1,000 comments are searched, 100 per page).
async fn has_comment(
    client: &Client,
    repo: &RepoId,
    route: &str,
    marker: &str,
) -> Result<bool, ForgeError> {
    for page in 1..=10 {
        let list = call(
            client,
            repo,
            Method::GET,
            format!("{route}?per_page=100&page={page}"),
            None,
            "GET /repos/{owner}/{repo}/issues/{number}/comments",
            "read the comments",
        )
        .await?;
        let list = list.as_array().cloned().unwrap_or_default();
        if list.iter().any(|c| {
            c.get("body")
                .and_then(Value::as_str)
                .is_some_and(|b| b.contains(marker))
        }) {
            return Ok(true);
        }
        if list.len() < 100 {
            return Ok(false);
        }
    }
    Ok(false)
}
