//! REST routes for repositories and git data (blobs, trees, commits, refs),
//! `/rate_limit` and GitHub App installation tokens.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use gix::objs::tree::EntryKind;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::git::{self, Oid};
use crate::server::json_response;
use crate::shapes::{self, RestError};
use crate::state::{self, RefUpdate, Refusal};
use crate::{Shared, lock, util};

const REFS_DOCS: &str = "https://docs.github.com/rest/git/refs";

/// Turns a handler result into a response.
pub(crate) fn reply(result: Result<(u16, Value), RestError>) -> Response {
    match result {
        Ok((status, body)) | Err((status, body)) => json_response(status, body),
    }
}

/// Parses a JSON request body.
pub(crate) fn body_json(body: &Bytes) -> Result<Value, RestError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|_| shapes::bad_json())
}

/// A REST error for a state refusal.
fn refusal(r: Refusal) -> RestError {
    match r {
        Refusal::NotFound(_) => shapes::not_found(),
        other => shapes::unprocessable(other.message(), REFS_DOCS),
    }
}

pub(crate) async fn rate_limit(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let mut limits = lock(&shared.limits);
    let show = |i: crate::limits::RateInfo, name: &str| json!({"limit": i.limit, "remaining": i.remaining, "reset": i.reset, "used": i.used, "resource": name});
    let core = show(limits.peek(&caller.token, "core"), "core");
    let graphql = show(limits.peek(&caller.token, "graphql"), "graphql");
    json_response(
        200,
        json!({"resources": {"core": core, "graphql": graphql}, "rate": core}),
    )
}

pub(crate) async fn access_token(
    State(shared): State<Arc<Shared>>,
    Path(installation_id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let header = headers.get("authorization").and_then(|v| v.to_str().ok());
    let minted = lock(&shared.auth).mint(header, installation_id);
    match minted {
        Ok(m) => {
            let mut permissions =
                json!({"contents": "write", "pull_requests": "write", "metadata": "read"});
            if m.workflows {
                permissions["workflows"] = json!("write");
            }
            json_response(
                201,
                json!({"token": m.token, "expires_at": m.expires_at, "permissions": permissions, "repository_selection": "all"}),
            )
        }
        Err((status, message)) => json_response(
            status,
            json!({"message": message, "documentation_url": shapes::DOCS}),
        ),
    }
}

pub(crate) async fn get_repo(
    State(shared): State<Arc<Shared>>,
    Path((owner, name)): Path<(String, String)>,
) -> Response {
    let state = lock(&shared.state);
    reply(match state.repo(&owner, &name) {
        Some(repo) => Ok((200, shapes::repo_json(&shared.base_url, repo))),
        None => Err(shapes::not_found()),
    })
}

pub(crate) async fn get_blob(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, sha)): Path<(String, String, String)>,
) -> Response {
    let state = lock(&shared.state);
    let found = state.repo(&owner, &name).and_then(|repo| {
        let id = git::parse_oid(&sha)?;
        match git::object(&repo.git(), id)? {
            (gix::objs::Kind::Blob, data) => Some(json!({
                "sha": sha,
                "node_id": format!("B_kwDO{sha}"),
                "size": data.len(),
                "url": format!("{}/repos/{}/git/blobs/{sha}", shared.base_url, repo.full_name()),
                "content": util::base64_lines(&data),
                "encoding": "base64",
            })),
            _ => None,
        }
    });
    reply(found.map(|v| (200, v)).ok_or_else(shapes::not_found))
}

pub(crate) async fn get_commit(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, sha)): Path<(String, String, String)>,
) -> Response {
    let state = lock(&shared.state);
    let found = state.repo(&owner, &name).and_then(|repo| {
        let id = git::parse_oid(&sha)?;
        let info = git::commit(&repo.git(), id)?;
        Some(shapes::commit_json(&shared.base_url, repo, id, &info))
    });
    reply(found.map(|v| (200, v)).ok_or_else(shapes::not_found))
}

