//! Pull request and direct commit budgets: what counts, what is free, the
//! queue positions and the figures reported.

use super::support::*;
use crate::rollout::{Budget, Decision, Event, Limit};

const HOURLY_2: &str = "pr_hourly_limit reached (2 pull requests opened in the last hour, limit 2)";

#[test]
fn the_hourly_window_counts_pull_requests_logged_less_than_an_hour_ago() {
    // (seconds since the second logged pr_opened, counted). The first one,
    // 10 s old, always counts; limit 2.
    let cases = [
        (0, true),
        (1, true),
        (3599, true),
        (3600, false),
        (3601, false),
        (2 * HOUR, false),
    ];
    for now in [NOW, NOW + 17 * DAY + 123] {
        for (age, counted) in cases {
            let fleet = Fleet::new(limits(Some(2), None, None))
                .log(&[pr_opened(now - 10, "x", 1), pr_opened(now - age, "y", 2)]);
            let out = fleet.run(now, vec![repo("a").new_pr("baseline").build()]);
            let n = if counted { 2 } else { 1 };
            assert_eq!(out.budget().prs_opened_last_hour, n, "age {age}");
            let want = if counted {
                queued(Limit::PrHourlyLimit, 1, HOURLY_2)
            } else {
                Decision::Proceed
            };
            assert_eq!(out.decision("a"), &want, "age {age}");
        }
    }
}

#[test]
fn the_hourly_window_counts_open_pull_requests_created_less_than_an_hour_ago() {
    // Nothing in the log: the pull request was opened by a run whose log
    // this one does not share, and it is still open (x awaits its merge).
    let cases = [(0, true), (3599, true), (3600, false), (3601, false)];
    for (age, counted) in cases {
        let fleet = Fleet::new(limits(Some(2), None, None)).log(&[pr_opened(NOW - 10, "y", 2)]);
        let out = fleet.run(
            NOW,
            vec![
                repo("x").pending_pr("baseline", 1, NOW - age).build(),
                repo("a").new_pr("baseline").build(),
            ],
        );
        let n = if counted { 2 } else { 1 };
        assert_eq!(out.budget().prs_opened_last_hour, n, "age {age}");
        assert_eq!(out.decision("x"), &Decision::Idle, "age {age}");
        let want = if counted {
            queued(Limit::PrHourlyLimit, 1, HOURLY_2)
        } else {
            Decision::Proceed
        };
        assert_eq!(out.decision("a"), &want, "age {age}");
    }
}

#[test]
fn a_pull_request_both_logged_and_observed_open_counts_once() {
    // (logged number for repo x, prs opened in the last hour)
    for (logged, n) in [(5, 1), (6, 2)] {
        let fleet =
            Fleet::new(limits(Some(20), None, None)).log(&[pr_opened(NOW - 100, "x", logged)]);
        let out = fleet.run(
            NOW,
            vec![repo("x").pending_pr("baseline", 5, NOW - 100).build()],
        );
        assert_eq!(out.budget().prs_opened_last_hour, n, "logged #{logged}");
    }
}

#[test]
fn the_hourly_limit_queues_the_rest_with_positions_one_to_n() {
    // One slot left (1 opened, limit 2): the first repo by priority takes
    // it, the others queue in order.
    let fleet = Fleet::new(limits(Some(2), None, None)).log(&[pr_opened(NOW - 60, "x", 1)]);
    let out = fleet.run(
        NOW,
        ["e", "c", "a", "d", "b"]
            .iter()
            .map(|n| repo(n).new_pr("baseline").build())
            .collect(),
    );
    assert_eq!(out.decision("a"), &Decision::Proceed);
    assert_eq!(
        out.queue(),
        vec![
            ("b".to_string(), Limit::PrHourlyLimit, 1),
            ("c".to_string(), Limit::PrHourlyLimit, 2),
            ("d".to_string(), Limit::PrHourlyLimit, 3),
            ("e".to_string(), Limit::PrHourlyLimit, 4),
        ]
    );
    assert_eq!(out.budget().queued, 4);
    assert_eq!(out.budget().prs_opened_last_hour, 1);
}

#[test]
fn a_spent_hourly_budget_queues_every_new_pull_request_with_the_figures() {
    let fleet = Fleet::new(limits(Some(2), None, None))
        .log(&[pr_opened(NOW - 60, "x", 1), pr_opened(NOW - 120, "y", 2)]);
    let out = fleet.run(
        NOW,
        vec![
            repo("b").new_pr("baseline").build(),
            repo("a").new_pr("baseline").build(),
        ],
    );
    assert_eq!(
        out.decision("a"),
        &queued(Limit::PrHourlyLimit, 1, HOURLY_2)
    );
    assert_eq!(
        out.decision("b"),
        &queued(Limit::PrHourlyLimit, 2, HOURLY_2)
    );
}

