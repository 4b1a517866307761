//! GraphQL: batched observe queries, createCommitOnBranch, updateRefs,
//! auto-merge, validation errors.

mod common;

use common::*;
use serde_json::{Value, json};

const OBSERVE: &str = r#"
query Observe($o1: String!, $n1: String!, $o2: String!, $n2: String!, $p: String!) {
  r0: repository(owner: $o1, name: $n1) {
    id nameWithOwner isArchived autoMergeAllowed
    defaultBranchRef {
      name
      target { ... on Commit { oid f0: file(path: $p) { oid mode type object { ... on Blob { text isBinary byteSize } } } } }
    }
    proposal: ref(qualifiedName: "refs/heads/distributor/sync") {
      name prefix
      target { ... on Commit { oid message messageHeadline parents(first: 1) { totalCount nodes { oid } } tree { oid } } }
    }
    script: object(expression: "HEAD:bin/run.sh") { ... on Blob { oid text } }
    pullRequests(headRefName: "distributor/sync", states: [OPEN], first: 1) {
      totalCount
      nodes { id number state headRefName headRefOid baseRefName isDraft title author { login } labels(first: 5) { nodes { name } } autoMergeRequest { enabledAt } }
    }
  }
  r1: repository(owner: $o2, name: $n2) { id }
  rateLimit { cost limit remaining resetAt used }
}"#;

fn vars() -> Value {
    json!({"o1": "acme", "n1": "one", "o2": "acme", "n2": "missing", "p": "README.md"})
}

#[test]
fn observe_batch_reads_real_objects_and_reports_missing_repos() {
    let fake = fake();
    let base = fake.add_repo(
        "acme",
        "one",
        "main",
        &[("README.md", b"hello\n"), ("bin/run.sh", b"#!/bin/sh\n")],
    );
    fake.set_mode("acme", "one", "main", "bin/run.sh", true);
    let proposal = fake.push(
        "acme",
        "one",
        "distributor/sync",
        &[("README.md", Some(b"changed\n"))],
        "sync\n\nbody",
    );
    let pr = rest(
        &fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({"title": "Sync", "head": "distributor/sync", "base": "main", "body": "b"})),
    );
    assert_eq!(pr.status, 201, "{:?}", pr.body);

    let body = gql(&fake, OBSERVE, vars());
    let r0 = &body["data"]["r0"];
    assert_eq!(r0["nameWithOwner"], "acme/one");
    assert_eq!(r0["defaultBranchRef"]["name"], "main");
    let tip = fake.tip("acme", "one", "main").unwrap();
    assert_ne!(tip, base);
    assert_eq!(r0["defaultBranchRef"]["target"]["oid"], tip.as_str());
    let f0 = &r0["defaultBranchRef"]["target"]["f0"];
    assert_eq!(f0["oid"], blob_oid(b"hello\n").as_str());
    assert_eq!(f0["mode"], 33188);
    assert_eq!(f0["type"], "blob");
    assert_eq!(f0["object"]["text"], "hello\n");
    assert_eq!(f0["object"]["byteSize"], 6);
    assert_eq!(r0["script"]["oid"], blob_oid(b"#!/bin/sh\n").as_str());
    assert_eq!(
        fake.file_mode("acme", "one", "main", "bin/run.sh"),
        Some(0o100755)
    );

    let proposal_ref = &r0["proposal"];
    assert_eq!(proposal_ref["name"], "distributor/sync");
    assert_eq!(proposal_ref["prefix"], "refs/heads/");
    assert_eq!(proposal_ref["target"]["oid"], proposal.as_str());
    assert_eq!(proposal_ref["target"]["messageHeadline"], "sync");
    assert_eq!(
        proposal_ref["target"]["parents"]["nodes"][0]["oid"],
        tip.as_str()
    );

    let prs = &r0["pullRequests"];
    assert_eq!(prs["totalCount"], 1);
    assert_eq!(prs["nodes"][0]["number"], 1);
    assert_eq!(prs["nodes"][0]["state"], "OPEN");
    assert_eq!(prs["nodes"][0]["headRefOid"], proposal.as_str());
    assert_eq!(prs["nodes"][0]["author"]["login"], "distributor-bot");
    assert!(prs["nodes"][0]["autoMergeRequest"].is_null());

    assert!(body["data"]["r1"].is_null());
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["type"], "NOT_FOUND");
    assert_eq!(errors[0]["path"], json!(["r1"]));
    assert_eq!(
        errors[0]["message"],
        "Could not resolve to a Repository with the name 'acme/missing'."
    );
    assert!(errors[0]["locations"].is_array());

    let rate = &body["data"]["rateLimit"];
    assert_eq!(rate["limit"], 5000);
    assert_eq!(rate["remaining"], 4999);
    assert_eq!(rate["used"], 1);
    assert!(rate["resetAt"].as_str().unwrap().ends_with('Z'));

    // Executable files report mode 100755.
    let q = r#"query { repository(owner: "acme", name: "one") { object(expression: "main") { ... on Commit { file(path: "bin/run.sh") { mode } } } } }"#;
    let body = gql(&fake, q, json!({}));
    assert_eq!(body["data"]["repository"]["object"]["file"]["mode"], 33261);
    let counters = fake.counters();
    assert_eq!(counters.by_kind["graphql query"], 2);
    assert_eq!(counters.graphql_points, 2);
}

