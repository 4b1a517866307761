//! REST: pull requests (open, duplicate, labels, reviewers, comments,
//! close, merge) and git data (trees, commits, refs, blobs).

mod common;

use common::*;
use serde_json::{Value, json};

#[test]
fn pull_request_lifecycle() {
    let fake = fake();
    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    // Head branch missing.
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({"title": "t", "head": "distributor/sync", "base": "main"})),
    );
    assert_eq!(resp.status, 422);
    assert_eq!(
        resp.body["errors"][0],
        json!({"resource": "PullRequest", "field": "head", "code": "invalid"})
    );
    // No commits between.
    let tip = fake.tip("acme", "one", "main").unwrap();
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/git/refs",
        Some(json!({"ref": "refs/heads/distributor/sync", "sha": tip})),
    );
    assert_eq!(resp.status, 201);
    fake.push("acme", "one", "main", &[("a", Some(b"2"))], "ahead");
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({"title": "t", "head": "distributor/sync", "base": "main"})),
    );
    assert_eq!(resp.status, 422);
    assert_eq!(
        resp.body["errors"][0]["message"],
        "No commits between main and distributor/sync"
    );

    let head = fake.push(
        "acme",
        "one",
        "distributor/sync",
        &[("b", Some(b"b"))],
        "change",
    );
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({
        "title": "Sync", "head": "distributor/sync", "base": "main", "body": "Body", "draft": true, "maintainer_can_modify": true})),
    );
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    let pr = &resp.body;
    assert_eq!(pr["number"], 1);
    assert_eq!(pr["state"], "open");
    assert_eq!(pr["draft"], true);
    assert_eq!(pr["head"]["sha"], head.as_str());
    assert_eq!(pr["head"]["ref"], "distributor/sync");
    assert_eq!(pr["base"]["ref"], "main");
    assert_eq!(pr["user"]["login"], "distributor-bot");
    assert_eq!(pr["merged"], false);
    assert!(pr["auto_merge"].is_null());
    assert!(pr["node_id"].as_str().unwrap().starts_with("PR_kwDO"));
    assert!(pr["created_at"].as_str().unwrap().ends_with('Z'));

    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({"title": "t", "head": "acme:distributor/sync", "base": "main"})),
    );
    assert_eq!(resp.status, 422);
    assert_eq!(resp.body["message"], "Validation Failed");
    assert_eq!(
        resp.body["errors"][0]["message"],
        "A pull request already exists for acme:distributor/sync."
    );

    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/issues/1/labels",
        Some(json!({"labels": ["sync", "bot"]})),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.as_array().unwrap().len(), 2);
    assert_eq!(resp.body[0]["color"], "ededed");
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/pulls/1/requested_reviewers",
        Some(json!({"reviewers": ["alice"], "team_reviewers": ["platform"]})),
    );
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body["requested_reviewers"][0]["login"], "alice");
    assert_eq!(resp.body["requested_teams"][0]["slug"], "platform");
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/issues/1/comments",
        Some(json!({"body": "hello"})),
    );
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body["body"], "hello");
    let resp = rest(
        &fake,
        "PATCH",
        "/repos/acme/one/pulls/1",
        Some(json!({"title": "New", "body": "B2"})),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["title"], "New");

    let pulls = fake.pulls("acme", "one");
    assert_eq!(pulls.len(), 1);
    let p = &pulls[0];
    assert_eq!(
        (p.title.as_str(), p.body.as_str(), p.draft),
        ("New", "B2", true)
    );
    assert_eq!(p.labels, vec!["sync", "bot"]);
    assert_eq!(p.reviewers, vec!["alice"]);
    assert_eq!(p.team_reviewers, vec!["platform"]);
    assert_eq!(p.comments, vec!["hello"]);
    assert_eq!(p.author, "distributor-bot");

    let resp = rest(
        &fake,
        "PATCH",
        "/repos/acme/one/pulls/1",
        Some(json!({"state": "closed"})),
    );
    assert_eq!(resp.body["state"], "closed");
    assert_eq!(fake.pulls("acme", "one")[0].state, "closed");
    // Reopen, then a human squash-merges it.
    let resp = rest(
        &fake,
        "PATCH",
        "/repos/acme/one/pulls/1",
        Some(json!({"state": "open"})),
    );
    assert_eq!(resp.body["state"], "open");
    let merged = fake.merge_pull("acme", "one", 1);
    assert_eq!(fake.tip("acme", "one", "main").unwrap(), merged);
    assert_eq!(fake.file("acme", "one", "main", "b").unwrap(), b"b");
    assert_eq!(fake.file("acme", "one", "main", "a").unwrap(), b"2");
    assert_eq!(fake.branches("acme", "one"), vec!["main"]);
    let p = &fake.pulls("acme", "one")[0];
    assert!(p.merged && p.state == "closed");
    fsck(&fake.git_dir("acme", "one"));

    let counters = fake.counters();
    assert_eq!(counters.by_kind["POST /repos/{owner}/{repo}/pulls"], 4);
    assert_eq!(
        counters.by_kind["PATCH /repos/{owner}/{repo}/pulls/{number}"],
        3
    );
    assert_eq!(counters.content_creating, 11);
    assert!(!counters.by_kind.keys().any(|k| k.starts_with("unexpected")));
}

