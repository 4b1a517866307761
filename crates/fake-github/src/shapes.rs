//! REST JSON shapes: repositories, pull requests, git commits and refs, and
//! GitHub's error bodies. Key sets follow the recorded api.github.com
//! fixtures in `data/rest-fixtures` (the repository shape is built from the
//! recorded one).

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::git::{self, CommitInfo, Oid};
use crate::pulls::head_sha;
use crate::state::{PullState, Repo};
use crate::util;

/// A REST error: status and JSON body.
pub(crate) type RestError = (u16, Value);

/// Where GitHub's REST docs live (the `documentation_url` of errors).
pub(crate) const DOCS: &str = "https://docs.github.com/rest";

/// 404 Not Found.
pub(crate) fn not_found() -> RestError {
    (
        404,
        json!({"message": "Not Found", "documentation_url": DOCS}),
    )
}

/// 403 for writes to an archived repository.
pub(crate) fn archived() -> RestError {
    (
        403,
        json!({"message": crate::state::ARCHIVED, "documentation_url": DOCS}),
    )
}

/// 409 for Git Data writes to a repository without commits: GitHub cannot
/// create trees or commits there, so the first commit has to be pushed.
pub(crate) fn empty_repository() -> RestError {
    (
        409,
        json!({"message": "Git Repository is empty.", "documentation_url": DOCS}),
    )
}

/// 422 with `message`.
pub(crate) fn unprocessable(message: &str, docs: &str) -> RestError {
    (
        422,
        json!({"message": message, "documentation_url": docs, "status": "422"}),
    )
}

/// 422 Validation Failed with `errors`.
pub(crate) fn validation(errors: Value) -> RestError {
    (
        422,
        json!({
            "message": "Validation Failed",
            "errors": errors,
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
            "status": "422",
        }),
    )
}

/// 400 for a body that is not the JSON the route needs.
pub(crate) fn bad_json() -> RestError {
    (
        400,
        json!({"message": "Problems parsing JSON", "documentation_url": DOCS}),
    )
}

fn repo_template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let recorded: Value =
            serde_json::from_str(include_str!("../data/rest-fixtures/get-repository.json"))
                .expect("recorded fixture parses");
        recorded[0]["response"].clone()
    })
}

/// `GET /repos/{owner}/{repo}`, shaped like the recorded response.
pub(crate) fn repo_json(base: &str, repo: &Repo) -> Value {
    let text = repo_template()
        .to_string()
        .replace("https://api.github.com", base)
        .replace("https://github.com", base)
        .replace("git://github.com", base)
        .replace("git@github.com:", base)
        .replace("octokit-fixture-org/hello-world", &repo.full_name())
        .replace("octokit-fixture-org", &repo.owner);
    let mut value: Value = serde_json::from_str(&text).expect("substituted template parses");
    let open = repo.pulls.iter().filter(|p| p.open).count();
    let overrides = json!({
        "id": repo.id,
        "node_id": repo.node_id(),
        "name": repo.name,
        "full_name": repo.full_name(),
        "default_branch": repo.default_branch,
        "archived": repo.archived,
        "allow_auto_merge": repo.allow_auto_merge,
        "created_at": repo.created_at,
        "updated_at": repo.created_at,
        "pushed_at": repo.created_at,
        "topics": [],
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "forks_count": 0,
        "forks": 0,
        "open_issues_count": open,
        "open_issues": open,
        "network_count": 0,
        "subscribers_count": 0,
        "private": true,
        "visibility": "private",
    });
    if let (Some(target), Some(source)) = (value.as_object_mut(), overrides.as_object()) {
        for (k, v) in source {
            target.insert(k.clone(), v.clone());
        }
    }
    value
}

fn person(p: &git::Person, secs: i64) -> Value {
    json!({"name": p.name, "email": p.email, "date": util::rfc3339(secs)})
}

/// A git commit (`/git/commits/{sha}`).
pub(crate) fn commit_json(base: &str, repo: &Repo, id: Oid, c: &CommitInfo) -> Value {
    let api = format!("{base}/repos/{}", repo.full_name());
    let html = format!("{base}/{}", repo.full_name());
    json!({
        "sha": id.to_string(),
        "node_id": format!("C_kwDO{id}"),
        "url": format!("{api}/git/commits/{id}"),
        "html_url": format!("{html}/commit/{id}"),
        "author": person(&c.author, c.author_time),
        "committer": person(&c.committer, c.commit_time),
        "tree": {"sha": c.tree.to_string(), "url": format!("{api}/git/trees/{}", c.tree)},
        "message": c.message,
        "parents": c.parents.iter().map(|p| json!({
            "sha": p.to_string(),
            "url": format!("{api}/git/commits/{p}"),
            "html_url": format!("{html}/commit/{p}"),
        })).collect::<Vec<_>>(),
        "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null},
    })
}