const COMMIT: &str = r#"
mutation Commit($input: CreateCommitOnBranchInput!) {
  createCommitOnBranch(input: $input) { commit { oid url } ref { name } }
}"#;

fn commit_input(
    branch: &str,
    expected: &str,
    additions: &[(&str, &[u8])],
    deletions: &[&str],
) -> Value {
    json!({"input": {
        "branch": {"repositoryNameWithOwner": "acme/one", "branchName": branch},
        "expectedHeadOid": expected,
        "message": {"headline": "Sync files", "body": "Distributor-Version: 1"},
        "fileChanges": {
            "additions": additions.iter().map(|(p, c)| json!({"path": p, "contents": b64(c)})).collect::<Vec<_>>(),
            "deletions": deletions.iter().map(|p| json!({"path": p})).collect::<Vec<_>>(),
        },
    }})
}

#[test]
fn create_commit_on_branch_writes_valid_objects_and_refuses_like_github() {
    let fake = fake();
    fake.add_token("ghp_noworkflow", false);
    let base = fake.add_repo(
        "acme",
        "one",
        "main",
        &[
            ("README.md", b"hi\n"),
            ("old.txt", b"x"),
            ("tool.sh", b"echo\n"),
        ],
    );
    fake.set_mode("acme", "one", "main", "tool.sh", true);
    let tip = fake.tip("acme", "one", "main").unwrap();
    assert_ne!(tip, base);

    let input = commit_input(
        "main",
        &tip,
        &[("a/b/new.txt", b"new\n"), ("tool.sh", b"echo 2\n")],
        &["old.txt"],
    );
    let body = gql(&fake, COMMIT, input);
    assert!(body.get("errors").is_none(), "{body}");
    let oid = body["data"]["createCommitOnBranch"]["commit"]["oid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(body["data"]["createCommitOnBranch"]["ref"]["name"], "main");
    assert_eq!(fake.tip("acme", "one", "main").unwrap(), oid);
    assert_eq!(
        fake.file("acme", "one", "main", "a/b/new.txt").unwrap(),
        b"new\n"
    );
    assert_eq!(fake.file("acme", "one", "main", "old.txt"), None);
    assert_eq!(
        fake.file_mode("acme", "one", "main", "a/b/new.txt"),
        Some(0o100644)
    );
    assert_eq!(
        fake.file_mode("acme", "one", "main", "tool.sh"),
        Some(0o100755)
    );
    assert_eq!(
        fake.commit_message("acme", "one", &oid),
        "Sync files\n\nDistributor-Version: 1"
    );
    assert_eq!(
        fake.log("acme", "one", "main"),
        vec![oid.clone(), tip.clone(), base]
    );
    let dir = fake.git_dir("acme", "one");
    fsck(&dir);
    let author = git(
        &dir,
        &["log", "-1", "--format=%an <%ae>|%cn <%ce>", &oid],
        None,
    );
    assert_eq!(
        author.trim(),
        "distributor-bot <distributor-bot@users.noreply.github.com>|distributor-bot <distributor-bot@users.noreply.github.com>"
    );

    // Stale expectedHeadOid: refused, nothing changes.
    let body = gql(
        &fake,
        COMMIT,
        commit_input("main", &tip, &[("x", b"x")], &[]),
    );
    assert!(body["data"]["createCommitOnBranch"].is_null());
    assert_eq!(body["errors"][0]["type"], "STALE_DATA");
    assert_eq!(
        body["errors"][0]["message"],
        format!("Expected branch to point to \"{tip}\" but it did not. Pull and try again.")
    );
    assert_eq!(body["errors"][0]["path"], json!(["createCommitOnBranch"]));
    assert_eq!(fake.tip("acme", "one", "main").unwrap(), oid);

    // Missing branch.
    let body = gql(
        &fake,
        COMMIT,
        commit_input("nope", &oid, &[("x", b"x")], &[]),
    );
    assert_eq!(body["errors"][0]["type"], "NOT_FOUND");
    assert_eq!(
        body["errors"][0]["message"],
        "Could not resolve to a Ref with the name 'refs/heads/nope'."
    );

    // Workflow files need the scope.
    let wf = commit_input(
        "main",
        &oid,
        &[
            ("README.md", b"x"),
            (".github/workflows/ci.yml", b"on: push\n"),
        ],
        &[],
    );
    let resp = gql_as(&fake, "ghp_noworkflow", COMMIT, wf.clone());
    assert_eq!(resp.body["errors"][0]["type"], "FORBIDDEN");
    assert_eq!(
        resp.body["errors"][0]["message"],
        "refusing to allow a Personal Access Token to create or update workflow `.github/workflows/ci.yml` without `workflow` scope"
    );
    assert_eq!(fake.tip("acme", "one", "main").unwrap(), oid);
    let body = gql(&fake, COMMIT, wf);
    assert!(body.get("errors").is_none(), "{body}");
    let with_wf = fake.tip("acme", "one", "main").unwrap();

    // Protected branch.
    fake.protect_branch("acme", "one", "main");
    let body = gql(
        &fake,
        COMMIT,
        commit_input("main", &with_wf, &[("x", b"x")], &[]),
    );
    assert_eq!(body["errors"][0]["type"], "UNPROCESSABLE");
    assert_eq!(
        body["errors"][0]["message"],
        "Repository rule violations found\n\nChanges must be made through a pull request.\n\n"
    );

    // Archived.
    fake.archive("acme", "one");
    let body = gql(
        &fake,
        COMMIT,
        commit_input("main", &with_wf, &[("x", b"x")], &[]),
    );
    assert_eq!(body["errors"][0]["type"], "UNPROCESSABLE");
    assert_eq!(
        body["errors"][0]["message"],
        "Repository was archived so is read-only."
    );
    assert_eq!(fake.tip("acme", "one", "main").unwrap(), with_wf);
    fsck(&dir);
    assert_eq!(fake.counters().by_kind["graphql mutation"], 7);
}

const UPDATE_REFS: &str = r#"
mutation Refs($input: UpdateRefsInput!) { updateRefs(input: $input) { clientMutationId } }"#;

fn repo_id(fake: &fake_github::FakeGitHub) -> String {
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

fn refs_input(id: &str, updates: Value) -> Value {
    json!({"input": {"repositoryId": id, "refUpdates": updates}})
}

#[test]
fn update_refs_is_compare_and_swap_and_atomic() {
    let fake = fake();
    let first = fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let second = fake.push("acme", "one", "main", &[("a", Some(b"2"))], "two");
    let id = repo_id(&fake);
    assert!(id.starts_with("R_kgDO"));
    let zero = "0000000000000000000000000000000000000000";

    // Create.
    let body = gql(
        &fake,
        UPDATE_REFS,
        refs_input(
            &id,
            json!([{"name": "refs/heads/topic", "beforeOid": zero, "afterOid": first}]),
        ),
    );
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(fake.tip("acme", "one", "topic").unwrap(), first);
    // Creating again: it exists.
    let body = gql(
        &fake,
        UPDATE_REFS,
        refs_input(
            &id,
            json!([{"name": "refs/heads/topic", "beforeOid": zero, "afterOid": second}]),
        ),
    );
    assert_eq!(body["errors"][0]["type"], "STALE_DATA");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("refs/heads/topic") && message.contains(zero) && message.contains(&first),
        "{message}"
    );
    // Fast-forward works; going back needs force.
    let body = gql(
        &fake,
        UPDATE_REFS,
        refs_input(
            &id,
            json!([{"name": "refs/heads/topic", "beforeOid": first, "afterOid": second}]),
        ),
    );
    assert!(body.get("errors").is_none(), "{body}");
    let body = gql(
        &fake,
        UPDATE_REFS,
        refs_input(
            &id,
            json!([{"name": "refs/heads/topic", "beforeOid": second, "afterOid": first}]),
        ),
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("fast forward")
    );
    assert_eq!(fake.tip("acme", "one", "topic").unwrap(), second);
    let body = gql(
        &fake,
        UPDATE_REFS,
        refs_input(
            &id,
            json!([{"name": "refs/heads/topic", "beforeOid": second, "afterOid": first, "force": true}]),
        ),
    );
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(fake.tip("acme", "one", "topic").unwrap(), first);

    // Atomic: the second update is stale, so the first does not happen.
    let body = gql(
        &fake,
        UPDATE_REFS,
        refs_input(
            &id,
            json!([
                {"name": "refs/heads/other", "beforeOid": zero, "afterOid": second},
                {"name": "refs/heads/topic", "beforeOid": second, "afterOid": second},
            ]),
        ),
    );
    assert_eq!(body["errors"][0]["type"], "STALE_DATA");
    assert_eq!(fake.branches("acme", "one"), vec!["main", "topic"]);

    // Delete with CAS closes the branch's pull request.
    fake.push("acme", "one", "topic", &[("b", Some(b"b"))], "b");
    let tip = fake.tip("acme", "one", "topic").unwrap();
    let pr = rest(
        &fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({"title": "t", "head": "topic", "base": "main"})),
    );
    assert_eq!(pr.status, 201, "{:?}", pr.body);
    let body = gql(
        &fake,
        UPDATE_REFS,
        refs_input(
            &id,
            json!([{"name": "refs/heads/topic", "beforeOid": first, "afterOid": zero}]),
        ),
    );
    assert_eq!(body["errors"][0]["type"], "STALE_DATA");
    let body = gql(
        &fake,
        UPDATE_REFS,
        refs_input(
            &id,
            json!([{"name": "refs/heads/topic", "beforeOid": tip, "afterOid": zero}]),
        ),
    );
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(fake.branches("acme", "one"), vec!["main"]);
    assert_eq!(fake.pulls("acme", "one")[0].state, "closed");

    // Protected branches refuse ref updates.
    fake.protect_branch("acme", "one", "main");
    let body = gql(
        &fake,
        UPDATE_REFS,
        refs_input(
            &id,
            json!([{"name": "refs/heads/main", "beforeOid": second, "afterOid": first, "force": true}]),
        ),
    );
    assert_eq!(body["errors"][0]["type"], "UNPROCESSABLE");
    assert_eq!(fake.tip("acme", "one", "main").unwrap(), second);
    fsck(&fake.git_dir("acme", "one"));
}

