//! Why a proposal is a pull request, its bundles' labels, when one is
//! wanted, and the action on forges with and without pull requests.

use super::*;
use crate::plan::fixtures::{branch, file, observe, repo, settings};
use crate::plan::route;
use crate::plan::{CommitPlan, locks};
use crate::registry::Delivery;

fn routing(delivery: Delivery) -> Routing {
    route::choose(false, delivery, None, "distributor/sync")
}

fn commit() -> CommitPlan {
    CommitPlan {
        branch: "distributor/sync".into(),
        writes: Vec::new(),
        lock: locks::new_lock(&settings().source, BTreeMap::new()),
        message: "m".into(),
    }
}

#[test]
fn drift_proposed_by_a_direct_repo_is_why_it_is_a_pull_request() {
    let drift = [file("d", FileState::Drifted, Route::Proposal, Some("d"))];
    let direct = routing(Delivery::Direct);
    assert_eq!(
        why(&drift, &direct),
        "some files were edited by hand, and distributor never overwrites a hand edit without review"
    );
    // Otherwise the delivery reason says it.
    let pr = routing(Delivery::Pr);
    assert_eq!(why(&drift, &pr), pr.reason);
    let missing = [file("m", FileState::Missing, Route::Proposal, Some("m"))];
    assert_eq!(why(&missing, &direct), direct.reason);
}

#[test]
fn bundle_labels_are_added_once_in_file_order() {
    let mut x = file("x", FileState::Missing, Route::Proposal, Some("x"));
    x.bundle = "other".into();
    let a = file("a", FileState::Missing, Route::Proposal, Some("a"));
    let labels = [
        (
            "b".to_string(),
            vec!["platform".to_string(), "ci".to_string()],
        ),
        (
            "other".to_string(),
            vec!["ci".to_string(), "docs".to_string()],
        ),
    ]
    .into();
    let mut got = vec!["platform".to_string()];
    add_bundle_labels(&mut got, &[&x, &a], &labels);
    assert_eq!(got, ["platform", "ci", "docs"]);
}

#[test]
fn a_pull_request_is_wanted_while_the_branch_carries_changes() {
    let r = repo("pr");
    let s = settings();
    let labels = [("b".to_string(), vec!["platform".to_string()])].into();
    let direct = routing(Delivery::Pr);
    let ctx = RequestContext {
        repo: &r,
        source: &s.source,
        rollback: None,
        bundle_labels: &labels,
        routing: &direct,
    };
    let files = [file("a", FileState::Missing, Route::Proposal, Some("a"))];
    let on: Vec<&FilePlan> = files.iter().collect();
    let create = ProposalPlan::Create { commit: commit() };
    let pr = pull_request(&create, &files, &on, &ctx).unwrap();
    assert_eq!(pr.title, "distributor: update 1 platform-managed file");
    assert!(
        pr.labels.contains(&"platform".to_string()),
        "{:?}",
        pr.labels
    );
    assert!(pr.body.contains(&direct.reason), "{}", pr.body);
    // Nothing on the branch, or a branch closed or left to a human: none.
    assert_eq!(pull_request(&create, &files, &[], &ctx), None);
    let tip = crate::plan::fixtures::oid(9);
    for p in [
        ProposalPlan::None,
        ProposalPlan::Close { tip },
        ProposalPlan::HumanEdited { tip, pending: true },
    ] {
        assert_eq!(pull_request(&p, &files, &on, &ctx), None, "{p:?}");
    }
    assert!(pull_request(&ProposalPlan::UpToDate { tip }, &files, &on, &ctx).is_some());
}

#[test]
fn the_action_is_none_on_forges_without_pull_requests() {
    let obs = observe(branch(&[], None), None);
    let create = ProposalPlan::Create { commit: commit() };
    let r = repo("pr");
    let files = [file("a", FileState::Missing, Route::Proposal, Some("a"))];
    let want = pull_request::pull_request(&r, &[&files[0]], &settings().source, None, "why");
    assert_eq!(
        action(false, &create, Some(&want), &obs, false),
        PullRequestAction::None
    );
    assert_eq!(
        action(true, &create, Some(&want), &obs, false),
        PullRequestAction::Open { pull_request: want }
    );
}
