//! Staleness (how far behind, how long a pull request is open, stale at
//! `stale_after`) and escalation (due at `escalate_after`, posted once,
//! mentioning the owners).

use std::time::Duration;

use super::support::*;
use crate::rollout::{Decision, ESCALATED_LABEL, Escalation, Limit, Staleness};

fn history() -> Vec<(String, i64)> {
    vec![
        (REV.into(), NOW - HOUR),
        ("r1".into(), NOW - 2 * DAY),
        ("r2".into(), NOW - 5 * DAY),
        ("r3".into(), NOW - 9 * DAY),
    ]
}

fn timers(stale_after: Option<i64>, escalate_after: Option<i64>) -> crate::registry::Rollout {
    let d = |s: i64| Duration::from_secs(s as u64);
    crate::registry::Rollout {
        stale_after: stale_after.map(d),
        escalate_after: escalate_after.map(d),
        bundles: bundles(),
        ..Default::default()
    }
}

fn comment(who: &str, number: u64, open: &str, after: &str) -> String {
    format!(
        "{who}: this platform update (#{number}) has been open for {open}, longer than the platform's escalation threshold ({after}). \
         Please review and merge it, or tell the platform team what blocks it: the longer it waits, the further this repository falls behind, and later changes pile up on it.\n\n\
         This comment is posted once. — distributor"
    )
}

#[test]
fn how_far_behind_comes_from_the_lock_and_the_platform_history() {
    let behind = |n: usize, since: i64| Staleness {
        behind_revisions: Some(n),
        behind_since: Some(rfc(since)),
        behind_for: Some(crate::time::human(Duration::from_secs(
            (NOW - since) as u64,
        ))),
        behind_secs: Some((NOW - since) as u64),
        ..Staleness::default()
    };
    // (what, repo, staleness)
    let cases = [
        (
            "lacks the newest commit",
            repo("a").direct("baseline").locked("r1"),
            behind(1, NOW - HOUR),
        ),
        (
            "lacks three commits, since the oldest one it lacks",
            repo("a").direct("baseline").locked("r3"),
            behind(3, NOW - 5 * DAY),
        ),
        (
            "locked at the newest commit, drift pending",
            repo("a").drifted("baseline").locked(REV),
            Staleness {
                behind_revisions: Some(0),
                ..Staleness::default()
            },
        ),
        (
            "locked beyond the history read",
            repo("a").direct("baseline").locked("r9"),
            Staleness::default(),
        ),
        (
            "never distributed",
            repo("a").direct("baseline"),
            Staleness::default(),
        ),
        (
            "in sync, from an older lock",
            repo("a").locked("r3"),
            Staleness::default(),
        ),
    ];
    for (what, plan, want) in cases {
        let mut fleet = Fleet::new(timers(None, None));
        fleet.history = history();
        let out = fleet.run(NOW, vec![plan.build()]);
        assert_eq!(out.policy("a").staleness, want, "{what}");
    }
    let one = behind(1, NOW - HOUR);
    assert_eq!(one.behind_for.as_deref(), Some("1h"));
    assert_eq!(one.line().unwrap(), "1 revision behind for 1h");
}

#[test]
fn a_pull_request_is_open_since_it_was_created() {
    let created = NOW - (2 * DAY + 3 * HOUR + 5 * 60);
    let mut fleet = Fleet::new(timers(None, None));
    fleet.history = history();
    let out = fleet.run(
        NOW,
        vec![
            repo("a")
                .pending_pr("baseline", 57, created)
                .locked("r2")
                .build(),
        ],
    );
    assert_eq!(
        out.policy("a").staleness,
        Staleness {
            behind_revisions: Some(2),
            behind_since: Some(rfc(NOW - 2 * DAY)),
            behind_for: Some("2d".into()),
            pull_request_open_for: Some("2d 3h".into()),
            stale: false,
            escalated: false,
            behind_secs: Some(2 * DAY as u64),
            open_secs: Some((NOW - created) as u64),
        }
    );
    assert_eq!(
        out.policy("a").staleness.line().unwrap(),
        "2 revisions behind for 2d; pull request open 2d 3h"
    );
    // A creation time that does not parse says nothing.
    let mut plan = repo("a").pending_pr("baseline", 57, created).build();
    plan.open_pull_request.as_mut().unwrap().created_at = "yesterday".into();
    let out = Fleet::new(timers(None, None)).run(NOW, vec![plan]);
    assert_eq!(out.policy("a").staleness, Staleness::default());
}