#[test]
fn two_mutations_in_one_document_run_in_order() {
    let fake = fake();
    let tip = fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let id = repo_id(&fake);
    let doc = r#"
mutation Both($refs: UpdateRefsInput!, $commit: CreateCommitOnBranchInput!) {
  reset: updateRefs(input: $refs) { clientMutationId }
  write: createCommitOnBranch(input: $commit) { commit { oid } }
}"#;
    let mut commit = commit_input("distributor/sync", &tip, &[("b", b"2")], &[]);
    let vars = json!({
        "refs": {"repositoryId": id, "refUpdates": [{"name": "refs/heads/distributor/sync", "beforeOid": "0000000000000000000000000000000000000000", "afterOid": tip}]},
        "commit": commit["input"].take(),
    });
    let body = gql(&fake, doc, vars.clone());
    assert!(body.get("errors").is_none(), "{body}");
    let oid = body["data"]["write"]["commit"]["oid"].as_str().unwrap();
    assert_eq!(fake.tip("acme", "one", "distributor/sync").unwrap(), oid);
    assert_eq!(
        fake.file("acme", "one", "distributor/sync", "b").unwrap(),
        b"2"
    );
    // Again: the first fails (branch exists), the second still runs (and is stale).
    let body = gql(&fake, doc, vars);
    let types: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["STALE_DATA", "STALE_DATA"]);
    assert!(body["data"]["reset"].is_null() && body["data"]["write"].is_null());
    let counters = fake.counters();
    assert_eq!(counters.by_kind["graphql mutation"], 2);
    assert_eq!(counters.content_creating, 2);
}

