//! Planning tests: routing per delivery mode, lock contents, proposal
//! decisions, commit messages. Observations are built by hand.

use std::collections::BTreeMap;

use super::fixtures::*;
use super::*;
use crate::blob::blob_id;

#[test]
fn direct_delivery_commits_safe_changes_and_proposes_drift() {
    let r = repo("direct");
    let want = [
        desired("a", "new a"),
        desired("b", "new b"),
        desired("c", "c"),
        desired("d", "new d"),
    ];
    let obs = observe(
        branch(
            &[
                ("a", None),             // missing
                ("b", entry("old b")),   // outdated
                ("c", entry("c")),       // in sync
                ("d", entry("hand d")),  // drifted
                ("gone", entry("gone")), // orphaned, unchanged
            ],
            Some(lock_of(&[
                ("b", "old b"),
                ("c", "c"),
                ("d", "old d"),
                ("gone", "gone"),
            ])),
        ),
        None,
    );
    let p = plan(&r, &want, &obs);
    let got = routes(&p);
    assert_eq!(got["a"], (FileState::Missing, Route::Direct));
    assert_eq!(got["b"], (FileState::Outdated, Route::Direct));
    assert_eq!(got["c"], (FileState::InSync, Route::None));
    assert_eq!(got["d"], (FileState::Drifted, Route::Proposal));
    assert_eq!(got["gone"], (FileState::Orphaned, Route::Direct));

    let direct = p.direct.as_ref().expect("a direct commit");
    let paths: Vec<_> = direct.writes.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["a", "b", "gone"]);
    assert_eq!(direct.writes[2].blob, None, "orphan deleted");
    // The direct lock records what main will hold: d keeps its old entry so
    // it stays drifted until the proposal is merged.
    let lock = &direct.lock.files;
    assert_eq!(lock["a"].blob, blob_id(b"new a"));
    assert_eq!(lock["d"].blob, blob_id(b"old d"));
    assert!(!lock.contains_key("gone"));
    assert_eq!(direct.lock.source.revision, "abc");

    let ProposalPlan::Create { commit } = &p.proposal else {
        panic!("expected a proposal, got {:?}", p.proposal)
    };
    assert_eq!(commit.writes.len(), 1);
    assert_eq!(commit.writes[0].path, "d");
    assert_eq!(commit.lock.files["d"].blob, blob_id(b"new d"));
    assert_eq!(commit.lock.files["a"].blob, blob_id(b"new a"));
    assert!(
        p.delivery_reason.contains("drifted file d"),
        "{}",
        p.delivery_reason
    );
    assert_eq!(p.status(), RepoStatus::Drifted);
    assert!(commit.message.contains("overwrite"), "{}", commit.message);
    assert!(direct.message.contains("Distributor-Source: abc\n"));
    assert!(direct.message.contains("Distributor-Version: "));
}

#[test]
fn pr_delivery_routes_everything_to_the_proposal() {
    let r = repo("pr");
    let want = [desired("a", "a"), desired("b", "new b")];
    let obs = observe(
        branch(
            &[("a", None), ("b", entry("old b"))],
            Some(lock_of(&[("b", "old b")])),
        ),
        None,
    );
    let p = plan(&r, &want, &obs);
    assert!(p.direct.is_none());
    let ProposalPlan::Create { commit } = &p.proposal else {
        panic!("{:?}", p.proposal)
    };
    assert_eq!(commit.branch, "distributor/sync");
    assert_eq!(commit.writes.len(), 2);
    assert!(p.has_writes());
    assert_eq!(p.status(), RepoStatus::Outdated);
}

#[test]
fn in_sync_repo_plans_nothing_and_does_not_rewrite_the_lock() {
    let r = repo("direct");
    let want = [desired("a", "a")];
    // The lock comes from an older platform revision; output is identical,
    // so nothing is written: a platform commit that changes no rendered
    // file produces no commit anywhere.
    let obs = observe(
        branch(&[("a", entry("a"))], Some(lock_of(&[("a", "a")]))),
        None,
    );
    let p = plan(&r, &want, &obs);
    assert!(!p.has_writes());
    assert!(p.direct.is_none());
    assert!(matches!(p.proposal, ProposalPlan::None));
    assert_eq!(p.status(), RepoStatus::InSync);
}

