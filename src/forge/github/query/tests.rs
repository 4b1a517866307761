use super::*;

fn query(owner: &str, name: &str, branch: Option<&str>) -> RepoQuery {
    RepoQuery {
        repo: RepoId::new(owner, name),
        branch: branch.map(str::to_string),
        paths: vec![".github/workflows/ci.yml".into(), "CODEOWNERS".into()],
        lock_path: ".github/distributor.lock.json".into(),
        proposal_branch: "distributor/sync".into(),
    }
}

fn oid(n: u8) -> ObjectId {
    format!("{:040x}", n).parse().unwrap()
}

/// Every document distributor sends is valid against GitHub's schema, so a
/// typo in a field name fails here instead of in production.
#[test]
fn every_document_is_valid_against_the_github_schema() {
    // GitHub's published schema, as the fake GitHub builds it (it tolerates
    // the schema's two duplicate field definitions and nothing else).
    let schema = fake_github::github_schema();
    let repo = RepoId::new("acme", "web");
    let docs = [
        (
            "observe",
            observe(&[
                query("acme", "web", None),
                query("acme", "api", Some("trunk")),
            ])
            .query,
        ),
        ("observe one", observe(&[query("acme", "web", None)]).query),
        ("blobs", blobs(&repo, &[oid(1), oid(2)]).query),
        ("repo id", repo_id(&repo).query),
        ("commit", COMMIT.to_string()),
        ("propose", PROPOSE.to_string()),
        ("update refs", UPDATE_REFS.to_string()),
        ("auto merge", AUTO_MERGE.to_string()),
    ];
    for (name, doc) in docs {
        if let Err(e) = apollo_compiler::ExecutableDocument::parse_and_validate(schema, &doc, name)
        {
            panic!("{name} is not valid against GitHub's schema:\n{e}\n{doc}");
        }
    }
}

#[test]
fn observe_shares_path_variables_across_repos() {
    let doc = observe(&[query("acme", "web", None), query("acme", "api", None)]);
    let vars = doc.variables.as_object().unwrap();
    // Three distinct paths (two files and the lock), one proposal head.
    assert_eq!(vars.keys().filter(|k| k.starts_with('p')).count(), 3);
    assert_eq!(vars["h0"], "distributor/sync");
    assert_eq!(vars["h0ref"], "refs/heads/distributor/sync");
    assert_eq!(vars["o1"], "acme");
    assert_eq!(vars["n1"], "api");
}

