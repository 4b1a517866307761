//! The REST Git Data fallback for writes (`--github-writes rest`): a tree
//! on the parent's tree, a commit, then the ref. For servers or tokens where
//! `createCommitOnBranch` is unavailable, and for commits that set the
//! executable bit (which the mutation cannot). Also reads binary blobs.
//!
//! REST ref updates carry no compare-and-swap: a default branch is only
//! moved fast-forward (never with `force`: GitHub refuses anything else, and
//! the caller refuses resets of a default branch before writing), and a
//! proposal branch is checked right before it is reset or deleted, which
//! leaves a window of one request.

use base64::Engine as _;
use http::Method;
use serde_json::{Value, json};

use super::client::{Client, OpKind, SendError};
use super::landed::{self, Landed};
use super::{rest_error, send_error};
use crate::blob::ObjectId;
use crate::forge::{CommitRequest, FileWrite, ForgeError, RepoId};

/// Reads one blob's bytes.
pub async fn read_blob(
    client: &Client,
    repo: &RepoId,
    oid: ObjectId,
) -> Result<Vec<u8>, ForgeError> {
    let blob = call(
        client,
        repo,
        Method::GET,
        format!("/repos/{}/{}/git/blobs/{oid}", repo.owner, repo.name),
        None,
        "GET /repos/{owner}/{repo}/git/blobs/{sha}",
        "read a blob",
    )
    .await?;
    let content: String = blob
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(content)
        .map_err(|e| ForgeError::Other(format!("{repo}: blob {oid} is not valid base64: {e}")))
}

/// One REST request whose failure is the repo's error.
pub(super) async fn call(
    client: &Client,
    repo: &RepoId,
    method: Method,
    route: String,
    body: Option<Value>,
    kind: &str,
    what: &str,
) -> Result<Value, ForgeError> {
    let r = client
        .rest(method, &route, body.as_ref(), kind)
        .await
        .map_err(send_error)?;
    answer(repo, r, what)
}

/// A POST of a content-addressed Git object (tree, commit): sending it
/// twice writes the same object, so it is retried like a read.
async fn create_object(
    client: &Client,
    repo: &RepoId,
    route: String,
    body: Value,
    kind: &str,
    what: &str,
) -> Result<Value, ForgeError> {
    let r = client
        .rest_op(
            Method::POST,
            &route,
            Some(&body),
            kind,
            OpKind::IdempotentWrite,
        )
        .await
        .map_err(send_error)?;
    answer(repo, r, what)
}

fn answer(repo: &RepoId, r: super::client::Response, what: &str) -> Result<Value, ForgeError> {
    if r.status.is_success() {
        Ok(r.body)
    } else {
        Err(rest_error(repo, r.status.as_u16(), &r.body, what))
    }
}

fn sha_at(v: &Value, pointer: &str, repo: &RepoId) -> Result<ObjectId, ForgeError> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ForgeError::Other(format!("{repo}: GitHub's answer has no `{pointer}`")))
}

/// The current tip of `branch`, `None` when it does not exist. GitHub
/// answers 404 for a missing branch and for a missing repository alike; a
/// 404 is told apart by reading the repository (an error path).
async fn branch_tip(
    client: &Client,
    repo: &RepoId,
    branch: &str,
) -> Result<Option<ObjectId>, ForgeError> {
    let route = format!("/repos/{}/{}/git/ref/heads/{branch}", repo.owner, repo.name);
    let r = client
        .rest(
            Method::GET,
            &route,
            None,
            "GET /repos/{owner}/{repo}/git/ref/{ref}",
        )
        .await
        .map_err(send_error)?;
    match r.status.as_u16() {
        404 => {
            call(
                client,
                repo,
                Method::GET,
                format!("/repos/{}/{}", repo.owner, repo.name),
                None,
                "GET /repos/{owner}/{repo}",
                "read the repository",
            )
            .await?;
            Ok(None)
        }
        s if (200..300).contains(&s) => sha_at(&r.body, "/object/sha", repo).map(Some),
        s => Err(rest_error(repo, s, &r.body, "read a branch")),
    }
}