#[test]
fn auto_merge_follows_the_repository_setting() {
    let fake = fake();
    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    fake.push("acme", "one", "topic", &[("a", Some(b"2"))], "two");
    let pr = rest(
        &fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({"title": "t", "head": "topic", "base": "main"})),
    );
    let node_id = pr.body["node_id"].as_str().unwrap().to_string();
    assert!(node_id.starts_with("PR_kwDO"));
    let doc = r#"mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: SQUASH}) { pullRequest { number autoMergeRequest { enabledAt } } } }"#;
    let body = gql(&fake, doc, json!({"id": node_id}));
    assert_eq!(body["errors"][0]["type"], "UNPROCESSABLE");
    assert_eq!(
        body["errors"][0]["message"],
        "Pull request Auto merge is not allowed for this repository"
    );
    fake.set_allow_auto_merge("acme", "one", true);
    let body = gql(&fake, doc, json!({"id": node_id}));
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["enablePullRequestAutoMerge"]["pullRequest"]["number"],
        1
    );
    assert!(
        body["data"]["enablePullRequestAutoMerge"]["pullRequest"]["autoMergeRequest"]["enabledAt"]
            .is_string()
    );
    assert!(fake.pulls("acme", "one")[0].auto_merge);
}

#[test]
fn invalid_documents_get_validation_errors_and_unsupported_fields_are_named() {
    let fake = fake();
    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let body = gql(
        &fake,
        r#"query { repository(owner: "acme", name: "one") { nosuchfield } }"#,
        json!({}),
    );
    assert!(body.get("data").is_none(), "{body}");
    let errors = body["errors"].as_array().unwrap();
    let error = errors
        .iter()
        .find(|e| e["message"].as_str().unwrap().contains("nosuchfield"))
        .expect("an error names the unknown field");
    assert_eq!(error["locations"][0], json!({"line": 1, "column": 50}));

    // Valid for GitHub, but not implemented by the fake: a visible error.
    let body = gql(
        &fake,
        r#"query { repository(owner: "acme", name: "one") { diskUsage } }"#,
        json!({}),
    );
    assert_eq!(body["errors"][0]["type"], "UNSUPPORTED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("diskUsage")
    );
}

