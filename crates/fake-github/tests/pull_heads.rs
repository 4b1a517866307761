//! GitHub's undocumented rule for pull request heads, as the fake models
//! it: an open pull request whose head is moved onto a commit its base
//! contains is closed, by any ref update (GraphQL `updateRefs`, REST
//! `PATCH` of a ref, a reset then commit in one document: two pushes), and
//! cannot be reopened until its head moves on from there; a head moved
//! straight from one proposal commit to the next keeps it open. The pull
//! request's commit list (`GET /pulls/{n}/commits`) says which commits
//! GitHub signed.

mod common;

use serde_json::{Value, json};

use common::{b64, fake, fake_with, gql, rest};
use fake_github::{Config, FakeGitHub};

/// A repo `acme/one` with a pull request #1 from `topic` (one human
/// commit on `main`); returns (main tip, topic tip).
fn with_pull(fake: &FakeGitHub) -> (String, String) {
    let main = fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let topic = fake.push("acme", "one", "topic", &[("a", Some(b"2"))], "two");
    let pr = rest(
        fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({"title": "t", "head": "topic", "base": "main"})),
    );
    assert_eq!(pr.status, 201, "{:?}", pr.body);
    (main, topic)
}

fn state(fake: &FakeGitHub) -> String {
    fake.pulls("acme", "one")[0].state.clone()
}