#[test]
fn git_data_api_trees_commits_and_refs() {
    let fake = fake();
    fake.add_token("ghp_noworkflow", false);
    let base = fake.add_repo(
        "acme",
        "one",
        "main",
        &[("keep.txt", b"k"), ("gone.txt", b"g"), ("dir/x.txt", b"x")],
    );
    let base_tree = {
        let resp = rest(
            &fake,
            "GET",
            &format!("/repos/acme/one/git/commits/{base}"),
            None,
        );
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body["verification"]["verified"], false);
        resp.body["tree"]["sha"].as_str().unwrap().to_string()
    };
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/git/trees",
        Some(json!({
        "base_tree": base_tree,
        "tree": [
            {"path": "gone.txt", "mode": "100644", "type": "blob", "sha": null},
            {"path": "bin/tool", "mode": "100755", "type": "blob", "content": "#!/bin/sh\n"},
            {"path": "dir/y.txt", "mode": "100644", "type": "blob", "content": "y"},
        ]})),
    );
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    assert_eq!(resp.body["truncated"], false);
    let tree = resp.body["sha"].as_str().unwrap().to_string();
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/git/commits",
        Some(json!({"message": "Sync\n\nbody", "tree": tree, "parents": [base]})),
    );
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    let commit = resp.body["sha"].as_str().unwrap().to_string();
    assert_eq!(resp.body["parents"][0]["sha"], base.as_str());
    assert_eq!(resp.body["author"]["name"], "distributor-bot");

    // Branch from it, then fast-forward main.
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/git/refs",
        Some(json!({"ref": "refs/heads/distributor/sync", "sha": commit})),
    );
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    assert_eq!(resp.body["object"]["sha"], commit.as_str());
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/git/refs",
        Some(json!({"ref": "refs/heads/distributor/sync", "sha": commit})),
    );
    assert_eq!(resp.status, 422);
    assert_eq!(resp.body["message"], "Reference already exists");
    let resp = rest(
        &fake,
        "PATCH",
        "/repos/acme/one/git/refs/heads/main",
        Some(json!({"sha": commit})),
    );
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(fake.file("acme", "one", "main", "gone.txt"), None);
    assert_eq!(fake.file("acme", "one", "main", "dir/x.txt").unwrap(), b"x");
    assert_eq!(fake.file("acme", "one", "main", "dir/y.txt").unwrap(), b"y");
    assert_eq!(
        fake.file_mode("acme", "one", "main", "bin/tool"),
        Some(0o100755)
    );
    assert_eq!(fake.commit_message("acme", "one", &commit), "Sync\n\nbody");

    // Going back is not a fast forward.
    let resp = rest(
        &fake,
        "PATCH",
        "/repos/acme/one/git/refs/heads/main",
        Some(json!({"sha": base})),
    );
    assert_eq!(resp.status, 422);
    assert_eq!(resp.body["message"], "Update is not a fast forward");
    assert_eq!(fake.tip("acme", "one", "main").unwrap(), commit);
    let resp = rest(
        &fake,
        "PATCH",
        "/repos/acme/one/git/refs/heads/main",
        Some(json!({"sha": base, "force": true})),
    );
    assert_eq!(resp.status, 200);

    // Workflow files need the scope on ref updates too.
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/git/trees",
        Some(json!({"base_tree": base_tree,
        "tree": [{"path": ".github/workflows/ci.yml", "mode": "100644", "type": "blob", "content": "on: push\n"}]})),
    );
    let wf_tree = resp.body["sha"].as_str().unwrap().to_string();
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/git/commits",
        Some(json!({"message": "wf", "tree": wf_tree, "parents": [base]})),
    );
    let wf_commit = resp.body["sha"].as_str().unwrap().to_string();
    let resp = send(
        &fake.url(),
        "PATCH",
        "/repos/acme/one/git/refs/heads/main",
        Some("token ghp_noworkflow"),
        Some(&json!({"sha": wf_commit})),
    );
    assert_eq!(resp.status, 422);
    assert_eq!(
        resp.body["message"],
        "refusing to allow a Personal Access Token to create or update workflow `.github/workflows/ci.yml` without `workflow` scope"
    );
    assert_eq!(fake.tip("acme", "one", "main").unwrap(), base);

    // Protected branch.
    fake.protect_branch("acme", "one", "main");
    let resp = rest(
        &fake,
        "PATCH",
        "/repos/acme/one/git/refs/heads/main",
        Some(json!({"sha": commit})),
    );
    assert_eq!(resp.status, 422);
    assert!(
        resp.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Repository rule violations found")
    );

    // Blob content is base64 with line breaks.
    let content = vec![b'z'; 100];
    fake.push("acme", "one", "other", &[("big", Some(&content))], "big");
    let oid = blob_oid(&content);
    let resp = rest(
        &fake,
        "GET",
        &format!("/repos/acme/one/git/blobs/{oid}"),
        None,
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["encoding"], "base64");
    assert_eq!(resp.body["size"], 100);
    let text = resp.body["content"].as_str().unwrap();
    assert!(text.lines().all(|l| l.len() <= 60) && text.contains('\n'));
    assert_eq!(text.replace('\n', ""), b64(&content));

    // Deleting the head branch closes its pull request.
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({"title": "t", "head": "distributor/sync", "base": "main"})),
    );
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    let resp = rest(
        &fake,
        "DELETE",
        "/repos/acme/one/git/refs/heads/distributor/sync",
        None,
    );
    assert_eq!(resp.status, 204);
    assert_eq!(fake.pulls("acme", "one")[0].state, "closed");
    assert!(
        !fake
            .branches("acme", "one")
            .contains(&"distributor/sync".to_string())
    );
    fsck(&fake.git_dir("acme", "one"));

    let counters = fake.counters();
    assert_eq!(
        counters.by_kind["PATCH /repos/{owner}/{repo}/git/refs/heads/{branch}"],
        5
    );
    assert_eq!(
        counters.by_kind["DELETE /repos/{owner}/{repo}/git/refs/heads/{branch}"],
        1
    );
}