const CHECKS: &str = r#"
query Checks($o: String!, $n: String!) {
  repository(owner: $o, name: $n) {
    defaultBranchRef { target { ... on Commit { oid statusCheckRollup { state } } } }
    ref(qualifiedName: "refs/heads/topic") {
      target { ... on Commit { oid statusCheckRollup { state commit { oid } } } }
    }
    object(expression: "topic") { ... on Commit { statusCheckRollup { state } parents(first: 1) { nodes { oid statusCheckRollup { state } } } } }
    pullRequests(headRefName: "topic", first: 1) {
      nodes {
        number headRefOid
        statusCheckRollup { state }
        headRef { name target { ... on Commit { oid statusCheckRollup { state } } } }
        commits(last: 1) { totalCount nodes { commit { oid statusCheckRollup { state } } } }
      }
    }
  }
}"#;

#[test]
fn commit_status_check_rollup_follows_set_check_state() {
    let fake = fake();
    let base = fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let first = fake.push("acme", "one", "topic", &[("a", Some(b"2"))], "two");
    let head = fake.push("acme", "one", "topic", &[("a", Some(b"3"))], "three");
    let pr = rest(
        &fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({"title": "t", "head": "topic", "base": "main"})),
    );
    assert_eq!(pr.status, 201, "{:?}", pr.body);
    let vars = json!({"o": "acme", "n": "one"});

    // No state set: every rollup is null, without errors.
    let body = gql(&fake, CHECKS, vars.clone());
    assert!(body.get("errors").is_none(), "{body}");
    let repo = &body["data"]["repository"];
    assert_eq!(repo["defaultBranchRef"]["target"]["oid"], base.as_str());
    assert!(repo["defaultBranchRef"]["target"]["statusCheckRollup"].is_null());
    assert!(repo["ref"]["target"]["statusCheckRollup"].is_null());
    let pull = &repo["pullRequests"]["nodes"][0];
    assert_eq!(pull["headRefOid"], head.as_str());
    assert!(pull["statusCheckRollup"].is_null());
    assert_eq!(pull["headRef"]["name"], "topic");
    assert_eq!(pull["headRef"]["target"]["oid"], head.as_str());
    assert!(pull["headRef"]["target"]["statusCheckRollup"].is_null());
    assert_eq!(pull["commits"]["totalCount"], 2);
    assert_eq!(pull["commits"]["nodes"][0]["commit"]["oid"], head.as_str());
    assert!(pull["commits"]["nodes"][0]["commit"]["statusCheckRollup"].is_null());

    fake.set_check_state("acme", "one", &head, Some("FAILURE"));
    fake.set_check_state("acme", "one", &first, Some("pending"));
    fake.set_check_state("acme", "one", &base.to_uppercase(), Some("SUCCESS"));
    let body = gql(&fake, CHECKS, vars.clone());
    assert!(body.get("errors").is_none(), "{body}");
    let repo = &body["data"]["repository"];
    assert_eq!(
        repo["defaultBranchRef"]["target"]["statusCheckRollup"]["state"],
        "SUCCESS"
    );
    let rollup = &repo["ref"]["target"]["statusCheckRollup"];
    assert_eq!(rollup["state"], "FAILURE");
    assert_eq!(rollup["commit"]["oid"], head.as_str());
    assert_eq!(repo["object"]["statusCheckRollup"]["state"], "FAILURE");
    let parent = &repo["object"]["parents"]["nodes"][0];
    assert_eq!(parent["oid"], first.as_str());
    assert_eq!(parent["statusCheckRollup"]["state"], "PENDING");
    let pull = &repo["pullRequests"]["nodes"][0];
    assert_eq!(pull["statusCheckRollup"]["state"], "FAILURE");
    assert_eq!(
        pull["headRef"]["target"]["statusCheckRollup"]["state"],
        "FAILURE"
    );
    assert_eq!(
        pull["commits"]["nodes"][0]["commit"]["statusCheckRollup"]["state"],
        "FAILURE"
    );

    // Every StatusState value round-trips; None clears.
    for state in ["ERROR", "EXPECTED", "FAILURE", "PENDING", "SUCCESS"] {
        fake.set_check_state("acme", "one", &head, Some(state));
        let body = gql(&fake, CHECKS, vars.clone());
        let repo = &body["data"]["repository"];
        assert_eq!(repo["ref"]["target"]["statusCheckRollup"]["state"], state);
    }
    fake.set_check_state("acme", "one", &head, None);
    let body = gql(&fake, CHECKS, vars.clone());
    let repo = &body["data"]["repository"];
    assert!(repo["ref"]["target"]["statusCheckRollup"].is_null());
    assert!(repo["pullRequests"]["nodes"][0]["statusCheckRollup"].is_null());
    assert_eq!(
        repo["defaultBranchRef"]["target"]["statusCheckRollup"]["state"],
        "SUCCESS"
    );

    // Reads are not content-creating.
    let counters = fake.counters();
    assert_eq!(counters.by_kind["graphql query"], 8);
    assert_eq!(counters.content_creating, 1);
}