fn repo_id(fake: &FakeGitHub) -> String {
    let body = gql(
        fake,
        r#"query { repository(owner: "acme", name: "one") { id } }"#,
        json!({}),
    );
    body["data"]["repository"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn commit_on(branch: &str, expected: &str, path: &str, content: &[u8]) -> Value {
    json!({
        "branch": {"repositoryNameWithOwner": "acme/one", "branchName": branch},
        "expectedHeadOid": expected,
        "message": {"headline": "Sync files", "body": "Distributor-Version: 1"},
        "fileChanges": {"additions": [{"path": path, "contents": b64(content)}]},
    })
}

#[test]
fn a_reset_then_commit_in_one_document_closes_the_pull_request() {
    let fake = fake();
    let (main, topic) = with_pull(&fake);
    let doc = r#"
mutation Both($refs: UpdateRefsInput!, $commit: CreateCommitOnBranchInput!) {
  updateRefs(input: $refs) { clientMutationId }
  createCommitOnBranch(input: $commit) { commit { oid } }
}"#;
    let vars = json!({
        "refs": {"repositoryId": repo_id(&fake), "refUpdates": [{"name": "refs/heads/topic", "beforeOid": topic, "afterOid": main, "force": true}]},
        "commit": commit_on("topic", &main, "a", b"3"),
    });
    let body = gql(&fake, doc, vars);
    assert!(body.get("errors").is_none(), "{body}");
    // Two pushes: the first left the head on its base.
    assert_eq!(state(&fake), "closed");
    assert!(!fake.pulls("acme", "one")[0].merged);
    let get = rest(&fake, "GET", "/repos/acme/one/pulls/1", None);
    assert_eq!(get.body["state"], "closed");
    assert!(get.body["closed_at"].is_string());
    // Nothing reopens it: a new pull request would be needed.
    let open = rest(&fake, "GET", "/repos/acme/one/pulls?state=open", None);
    assert_eq!(open.body, json!([]));
}

#[test]
fn a_head_moved_from_one_commit_to_the_next_keeps_the_pull_request_open() {
    let fake = fake();
    let (main, topic) = with_pull(&fake);
    // A commit on the head (signed), then a rebuild on a side branch
    // swapped in with one updateRefs that also deletes the side branch.
    let body = gql(
        &fake,
        "mutation($c: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $c) { commit { oid } } }",
        json!({"c": commit_on("topic", &topic, "a", b"3")}),
    );
    let stacked = body["data"]["createCommitOnBranch"]["commit"]["oid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(state(&fake), "open");
    let id = repo_id(&fake);
    let body = gql(
        &fake,
        r#"mutation($refs: UpdateRefsInput!, $c: CreateCommitOnBranchInput!) {
  updateRefs(input: $refs) { clientMutationId }
  createCommitOnBranch(input: $c) { commit { oid } } }"#,
        json!({
            "refs": {"repositoryId": id, "refUpdates": [{"name": "refs/heads/topic-next", "afterOid": main, "force": true}]},
            "c": commit_on("topic-next", &main, "a", b"4"),
        }),
    );
    let rebuilt = body["data"]["createCommitOnBranch"]["commit"]["oid"]
        .as_str()
        .unwrap()
        .to_string();
    let body = gql(
        &fake,
        "mutation($refs: UpdateRefsInput!) { updateRefs(input: $refs) { clientMutationId } }",
        json!({"refs": {"repositoryId": id, "refUpdates": [
            {"name": "refs/heads/topic", "beforeOid": stacked, "afterOid": rebuilt, "force": true},
            {"name": "refs/heads/topic-next", "beforeOid": rebuilt, "afterOid": "0000000000000000000000000000000000000000"},
        ]}}),
    );
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(state(&fake), "open");
    assert_eq!(fake.branches("acme", "one"), ["main", "topic"]);
    let commits = rest(&fake, "GET", "/repos/acme/one/pulls/1/commits", None);
    assert_eq!(commits.status, 200);
    let list = commits.body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["sha"], rebuilt.as_str());
    assert_eq!(list[0]["parents"][0]["sha"], main.as_str());
    assert_eq!(list[0]["commit"]["verification"]["verified"], true);
    assert_eq!(list[0]["commit"]["verification"]["reason"], "valid");
}

#[test]
fn a_rest_ref_update_onto_the_base_closes_and_a_descendant_head_reopens() {
    let fake = fake();
    let (main, topic) = with_pull(&fake);
    let patch = rest(
        &fake,
        "PATCH",
        "/repos/acme/one/git/refs/heads/topic",
        Some(json!({"sha": main, "force": true})),
    );
    assert_eq!(patch.status, 200, "{:?}", patch.body);
    assert_eq!(state(&fake), "closed");
    // Not moved yet: nothing to merge.
    let reopen = |fake: &FakeGitHub| {
        rest(
            fake,
            "PATCH",
            "/repos/acme/one/pulls/1",
            Some(json!({"state": "open"})),
        )
    };
    let r = reopen(&fake);
    assert_eq!(r.status, 422);
    assert_eq!(
        r.body["errors"][0]["message"],
        "state cannot be changed. There are no new commits on the topic branch."
    );
    // A human commit on the head (descending from the closed head).
    fake.push("acme", "one", "topic", &[("a", Some(b"5"))], "five");
    assert_eq!(reopen(&fake).status, 200);
    assert_eq!(state(&fake), "open");
    // The commit list shows unsigned human commits.
    let commits = fake.pull_commits("acme", "one", 1);
    assert_eq!(commits.len(), 1);
    assert!(!commits[0].verified);
    let _ = topic;
}

#[test]
fn the_rule_can_be_switched_off() {
    let fake = fake_with(Config {
        close_empty_pulls: false,
        ..Config::default()
    });
    let (main, _) = with_pull(&fake);
    let patch = rest(
        &fake,
        "PATCH",
        "/repos/acme/one/git/refs/heads/topic",
        Some(json!({"sha": main, "force": true})),
    );
    assert_eq!(patch.status, 200);
    assert_eq!(state(&fake), "open");
}

#[test]
fn a_base_that_takes_the_head_s_commit_closes_it() {
    let fake = fake();
    let (_, topic) = with_pull(&fake);
    // The base takes the head's commit (a fast-forward push to main).
    let id = repo_id(&fake);
    let body = gql(
        &fake,
        "mutation($refs: UpdateRefsInput!) { updateRefs(input: $refs) { clientMutationId } }",
        json!({"refs": {"repositoryId": id, "refUpdates": [{"name": "refs/heads/main", "afterOid": topic}]}}),
    );
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(state(&fake), "closed");
}