#[test]
fn unknown_routes_and_repos_are_404_and_counted() {
    let fake = fake();
    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let resp = rest(&fake, "GET", "/repos/acme/one/nothing-here", None);
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.body,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
    );
    let resp = rest(&fake, "PUT", "/repos/acme/one/pulls", None);
    assert_eq!(resp.status, 404);
    let resp = rest(&fake, "GET", "/repos/acme/missing", None);
    assert_eq!(resp.status, 404);
    let counters = fake.counters();
    assert_eq!(
        counters.by_kind["unexpected GET /repos/acme/one/nothing-here"],
        1
    );
    assert_eq!(counters.by_kind["unexpected PUT /repos/acme/one/pulls"], 1);
    assert_eq!(counters.by_kind["GET /repos/{owner}/{repo}"], 1);
    assert!(
        !counters
            .by_kind
            .contains_key("PUT /repos/{owner}/{repo}/pulls")
    );
}

/// Git Data writes GitHub refuses: trees and commits in an empty repository
/// (409), a tree entry deleting a path the base tree lacks ("Returns an
/// error if you try to delete a file that does not exist"), malformed tree
/// paths, and ref names `git check-ref-format` refuses.
#[test]
fn git_data_api_refuses_what_github_refuses() {
    let fake = fake();
    fake.add_empty_repo("acme", "empty", "main");
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/empty/git/trees",
        Some(json!({"tree": [{"path": "a", "mode": "100644", "type": "blob", "content": "a"}]})),
    );
    assert_eq!(resp.status, 409, "{:?}", resp.body);
    assert_eq!(resp.body["message"], "Git Repository is empty.");
    let empty_tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    let resp = rest(
        &fake,
        "POST",
        "/repos/acme/empty/git/commits",
        Some(json!({"message": "first", "tree": empty_tree, "parents": []})),
    );
    assert_eq!(resp.status, 409, "{:?}", resp.body);
    assert_eq!(resp.body["message"], "Git Repository is empty.");
    assert!(fake.branches("acme", "empty").is_empty());

    let base = fake.add_repo("acme", "one", "main", &[("keep.txt", b"k")]);
    let resp = rest(
        &fake,
        "GET",
        &format!("/repos/acme/one/git/commits/{base}"),
        None,
    );
    let base_tree = resp.body["tree"]["sha"].as_str().unwrap().to_string();
    let tree = |entries: Value| {
        rest(
            &fake,
            "POST",
            "/repos/acme/one/git/trees",
            Some(json!({"base_tree": base_tree, "tree": entries})),
        )
    };
    let resp = tree(json!([
        {"path": "new.txt", "mode": "100644", "type": "blob", "content": "n"},
        {"path": "never/existed.txt", "mode": "100644", "type": "blob", "sha": null},
    ]));
    assert_eq!(resp.status, 422, "{:?}", resp.body);
    assert_eq!(resp.body["message"], "GitRPC::BadObjectState");
    for path in [
        "../escape",
        ".git/config",
        "a/.Git/b",
        "a//b",
        "/abs",
        "dir/",
        "./a",
        "",
    ] {
        let resp = tree(json!([{"path": path, "mode": "100644", "type": "blob", "content": "x"}]));
        assert_eq!(resp.status, 422, "{path:?}: {:?}", resp.body);
        let message = resp.body["message"].as_str().unwrap();
        assert!(message.contains("malformed path component"), "{message}");
    }
    let resp = tree(json!([{"path": "keep.txt", "mode": "100644", "type": "blob", "sha": null}]));
    assert_eq!(resp.status, 201, "{:?}", resp.body);

    for name in [
        "refs/heads/bad..name",
        "refs/heads/has space",
        "refs/heads/x.lock",
        "refs/heads/end/",
        "heads/main2",
        "refs/x",
    ] {
        let resp = rest(
            &fake,
            "POST",
            "/repos/acme/one/git/refs",
            Some(json!({"ref": name, "sha": base})),
        );
        assert_eq!(resp.status, 422, "{name}: {:?}", resp.body);
        assert_eq!(resp.body["message"], "Reference name is not valid");
    }
    assert_eq!(fake.branches("acme", "one"), vec!["main".to_string()]);
    fsck(&fake.git_dir("acme", "one"));
}
