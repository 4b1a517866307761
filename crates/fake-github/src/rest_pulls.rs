//! REST routes for pull requests and their issue side: open, list, read,
//! edit/close, request reviewers, comment, label.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::pulls::{self, NewPull};
use crate::rest::{body_json, reply};
use crate::shapes::{self, RestError};
use crate::state::{self, State as FakeState};
use crate::{Shared, lock, util};

type RepoPath = Path<(String, String)>;
type NumberPath = Path<(String, String, u64)>;

/// The PR JSON of `number` (404 if missing).
fn pull_value(
    shared: &Shared,
    state: &FakeState,
    owner: &str,
    name: &str,
    number: u64,
) -> Result<Value, RestError> {
    let repo = state.repo(owner, name).ok_or_else(shapes::not_found)?;
    let pull = repo
        .pulls
        .iter()
        .find(|p| p.number == number)
        .ok_or_else(shapes::not_found)?;
    Ok(shapes::pull_json(&shared.base_url, repo, &repo.git(), pull))
}

fn text(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_string)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    Path((owner, name)): RepoPath,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    reply((|| {
        let body = body_json(&body)?;
        let (Some(head), Some(base)) = (text(&body, "head"), text(&body, "base")) else {
            return Err(shapes::validation(
                json!([{"resource": "PullRequest", "field": "head", "code": "missing_field"}]),
            ));
        };
        let new = NewPull {
            title: text(&body, "title").unwrap_or_default(),
            head,
            base,
            body: text(&body, "body").unwrap_or_default(),
            draft: body.get("draft").and_then(Value::as_bool).unwrap_or(false),
        };
        let mut state = lock(&shared.state);
        let number = state.open_pull(&state::key(&owner, &name), &caller.login, new)?;
        Ok((201, pull_value(&shared, &state, &owner, &name, number)?))
    })())
}

pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    Path((owner, name)): RepoPath,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    reply((|| {
        let state = lock(&shared.state);
        let repo = state.repo(&owner, &name).ok_or_else(shapes::not_found)?;
        let git = repo.git();
        let wanted = query.get("state").map(String::as_str).unwrap_or("open");
        let head = query
            .get("head")
            .map(|h| h.split_once(':').map(|(_, b)| b).unwrap_or(h));
        let list: Vec<Value> = repo
            .pulls
            .iter()
            .rev()
            .filter(|p| wanted == "all" || (wanted == "open") == p.open)
            .filter(|p| head.is_none_or(|h| p.head == h))
            .filter(|p| query.get("base").is_none_or(|b| &p.base == b))
            .map(|p| shapes::pull_json(&shared.base_url, repo, &git, p))
            .collect();
        Ok((200, Value::Array(list)))
    })())
}

pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, number)): NumberPath,
) -> Response {
    let state = lock(&shared.state);
    reply(pull_value(&shared, &state, &owner, &name, number).map(|v| (200, v)))
}

pub(crate) async fn update(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, number)): NumberPath,
    body: Bytes,
) -> Response {
    reply((|| {
        let body = body_json(&body)?;
        let mut state = lock(&shared.state);
        let repo = state
            .repo_mut(&owner, &name)
            .ok_or_else(shapes::not_found)?;
        if repo.archived {
            return Err(shapes::archived());
        }
        let git = repo.git();
        let pull = repo.pull_mut(number).ok_or_else(shapes::not_found)?;
        if let Some(title) = text(&body, "title") {
            pull.title = title;
        }
        if let Some(text) = text(&body, "body") {
            pull.body = text;
        }
        if let Some(base) = text(&body, "base") {
            pull.base = base;
        }
        match text(&body, "state").as_deref() {
            Some("closed") if pull.open => {
                pull.head_sha = pulls::head_sha(&git, pull);
                pulls::set_open(pull, false);
            }
            Some("open") if !pull.open => {
                if let Err(message) = pulls::may_reopen(&git, pull) {
                    return Err(shapes::validation(
                        json!([{"resource": "PullRequest", "code": "custom", "message": message}]),
                    ));
                }
                pulls::set_open(pull, true);
            }
            _ => {}
        }
        pull.updated_at = util::now_rfc3339();
        Ok((200, pull_value(&shared, &state, &owner, &name, number)?))
    })())
}