#[test]
fn a_repo_is_stale_from_exactly_stale_after() {
    // Behind since T (the first commit it lacks), or its pull request
    // open since T. stale_after 7d.
    let t = NOW - 10 * DAY;
    let behind = || repo("a").direct("baseline").locked("r1");
    let open = || repo("a").pending_pr("baseline", 57, t);
    // (what, stale_after, repo, now, stale)
    let cases = [
        (
            "behind, 1 s short",
            Some(7 * DAY),
            behind(),
            t + 7 * DAY - 1,
            false,
        ),
        (
            "behind, exactly",
            Some(7 * DAY),
            behind(),
            t + 7 * DAY,
            true,
        ),
        ("behind, past", Some(7 * DAY), behind(), t + 8 * DAY, true),
        (
            "open, 1 s short",
            Some(7 * DAY),
            open(),
            t + 7 * DAY - 1,
            false,
        ),
        ("open, exactly", Some(7 * DAY), open(), t + 7 * DAY, true),
        ("no stale_after", None, behind(), t + 300 * DAY, false),
        ("no stale_after", None, open(), t + 300 * DAY, false),
    ];
    for (what, after, plan, now, stale) in cases {
        let mut fleet = Fleet::new(timers(after, None));
        fleet.history = vec![(REV.into(), t), ("r1".into(), t - 100)];
        let out = fleet.run(now, vec![plan.build()]);
        assert_eq!(out.policy("a").staleness.stale, stale, "{what}");
    }
    // The longer of the two counts: behind 1h, pull request open 8d.
    let mut fleet = Fleet::new(timers(Some(7 * DAY), None));
    fleet.history = history();
    let out = fleet.run(
        NOW,
        vec![
            repo("a")
                .updated_pr("baseline", 57, NOW - 8 * DAY)
                .locked("r1")
                .build(),
        ],
    );
    let s = &out.policy("a").staleness;
    assert!(s.stale);
    assert_eq!(
        s.line().unwrap(),
        "STALE: 1 revision behind for 1h; pull request open 8d"
    );
}

#[test]
fn an_escalation_is_due_exactly_at_escalate_after() {
    let created = NOW - 20 * DAY;
    let who = "@alice-moreau @acme/kiwi-devs";
    // (open for, escalation comment)
    let cases = [
        (14 * DAY - 1, None),
        (14 * DAY, Some(comment(who, 57, "14d", "14d"))),
        (15 * DAY + 2 * HOUR, Some(comment(who, 57, "15d 2h", "14d"))),
    ];
    for (open_for, want) in cases {
        let out = Fleet::new(timers(None, Some(14 * DAY))).run(
            created + open_for,
            vec![repo("a").pending_pr("baseline", 57, created).build()],
        );
        let want = want.map(|comment| Escalation {
            number: 57,
            comment,
            label: ESCALATED_LABEL.into(),
        });
        assert_eq!(out.policy("a").escalation, want, "open for {open_for}");
        assert!(!out.policy("a").staleness.escalated, "not yet posted");
    }
    assert_eq!(ESCALATED_LABEL, "distributor:escalated");
    // Without escalate_after, never.
    let out = Fleet::new(timers(Some(DAY), None)).run(
        NOW,
        vec![
            repo("a")
                .pending_pr("baseline", 57, NOW - 400 * DAY)
                .build(),
        ],
    );
    assert_eq!(out.policy("a").escalation, None);
}

