//! The delivery route per registry delivery, force and refusal; overdue
//! bundles; each state's route; the delivery reason with drift.

use std::time::Duration;

use super::*;
use crate::plan::fixtures::file;

const DAY: Duration = Duration::from_secs(86_400);

fn open_pr(created_at: &str) -> PullRequest {
    PullRequest {
        number: 7,
        url: "https://example.test/pr/7".into(),
        node_id: String::new(),
        title: "t".into(),
        body: String::new(),
        created_at: created_at.into(),
        labels: Vec::new(),
        draft: false,
    }
}

/// 2024-01-11T00:00:00Z: ten days after the pull request below opened.
const NOW: Epoch = 1_704_931_200;
const OPENED: &str = "2024-01-01T00:00:00Z";

#[test]
fn direct_delivery_commits_on_the_default_branch() {
    assert_eq!(
        choose(false, Delivery::Direct, None, "distributor/sync"),
        Routing {
            route: Route::Direct,
            reason: "registry delivery `direct`: one commit on the default branch".into(),
        }
    );
}

#[test]
fn pr_delivery_proposes_on_the_branch() {
    assert_eq!(
        choose(false, Delivery::Pr, None, "distributor/sync"),
        Routing {
            route: Route::Proposal,
            reason: "registry delivery `pr`: changes go to branch `distributor/sync`".into(),
        }
    );
}

#[test]
fn force_commits_directly_whatever_the_delivery_or_refusal() {
    for (delivery, refused) in [(Delivery::Pr, None), (Delivery::Direct, Some("protected"))] {
        assert_eq!(
            choose(true, delivery, refused, "distributor/sync"),
            Routing {
                route: Route::Direct,
                reason: "forced: direct commit, drift overwritten (apply --force)".into(),
            }
        );
    }
}

#[test]
fn a_refused_direct_commit_is_proposed_instead() {
    assert_eq!(
        choose(false, Delivery::Direct, Some("branch is protected"), "sync"),
        Routing {
            route: Route::Proposal,
            reason: "registry delivery `direct`, but the direct commit was refused (branch is protected): changes go to branch `sync` instead".into(),
        }
    );
    // A `pr` repo's route does not depend on a refusal.
    assert_eq!(
        choose(false, Delivery::Pr, Some("x"), "sync").route,
        Route::Proposal
    );
}

#[test]
fn bundles_are_overdue_once_the_pull_request_outlives_their_direct_after() {
    let after = [
        ("fast".to_string(), 3 * DAY),
        ("slow".to_string(), 30 * DAY),
    ]
    .into();
    let pr = open_pr(OPENED);
    assert_eq!(
        overdue(Route::Proposal, Some(&pr), NOW, None, &after),
        Some(Overdue {
            number: 7,
            age: 10 * DAY,
            bundles: ["fast"].into(),
        })
    );
    // Exactly at the limit counts.
    let at_limit = [("b".to_string(), 10 * DAY)].into();
    assert_eq!(
        overdue(Route::Proposal, Some(&pr), NOW, None, &at_limit).map(|o| o.bundles),
        Some(["b"].into())
    );
}

#[test]
fn nothing_is_overdue_without_a_dated_pull_request_on_the_proposal_route() {
    let after = [("b".to_string(), DAY)].into();
    let pr = open_pr(OPENED);
    assert_eq!(overdue(Route::Direct, Some(&pr), NOW, None, &after), None);
    assert_eq!(overdue(Route::Proposal, None, NOW, None, &after), None);
    assert_eq!(
        overdue(Route::Proposal, Some(&pr), NOW, Some("refused"), &after),
        None
    );
    let undated = open_pr("yesterday");
    assert_eq!(
        overdue(Route::Proposal, Some(&undated), NOW, None, &after),
        None
    );
}

#[test]
fn each_state_has_its_route() {
    use FileState::*;
    let cases = [
        (InSync, None, false, Route::None),
        (Waived, None, false, Route::None),
        (Missing, None, false, Route::Proposal),
        (Outdated, None, false, Route::Proposal),
        (Merged, None, false, Route::Proposal),
        (Drifted, Some(Reason::EditedByHand), false, Route::Proposal),
        (Drifted, Some(Reason::EditedByHand), true, Route::Direct),
        (
            Conflicted,
            Some(Reason::EditedByHand),
            false,
            Route::Proposal,
        ),
        // Force never merges, so never conflicts; were it so, the render
        // still goes direct.
        (Conflicted, Some(Reason::EditedByHand), true, Route::Direct),
        (
            Orphaned,
            Some(Reason::NoLongerRendered),
            false,
            Route::Proposal,
        ),
        (
            Orphaned,
            Some(Reason::EditedThenAbandoned),
            false,
            Route::Release,
        ),
        (Orphaned, Some(Reason::AlreadyRemoved), true, Route::Release),
    ];
    for (state, reason, forced, want) in cases {
        assert_eq!(
            file_route(state, reason, forced, Route::Proposal),
            want,
            "{state:?} {reason:?} forced={forced}"
        );
    }
    assert_eq!(
        file_route(Missing, None, false, Route::Direct),
        Route::Direct
    );
}

#[test]
fn an_overdue_bundle_is_committed_directly_with_a_note() {
    let routing = choose(false, Delivery::Pr, None, "sync");
    let overdue = Overdue {
        number: 7,
        age: 10 * DAY,
        bundles: ["b"].into(),
    };
    assert_eq!(
        route_file(FileState::Outdated, None, "b", &routing, Some(&overdue), false),
        (
            Route::Direct,
            Some("committed directly: pull request #7 open for 10d, longer than bundle `b`'s direct_after".into())
        )
    );
    // Other bundles, and hand edits, stay on the proposal without a note.
    assert_eq!(
        route_file(
            FileState::Outdated,
            None,
            "c",
            &routing,
            Some(&overdue),
            false
        ),
        (Route::Proposal, None)
    );
    assert_eq!(
        route_file(
            FileState::Drifted,
            Some(Reason::EditedByHand),
            "b",
            &routing,
            Some(&overdue),
            false
        ),
        (Route::Proposal, None)
    );
}

#[test]
fn the_delivery_reason_names_drift_proposed_instead_of_committed() {
    let base = "registry delivery `direct`: one commit on the default branch";
    let files = [
        file("x", FileState::Drifted, Route::Proposal, Some("x")),
        file("y", FileState::Drifted, Route::Proposal, Some("y")),
        file("z", FileState::Missing, Route::Direct, Some("z")),
    ];
    assert_eq!(
        describe_routing(base, &files, false),
        format!(
            "{base}; drifted files x, y proposed on the proposal branch instead (direct delivery never overwrites hand edits)"
        )
    );
    assert_eq!(
        describe_routing(base, &files[..1], false),
        format!(
            "{base}; drifted file x proposed on the proposal branch instead (direct delivery never overwrites hand edits)"
        )
    );
    // Unchanged when forced, for `pr` repos, and without drift.
    assert_eq!(describe_routing(base, &files, true), base);
    let pr = "registry delivery `pr`: changes go to branch `s`";
    assert_eq!(describe_routing(pr, &files, false), pr);
    assert_eq!(describe_routing(base, &files[2..], false), base);
}