#[test]
fn queue_reasons_count_the_pull_requests_this_run_opens() {
    // Hourly: 1 opened before the run, limit 3: a and b open two more, c
    // waits because 3 are now opened in the last hour.
    let fleet = Fleet::new(limits(Some(3), None, None)).log(&[pr_opened(NOW - 60, "x", 1)]);
    let out = fleet.run(
        NOW,
        ["a", "b", "c"]
            .iter()
            .map(|n| repo(n).new_pr("baseline").build())
            .collect(),
    );
    assert_eq!(
        out.decision("c"),
        &queued(
            Limit::PrHourlyLimit,
            1,
            "pr_hourly_limit reached (3 pull requests opened in the last hour, limit 3)"
        )
    );
    // Concurrent: 2 open before the run, limit 3: a opens the third.
    let out = Fleet::new(limits(None, Some(3), None)).run(
        NOW,
        vec![
            repo("x").pending_pr("baseline", 1, NOW - DAY).build(),
            repo("y").pending_pr("baseline", 2, NOW - DAY).build(),
            repo("a").new_pr("baseline").build(),
            repo("b").new_pr("baseline").build(),
        ],
    );
    assert_eq!(
        out.decision("b"),
        &queued(
            Limit::PrConcurrentLimit,
            1,
            "pr_concurrent_limit reached (3 distributor pull requests open, limit 3)"
        )
    );
}

#[test]
fn the_concurrent_limit_counts_open_distributor_pull_requests() {
    // x and y have open pull requests (y gets an update, free); a and b
    // want new ones. (limit, queue)
    let cases: [(u32, Vec<(&str, usize)>); 3] = [
        (2, vec![("a", 1), ("b", 2)]),
        (3, vec![("b", 1)]),
        (4, vec![]),
    ];
    for (limit, want) in cases {
        let out = Fleet::new(limits(None, Some(limit), None)).run(
            NOW,
            vec![
                repo("x").pending_pr("baseline", 1, NOW - DAY).build(),
                repo("y").updated_pr("baseline", 2, NOW - DAY).build(),
                repo("a").new_pr("baseline").build(),
                repo("b").new_pr("baseline").build(),
            ],
        );
        assert_eq!(out.budget().open_prs, 2, "limit {limit}");
        assert_eq!(out.decision("y"), &Decision::Proceed, "limit {limit}");
        let got: Vec<(String, Limit, usize)> = out.queue();
        let want: Vec<(String, Limit, usize)> = want
            .into_iter()
            .map(|(n, p)| (n.to_string(), Limit::PrConcurrentLimit, p))
            .collect();
        assert_eq!(got, want, "limit {limit}");
    }
    let out = Fleet::new(limits(None, Some(2), None)).run(
        NOW,
        vec![
            repo("x").pending_pr("baseline", 1, NOW - DAY).build(),
            repo("y").pending_pr("baseline", 2, NOW - DAY).build(),
            repo("a").new_pr("baseline").build(),
        ],
    );
    assert_eq!(
        out.decision("a"),
        &queued(
            Limit::PrConcurrentLimit,
            1,
            "pr_concurrent_limit reached (2 distributor pull requests open, limit 2)"
        )
    );
}

#[test]
fn a_filtered_run_counts_repos_outside_it_from_the_last_fleet_wide_open_set() {
    // The last full run saw pull requests open in x, y and a. This run
    // plans only a (whose pull request was merged since) and b.
    let log = [open_set(NOW - 600, &["a", "x", "y"])];
    let plans = || {
        vec![
            repo("a").new_pr("baseline").build(),
            repo("b").new_pr("baseline").build(),
        ]
    };
    let out = Fleet::new(limits(None, Some(3), None))
        .log(&log)
        .filtered()
        .run(NOW, plans());
    assert_eq!(out.budget().open_prs, 2, "x and y, not a");
    assert_eq!(out.decision("a"), &Decision::Proceed);
    assert_eq!(out.queue(), vec![("b".into(), Limit::PrConcurrentLimit, 1)]);
    assert_eq!(out.events, vec![], "a filtered run records nothing");

    // A full-fleet run sees every repo itself: the recorded set is ignored.
    let out = Fleet::new(limits(None, Some(3), None))
        .log(&log)
        .run(NOW, plans());
    assert_eq!(out.budget().open_prs, 0);
    assert_eq!(out.decision("b"), &Decision::Proceed);
}