#[test]
#[should_panic(expected = "is not one of")]
fn set_check_state_refuses_unknown_states() {
    let fake = fake();
    let tip = fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    fake.set_check_state("acme", "one", &tip, Some("GREEN"));
}

const PULL: &str = r#"
query Pull($o: String!, $n: String!) {
  repository(owner: $o, name: $n) {
    pullRequests(first: 5) {
      nodes {
        number state createdAt updatedAt headRefOid
        headRef { name }
        labels(first: 10) { totalCount nodes { name } }
        comments(first: 10) { totalCount nodes { body author { login } } }
      }
    }
  }
}"#;

#[test]
fn pull_request_created_at_head_ref_oid_labels_and_comments() {
    let fake = fake();
    fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let first = fake.push("acme", "one", "topic", &[("a", Some(b"2"))], "two");
    let pr = rest(
        &fake,
        "POST",
        "/repos/acme/one/pulls",
        Some(json!({"title": "t", "head": "topic", "base": "main"})),
    );
    assert_eq!(pr.status, 201, "{:?}", pr.body);
    let vars = json!({"o": "acme", "n": "one"});

    // createdAt override: GraphQL, REST and the snapshot agree.
    fake.set_pull_created_at("acme", "one", 1, "2020-01-02T03:04:05Z");
    let body = gql(&fake, PULL, vars.clone());
    assert!(body.get("errors").is_none(), "{body}");
    let pull = &body["data"]["repository"]["pullRequests"]["nodes"][0];
    assert_eq!(pull["createdAt"], "2020-01-02T03:04:05Z");
    assert!(pull["updatedAt"].as_str().unwrap() > "2020-01-02T03:04:05Z");
    assert_eq!(pull["headRefOid"], first.as_str());
    let resp = rest(&fake, "GET", "/repos/acme/one/pulls/1", None);
    assert_eq!(resp.body["created_at"], "2020-01-02T03:04:05Z");
    let resp = rest(&fake, "GET", "/repos/acme/one/pulls?state=all", None);
    assert_eq!(resp.body[0]["created_at"], "2020-01-02T03:04:05Z");
    assert_eq!(
        fake.pulls("acme", "one")[0].created_at,
        "2020-01-02T03:04:05Z"
    );
    // Offsets are normalised to UTC.
    fake.set_pull_created_at("acme", "one", 1, "2021-06-01T12:00:00.5+02:00");
    assert_eq!(
        fake.pulls("acme", "one")[0].created_at,
        "2021-06-01T10:00:00Z"
    );

    // Labels and comments added to the open pull request show up in order.
    for labels in [json!(["sync", "bot"]), json!(["Bot", "late"])] {
        let resp = rest(
            &fake,
            "POST",
            "/repos/acme/one/issues/1/labels",
            Some(json!({ "labels": labels })),
        );
        assert_eq!(resp.status, 200, "{:?}", resp.body);
    }
    for text in ["first", "second"] {
        let resp = rest(
            &fake,
            "POST",
            "/repos/acme/one/issues/1/comments",
            Some(json!({ "body": text })),
        );
        assert_eq!(resp.status, 201, "{:?}", resp.body);
    }
    // headRefOid follows the branch tip while open.
    let second = fake.push("acme", "one", "topic", &[("b", Some(b"b"))], "more");
    let body = gql(&fake, PULL, vars.clone());
    assert!(body.get("errors").is_none(), "{body}");
    let pull = &body["data"]["repository"]["pullRequests"]["nodes"][0];
    assert_eq!(pull["headRefOid"], second.as_str());
    assert_eq!(pull["labels"]["totalCount"], 3);
    assert_eq!(
        pull["labels"]["nodes"],
        json!([{"name": "sync"}, {"name": "bot"}, {"name": "late"}])
    );
    assert_eq!(pull["comments"]["totalCount"], 2);
    assert_eq!(
        pull["comments"]["nodes"],
        json!([
            {"body": "first", "author": {"login": "distributor-bot"}},
            {"body": "second", "author": {"login": "distributor-bot"}},
        ])
    );
    let snapshot = &fake.pulls("acme", "one")[0];
    assert_eq!(snapshot.labels, vec!["sync", "bot", "late"]);
    assert_eq!(snapshot.comments, vec!["first", "second"]);

    // Closed with its branch deleted: the recorded head, no head ref.
    let resp = rest(
        &fake,
        "DELETE",
        "/repos/acme/one/git/refs/heads/topic",
        None,
    );
    assert!(resp.status < 300, "{:?}", resp.body);
    let body = gql(&fake, PULL, vars);
    let pull = &body["data"]["repository"]["pullRequests"]["nodes"][0];
    assert_eq!(pull["state"], "CLOSED");
    assert_eq!(pull["headRefOid"], second.as_str());
    assert!(pull["headRef"].is_null());

    let counters = fake.counters();
    assert_eq!(counters.by_kind["graphql query"], 3);
    // The PR, two label and two comment POSTs and the DELETE.
    assert_eq!(counters.content_creating, 6);
}