#[test]
fn a_pull_request_is_escalated_only_once() {
    // (what, log, label on the pull request, escalation due)
    let cases = [
        ("never escalated", vec![], None, true),
        ("the log records it", vec![escalated("a", 57)], None, false),
        (
            "labelled by another distributor",
            vec![],
            Some(ESCALATED_LABEL),
            false,
        ),
        ("an unrelated label", vec![], Some("dependencies"), true),
        (
            "an earlier pull request was escalated",
            vec![escalated("a", 56)],
            None,
            true,
        ),
        (
            "another repo's #57 was escalated",
            vec![escalated("b", 57)],
            None,
            true,
        ),
    ];
    for (what, log, label, due) in cases {
        let mut plan = repo("a").pending_pr("baseline", 57, NOW - 20 * DAY);
        if let Some(l) = label {
            plan = plan.label(l);
        }
        let out = Fleet::new(timers(None, Some(14 * DAY)))
            .log(&log)
            .run(NOW, vec![plan.build()]);
        let policy = out.policy("a");
        assert_eq!(policy.escalation.is_some(), due, "{what}");
        assert_eq!(policy.staleness.escalated, !due, "{what}");
    }
}

#[test]
fn the_escalation_comment_mentions_the_owners_users_and_teams() {
    // (users, teams, mentions)
    let cases = [
        (
            vec!["alice-moreau", "bob"],
            vec!["acme/kiwi-devs", "acme/platform"],
            "@alice-moreau @bob @acme/kiwi-devs @acme/platform",
        ),
        (vec![], vec!["acme/kiwi-devs"], "@acme/kiwi-devs"),
        (vec!["bob"], vec![], "@bob"),
        (vec![], vec![], "Owners"),
    ];
    for (users, teams, who) in cases {
        let out = Fleet::new(timers(None, Some(14 * DAY)))
            .owners("a", &users, &teams)
            .run(
                NOW,
                vec![
                    repo("a")
                        .pending_pr("baseline", 61, NOW - 15 * DAY - 2 * HOUR)
                        .build(),
                ],
            );
        assert_eq!(
            out.policy("a")
                .escalation
                .as_ref()
                .map(|e| e.comment.clone()),
            Some(comment(who, 61, "15d 2h", "14d")),
            "{who}"
        );
    }
}

#[test]
fn escalations_are_due_for_queued_held_and_halted_repos_too() {
    let open_pr = |name: &str| repo(name).updated_pr("baseline", 57, NOW - 15 * DAY);
    let mut rollout = staged();
    rollout.escalate_after = Some(Duration::from_secs(14 * DAY as u64));
    rollout.direct_commits_per_run = Some(0);
    let fleet = Fleet::new(rollout)
        .wave("canary", &["c1"])
        .wave("early", &["e1"]);
    let out = fleet.run(
        NOW,
        vec![
            repo("c1").direct("baseline").build(),
            open_pr("e1").build(),
            open_pr("q1").direct("baseline").build(),
            repo("i1")
                .pending_pr("baseline", 57, NOW - 15 * DAY)
                .build(),
        ],
    );
    assert!(matches!(out.decision("c1"), Decision::Queued { .. }));
    assert!(matches!(out.decision("e1"), Decision::Held { .. }));
    assert!(matches!(out.decision("q1"), Decision::Held { .. }));
    assert_eq!(out.decision("i1"), &Decision::Idle);
    for name in ["e1", "q1", "i1"] {
        assert_eq!(
            out.policy(name).escalation.as_ref().map(|e| e.number),
            Some(57),
            "{name}"
        );
    }
    // Queued by the direct commit budget (no waves), and halted.
    let mut rollout = timers(None, Some(14 * DAY));
    rollout.direct_commits_per_run = Some(0);
    let out = Fleet::new(rollout).run(NOW, vec![open_pr("q1").direct("baseline").build()]);
    assert_eq!(
        out.decision("q1"),
        &queued(
            Limit::DirectCommitsPerRun,
            1,
            "direct_commits_per_run reached (0 direct commits this run)"
        )
    );
    assert!(out.policy("q1").escalation.is_some());
    let out = Fleet::new(timers(None, Some(14 * DAY)))
        .log(&[halted(NOW - HOUR, REV, "1 failure: x")])
        .run(NOW, vec![open_pr("h1").build()]);
    assert_eq!(out.decision("h1"), &halted_decision("1 failure: x"));
    assert!(out.policy("h1").escalation.is_some());
}
