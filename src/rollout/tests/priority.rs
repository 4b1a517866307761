//! The queue order when a budget runs out: security-labelled bundles, then
//! earlier waves, then older pending changes, then the repo name.

use super::support::*;
use crate::registry::BundlePolicy;
use crate::rollout::Decision;

/// No new pull request allowed: every candidate queues, in priority order.
fn all_queued() -> crate::registry::Rollout {
    limits(Some(0), None, None)
}

#[test]
fn security_labelled_bundles_go_first_whatever_the_case_of_the_label() {
    // (label of bundle `hardening`, first in the queue)
    let cases = [
        ("security", true),
        ("Security", true),
        ("SECURITY", true),
        ("security-review", false),
        ("infra", false),
    ];
    for (label, first) in cases {
        let mut rollout = all_queued();
        rollout.bundles.insert(
            "hardening".into(),
            BundlePolicy {
                labels: vec!["infra".into(), label.into()],
                direct_after: None,
            },
        );
        let out = Fleet::new(rollout).run(
            NOW,
            vec![
                repo("a").new_pr("baseline").build(),
                repo("m").new_pr("baseline").build(),
                repo("z").new_pr("hardening").build(),
            ],
        );
        let want = if first {
            ["z", "a", "m"]
        } else {
            ["a", "m", "z"]
        };
        assert_eq!(out.queue_order(), want, "label {label}");
    }
}

#[test]
fn security_priority_needs_a_security_change_being_delivered() {
    // b's security file is in sync; only its baseline file is delivered.
    let mut b = repo("b").new_pr("baseline").build();
    b.files[0].bundle = "security".into();
    let out = Fleet::new(all_queued()).run(
        NOW,
        vec![
            b,
            repo("a").new_pr("baseline").build(),
            repo("c").new_pr("security").build(),
        ],
    );
    assert_eq!(out.queue_order(), ["c", "a", "b"]);
}

#[test]
fn a_security_change_takes_the_last_slot_of_the_budget() {
    let fleet = Fleet::new(limits(Some(3), None, None))
        .log(&[pr_opened(NOW - 60, "x", 1), pr_opened(NOW - 60, "y", 2)]);
    let out = fleet.run(
        NOW,
        vec![
            repo("a").new_pr("baseline").build(),
            repo("b").new_pr("baseline").build(),
            repo("s").new_pr("baseline").new_pr("security").build(),
        ],
    );
    assert_eq!(out.decision("s"), &Decision::Proceed);
    assert_eq!(out.queue_order(), ["a", "b"]);
}

#[test]
fn earlier_waves_go_first_and_repos_without_a_declared_wave_last() {
    // Waves without soaks: nothing is held, only ordered.
    let mut rollout = registry_rollout(
        r#""waves": [{"name": "canary"}, {"name": "early"}, {"name": "default"}],"#,
    );
    rollout.pr_hourly_limit = Some(0);
    let fleet = Fleet::new(rollout)
        .wave("default", &["a-default"])
        .wave("early", &["b-early"])
        .wave("canary", &["c-canary"])
        .wave("late", &["a-undeclared"]);
    let out = fleet.run(
        NOW,
        ["a-none", "a-default", "a-undeclared", "b-early", "c-canary"]
            .iter()
            .map(|n| repo(n).new_pr("baseline").build())
            .collect(),
    );
    assert_eq!(
        out.queue_order(),
        ["c-canary", "b-early", "a-default", "a-none", "a-undeclared"]
    );
}

#[test]
fn older_pending_changes_go_first_and_unknown_ages_last() {
    // Platform history, newest first: a repo locked at R2 lacks R1 and
    // REV, pending since R1's commit.
    let mut fleet = Fleet::new(all_queued());
    fleet.history = vec![
        (REV.into(), NOW - HOUR),
        ("r1".into(), NOW - 2 * DAY),
        ("r2".into(), NOW - 5 * DAY),
        ("r3".into(), NOW - 9 * DAY),
    ];
    let out = fleet.run(
        NOW,
        vec![
            repo("a-lacks-rev").new_pr("baseline").locked("r1").build(),
            repo("b-lacks-r1").new_pr("baseline").locked("r2").build(),
            repo("c-lacks-r2").new_pr("baseline").locked("r3").build(),
            repo("d-never-locked").new_pr("baseline").build(),
            repo("e-beyond-history")
                .new_pr("baseline")
                .locked("r0")
                .build(),
            repo("f-lacks-r2").new_pr("baseline").locked("r3").build(),
        ],
    );
    assert_eq!(
        out.queue_order(),
        [
            "c-lacks-r2",
            "f-lacks-r2",
            "b-lacks-r1",
            "a-lacks-rev",
            "d-never-locked",
            "e-beyond-history"
        ]
    );
}

#[test]
fn the_keys_apply_in_order_security_then_wave_then_age_then_name() {
    let mut rollout = registry_rollout(r#""waves": [{"name": "canary"}, {"name": "default"}],"#);
    rollout.pr_hourly_limit = Some(0);
    let mut fleet = Fleet::new(rollout)
        .wave("canary", &["x-canary-new", "y-canary-new"])
        .wave(
            "default",
            &[
                "z-security-default-new",
                "w-default-old",
                "v-default-new",
                "u-default-unknown",
            ],
        );
    fleet.history = vec![
        (REV.into(), NOW - HOUR),
        ("r1".into(), NOW - 2 * DAY),
        ("r2".into(), NOW - 5 * DAY),
    ];
    let out = fleet.run(
        NOW,
        vec![
            repo("t-no-wave-old")
                .new_pr("baseline")
                .locked("r2")
                .build(),
            repo("u-default-unknown").new_pr("baseline").build(),
            repo("v-default-new")
                .new_pr("baseline")
                .locked("r1")
                .build(),
            repo("w-default-old")
                .new_pr("baseline")
                .locked("r2")
                .build(),
            repo("x-canary-new").new_pr("baseline").locked("r1").build(),
            repo("y-canary-new").new_pr("baseline").locked("r1").build(),
            repo("z-security-default-new")
                .new_pr("security")
                .locked("r1")
                .build(),
        ],
    );
    assert_eq!(
        out.queue_order(),
        [
            // security beats an earlier wave and an older change
            "z-security-default-new",
            // an earlier wave beats an older change; same age: by name
            "x-canary-new",
            "y-canary-new",
            // older pending change first, unknown age last
            "w-default-old",
            "v-default-new",
            "u-default-unknown",
            // no wave: after every wave, however old
            "t-no-wave-old",
        ]
    );
    let positions: Vec<usize> = out.queue().iter().map(|(_, _, p)| *p).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5, 6, 7]);
}