#[test]
fn a_full_fleet_run_records_the_open_set_only_when_it_changed() {
    let plans = || {
        vec![
            repo("b").pending_pr("baseline", 2, NOW - DAY).build(),
            repo("a").pending_pr("baseline", 1, NOW - DAY).build(),
            repo("c").build(),
        ]
    };
    let recorded = open_set(NOW, &["a", "b"]);
    // (last recorded set, full fleet, events)
    let cases: [(Option<Event>, bool, Vec<Event>); 5] = [
        (None, true, vec![recorded.clone()]),
        (Some(open_set(NOW - HOUR, &["a", "b"])), true, vec![]),
        (
            Some(open_set(NOW - HOUR, &["a", "b", "c"])),
            true,
            vec![recorded.clone()],
        ),
        (Some(open_set(NOW - HOUR, &["a"])), true, vec![recorded]),
        (None, false, vec![]),
    ];
    for (last, full, want) in cases {
        let mut fleet = Fleet::new(limits(None, Some(10), None)).log(last.as_slice());
        fleet.full_fleet = full;
        let out = fleet.run(NOW, plans());
        assert_eq!(out.events, want, "last {last:?}, full fleet {full}");
    }
}

#[test]
fn direct_commits_per_run_caps_the_repos_receiving_a_direct_commit() {
    // (limit, queue)
    let cases: [(Option<u32>, Vec<&str>); 5] = [
        (None, vec![]),
        (Some(0), vec!["a", "b", "c", "d"]),
        (Some(2), vec!["c", "d"]),
        (Some(4), vec![]),
        (Some(5), vec![]),
    ];
    for (limit, want) in cases {
        let out = Fleet::new(limits(None, None, limit)).run(
            NOW,
            ["d", "b", "c", "a"]
                .iter()
                .map(|n| repo(n).direct("baseline").build())
                .collect(),
        );
        assert_eq!(out.queue_order(), want, "limit {limit:?}");
        assert_eq!(out.budget().queued, want.len(), "limit {limit:?}");
    }
    let out = Fleet::new(limits(None, None, Some(2))).run(
        NOW,
        ["a", "b", "c"]
            .iter()
            .map(|n| repo(n).direct("baseline").build())
            .collect(),
    );
    assert_eq!(
        out.decision("c"),
        &queued(
            Limit::DirectCommitsPerRun,
            1,
            "direct_commits_per_run reached (2 direct commits this run)"
        )
    );
}

#[test]
fn only_new_pull_requests_count_against_the_pr_budgets() {
    // Both pull request budgets spent (0 new per hour, 0 open at once).
    // (repo, forge has pull requests, decision)
    let spent = queued(
        Limit::PrHourlyLimit,
        1,
        "pr_hourly_limit reached (0 pull requests opened in the last hour, limit 0)",
    );
    let cases = [
        ("create", repo("r").new_pr("baseline"), true, spent.clone()),
        (
            "update of the open pull request",
            repo("r").updated_pr("baseline", 4, NOW - DAY),
            true,
            Decision::Proceed,
        ),
        (
            "new content, pull request no longer open",
            repo("r").rebuilt_branch("baseline"),
            true,
            spent.clone(),
        ),
        (
            "branch update on a forge without pull requests",
            repo("r").rebuilt_branch("baseline"),
            false,
            Decision::Proceed,
        ),
        (
            "new branch on a forge without pull requests",
            repo("r").new_pr("baseline"),
            false,
            spent,
        ),
        (
            "awaiting merge",
            repo("r").pending_pr("baseline", 4, NOW - DAY),
            true,
            Decision::Idle,
        ),
    ];
    for (what, plan, pull_requests, want) in cases {
        let mut fleet = Fleet::new(limits(Some(0), Some(0), None));
        fleet.pull_requests = pull_requests;
        let mut plan = plan.build();
        if !pull_requests {
            // As the planner makes it: no pull request on such a forge.
            plan.pull_request_action = crate::plan::PullRequestAction::None;
        }
        let out = fleet.run(NOW, vec![plan]);
        assert_eq!(out.decision("r"), &want, "{what}");
    }
}