pub(crate) async fn create_tree(
    State(shared): State<Arc<Shared>>,
    Path((owner, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    reply((|| {
        let body = body_json(&body)?;
        let state = lock(&shared.state);
        let repo = state.repo(&owner, &name).ok_or_else(shapes::not_found)?;
        if repo.archived {
            return Err(shapes::archived());
        }
        let git = repo.git();
        if git::branches(&git).is_empty() {
            return Err(shapes::empty_repository());
        }
        let invalid = |m: &str| shapes::unprocessable(m, "https://docs.github.com/rest/git/trees");
        let base = match body.get("base_tree").and_then(Value::as_str) {
            Some(sha) => {
                let id = git::parse_oid(sha).ok_or_else(|| invalid("Invalid base_tree"))?;
                match git::object(&git, id) {
                    Some((gix::objs::Kind::Tree, _)) => Some(id),
                    Some((gix::objs::Kind::Commit, _)) => git::commit(&git, id).map(|c| c.tree),
                    _ => return Err(invalid("base_tree is not a valid tree")),
                }
            }
            None => None,
        };
        let entries = body
            .get("tree")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("Invalid request.\n\n\"tree\" wasn't supplied."))?;
        let mut changes = Vec::new();
        for entry in entries {
            let path = entry
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tree.path is missing"))?;
            let mode = entry
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or("100644");
            if git::malformed_path(path) {
                return Err(invalid(&format!(
                    "tree.path contains a malformed path component: `{path}`"
                )));
            }
            let kind = git::kind_from_mode(mode)
                .ok_or_else(|| invalid(&format!("Invalid tree mode {mode} for {path}")))?;
            match (entry.get("content"), entry.get("sha")) {
                (Some(Value::String(content)), _) => {
                    let blob =
                        git::write_blob(&git, content.as_bytes()).map_err(|m| invalid(&m))?;
                    changes.push((path.to_string(), Some((kind, blob))));
                }
                (_, Some(Value::Null)) => {
                    // "Returns an error if you try to delete a file that
                    // does not exist" (GitHub answers this 422).
                    if base.and_then(|t| git::lookup(&git, t, path)).is_none() {
                        return Err(invalid("GitRPC::BadObjectState"));
                    }
                    changes.push((path.to_string(), None))
                }
                (_, Some(Value::String(sha))) => {
                    let id = git::parse_oid(sha)
                        .filter(|id| git::object(&git, *id).is_some())
                        .ok_or_else(|| invalid(&format!("tree.sha {sha} is not a valid blob")))?;
                    changes.push((path.to_string(), Some((kind, id))));
                }
                _ => return Err(invalid("Must supply either tree.sha or tree.content")),
            }
        }
        let tree = git::edit_tree(&git, base, &changes).map_err(|m| invalid(&m))?;
        let api = format!("{}/repos/{}", shared.base_url, repo.full_name());
        let listed: Vec<Value> = git::tree_entries(&git, tree)
            .into_iter()
            .map(|e| {
                let mode = format!("{:06o}", git::mode_bits(e.kind));
                let mut v = json!({"path": e.name, "mode": mode, "type": git::type_name(e.kind), "sha": e.oid.to_string()});
                if e.kind == EntryKind::Tree {
                    v["url"] = json!(format!("{api}/git/trees/{}", e.oid));
                } else {
                    let size = git::object(&git, e.oid).map(|(_, d)| d.len()).unwrap_or(0);
                    v["size"] = json!(size);
                    v["url"] = json!(format!("{api}/git/blobs/{}", e.oid));
                }
                v
            })
            .collect();
        Ok((
            201,
            json!({"sha": tree.to_string(), "url": format!("{api}/git/trees/{tree}"), "tree": listed, "truncated": false}),
        ))
    })())
}

pub(crate) async fn create_commit(
    State(shared): State<Arc<Shared>>,
    Path((owner, name)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    reply((|| {
        let body = body_json(&body)?;
        let state = lock(&shared.state);
        let repo = state.repo(&owner, &name).ok_or_else(shapes::not_found)?;
        if repo.archived {
            return Err(shapes::archived());
        }
        let git = repo.git();
        if git::branches(&git).is_empty() {
            return Err(shapes::empty_repository());
        }
        let invalid =
            |m: &str| shapes::unprocessable(m, "https://docs.github.com/rest/git/commits");
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("Invalid request.\n\n\"message\" wasn't supplied."))?;
        let tree = body
            .get("tree")
            .and_then(Value::as_str)
            .and_then(git::parse_oid)
            .filter(|id| matches!(git::object(&git, *id), Some((gix::objs::Kind::Tree, _))))
            .ok_or_else(|| invalid("Tree SHA does not exist"))?;
        let mut parents = Vec::new();
        for parent in body
            .get("parents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = parent
                .as_str()
                .and_then(git::parse_oid)
                .filter(|id| git::commit(&git, *id).is_some())
                .ok_or_else(|| invalid("Parent SHA does not exist or is not a commit object"))?;
            parents.push(id);
        }
        let who = |key: &str| {
            body.get(key).and_then(|a| {
                Some(git::Person {
                    name: a.get("name")?.as_str()?.to_string(),
                    email: a.get("email")?.as_str()?.to_string(),
                })
            })
        };
        let bot = state::person_of(&caller.login);
        let author = who("author").unwrap_or(bot.clone());
        let committer = who("committer").unwrap_or(bot);
        let id = git::write_commit(&git, tree, &parents, &author, &committer, message)
            .map_err(|m| invalid(&m))?;
        let info = git::commit(&git, id).ok_or_else(|| invalid("commit vanished"))?;
        Ok((201, shapes::commit_json(&shared.base_url, repo, id, &info)))
    })())
}

pub(crate) async fn create_ref(
    State(shared): State<Arc<Shared>>,
    Path((owner, name)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    reply((|| {
        let body = body_json(&body)?;
        let mut state = lock(&shared.state);
        let repo = state.repo(&owner, &name).ok_or_else(shapes::not_found)?;
        if repo.archived {
            return Err(shapes::archived());
        }
        let full = body
            .get("ref")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !git::valid_ref_name(&full) {
            return Err(shapes::unprocessable(
                "Reference name is not valid",
                REFS_DOCS,
            ));
        }
        let sha = body
            .get("sha")
            .and_then(Value::as_str)
            .and_then(git::parse_oid)
            .ok_or_else(|| shapes::unprocessable("Object does not exist", REFS_DOCS))?;
        let git = repo.git();
        if git::read_ref(&git, &full).is_some() {
            return Err(shapes::unprocessable("Reference already exists", REFS_DOCS));
        }
        if git::commit(&git, sha).is_none() {
            return Err(shapes::unprocessable("Object does not exist", REFS_DOCS));
        }
        let key = state::key(&owner, &name);
        let update = RefUpdate {
            name: full.clone(),
            before: Some(None),
            after: Some(sha),
            force: false,
        };
        state
            .update_refs(&key, &[update], &caller)
            .map_err(refusal)?;
        let repo = state.repo(&owner, &name).ok_or_else(shapes::not_found)?;
        Ok((201, shapes::ref_json(&shared.base_url, repo, &full, sha)))
    })())
}

pub(crate) async fn get_ref(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, branch)): Path<(String, String, String)>,
) -> Response {
    let state = lock(&shared.state);
    let found = state.repo(&owner, &name).and_then(|repo| {
        let full = format!("refs/heads/{branch}");
        let tip = git::read_ref(&repo.git(), &full)?;
        Some(shapes::ref_json(&shared.base_url, repo, &full, tip))
    });
    reply(found.map(|v| (200, v)).ok_or_else(shapes::not_found))
}

