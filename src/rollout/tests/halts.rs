//! Halts: the failures a revision counts, the threshold, a recorded halt,
//! resume, forced runs, and the halt event recorded once.

use super::support::*;
use crate::forge::Checks;
use crate::plan::RepoPlan;
use crate::rollout::{Decision, Halt};

fn halting(threshold: Option<u32>) -> crate::registry::Rollout {
    crate::registry::Rollout {
        halt_after_failures: threshold,
        bundles: bundles(),
        ..Default::default()
    }
}

/// Failed checks on the open pull request #n that carries this revision.
fn failed_pr(name: &str, n: u64) -> RepoPlan {
    repo(name)
        .pending_pr("baseline", n, NOW - DAY)
        .proposal_checks(Checks::Failure)
        .build()
}

/// Pull request #n closed without merging, its head the proposal tip.
fn closed_unmerged(name: &str, n: u64) -> RepoPlan {
    repo(name)
        .pending_branch("baseline")
        .closed_pr(n, Some(proposal_tip()))
        .build()
}

/// Failed checks on main, whose tip is our direct commit of this revision
/// (with [`direct_commit`] in the log).
fn broken_main(name: &str) -> RepoPlan {
    repo(name)
        .tip(oid(5))
        .default_checks(Checks::Failure)
        .build()
}

fn halt_event(at: i64, reason: &str) -> crate::rollout::Event {
    halted(at, REV, reason)
}

const PR_FAILED: &str = "acme/a: checks failed on pull request #11";
const CLOSED: &str = "acme/b: pull request #12 was closed without merging";

#[test]
fn without_halt_after_failures_nothing_halts() {
    let out = Fleet::new(halting(None))
        .log(&[direct_commit(NOW - HOUR, "c", oid(5), REV)])
        .run(
            NOW,
            vec![
                failed_pr("a", 11),
                closed_unmerged("b", 12),
                broken_main("c"),
                repo("z").direct("baseline").build(),
            ],
        );
    assert_eq!(out.rollout().halt, None);
    assert_eq!(out.facts(), vec![]);
    assert_eq!(out.decision("z"), &Decision::Proceed);
}

#[test]
fn the_revision_halts_once_its_failures_reach_the_threshold() {
    let short_main = &oid(5).to_string()[..12];
    let main_failed = format!("acme/c: checks failed on main after direct commit {short_main}");
    // (threshold, failing repos, halt reason)
    let cases: [(u32, Vec<RepoPlan>, Option<String>); 6] = [
        (1, vec![], None),
        (
            1,
            vec![failed_pr("a", 11)],
            Some(format!("1 failure: {PR_FAILED}")),
        ),
        (2, vec![failed_pr("a", 11)], None),
        (
            2,
            vec![failed_pr("a", 11), closed_unmerged("b", 12)],
            Some(format!("2 failures: {PR_FAILED}; {CLOSED}")),
        ),
        (
            2,
            vec![
                failed_pr("a", 11),
                closed_unmerged("b", 12),
                broken_main("c"),
            ],
            Some(format!("3 failures: {PR_FAILED}; {CLOSED}; {main_failed}")),
        ),
        (
            1,
            vec![broken_main("c")],
            Some(format!("1 failure: {main_failed}")),
        ),
    ];
    for (threshold, mut repos, reason) in cases {
        repos.push(repo("z").direct("baseline").build());
        repos.push(repo("y").build());
        let out = Fleet::new(halting(Some(threshold)))
            .log(&[direct_commit(NOW - HOUR, "c", oid(5), REV)])
            .run(NOW + 60, repos);
        let Some(reason) = reason else {
            assert_eq!(out.rollout().halt, None, "threshold {threshold}");
            assert_eq!(out.decision("z"), &Decision::Proceed);
            assert_eq!(out.facts(), vec![]);
            continue;
        };
        assert_eq!(
            out.rollout().halt,
            Some(Halt {
                revision: REV.into(),
                reason: reason.clone(),
                since: rfc(NOW + 60),
            }),
            "threshold {threshold}"
        );
        assert_eq!(out.facts(), vec![halt_event(NOW + 60, &reason)]);
        assert_eq!(out.decision("z"), &halted_decision(&reason));
        assert_eq!(out.decision("y"), &Decision::Idle);
    }
}