/// `FileChanges` as GitHub documents them: paths are well formed (not
/// slash-prefixed), unique across additions and deletions, a deleted path
/// must exist; deletions apply before additions, so a file and a directory
/// can trade places when the old one is deleted explicitly.
#[test]
fn create_commit_on_branch_validates_file_changes_like_github() {
    let fake = fake();
    let base = fake.add_repo(
        "acme",
        "one",
        "main",
        &[("conf", b"file\n"), ("dir/x.txt", b"x\n")],
    );
    let malformed = [
        "../escape",
        ".git/config",
        "a/.GIT/b",
        "a//b",
        "/abs",
        "dir/",
        "./a",
        "a/..",
        "",
    ];
    for path in malformed {
        for input in [
            commit_input("main", &base, &[(path, b"x")], &[]),
            commit_input("main", &base, &[], &[path]),
        ] {
            let body = gql(&fake, COMMIT, input);
            assert_eq!(
                body["errors"][0]["type"], "UNPROCESSABLE",
                "{path:?}: {body}"
            );
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains("malformed path component"), "{message}");
        }
    }

    let body = gql(
        &fake,
        COMMIT,
        commit_input("main", &base, &[("conf", b"new\n")], &["conf"]),
    );
    assert_eq!(body["errors"][0]["type"], "UNPROCESSABLE", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("must be unique") && message.contains("`conf`"),
        "{message}"
    );

    let body = gql(
        &fake,
        COMMIT,
        commit_input(
            "main",
            &base,
            &[("new.txt", b"n\n")],
            &["never/existed.txt"],
        ),
    );
    assert_eq!(
        body["errors"][0]["message"],
        format!("A path was requested for deletion which does not exist as of commit oid `{base}`")
    );
    assert_eq!(fake.tip("acme", "one", "main").unwrap(), base);

    // Deleting `conf` makes room for the directory `conf/`, deleting the
    // last file of `dir/` for the file `dir`.
    let body = gql(
        &fake,
        COMMIT,
        commit_input(
            "main",
            &base,
            &[("conf/nested.txt", b"n\n"), ("dir", b"now a file\n")],
            &["conf", "dir/x.txt"],
        ),
    );
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        fake.file("acme", "one", "main", "conf/nested.txt").unwrap(),
        b"n\n"
    );
    assert_eq!(
        fake.file("acme", "one", "main", "dir").unwrap(),
        b"now a file\n"
    );
    assert_eq!(fake.file("acme", "one", "main", "dir/x.txt"), None);
    fsck(&fake.git_dir("acme", "one"));
}