#[test]
fn existing_proposal_is_up_to_date_updated_closed_or_left_alone() {
    let r = repo("pr");
    let want = [desired("a", "new a")];
    let main = || branch(&[("a", entry("old a"))], Some(lock_of(&[("a", "old a")])));

    // Built on the current tip with the final content: nothing to write.
    let obs = observe(
        main(),
        Some(proposal(&[("a", entry("new a"))], oid(1), true)),
    );
    let p = plan(&r, &want, &obs);
    assert!(matches!(p.proposal, ProposalPlan::UpToDate { .. }));
    assert!(!p.has_writes());
    assert_eq!(p.status(), RepoStatus::ProposalPending);

    // Stale content: updated in place.
    let obs = observe(
        main(),
        Some(proposal(&[("a", entry("older a"))], oid(1), true)),
    );
    let p = plan(&r, &want, &obs);
    assert!(
        matches!(p.proposal, ProposalPlan::Update { previous_tip, .. } if previous_tip == oid(9))
    );

    // Main moved since the proposal was built, and a managed file changed
    // there: rebuilt on the new tip.
    let mut moved = proposal(&[("a", entry("new a"))], oid(7), true);
    let mut at_base = main();
    at_base.files.insert("a".into(), entry("older a"));
    moved.base_snapshot = Some(at_base);
    let obs = observe(main(), Some(moved.clone()));
    assert!(matches!(
        plan(&r, &want, &obs).proposal,
        ProposalPlan::Update { .. }
    ));
    // Without knowing the base's files, the same.
    moved.base_snapshot = None;
    let obs = observe(main(), Some(moved.clone()));
    assert!(matches!(
        plan(&r, &want, &obs).proposal,
        ProposalPlan::Update { .. }
    ));
    // Main moved, but no managed path nor the lock changed since the base:
    // the proposal still merges cleanly and is left as it is.
    moved.base_snapshot = Some(main());
    let obs = observe(main(), Some(moved));
    let p = plan(&r, &want, &obs);
    assert!(matches!(p.proposal, ProposalPlan::UpToDate { .. }));
    assert!(!p.has_writes());

    // Someone else pushed: left alone, changes stay pending.
    let obs = observe(
        main(),
        Some(proposal(&[("a", entry("new a"))], oid(1), false)),
    );
    let p = plan(&r, &want, &obs);
    assert!(matches!(
        p.proposal,
        ProposalPlan::HumanEdited { pending: true, .. }
    ));
    assert!(!p.has_writes());

    // The team merged it: main is in sync, the branch is closed.
    let synced = branch(&[("a", entry("new a"))], Some(lock_of(&[("a", "new a")])));
    let obs = observe(
        synced,
        Some(proposal(&[("a", entry("new a"))], oid(1), true)),
    );
    let p = plan(&r, &want, &obs);
    assert!(matches!(p.proposal, ProposalPlan::Close { tip } if tip == oid(9)));
    assert!(p.has_writes());
}

#[test]
fn force_overwrites_drift_directly_and_closes_the_proposal() {
    let r = repo("pr");
    let want = [desired("a", "new a"), desired("b", "b")];
    let obs = observe(
        branch(
            &[("a", entry("hand a")), ("b", None)],
            Some(lock_of(&[("a", "old a")])),
        ),
        Some(proposal(&[], oid(1), true)),
    );
    let mut s = settings();
    s.force_reason = Some("CVE-2026-0001: pin actions".into());
    let p = plan_with(&r, &want, &obs, &s);
    let direct = p.direct.as_ref().expect("forced runs commit directly");
    assert_eq!(direct.writes.len(), 2);
    assert!(matches!(p.proposal, ProposalPlan::Close { .. }));
    assert!(
        direct
            .message
            .starts_with("distributor: forced update of 2 managed files")
    );
    assert!(
        direct
            .message
            .contains("Reason: CVE-2026-0001: pin actions")
    );
    assert!(
        direct
            .message
            .contains("Distributor-Force-Reason: CVE-2026-0001: pin actions\n")
    );
    assert!(p.delivery_reason.contains("forced"));
}

#[test]
fn edited_orphans_are_released_not_deleted() {
    let r = repo("direct");
    let want = [desired("a", "new a")];
    let obs = observe(
        branch(
            &[("a", entry("old a")), ("o", entry("hand o")), ("g", None)],
            Some(lock_of(&[("a", "old a"), ("o", "old o"), ("g", "g")])),
        ),
        None,
    );
    let p = plan(&r, &want, &obs);
    let got = routes(&p);
    assert_eq!(got["o"], (FileState::Orphaned, Route::Release));
    assert_eq!(got["g"], (FileState::Orphaned, Route::Release));
    let direct = p.direct.unwrap();
    assert_eq!(direct.writes.len(), 1, "only a is written");
    assert!(
        !direct.lock.files.contains_key("o"),
        "o is no longer managed"
    );
    assert!(!direct.lock.files.contains_key("g"));
}

#[test]
fn bundle_filter_leaves_other_bundles_alone() {
    let r = repo("direct");
    let mut other = desired("x", "new x");
    other.bundle = "other".into();
    let want = [desired("a", "new a"), other];
    let mut lock = Lock::parse(
        "l",
        std::str::from_utf8(&lock_of(&[("a", "old a"), ("x", "old x")])).unwrap(),
    )
    .unwrap();
    lock.files.get_mut("x").unwrap().bundle = "other".into();
    let obs = observe(
        branch(
            &[("a", entry("old a")), ("x", entry("old x"))],
            Some(lock.to_bytes()),
        ),
        None,
    );
    let mut s = settings();
    s.bundles = Some(["b".to_string()].into());
    let p = plan_with(&r, &want, &obs, &s);
    let paths: Vec<_> = p.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["a"]);
    let direct = p.direct.unwrap();
    // x keeps its old lock entry: it is still outdated for an unfiltered run.
    assert_eq!(direct.lock.files["x"].blob, blob_id(b"old x"));
}

