//! Executor tests against the in-memory fake forge: commits, proposals,
//! idempotence, re-planning after a compare-and-swap conflict, and failure
//! isolation between repos.

use super::*;
use crate::blob::{FileMode, blob_id};
use crate::forge::fake::FakeForge;
use crate::lock::Lock;
use crate::lock::Source;
use crate::observe::make_plan;
use crate::plan::PlanSettings;
use crate::registry::{parse, resolve};
use crate::render::DesiredFile;

fn target(name: &str, delivery: &str, files: &[(&str, &str)]) -> Target {
    let text = format!(
        r#"{{"version": 1, "stages": ["dev"],
            "defaults": {{"owner": "acme", "delivery": "{delivery}"}},
            "teams": {{"t": {{"owners": {{"users": ["u"]}}, "repos": [{{"name": "{name}"}}]}}}}}}"#
    );
    let repo = resolve(&parse("t.json", &text).unwrap()).remove(0);
    Target {
        repo,
        desired: files
            .iter()
            .map(|(p, c)| DesiredFile {
                path: p.to_string(),
                content: c.as_bytes().to_vec(),
                mode: if p.ends_with(".sh") {
                    FileMode::Executable
                } else {
                    FileMode::Regular
                },
                blob: blob_id(c.as_bytes()),
                bundle: "b".into(),
                template: format!("b/{p}"),
                flag_reads: Default::default(),
            })
            .collect(),
    }
}

fn opts() -> Options {
    Options {
        settings: PlanSettings {
            source: Source {
                revision: "rev1".into(),
                dirty: false,
                digest: None,
            },
            force_reason: None,
            bundles: None,
            now: 0,
            direct_after: Default::default(),
            bundle_labels: Default::default(),
            rollback: None,
        },
        diffs: true,
        diffs_up_to: None,
        missing_as_empty: false,
    }
}

async fn run(forge: &FakeForge, targets: &[Target]) -> ApplyReport {
    let o = opts();
    let plan = make_plan(forge, targets, &o).await;
    apply(forge, targets, &plan, &o, |_| {}).await
}

fn id(name: &str) -> RepoId {
    RepoId::new("acme", name)
}

const LOCK: &str = ".github/distributor.lock.json";