/// Writes one commit of `files` (as prepared: deletions first) on
/// `parent` through the Git Data API. A commit whose expected tip is not
/// its parent resets the branch (force): the caller allows that only for a
/// branch that is not a default branch.
pub async fn commit(
    client: &Client,
    request: &CommitRequest,
    parent: ObjectId,
    files: &[&FileWrite],
) -> Result<ObjectId, ForgeError> {
    let repo = &request.repo;
    let base = format!("/repos/{}/{}", repo.owner, repo.name);
    let parent_commit = call(
        client,
        repo,
        Method::GET,
        format!("{base}/git/commits/{parent}"),
        None,
        "GET /repos/{owner}/{repo}/git/commits/{sha}",
        "read the parent commit",
    )
    .await?;
    let base_tree = sha_at(&parent_commit, "/tree/sha", repo)?;
    let mut entries = Vec::new();
    for f in files {
        let mode = f.mode.as_str();
        entries.push(match &f.content {
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => {
                    json!({ "path": f.path, "mode": mode, "type": "blob", "content": text })
                }
                Err(_) => {
                    return Err(ForgeError::Refused(format!(
                        "{repo}: `{}` is not UTF-8 text; the REST fallback writes text files only",
                        f.path
                    )));
                }
            },
            None => json!({ "path": f.path, "mode": mode, "type": "blob", "sha": null }),
        });
    }
    let tree = create_object(
        client,
        repo,
        format!("{base}/git/trees"),
        json!({ "base_tree": base_tree.to_string(), "tree": entries }),
        "POST /repos/{owner}/{repo}/git/trees",
        "create a tree",
    )
    .await?;
    let tree = sha_at(&tree, "/sha", repo)?;
    let commit = create_object(
        client,
        repo,
        format!("{base}/git/commits"),
        json!({
            "message": request.message,
            "tree": tree.to_string(),
            "parents": [parent.to_string()],
            "author": { "name": request.author.name, "email": request.author.email },
        }),
        "POST /repos/{owner}/{repo}/git/commits",
        "create a commit",
    )
    .await?;
    let new = sha_at(&commit, "/sha", repo)?;
    let branch = &request.branch;
    let conflict =
        |actual: Option<ObjectId>| ForgeError::conflict(repo, branch, request.expected_tip, actual);
    match request.expected_tip {
        None => {
            let body = json!({ "ref": format!("refs/heads/{branch}"), "sha": new.to_string() });
            let route = format!("{base}/git/refs");
            let kind = "POST /repos/{owner}/{repo}/git/refs";
            let write = RefWrite {
                method: Method::POST,
                route,
                body,
                kind,
                lost_race: "already exists",
            };
            if !write_ref(client, repo, branch, write, (None, new)).await? {
                return Err(conflict(branch_tip(client, repo, branch).await?));
            }
        }
        Some(expected) => {
            let reset = expected != parent;
            if reset {
                let actual = branch_tip(client, repo, branch).await?;
                if actual != Some(expected) {
                    return Err(conflict(actual));
                }
            }
            let body = json!({ "sha": new.to_string(), "force": reset });
            let route = format!("{base}/git/refs/heads/{branch}");
            let kind = "PATCH /repos/{owner}/{repo}/git/refs/{ref}";
            let write = RefWrite {
                method: Method::PATCH,
                route,
                body,
                kind,
                lost_race: "not a fast forward",
            };
            if !write_ref(client, repo, branch, write, (Some(expected), new)).await? {
                return Err(conflict(branch_tip(client, repo, branch).await?));
            }
        }
    }
    Ok(new)
}

/// One ref create or move.
struct RefWrite<'a> {
    method: Method,
    route: String,
    body: Value,
    kind: &'a str,
    /// The words of GitHub's 422 when the compare-and-swap lost.
    lost_race: &'a str,
}

/// Creates or moves a ref from `before` to `new`. `Ok(false)` when GitHub
/// refused it with a 422 naming `lost_race` (the branch exists, or moved):
/// a compare-and-swap failure the caller reports as a conflict. After a
/// 5xx or no answer the branch is read again: at `new` the write landed
/// (`Ok(true)`), still at `before` it is sent again, elsewhere `Ok(false)`.
async fn write_ref(
    client: &Client,
    repo: &RepoId,
    branch: &str,
    write: RefWrite<'_>,
    (before, new): (Option<ObjectId>, ObjectId),
) -> Result<bool, ForgeError> {
    for attempt in 0..landed::ATTEMPTS {
        let sent = client
            .rest_op(
                write.method.clone(),
                &write.route,
                Some(&write.body),
                write.kind,
                OpKind::CasWrite,
            )
            .await;
        let r = match sent {
            Ok(r) => r,
            Err(SendError::Ambiguous { .. }) => {
                let now = branch_tip(client, repo, branch).await?;
                let found = landed::judge_ref(now, before, Some(new));
                client.record_ambiguous(found.verdict());
                match found {
                    Landed::Yes(_) => {
                        tracing::info!(repo = %repo, branch, commit = %new, "{}: the ref update had landed before the failure", write.kind);
                        return Ok(true);
                    }
                    Landed::No => {
                        super::pause(attempt).await;
                        continue;
                    }
                    Landed::Gone | Landed::Moved(_) => return Ok(false),
                }
            }
            Err(e) => return Err(send_error(e)),
        };
        if r.status.as_u16() == 422 && super::client::message_of(&r.body).contains(write.lost_race)
        {
            return Ok(false);
        }
        if !r.status.is_success() {
            return Err(rest_error(
                repo,
                r.status.as_u16(),
                &r.body,
                "update a branch",
            ));
        }
        return Ok(true);
    }
    Err(super::gave_up(repo, write.kind))
}

/// Deletes a branch after checking it is still at `expected`.
pub async fn delete_branch(
    client: &Client,
    repo: &RepoId,
    branch: &str,
    expected: ObjectId,
) -> Result<(), ForgeError> {
    let actual = branch_tip(client, repo, branch).await?;
    if actual != Some(expected) {
        return Err(ForgeError::conflict(repo, branch, Some(expected), actual));
    }
    let route = format!(
        "/repos/{}/{}/git/refs/heads/{branch}",
        repo.owner, repo.name
    );
    let kind = "DELETE /repos/{owner}/{repo}/git/refs/{ref}";
    for attempt in 0..landed::ATTEMPTS {
        match client
            .rest_op(Method::DELETE, &route, None, kind, OpKind::CasWrite)
            .await
        {
            Ok(r) => return answer(repo, r, "delete a branch").map(|_| ()),
            Err(SendError::Ambiguous { .. }) => {
                let now = branch_tip(client, repo, branch).await?;
                let found = landed::judge_ref(now, Some(expected), None);
                client.record_ambiguous(found.verdict());
                match found {
                    Landed::Gone | Landed::Yes(_) => return Ok(()),
                    Landed::No => super::pause(attempt).await,
                    Landed::Moved(actual) => {
                        return Err(ForgeError::conflict(repo, branch, Some(expected), actual));
                    }
                }
            }
            Err(e) => return Err(send_error(e)),
        }
    }
    Err(super::gave_up(repo, kind))
}