/// `updateRefs` refuses names `git check-ref-format` refuses; `-x` is a
/// valid ref name (only `git branch` refuses it as a branch name).
#[test]
fn update_refs_refuses_invalid_ref_names() {
    let fake = fake();
    let base = fake.add_repo("acme", "one", "main", &[("a", b"1")]);
    let id = repo_id(&fake);
    let zero = "0000000000000000000000000000000000000000";
    let invalid = [
        "refs/heads/bad..name",
        "refs/heads/has space",
        "refs/heads/x.lock",
        "refs/heads/.hidden",
        "refs/heads/a//b",
        "refs/heads/end/",
        "refs/heads/end.",
        "refs/heads/x@{1}",
        "refs/heads/tilde~1",
        "refs/heads/colon:x",
        "refs/heads/star*",
        "refs/heads/back\\slash",
    ];
    for name in invalid {
        let body = gql(
            &fake,
            UPDATE_REFS,
            refs_input(
                &id,
                json!([{"name": name, "beforeOid": zero, "afterOid": base}]),
            ),
        );
        assert_eq!(body["errors"][0]["type"], "UNPROCESSABLE", "{name}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("not a valid ref name"), "{message}");
    }
    assert_eq!(fake.branches("acme", "one"), vec!["main".to_string()]);
    let body = gql(
        &fake,
        UPDATE_REFS,
        refs_input(
            &id,
            json!([{"name": "refs/heads/-x", "beforeOid": zero, "afterOid": base}]),
        ),
    );
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(fake.tip("acme", "one", "-x").unwrap(), base);
}