#[test]
fn answers_parse_into_observations() {
    let qs = [
        query("acme", "web", None),
        query("acme", "gone", None),
        query("acme", "old", None),
    ];
    let body = json!({
        "data": {
            "rateLimit": { "cost": 1, "remaining": 4999, "resetAt": "2026-11-21T12:00:00Z" },
            "r0": {
                "id": "R_1", "isArchived": false,
                "defaultBranchRef": { "name": "main" },
                "branch": { "name": "main", "target": {
                    "oid": oid(9).to_string(),
                    "f0": { "oid": oid(1).to_string(), "mode": 33261, "type": "blob" },
                    "f1": null,
                    "lock": { "oid": oid(3).to_string(), "mode": 33188, "type": "blob",
                              "object": { "text": "{\"version\":1}", "isBinary": false } }
                }},
                "proposal": { "name": "distributor/sync", "target": {
                    "oid": oid(7).to_string(),
                    "message": "sync\n\nDistributor-Version: 0.1.0",
                    "parents": { "nodes": [ { "oid": oid(9).to_string() } ] },
                    "f0": null, "f1": { "oid": oid(2).to_string(), "mode": 40960, "type": "blob" },
                    "lock": null
                }},
                "pullRequests": { "nodes": [ { "id": "PR_1", "number": 4, "url": "https://github.com/acme/web/pull/4",
                    "title": "t", "body": "b", "createdAt": "2026-11-20T10:00:00Z", "isDraft": false,
                    "labels": { "nodes": [ { "name": "platform" } ] } } ] }
            },
            "r1": null,
            "r2": { "id": "R_3", "isArchived": true }
        },
        "errors": [ { "type": "NOT_FOUND", "path": ["r1"], "message": "Could not resolve to a Repository with the name 'acme/gone'." } ]
    });
    let out = parse_observe(&qs, &body);
    let web = out[0].as_ref().unwrap();
    assert_eq!(web.node_id, "R_1");
    let obs = &web.observation;
    assert_eq!(obs.default_branch.name, "main");
    assert_eq!(obs.default_branch.tip, Some(oid(9)));
    assert_eq!(
        obs.default_branch.files[".github/workflows/ci.yml"],
        Some(FileEntry {
            blob: oid(1),
            mode: Some(FileMode::Executable)
        })
    );
    assert_eq!(obs.default_branch.files["CODEOWNERS"], None);
    assert_eq!(
        obs.default_branch.lock.as_deref(),
        Some(&b"{\"version\":1}"[..])
    );
    let p = obs.proposal.as_ref().unwrap();
    // No lock on the tip: not distributor's by content.
    assert!(!p.by_distributor);
    assert_eq!(p.base, Some(oid(9)));
    // A symlink is present but not a regular file.
    assert_eq!(
        p.branch.files["CODEOWNERS"],
        Some(FileEntry {
            blob: oid(2),
            mode: None
        })
    );
    let pr = obs.pull_request.as_ref().unwrap();
    assert_eq!(
        (pr.number, pr.labels.clone()),
        (4, vec!["platform".to_string()])
    );
    assert!(matches!(&out[1], Err(ForgeError::NotFound { repo, .. }) if repo.name == "gone"));
    assert!(matches!(&out[2], Err(ForgeError::Archived(r)) if r.name == "old"));
}

#[test]
fn a_proposal_branch_at_the_default_tip_is_reusable_and_a_human_commit_is_not() {
    let qs = [query("acme", "web", None)];
    let answer = |message: &str, tip: ObjectId| {
        json!({ "data": { "r0": {
            "id": "R_1", "isArchived": false, "defaultBranchRef": { "name": "main" },
            "branch": { "name": "main", "target": { "oid": oid(9).to_string(), "f0": null, "f1": null, "lock": null } },
            "proposal": { "name": "distributor/sync", "target": { "oid": tip.to_string(), "message": message,
                "parents": { "nodes": [] }, "f0": null, "f1": null, "lock": null } },
            "pullRequests": { "nodes": [] }
        }}})
    };
    let empty = parse_observe(&qs, &answer("initial commit", oid(9)));
    assert!(
        empty[0]
            .as_ref()
            .unwrap()
            .observation
            .proposal
            .as_ref()
            .unwrap()
            .by_distributor
    );
    let human = parse_observe(&qs, &answer("fix the workflow by hand", oid(8)));
    assert!(
        !human[0]
            .as_ref()
            .unwrap()
            .observation
            .proposal
            .as_ref()
            .unwrap()
            .by_distributor
    );
}