#[test]
fn failed_checks_count_only_on_a_proposal_carrying_exactly_this_revision() {
    let failing = || {
        repo("a")
            .pending_pr("baseline", 11, NOW - DAY)
            .proposal_checks(Checks::Failure)
    };
    // (what, repo, counts)
    let cases = [
        ("failed, this revision", failing(), true),
        (
            "failed, older revision",
            failing().proposal_revision(OLD),
            false,
        ),
        (
            "pending",
            repo("a")
                .pending_pr("baseline", 11, NOW - DAY)
                .proposal_checks(Checks::Pending),
            false,
        ),
        (
            "passed",
            repo("a")
                .pending_pr("baseline", 11, NOW - DAY)
                .proposal_checks(Checks::Success),
            false,
        ),
        (
            "failed, but the proposal is about to be rebuilt",
            repo("a")
                .updated_pr("baseline", 11, NOW - DAY)
                .proposal_revision(REV)
                .proposal_checks(Checks::Failure),
            false,
        ),
    ];
    for (what, plan, counts) in cases {
        let out = Fleet::new(halting(Some(1))).run(NOW, vec![plan.build()]);
        let want = counts.then(|| format!("1 failure: {PR_FAILED}"));
        assert_eq!(
            out.rollout().halt.as_ref().map(|h| h.reason.clone()),
            want,
            "{what}"
        );
    }
}

#[test]
fn a_pull_request_closed_unmerged_counts_when_its_head_is_the_proposal_tip() {
    // (what, repo, counts)
    let cases = [
        ("head is the tip", closed_unmerged("b", 12), true),
        (
            "an older head",
            repo("b")
                .pending_branch("baseline")
                .closed_pr(12, Some(oid(8)))
                .build(),
            false,
        ),
        (
            "head unknown",
            repo("b")
                .pending_branch("baseline")
                .closed_pr(12, None)
                .build(),
            false,
        ),
        (
            "another pull request is open",
            repo("b")
                .pending_pr("baseline", 13, NOW - HOUR)
                .closed_pr(12, Some(proposal_tip()))
                .build(),
            false,
        ),
        (
            "closed on an older revision",
            repo("b")
                .pending_branch("baseline")
                .proposal_revision(OLD)
                .closed_pr(12, Some(proposal_tip()))
                .build(),
            false,
        ),
    ];
    for (what, plan, counts) in cases {
        let out = Fleet::new(halting(Some(1))).run(NOW, vec![plan]);
        let want = counts.then(|| format!("1 failure: {CLOSED}"));
        assert_eq!(
            out.rollout().halt.as_ref().map(|h| h.reason.clone()),
            want,
            "{what}"
        );
    }
}

#[test]
fn failed_checks_on_main_count_after_our_direct_commit_of_this_revision() {
    let reason = format!(
        "1 failure: acme/c: checks failed on main after direct commit {}",
        &oid(5).to_string()[..12]
    );
    // (what, log, repo, counts)
    let cases = [
        (
            "tip is our commit of this revision",
            vec![direct_commit(NOW - HOUR, "c", oid(5), REV)],
            broken_main("c"),
            true,
        ),
        (
            "main moved on since",
            vec![direct_commit(NOW - HOUR, "c", oid(5), REV)],
            repo("c")
                .tip(oid(6))
                .default_checks(Checks::Failure)
                .build(),
            false,
        ),
        (
            "our commit of an older revision",
            vec![direct_commit(NOW - HOUR, "c", oid(5), OLD)],
            broken_main("c"),
            false,
        ),
        (
            "checks pending",
            vec![direct_commit(NOW - HOUR, "c", oid(5), REV)],
            repo("c")
                .tip(oid(5))
                .default_checks(Checks::Pending)
                .build(),
            false,
        ),
        ("no direct commit recorded", vec![], broken_main("c"), false),
        (
            "another repo's commit",
            vec![direct_commit(NOW - HOUR, "d", oid(5), REV)],
            broken_main("c"),
            false,
        ),
    ];
    for (what, log, plan, counts) in cases {
        let out = Fleet::new(halting(Some(1))).log(&log).run(NOW, vec![plan]);
        assert_eq!(
            out.rollout().halt.as_ref().map(|h| h.reason.clone()),
            counts.then(|| reason.clone()),
            "{what}"
        );
    }
}