pub(crate) async fn update_ref(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, branch)): Path<(String, String, String)>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    reply((|| {
        let body = body_json(&body)?;
        let mut state = lock(&shared.state);
        let repo = state.repo(&owner, &name).ok_or_else(shapes::not_found)?;
        if repo.archived {
            return Err(shapes::archived());
        }
        let full = format!("refs/heads/{branch}");
        let git = repo.git();
        let Some(current) = git::read_ref(&git, &full) else {
            return Err(shapes::unprocessable("Reference does not exist", REFS_DOCS));
        };
        let sha: Option<Oid> = body
            .get("sha")
            .and_then(Value::as_str)
            .and_then(git::parse_oid);
        let Some(sha) = sha.filter(|s| git::commit(&git, *s).is_some()) else {
            return Err(shapes::unprocessable("Object does not exist", REFS_DOCS));
        };
        let force = body.get("force").and_then(Value::as_bool).unwrap_or(false);
        if repo.protected.contains(&branch) {
            return Err(shapes::unprocessable(state::PROTECTED, REFS_DOCS));
        }
        if !force && !git::is_ancestor(&git, current, sha) {
            return Err(shapes::unprocessable(
                "Update is not a fast forward",
                REFS_DOCS,
            ));
        }
        let key = state::key(&owner, &name);
        let update = RefUpdate {
            name: full.clone(),
            before: Some(Some(current)),
            after: Some(sha),
            force: true,
        };
        state
            .update_refs(&key, &[update], &caller)
            .map_err(refusal)?;
        let repo = state.repo(&owner, &name).ok_or_else(shapes::not_found)?;
        Ok((200, shapes::ref_json(&shared.base_url, repo, &full, sha)))
    })())
}

pub(crate) async fn delete_ref(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, branch)): Path<(String, String, String)>,
    Extension(caller): Extension<Caller>,
) -> Response {
    reply((|| {
        let mut state = lock(&shared.state);
        let repo = state.repo(&owner, &name).ok_or_else(shapes::not_found)?;
        if repo.archived {
            return Err(shapes::archived());
        }
        let full = format!("refs/heads/{branch}");
        if git::read_ref(&repo.git(), &full).is_none() {
            return Err(shapes::unprocessable("Reference does not exist", REFS_DOCS));
        }
        let key = state::key(&owner, &name);
        let update = RefUpdate {
            name: full,
            before: None,
            after: None,
            force: true,
        };
        state
            .update_refs(&key, &[update], &caller)
            .map_err(refusal)?;
        Ok((204, Value::Null))
    })())
}