/// A commit of a pull request (`/pulls/{n}/commits`): the git commit
/// under `commit`, verified when GitHub signed it.
pub(crate) fn pull_commit_json(
    base: &str,
    repo: &Repo,
    id: Oid,
    c: &CommitInfo,
    signed: bool,
) -> Value {
    let api = format!("{base}/repos/{}", repo.full_name());
    let mut git_commit = commit_json(base, repo, id, c);
    let parents = git_commit["parents"].clone();
    git_commit["verification"] = if signed {
        json!({"verified": true, "reason": "valid", "signature": "-----BEGIN PGP SIGNATURE-----\n(fake)\n-----END PGP SIGNATURE-----\n", "payload": null, "verified_at": util::rfc3339(c.commit_time)})
    } else {
        json!({"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null})
    };
    json!({
        "sha": id.to_string(),
        "node_id": format!("C_kwDO{id}"),
        "url": format!("{api}/commits/{id}"),
        "html_url": format!("{base}/{}/commit/{id}", repo.full_name()),
        "commit": git_commit,
        "author": null,
        "committer": null,
        "parents": parents,
    })
}

/// A git ref (`/git/refs/...`).
pub(crate) fn ref_json(base: &str, repo: &Repo, full: &str, id: Oid) -> Value {
    let api = format!("{base}/repos/{}", repo.full_name());
    json!({
        "ref": full,
        "node_id": ref_node_id(repo.id, full),
        "url": format!("{api}/git/{full}"),
        "object": {"sha": id.to_string(), "type": "commit", "url": format!("{api}/git/commits/{id}")},
    })
}

/// The node id of ref `full` in the repo with database id `repo_id`.
pub(crate) fn ref_node_id(repo_id: u64, full: &str) -> String {
    use base64::Engine as _;
    let raw = format!("{repo_id}:{full}");
    format!(
        "REF_kwDO{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

/// The repo database id and ref name of a node id from [`ref_node_id`].
pub(crate) fn parse_ref_node_id(id: &str) -> Option<(u64, String)> {
    let raw = util::base64url_decode(id.strip_prefix("REF_kwDO")?)?;
    let text = String::from_utf8(raw).ok()?;
    let (repo_id, full) = text.split_once(':')?;
    Some((repo_id.parse().ok()?, full.to_string()))
}

/// A user object.
pub(crate) fn user_json(base: &str, login: &str) -> Value {
    json!({
        "login": login,
        "id": 1,
        "node_id": "U_kgDOAAAAAQ",
        "url": format!("{base}/users/{login}"),
        "html_url": format!("{base}/{login}"),
        "type": if login.ends_with("[bot]") { "Bot" } else { "User" },
        "site_admin": false,
    })
}

/// A pull request (`/pulls/{n}`).
pub(crate) fn pull_json(base: &str, repo: &Repo, git: &gix::Repository, p: &PullState) -> Value {
    let api = format!("{base}/repos/{}", repo.full_name());
    let html = format!("{base}/{}", repo.full_name());
    let base_sha = git::read_ref(git, &format!("refs/heads/{}", p.base))
        .map(|o| o.to_string())
        .unwrap_or_default();
    let side = |name: &str, sha: String| {
        json!({"ref": name, "sha": sha, "label": format!("{}:{name}", repo.owner),
               "user": user_json(base, &repo.owner), "repo": {"id": repo.id, "name": repo.name, "full_name": repo.full_name()}})
    };
    json!({
        "url": format!("{api}/pulls/{}", p.number),
        "id": p.id,
        "node_id": p.node_id(),
        "html_url": format!("{html}/pull/{}", p.number),
        "issue_url": format!("{api}/issues/{}", p.number),
        "number": p.number,
        "state": if p.open { "open" } else { "closed" },
        "locked": false,
        "title": p.title,
        "user": user_json(base, &p.author),
        "body": p.body,
        "labels": p.labels.iter().map(|l| crate::pulls::label_json(base, repo, l)).collect::<Vec<_>>(),
        "requested_reviewers": p.reviewers.iter().map(|r| user_json(base, r)).collect::<Vec<_>>(),
        "requested_teams": p.team_reviewers.iter().map(|t| json!({"slug": t, "name": t})).collect::<Vec<_>>(),
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "closed_at": p.closed_at,
        "merged_at": if p.merged { p.closed_at.clone() } else { None },
        "draft": p.draft,
        "head": side(&p.head, head_sha(git, p)),
        "base": side(&p.base, base_sha),
        "merged": p.merged,
        "mergeable": null,
        "maintainer_can_modify": false,
        "auto_merge": p.auto_merge.as_ref().map(|_| json!({
            "enabled_by": user_json(base, &p.author), "merge_method": "squash",
            "commit_title": null, "commit_message": null})),
    })
}