#[tokio::test(flavor = "current_thread")]
async fn direct_delivery_writes_one_commit_with_lock_then_nothing() {
    let forge = FakeForge::new();
    forge.add_repo(&id("a"), "main", [("README.md", "hi")]);
    let t = [target(
        "a",
        "direct",
        &[("x.yml", "x: 1\n"), ("bin/run.sh", "#!/bin/sh\n")],
    )];

    let report = run(&forge, &t).await;
    assert_eq!(report.failed(), 0);
    let r = &report.repos[0];
    assert!(r.commit.is_some());
    assert_eq!(r.files_changed, 2);
    assert_eq!(forge.write_count(), 1, "one commit for the whole repo");
    assert_eq!(forge.file(&id("a"), "main", "x.yml").unwrap(), b"x: 1\n");
    assert_eq!(
        forge.mode(&id("a"), "main", "bin/run.sh"),
        Some(FileMode::Executable)
    );
    assert_eq!(forge.file(&id("a"), "main", "README.md").unwrap(), b"hi");
    let lock = Lock::parse(
        "lock",
        std::str::from_utf8(&forge.file(&id("a"), "main", LOCK).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(lock.files["x.yml"].blob, blob_id(b"x: 1\n"));
    assert_eq!(lock.source.revision, "rev1");
    let log = forge.log(&id("a"), "main");
    assert_eq!(log.len(), 2);
    assert!(log[0].contains("Distributor-Source: rev1"), "{}", log[0]);

    // Idempotent: the second run plans and writes nothing.
    let plan = make_plan(&forge, &t, &opts()).await;
    assert!(!plan.has_writes());
    let report = run(&forge, &t).await;
    assert_eq!(report.repos[0].files_changed, 0);
    assert_eq!(forge.write_count(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn proposal_lifecycle_create_keep_update_close() {
    let forge = FakeForge::new();
    forge.add_repo(&id("p"), "main", [("README.md", "hi")]);
    let v1 = [target("p", "pr", &[("x.yml", "x: 1\n")])];

    run(&forge, &v1).await;
    assert_eq!(forge.branches(&id("p")), ["distributor/sync", "main"]);
    assert_eq!(
        forge.file(&id("p"), "main", "x.yml"),
        None,
        "main untouched"
    );
    assert_eq!(forge.log(&id("p"), "distributor/sync").len(), 2);

    // Nothing changed: the proposal is left as it is.
    let writes = forge.write_count();
    let report = run(&forge, &v1).await;
    assert!(matches!(
        report.repos[0].proposal,
        ProposalOutcome::UpToDate { .. }
    ));
    assert_eq!(forge.write_count(), writes);

    // A template change updates the same branch: one commit on top of the
    // proposal's (the branch moves from one proposal commit to the next).
    let v2 = [target("p", "pr", &[("x.yml", "x: 2\n")])];
    let report = run(&forge, &v2).await;
    assert!(matches!(
        report.repos[0].proposal,
        ProposalOutcome::Updated { .. }
    ));
    assert_eq!(
        forge.file(&id("p"), "distributor/sync", "x.yml").unwrap(),
        b"x: 2\n"
    );
    assert_eq!(forge.log(&id("p"), "distributor/sync").len(), 3);

    // The team merges it (main takes the proposal's files): branch closed.
    let merged: Vec<(String, Option<Vec<u8>>)> = ["x.yml", LOCK]
        .iter()
        .map(|p| (p.to_string(), forge.file(&id("p"), "distributor/sync", p)))
        .collect();
    forge.push_commit(&id("p"), "main", merged, "Merge pull request #1");
    let report = run(&forge, &v2).await;
    assert!(matches!(
        report.repos[0].proposal,
        ProposalOutcome::Closed { .. }
    ));
    assert_eq!(forge.branches(&id("p")), ["main"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_commit_landing_between_plan_and_apply_is_kept_and_the_repo_replanned() {
    let forge = FakeForge::new();
    forge.add_repo(&id("a"), "main", [("README.md", "hi")]);
    let t = [target("a", "direct", &[("x.yml", "x: 1\n")])];
    let o = opts();
    let plan = make_plan(&forge, &t, &o).await;

    let repo = id("a");
    forge.on_next_commit(Box::new(move |state| {
        state.push_commit(&repo, "main", [("human.txt", Some("mine"))], "human work");
    }));
    let report = apply(&forge, &t, &plan, &o, |_| {}).await;
    let r = &report.repos[0];
    assert_eq!(r.error, None);
    assert!(r.replanned);
    assert_eq!(forge.file(&id("a"), "main", "human.txt").unwrap(), b"mine");
    assert_eq!(forge.file(&id("a"), "main", "x.yml").unwrap(), b"x: 1\n");
    let log = forge.log(&id("a"), "main");
    assert_eq!(
        log[1], "human work",
        "distributor's commit sits on top of the human one"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn one_failing_repo_does_not_stop_the_others() {
    let forge = FakeForge::new();
    forge.add_repo(&id("a"), "main", [("README.md", "hi")]);
    forge.add_repo(&id("b"), "main", [("README.md", "hi")]);
    forge.protect_branch(&id("a"), "main");
    let t = [
        target("a", "direct", &[("x.yml", "x: 1\n")]),
        target("b", "direct", &[("x.yml", "x: 1\n")]),
        target("missing", "direct", &[("x.yml", "x: 1\n")]),
    ];
    let report = run(&forge, &t).await;
    assert_eq!(report.failed(), 2);
    let by: BTreeMap<String, &RepoReport> = report
        .repos
        .iter()
        .map(|r| (r.repo.name.clone(), r))
        .collect();
    assert!(by["a"].error.is_some());
    assert!(
        by["missing"]
            .error
            .as_deref()
            .unwrap()
            .contains("not found")
    );
    assert!(by["b"].commit.is_some());
    assert_eq!(forge.file(&id("a"), "main", "x.yml"), None);
    assert_eq!(forge.file(&id("b"), "main", "x.yml").unwrap(), b"x: 1\n");
}

#[tokio::test(flavor = "current_thread")]
async fn empty_repository_receives_a_root_commit() {
    let forge = FakeForge::new();
    forge.add_empty_repo(&id("e"), "main");
    let t = [target("e", "direct", &[("x.yml", "x: 1\n")])];
    let report = run(&forge, &t).await;
    assert_eq!(report.repos[0].error, None);
    assert_eq!(forge.log(&id("e"), "main").len(), 1);
    assert_eq!(forge.file(&id("e"), "main", "x.yml").unwrap(), b"x: 1\n");
}

#[tokio::test(flavor = "current_thread")]
async fn orphans_found_only_in_the_lock_are_observed_and_deleted() {
    let forge = FakeForge::new();
    forge.add_repo(&id("a"), "main", [("README.md", "hi")]);
    run(
        &forge,
        &[target(
            "a",
            "direct",
            &[("x.yml", "x: 1\n"), ("old.yml", "o: 1\n")],
        )],
    )
    .await;
    // old.yml is no longer rendered: the first observation does not ask for
    // it, the lock names it, a second round finds it unchanged: deleted.
    let report = run(&forge, &[target("a", "direct", &[("x.yml", "x: 1\n")])]).await;
    assert_eq!(report.repos[0].files_changed, 1);
    assert_eq!(forge.file(&id("a"), "main", "old.yml"), None);
    let lock = forge.file(&id("a"), "main", LOCK).unwrap();
    assert!(!String::from_utf8(lock).unwrap().contains("old.yml"));
}