#[test]
fn unreadable_lock_is_a_repo_error_with_advice() {
    let r = repo("direct");
    let obs = observe(branch(&[("a", None)], Some(b"{not json".to_vec())), None);
    let err = plan_repo(PlanInput {
        repo: &r,
        desired: &[desired("a", "a")],
        observation: &obs,
        settings: &settings(),
        direct_refused: None,
        pull_requests: false,
        contents: &BTreeMap::new(),
    })
    .unwrap_err();
    assert!(
        err.contains(".github/distributor.lock.json in acme/r"),
        "{err}"
    );
    assert!(err.contains("delete it to re-adopt"), "{err}");
}

#[test]
fn diffs_are_unified_and_cover_creates_and_deletes() {
    let r = repo("direct");
    let want = [desired("a", "one\ntwo\n"), desired("n", "new\n")];
    let obs = observe(
        branch(
            &[("a", entry("one\n")), ("n", None), ("gone", entry("bye\n"))],
            Some(lock_of(&[("a", "one\n"), ("gone", "bye\n")])),
        ),
        None,
    );
    let mut p = plan(&r, &want, &obs);
    let mut blobs = BTreeMap::new();
    blobs.insert(blob_id(b"one\n"), b"one\n".to_vec());
    blobs.insert(blob_id(b"bye\n"), b"bye\n".to_vec());
    assert_eq!(p.blobs_for_diffs(), {
        let mut v = vec![blob_id(b"one\n"), blob_id(b"bye\n")];
        v.sort();
        v
    });
    attach_diffs(&mut p, &want, &blobs);
    let diff = |path: &str| {
        p.files
            .iter()
            .find(|f| f.path == path)
            .unwrap()
            .diff
            .clone()
            .unwrap()
    };
    assert_eq!(diff("a"), "--- a/a\n+++ b/a\n@@ -1 +1,2 @@\n one\n+two\n");
    assert!(diff("n").starts_with("--- /dev/null\n+++ b/n\n"));
    assert!(diff("gone").starts_with("--- a/gone\n+++ /dev/null\n"));
}

#[test]
fn a_proposal_still_adding_a_file_no_longer_rendered_is_rebuilt() {
    let r = repo("pr");
    let want = [desired("a", "new a")];
    let main = branch(&[("a", entry("old a"))], Some(lock_of(&[("a", "old a")])));
    // The branch also adds `gone`, which is no longer rendered.
    let mut p = proposal(&[("a", entry("new a")), ("gone", entry("g"))], oid(1), true);
    p.branch.lock = Some(lock_of(&[("a", "new a"), ("gone", "g")]));
    let plan = plan(&r, &want, &observe(main, Some(p)));
    let ProposalPlan::Update { commit, .. } = &plan.proposal else {
        panic!("{:?}", plan.proposal)
    };
    assert!(!commit.lock.files.contains_key("gone"));
}

#[test]
fn a_bundle_filtered_run_keeps_other_bundles_changes_on_the_proposal() {
    let r = repo("pr");
    let mut other = desired("x", "new x");
    other.bundle = "other".into();
    let want = [desired("a", "newer a"), other];
    let main = branch(&[("a", None), ("x", None)], None);
    // The proposal carries both bundles' files from an unfiltered run.
    let p = proposal(
        &[("a", entry("new a")), ("x", entry("new x"))],
        oid(1),
        true,
    );
    let mut s = settings();
    s.bundles = Some(["b".to_string()].into());
    let plan = plan_with(&r, &want, &observe(main, Some(p)), &s);
    let ProposalPlan::Update {
        commit, stacked, ..
    } = &plan.proposal
    else {
        panic!("{:?}", plan.proposal)
    };
    // On the proposal's tip, which already has x: only a is written, x
    // stays (neither rewritten nor deleted) and its lock entry is kept.
    assert!(stacked);
    let paths: Vec<_> = commit.writes.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["a"], "x is carried over, not dropped");
    assert_eq!(commit.lock.files["x"].bundle, "other");
    assert_eq!(commit.writes[0].blob, Some(blob_id(b"newer a")));
}

#[test]
fn a_proposal_branch_without_a_tip_is_a_repo_error_not_a_panic() {
    let r = repo("pr");
    let mut p = proposal(&[("a", entry("a"))], oid(1), true);
    p.branch.tip = None;
    let obs = observe(branch(&[("a", None)], None), Some(p));
    let err = plan_repo(PlanInput {
        repo: &r,
        desired: &[desired("a", "a")],
        observation: &obs,
        settings: &settings(),
        direct_refused: None,
        pull_requests: true,
        contents: &BTreeMap::new(),
    })
    .unwrap_err();
    assert_eq!(
        err,
        "proposal branch `distributor/sync` in acme/r was observed without a tip commit; cannot tell what it proposes"
    );
}