pub(crate) async fn request_reviewers(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, number)): NumberPath,
    body: Bytes,
) -> Response {
    reply((|| {
        let body = body_json(&body)?;
        let reviewers = strings(body.get("reviewers"));
        let teams = strings(body.get("team_reviewers"));
        let mut state = lock(&shared.state);
        let repo = state
            .repo_mut(&owner, &name)
            .ok_or_else(shapes::not_found)?;
        let pull = repo.pull_mut(number).ok_or_else(shapes::not_found)?;
        if reviewers
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&pull.author))
        {
            return Err(shapes::unprocessable(
                "Review cannot be requested from pull request author.",
                "https://docs.github.com/rest/pulls/review-requests",
            ));
        }
        for r in reviewers {
            if !pull.reviewers.contains(&r) {
                pull.reviewers.push(r);
            }
        }
        for t in teams {
            if !pull.team_reviewers.contains(&t) {
                pull.team_reviewers.push(t);
            }
        }
        Ok((201, pull_value(&shared, &state, &owner, &name, number)?))
    })())
}

pub(crate) async fn comment(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, number)): NumberPath,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    reply((|| {
        let body = body_json(&body)?;
        let text = text(&body, "body").ok_or_else(|| {
            shapes::validation(
                json!([{"resource": "IssueComment", "field": "body", "code": "missing_field"}]),
            )
        })?;
        let mut state = lock(&shared.state);
        let comment = state.add_comment(&state::key(&owner, &name), number, &caller.login, text)?;
        let (base, id) = (&shared.base_url, comment.id);
        Ok((
            201,
            json!({
                "id": id,
                "node_id": format!("IC_kwDO{id}"),
                "url": format!("{base}/repos/{owner}/{name}/issues/comments/{id}"),
                "html_url": format!("{base}/{owner}/{name}/pull/{number}#issuecomment-{id}"),
                "issue_url": format!("{base}/repos/{owner}/{name}/issues/{number}"),
                "body": comment.body,
                "user": shapes::user_json(base, &comment.author),
                "created_at": comment.created_at,
                "updated_at": comment.created_at,
                "author_association": "NONE",
            }),
        ))
    })())
}

/// `GET /repos/{owner}/{repo}/issues/{number}/comments`: the comments,
/// oldest first (`per_page` up to 100, `page` from 1).
pub(crate) async fn comments(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, number)): NumberPath,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    reply((|| {
        let state = lock(&shared.state);
        let repo = state.repo(&owner, &name).ok_or_else(shapes::not_found)?;
        let pull = repo.pull(number).ok_or_else(shapes::not_found)?;
        let per_page = query
            .get("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = query
            .get("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let base = &shared.base_url;
        let list: Vec<Value> = pull
            .comments
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|c| {
                json!({
                    "id": c.id,
                    "node_id": format!("IC_kwDO{}", c.id),
                    "body": c.body,
                    "user": shapes::user_json(base, &c.author),
                    "created_at": c.created_at,
                    "updated_at": c.created_at,
                })
            })
            .collect();
        Ok((200, Value::Array(list)))
    })())
}

pub(crate) async fn add_labels(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, number)): NumberPath,
    body: Bytes,
) -> Response {
    reply((|| {
        let body = body_json(&body)?;
        let names = match &body {
            Value::Array(_) => strings(Some(&body)),
            _ => strings(body.get("labels")),
        };
        let mut state = lock(&shared.state);
        let key = state::key(&owner, &name);
        state.add_labels(&key, number, &names)?;
        let repo = state.repo(&owner, &name).ok_or_else(shapes::not_found)?;
        let pull = repo
            .pulls
            .iter()
            .find(|p| p.number == number)
            .ok_or_else(shapes::not_found)?;
        let list: Vec<Value> = pull
            .labels
            .iter()
            .map(|l| pulls::label_json(&shared.base_url, repo, l))
            .collect();
        Ok((200, Value::Array(list)))
    })())
}

/// `GET /pulls/{number}/commits`: the commits the pull request proposes,
/// oldest first, in GitHub's shape (with `commit.verification`).
pub(crate) async fn commits(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, number)): NumberPath,
) -> Response {
    reply((|| {
        let state = lock(&shared.state);
        let repo = state.repo(&owner, &name).ok_or_else(shapes::not_found)?;
        let list = state
            .pull_commits(&state::key(&owner, &name), number)
            .ok_or_else(shapes::not_found)?;
        let items: Vec<Value> = list
            .iter()
            .map(|(id, info, signed)| {
                shapes::pull_commit_json(&shared.base_url, repo, *id, info, *signed)
            })
            .collect();
        Ok((200, Value::Array(items)))
    })())
}