#[test]
fn a_repo_needing_a_direct_commit_and_a_new_pull_request_waits_if_either_budget_is_spent() {
    // `both` needs a direct commit and a new pull request; `z` only a
    // direct commit. (hourly, direct per run, both, z)
    let cases = [
        (
            Some(0),
            Some(1),
            queued(
                Limit::PrHourlyLimit,
                1,
                "pr_hourly_limit reached (0 pull requests opened in the last hour, limit 0)",
            ),
            // The queued repo did not use the direct commit budget.
            Decision::Proceed,
        ),
        (
            Some(5),
            Some(0),
            queued(
                Limit::DirectCommitsPerRun,
                1,
                "direct_commits_per_run reached (0 direct commits this run)",
            ),
            queued(
                Limit::DirectCommitsPerRun,
                2,
                "direct_commits_per_run reached (0 direct commits this run)",
            ),
        ),
        (
            Some(1),
            Some(1),
            Decision::Proceed,
            queued(
                Limit::DirectCommitsPerRun,
                1,
                "direct_commits_per_run reached (1 direct commits this run)",
            ),
        ),
        (None, None, Decision::Proceed, Decision::Proceed),
    ];
    for (hourly, direct, want_both, want_z) in cases {
        let out = Fleet::new(limits(hourly, None, direct)).run(
            NOW,
            vec![
                repo("both").direct("baseline").new_pr("baseline").build(),
                repo("z").direct("baseline").build(),
            ],
        );
        assert_eq!(out.decision("both"), &want_both, "{hourly:?} {direct:?}");
        assert_eq!(out.decision("z"), &want_z, "{hourly:?} {direct:?}");
    }
}

#[test]
fn the_budget_reports_what_the_run_saw() {
    let fleet = Fleet::new(limits(Some(2), Some(3), Some(1))).log(&[
        pr_opened(NOW - 30 * 60, "x", 1),
        pr_opened(NOW - 2 * HOUR, "old", 9),
    ]);
    let out = fleet.run(
        NOW,
        vec![
            repo("x").pending_pr("baseline", 1, NOW - 30 * 60).build(),
            repo("y").pending_pr("baseline", 2, NOW - 5 * 60).build(),
            repo("a").new_pr("baseline").build(),
            repo("b").new_pr("baseline").build(),
            repo("c").direct("baseline").build(),
            repo("d").direct("baseline").build(),
            repo("e").build(),
        ],
    );
    assert_eq!(
        out.budget(),
        &Budget {
            prs_opened_last_hour: 2,
            pr_hourly_limit: Some(2),
            open_prs: 2,
            pr_concurrent_limit: Some(3),
            direct_commits_per_run: Some(1),
            queued: 3,
        }
    );
    assert_eq!(
        out.queue(),
        vec![
            ("a".into(), Limit::PrHourlyLimit, 1),
            ("b".into(), Limit::PrHourlyLimit, 2),
            ("d".into(), Limit::DirectCommitsPerRun, 3),
        ]
    );
    assert_eq!(out.decision("c"), &Decision::Proceed);
    assert_eq!(out.decision("e"), &Decision::Idle);

    // Without limits nothing is queued.
    let out = Fleet::new(limits(None, None, None)).run(
        NOW,
        (0..30)
            .map(|i| {
                repo(&format!("r{i:02}"))
                    .new_pr("baseline")
                    .direct("baseline")
                    .build()
            })
            .collect(),
    );
    assert_eq!(out.budget(), &Budget::default());
    assert!(
        out.plan
            .repos
            .iter()
            .all(|p| p.policy.as_ref().unwrap().decision == Decision::Proceed)
    );
}

#[test]
fn idle_repos_are_never_queued_held_or_halted() {
    // Every gate closed: budgets spent, canary soaking, revision halted in
    // a second run. Repos with nothing to deliver stay idle.
    let mut rollout = staged();
    rollout.pr_hourly_limit = Some(0);
    rollout.pr_concurrent_limit = Some(0);
    rollout.direct_commits_per_run = Some(0);
    let plans = || {
        vec![
            repo("c1").direct("baseline").build(),
            repo("in-sync").build(),
            repo("awaiting-merge")
                .pending_pr("baseline", 3, NOW - DAY)
                .build(),
            repo("merged").closing().build(),
        ]
    };
    let fleet = Fleet::new(rollout)
        .wave("canary", &["c1"])
        .wave("default", &["in-sync", "awaiting-merge", "merged"]);
    let out = fleet.run(NOW, plans());
    for name in ["in-sync", "awaiting-merge", "merged"] {
        assert_eq!(out.decision(name), &Decision::Idle, "{name}");
    }
    assert!(matches!(out.decision("c1"), Decision::Queued { .. }));
    let out = fleet
        .log(&[halted(NOW - 60, REV, "1 failure: x")])
        .run(NOW, plans());
    for name in ["in-sync", "awaiting-merge", "merged"] {
        assert_eq!(out.decision(name), &Decision::Idle, "{name}");
    }
    assert_eq!(out.decision("c1"), &halted_decision("1 failure: x"));
    assert_eq!(out.budget().queued, 0);
}