#[test]
fn a_recorded_halt_holds_every_repo_with_something_to_deliver_in_every_wave() {
    let reason = "1 failure: acme/x: checks failed on pull request #2";
    let out = Fleet::new(staged())
        .wave("canary", &["c1"])
        .wave("early", &["e1"])
        .wave("default", &["d1", "d2"])
        .log(&[halt_event(NOW - HOUR, reason)])
        .run(
            NOW,
            vec![
                repo("c1").direct("baseline").build(),
                repo("e1").updated_pr("baseline", 3, NOW - DAY).build(),
                repo("d1").new_pr("security").build(),
                repo("d2").build(),
                repo("o1").direct("baseline").build(),
            ],
        );
    assert_eq!(
        out.rollout().halt,
        Some(Halt {
            revision: REV.into(),
            reason: reason.into(),
            since: rfc(NOW - HOUR),
        })
    );
    for name in ["c1", "e1", "d1", "o1"] {
        assert_eq!(out.decision(name), &halted_decision(reason), "{name}");
    }
    assert_eq!(out.decision("d2"), &Decision::Idle);
    assert_eq!(out.facts(), vec![], "already recorded");
    assert_eq!(
        out.decision("c1").line(),
        format!(
            "halted: the rollout of revision 3f9c2e1a7b5d is halted (1 failure: acme/x: checks failed on pull request #2); run `distributor resume {REV}` once it is fixed"
        )
    );
}

#[test]
fn a_halt_is_recorded_once_and_sticks_after_the_checks_turn_green() {
    let fleet = Fleet::new(halting(Some(1)));
    let first = fleet.run(
        NOW,
        vec![failed_pr("a", 11), repo("z").direct("baseline").build()],
    );
    let reason = format!("1 failure: {PR_FAILED}");
    assert_eq!(first.facts(), vec![halt_event(NOW, &reason)]);

    let fleet = fleet.log(&first.events);
    let green = repo("a")
        .pending_pr("baseline", 11, NOW - DAY)
        .proposal_checks(Checks::Success)
        .build();
    for plans in [
        vec![failed_pr("a", 11), repo("z").direct("baseline").build()],
        vec![green, repo("z").direct("baseline").build()],
    ] {
        let out = fleet.run(NOW + HOUR, plans);
        assert_eq!(out.facts(), vec![], "not recorded twice");
        assert_eq!(
            out.rollout().halt,
            Some(Halt {
                revision: REV.into(),
                reason: reason.clone(),
                since: rfc(NOW),
            })
        );
        assert_eq!(out.decision("z"), &halted_decision(&reason));
    }
}

#[test]
fn a_resumed_revision_is_not_halted_again() {
    let out = Fleet::new(halting(Some(1)))
        .log(&[
            halt_event(NOW - 2 * HOUR, "1 failure: x"),
            resumed(NOW - HOUR, REV),
        ])
        .run(
            NOW,
            vec![
                failed_pr("a", 11),
                closed_unmerged("b", 12),
                repo("z").direct("baseline").build(),
            ],
        );
    assert_eq!(out.rollout().halt, None);
    assert_eq!(out.facts(), vec![]);
    assert_eq!(out.decision("z"), &Decision::Proceed);
}

#[test]
fn a_halt_recorded_after_the_resume_does_not_halt_the_revision_again() {
    let out = Fleet::new(halting(Some(1)))
        .log(&[
            halt_event(NOW - 3 * HOUR, "1 failure: x"),
            resumed(NOW - 2 * HOUR, REV),
            halt_event(NOW - HOUR, "1 failure: x"),
        ])
        .run(NOW, vec![repo("z").direct("baseline").build()]);
    assert_eq!(out.rollout().halt, None);
    assert_eq!(out.decision("z"), &Decision::Proceed);
}

