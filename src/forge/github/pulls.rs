//! Pull requests over REST: open (with labels, reviewers and auto-merge),
//! update title and body in place, comment and close. Extras that GitHub
//! refuses (an unknown reviewer, auto-merge not allowed) become warnings on
//! an open pull request, never a half-done repo.

use http::Method;
use serde_json::{Value, json};

use super::client::Client;
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
    let created = call(
        client,
        repo,
        Method::POST,
        format!("{}/pulls", base(repo)),
        Some(json!({
            "title": spec.title,
            "head": spec.head,
            "base": spec.base,
            "body": spec.body,
            "draft": spec.draft,
            "maintainer_can_modify": false,
        })),
        "POST /repos/{owner}/{repo}/pulls",
        "open a pull request",
    )
    .await?;
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
            .rest(
                Method::POST,
                &format!("{}/issues/{number}/labels", base(repo)),
                Some(&json!({ "labels": spec.labels })),
                "POST /repos/{owner}/{repo}/issues/{number}/labels",
            )
            .await;
        if let Some(w) = warning(repo, r, "add labels") {
            warnings.push(w);
        }
    }
    if !spec.reviewers.is_empty() || !spec.team_reviewers.is_empty() {
        let r = client
            .rest(
                Method::POST,
                &format!("{}/pulls/{number}/requested_reviewers", base(repo)),
                Some(
                    &json!({ "reviewers": spec.reviewers, "team_reviewers": spec.team_reviewers }),
                ),
                "POST /repos/{owner}/{repo}/pulls/{number}/requested_reviewers",
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
    call(
        client,
        repo,
        Method::POST,
        format!("{}/issues/{}/comments", base(repo), pull.number),
        Some(json!({ "body": comment })),
        "POST /repos/{owner}/{repo}/issues/{number}/comments",
        "comment on the pull request",
    )
    .await?;
    if labels.is_empty() {
        return Ok(Vec::new());
    }
    let r = client
        .rest(
            Method::POST,
            &format!("{}/issues/{}/labels", base(repo), pull.number),
            Some(&json!({ "labels": labels })),
            "POST /repos/{owner}/{repo}/issues/{number}/labels",
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
    call(
        client,
        repo,
        Method::POST,
        format!("{}/issues/{}/comments", base(repo), pull.number),
        Some(json!({ "body": comment })),
        "POST /repos/{owner}/{repo}/issues/{number}/comments",
        "comment on the pull request",
    )
    .await?;
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
