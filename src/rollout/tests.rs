//! Unit tests of the pure policy: [`attach`] over hand-built plans at a
//! given `now` (budgets, priority, waves, halts, staleness and escalation),
//! the rollout settings applied in planning (`direct_after`, waivers), and
//! the lines the verdicts print. End-to-end tests are in `tests/rollout.rs`.

mod budgets;
mod halts;
mod pins;
mod planning;
mod priority;
mod staleness;
mod support;
mod waves;

use super::*;

#[test]
fn a_dirty_revision_key_carries_its_digest() {
    let clean = Source {
        revision: "abc".into(),
        dirty: false,
        digest: None,
    };
    assert_eq!(revision_key(&clean), "abc");
    let dirty = Source {
        revision: "abc".into(),
        dirty: true,
        digest: Some("0123456789abcdef0123".into()),
    };
    assert_eq!(revision_key(&dirty), "abc+0123456789ab");
}

#[test]
fn decisions_read_as_one_line_and_only_deferrals_block_writes() {
    let queued = Decision::Queued {
        limit: Limit::PrHourlyLimit,
        position: 12,
        reason: "pr_hourly_limit reached".into(),
    };
    assert_eq!(
        queued.line(),
        "queued: pr_hourly_limit reached, position 12"
    );
    assert!(!queued.allows_writes());
    let held = Decision::Held {
        reason: "wave early soaking until 2026-11-22 10:00:00 UTC".into(),
        until: None,
    };
    assert_eq!(
        held.line(),
        "held: wave early soaking until 2026-11-22 10:00:00 UTC"
    );
    assert!(!held.allows_writes());
    assert!(!Decision::Halted { reason: "x".into() }.allows_writes());
    assert!(Decision::Proceed.allows_writes());
    assert!(Decision::Forced.allows_writes());
    assert!(Decision::Idle.allows_writes());
    assert_eq!(
        Limit::DirectCommitsPerRun.as_str(),
        "direct_commits_per_run"
    );
}

#[test]
fn staleness_says_how_far_behind_and_flags_stale() {
    assert_eq!(Staleness::default().line(), None);
    let s = Staleness {
        behind_revisions: Some(3),
        behind_for: Some("2d 4h".into()),
        pull_request_open_for: Some("5d".into()),
        stale: true,
        escalated: true,
        ..Staleness::default()
    };
    assert_eq!(
        s.line().unwrap(),
        "STALE: 3 revisions behind for 2d 4h; pull request open 5d (escalated)"
    );
    let one = Staleness {
        behind_revisions: Some(1),
        behind_for: Some("10m".into()),
        ..Staleness::default()
    };
    assert_eq!(one.line().unwrap(), "1 revision behind for 10m");
}

#[test]
fn a_held_wave_names_the_repos_it_waits_for_then_counts_the_rest() {
    let names = |n: usize| -> Vec<String> { (1..=n).map(|i| format!("acme/c{i}")).collect() };
    assert_eq!(waiting_for(&[]), "");
    assert_eq!(waiting_for(&names(2)), "; waiting for acme/c1, acme/c2");
    assert_eq!(
        waiting_for(&names(3)),
        "; waiting for acme/c1, acme/c2, acme/c3"
    );
    assert_eq!(
        waiting_for(&names(7)),
        "; waiting for acme/c1, acme/c2, acme/c3 and 4 more"
    );
}