#[test]
fn a_halt_belongs_to_its_revision() {
    // The fix is a new revision: the old halt does not hold it, and the old
    // revision's failures do not count (its direct commit, its proposal).
    let out = Fleet::new(halting(Some(1)))
        .log(&[
            halted(NOW - HOUR, OLD, "1 failure: x"),
            direct_commit(NOW - 2 * HOUR, "c", oid(5), OLD),
        ])
        .run(
            NOW,
            vec![
                broken_main("c"),
                repo("a")
                    .pending_pr("baseline", 11, NOW - DAY)
                    .proposal_revision(OLD)
                    .proposal_checks(Checks::Failure)
                    .build(),
                repo("z").direct("baseline").build(),
            ],
        );
    assert_eq!(out.rollout().halt, None);
    assert_eq!(out.decision("z"), &Decision::Proceed);
}

#[test]
fn a_forced_run_skips_every_gate_and_records_no_halt() {
    let mut rollout = staged();
    rollout.pr_hourly_limit = Some(0);
    rollout.pr_concurrent_limit = Some(0);
    rollout.direct_commits_per_run = Some(0);
    let plans = || {
        vec![
            failed_pr("a", 11),
            repo("c1").direct("baseline").build(),
            repo("e1").new_pr("baseline").build(),
            repo("d1").direct("baseline").new_pr("security").build(),
            repo("o1").build(),
        ]
    };
    let fleet = || {
        let mut f = Fleet::new(rollout.clone())
            .wave("canary", &["c1"])
            .wave("early", &["e1"])
            .wave("default", &["d1"]);
        f.forced = true;
        f
    };
    let out = fleet().run(NOW, plans());
    for name in ["c1", "e1", "d1"] {
        assert_eq!(out.decision(name), &Decision::Forced, "{name}");
    }
    assert_eq!(out.decision("a"), &Decision::Idle);
    assert_eq!(out.decision("o1"), &Decision::Idle);
    assert_eq!(
        out.rollout().halt,
        None,
        "failures do not halt a forced run"
    );
    assert_eq!(out.facts(), vec![]);
    assert_eq!(out.budget().queued, 0);

    // A halt recorded earlier is still reported, but holds nothing.
    let out = fleet()
        .log(&[halt_event(NOW - HOUR, "1 failure: x")])
        .run(NOW, plans());
    for name in ["c1", "e1", "d1"] {
        assert_eq!(out.decision(name), &Decision::Forced, "{name}");
    }
    assert_eq!(
        out.rollout().halt.as_ref().map(|h| h.since.clone()),
        Some(rfc(NOW - HOUR))
    );
    assert_eq!(out.facts(), vec![]);
}

#[test]
fn a_staged_registry_halts_on_the_first_failure_unless_told_otherwise() {
    // (registry keys, halt_after_failures, halted by one failure)
    let cases = [
        (
            r#""waves": [{"name": "canary", "soak": "2h"}, {"name": "default"}],"#,
            Some(1),
            true,
        ),
        (
            r#""waves": [{"name": "canary"}, {"name": "default"}],"#,
            None,
            false,
        ),
        ("", None, false),
        (
            r#""waves": [{"name": "canary", "soak": "2h"}], "rollout": {"halt_after_failures": 2},"#,
            Some(2),
            false,
        ),
        (r#""rollout": {"halt_after_failures": 1},"#, Some(1), true),
    ];
    for (keys, threshold, halts) in cases {
        let rollout = registry_rollout(keys);
        assert_eq!(rollout.halt_after_failures, threshold, "{keys}");
        let out = Fleet::new(rollout).run(
            NOW,
            vec![failed_pr("a", 11), repo("z").direct("baseline").build()],
        );
        assert_eq!(out.rollout().halt.is_some(), halts, "{keys}");
        let z = if halts {
            halted_decision(&format!("1 failure: {PR_FAILED}"))
        } else {
            Decision::Proceed
        };
        assert_eq!(out.decision("z"), &z, "{keys}");
    }
}

#[test]
fn halted_repos_use_no_budget() {
    let mut rollout = halting(Some(1));
    rollout.direct_commits_per_run = Some(0);
    let out = Fleet::new(rollout).run(
        NOW,
        vec![failed_pr("a", 11), repo("z").direct("baseline").build()],
    );
    assert_eq!(
        out.decision("z"),
        &halted_decision(&format!("1 failure: {PR_FAILED}"))
    );
    assert_eq!(out.budget().queued, 0);
    assert_eq!(out.queue(), vec![]);
}