/// A proposal tip is distributor's when it has one parent and changes,
/// against it, only queried paths and the lock (as many paths as GitHub's
/// `changedFilesIfAvailable` counts), with the contents its lock records.
#[test]
fn ownership_is_judged_by_content_and_the_changed_file_count() {
    let qs = [query("acme", "web", None)];
    let content = b"on: push\n";
    let lock = crate::lock::Lock {
        version: crate::lock::LOCK_VERSION,
        source: crate::lock::Source {
            revision: "r1".into(),
            dirty: false,
            digest: None,
        },
        generator: "test".into(),
        files: [(
            ".github/workflows/ci.yml".to_string(),
            crate::lock::LockEntry {
                bundle: "b".into(),
                template: "t".into(),
                blob: crate::blob::blob_id(content),
                mode: FileMode::Regular,
                rendered: None,
                rendered_text: None,
            },
        )]
        .into(),
    };
    let lock_text = String::from_utf8(lock.to_bytes()).unwrap();
    let answer = |blob: ObjectId, changed: u64, parents: u64| {
        json!({ "data": { "r0": {
            "id": "R_1", "isArchived": false, "defaultBranchRef": { "name": "main" },
            "branch": { "name": "main", "target": { "oid": oid(9).to_string(), "f0": null, "f1": null, "lock": null } },
            "proposal": { "name": "distributor/sync", "target": {
                "oid": oid(7).to_string(), "changedFilesIfAvailable": changed,
                "parents": { "totalCount": parents, "nodes": [ { "oid": oid(9).to_string(), "f0": null, "f1": null, "lock": null } ] },
                "f0": { "oid": blob.to_string(), "mode": 33188, "type": "blob" }, "f1": null,
                "lock": { "oid": oid(3).to_string(), "mode": 33188, "type": "blob",
                          "object": { "text": lock_text, "isBinary": false } } } },
            "pullRequests": { "nodes": [] }
        }}})
    };
    let ours = |body: &Value| {
        parse_observe(&qs, body)[0]
            .as_ref()
            .unwrap()
            .observation
            .proposal
            .as_ref()
            .unwrap()
            .by_distributor
    };
    let recorded = crate::blob::blob_id(content);
    assert!(ours(&answer(recorded, 2, 1)));
    // Amended content, a path the query did not ask for, a merge commit.
    assert!(!ours(&answer(crate::blob::blob_id(b"edited\n"), 2, 1)));
    assert!(!ours(&answer(recorded, 3, 1)));
    assert!(!ours(&answer(recorded, 2, 2)));
}

#[test]
fn errors_map_to_outcomes_callers_branch_on() {
    let repo = RepoId::new("acme", "web");
    let e = |kind: &str, message: &str| GqlError {
        kind: kind.into(),
        message: message.into(),
        at: None,
    };
    assert!(matches!(
        map_error(
            &repo,
            &e(
                "STALE_DATA",
                "Expected branch to point to \"abc\" but it did not. Pull and try again."
            )
        ),
        ForgeError::Conflict { .. }
    ));
    let wf = map_error(
        &repo,
        &e(
            "FORBIDDEN",
            "refusing to allow a Personal Access Token to create or update workflow `.github/workflows/ci.yml` without `workflow` scope",
        ),
    );
    let ForgeError::Refused(msg) = wf else {
        panic!("refused")
    };
    assert!(
        msg.contains("`workflow` scope")
            && msg.contains("workflows: write")
            && msg.contains(".github/workflows/ci.yml"),
        "{msg}"
    );
    assert!(matches!(
        map_error(
            &repo,
            &e(
                "UNPROCESSABLE",
                "Repository rule violations found\n\nChanges must be made through a pull request."
            )
        ),
        ForgeError::Protected(_)
    ));
    assert!(matches!(
        map_error(
            &repo,
            &e("UNPROCESSABLE", "Repository was archived so is read-only.")
        ),
        ForgeError::Archived(_)
    ));
    assert!(matches!(
        map_error(
            &repo,
            &e(
                "NOT_FOUND",
                "Could not resolve to a Repository with the name 'acme/web'."
            )
        ),
        ForgeError::NotFound { .. }
    ));
}

#[test]
fn commit_input_splits_the_message_and_encodes_contents() {
    let v = commit_input(
        &RepoId::new("acme", "web"),
        "main",
        oid(1),
        "Sync files\n\nbody line\n\nDistributor-Version: 1",
        &[("a.txt".into(), b"hi\n".to_vec())],
        &["old.txt".into()],
    );
    assert_eq!(v["message"]["headline"], "Sync files");
    assert_eq!(v["message"]["body"], "body line\n\nDistributor-Version: 1");
    assert_eq!(v["fileChanges"]["additions"][0]["contents"], "aGkK");
    assert_eq!(v["fileChanges"]["deletions"][0]["path"], "old.txt");
    assert_eq!(v["branch"]["repositoryNameWithOwner"], "acme/web");
}
