//! Wave gates: soaks, the boundaries of the soak clock, recording when a
//! wave is first seen in sync (once, full-fleet runs only), carrying a soak
//! over revisions that do not change the wave, promotion, and repos outside
//! the declared waves.

use super::support::*;
use crate::rollout::{Decision, Event, State, WaveReport};

fn report(name: &str, repos: usize, in_sync: usize, soak: Option<&str>) -> WaveReport {
    WaveReport {
        name: name.into(),
        repos,
        in_sync,
        in_sync_since: None,
        soak: soak.map(str::to_string),
        open: true,
        waiting: None,
        opens_at: None,
        promoted_by: None,
    }
}

fn closed(mut r: WaveReport, waiting: &str, opens_at: Option<i64>) -> WaveReport {
    r.open = false;
    r.waiting = Some(waiting.into());
    r.opens_at = opens_at.map(rfc);
    r
}

/// canary: c1, c2; early: e1; default: d1; no wave: o1.
fn fleet() -> Fleet {
    Fleet::new(staged())
        .wave("canary", &["c1", "c2"])
        .wave("early", &["e1"])
        .wave("default", &["d1"])
}

const EARLY_WAITS_0_OF_2: &str = "wave early waits for wave canary to take revision 3f9c2e1a7b5d (0 of 2 repos in sync; waiting for acme/c1, acme/c2)";
const DEFAULT_WAITS: &str = "wave default waits for wave early";

/// The digest recorded with a wave-in-sync event.
fn digest_of(e: &Event) -> String {
    match e {
        Event::WaveInSync { digest, .. } => digest.clone(),
        other => panic!("not a wave in sync: {other:?}"),
    }
}

#[test]
fn a_wave_without_a_soak_does_not_gate_the_next() {
    let rollout = registry_rollout(r#""waves": [{"name": "canary"}, {"name": "default"}],"#);
    let out = Fleet::new(rollout)
        .wave("canary", &["c1"])
        .wave("default", &["d1"])
        .run(
            NOW,
            vec![
                repo("c1").direct("baseline").build(),
                repo("d1").direct("baseline").build(),
                repo("o1").direct("baseline").build(),
            ],
        );
    for name in ["c1", "d1", "o1"] {
        assert_eq!(out.decision(name), &Decision::Proceed, "{name}");
    }
    assert_eq!(
        out.rollout().waves,
        vec![report("canary", 1, 0, None), report("default", 1, 0, None)]
    );
}

#[test]
fn later_waves_wait_while_a_soaking_wave_is_not_fully_in_sync() {
    let out = fleet().run(
        NOW,
        vec![
            repo("c1").build(),
            repo("c2").direct("baseline").build(),
            repo("e1").direct("baseline").build(),
            repo("d1").direct("baseline").build(),
            repo("o1").direct("baseline").build(),
        ],
    );
    let early = "wave early waits for wave canary to take revision 3f9c2e1a7b5d (1 of 2 repos in sync; waiting for acme/c2)";
    assert_eq!(out.decision("c1"), &Decision::Idle);
    assert_eq!(out.decision("c2"), &Decision::Proceed);
    assert_eq!(out.decision("e1"), &held(early, None));
    assert_eq!(out.decision("d1"), &held(DEFAULT_WAITS, None));
    // Repos outside the waves come after the last one.
    match out.decision("o1") {
        Decision::Held { reason, until } => {
            assert!(
                reason.starts_with("repos outside the declared waves wait"),
                "{reason}"
            );
            assert!(reason.ends_with(" for wave default"), "{reason}");
            assert_eq!(until, &None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        out.rollout().waves,
        vec![
            report("canary", 2, 1, Some("2h")),
            closed(report("early", 1, 0, Some("1d")), early, None),
            closed(report("default", 1, 0, None), DEFAULT_WAITS, None),
        ]
    );
    assert_eq!(out.facts(), vec![], "no wave is in sync");
}

#[test]
fn the_next_wave_opens_exactly_when_the_soak_ends() {
    // canary in sync since NOW (recorded), soak 2h.
    let fleet = fleet().log(&[wave_in_sync(NOW, "canary", REV, "d", NOW)]);
    let plans = || {
        vec![
            repo("c1").build(),
            repo("c2").build(),
            repo("e1").direct("baseline").build(),
            repo("d1").direct("baseline").build(),
        ]
    };
    let soaking = "wave canary soaking until 2026-11-20 14:00:00 UTC (in sync since 2026-11-20 12:00:00 UTC, soak 2h)";
    let mut canary = report("canary", 2, 2, Some("2h"));
    canary.in_sync_since = Some(rfc(NOW));
    // (now, e1, early's report)
    let cases = [
        (
            NOW + 2 * HOUR - 1,
            held(soaking, Some(NOW + 2 * HOUR)),
            closed(
                report("early", 1, 0, Some("1d")),
                soaking,
                Some(NOW + 2 * HOUR),
            ),
        ),
        (
            NOW + 2 * HOUR,
            Decision::Proceed,
            report("early", 1, 0, Some("1d")),
        ),
        (
            NOW + 2 * HOUR + 1,
            Decision::Proceed,
            report("early", 1, 0, Some("1d")),
        ),
        (
            NOW + 30 * DAY,
            Decision::Proceed,
            report("early", 1, 0, Some("1d")),
        ),
    ];
    for (now, e1, early) in cases {
        let out = fleet.run(now, plans());
        assert_eq!(out.decision("e1"), &e1, "now {now}");
        assert_eq!(out.rollout().waves[0], canary, "now {now}");
        assert_eq!(out.rollout().waves[1], early, "now {now}");
        let d1 = if e1 == Decision::Proceed {
            held(
                "wave default waits for wave early to take revision 3f9c2e1a7b5d (0 of 1 repo in sync; waiting for acme/e1)",
                None,
            )
        } else {
            held(DEFAULT_WAITS, None)
        };
        assert_eq!(out.decision("d1"), &d1, "now {now}");
        assert_eq!(out.facts(), vec![], "already recorded");
    }
}

#[test]
fn the_first_full_fleet_run_that_sees_a_wave_in_sync_records_it_once() {
    let plans = || {
        vec![
            repo("c1").build(),
            repo("c2").build(),
            repo("e1").direct("baseline").build(),
            repo("d1").direct("baseline").build(),
        ]
    };
    let first = fleet().run(NOW, plans());
    let facts = first.facts();
    assert_eq!(facts.len(), 1, "{facts:?}");
    let digest = digest_of(&facts[0]);
    assert_eq!(digest.len(), 40);
    assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{digest}");
    assert_eq!(facts, vec![wave_in_sync(NOW, "canary", REV, &digest, NOW)]);
    let soaking = "wave canary soaking until 2026-11-20 14:00:00 UTC (in sync since 2026-11-20 12:00:00 UTC, soak 2h)";
    assert_eq!(first.decision("e1"), &held(soaking, Some(NOW + 2 * HOUR)));

    // Later runs read the recorded fact: no second event, the clock runs
    // from the first sighting.
    let mut fleet = fleet();
    fleet.state = State::fold(&first.events);
    let again = fleet.run(NOW + HOUR, plans());
    assert_eq!(again.facts(), vec![]);
    assert_eq!(again.decision("e1"), &held(soaking, Some(NOW + 2 * HOUR)));
    let later = fleet.run(NOW + 2 * HOUR, plans());
    assert_eq!(later.facts(), vec![]);
    assert_eq!(later.decision("e1"), &Decision::Proceed);
}

#[test]
fn a_filtered_run_records_nothing_and_only_reads_the_recorded_facts() {
    let plans = || {
        vec![
            repo("c1").build(),
            repo("c2").build(),
            repo("e1").direct("baseline").build(),
            repo("d1").direct("baseline").build(),
        ]
    };
    let out = fleet().filtered().run(NOW, plans());
    assert_eq!(out.events, vec![]);
    assert_eq!(
        out.decision("e1"),
        &held(
            "wave early waits for wave canary to take revision 3f9c2e1a7b5d (2 of 2 repos in sync)",
            None
        )
    );
    // A soak recorded by a full run three hours ago has passed.
    let out = fleet()
        .filtered()
        .log(&[wave_in_sync(
            NOW - 3 * HOUR,
            "canary",
            REV,
            "d",
            NOW - 3 * HOUR,
        )])
        .run(NOW, plans());
    assert_eq!(out.events, vec![]);
    assert_eq!(out.decision("e1"), &Decision::Proceed);
}

/// Runs `revision` over the fleet at `now` with canary rendering
/// `content`, and returns its events.
fn sighting(state: &State, revision: &str, now: i64, content: &str) -> (Vec<Event>, Decision) {
    let mut f = fleet();
    f.state = state.clone();
    f.revision = revision.into();
    let out = f.run(
        now,
        vec![
            repo("c1").content(content).build(),
            repo("c2").content(content).build(),
            repo("e1").direct("baseline").build(),
            repo("d1").direct("baseline").build(),
        ],
    );
    (out.facts(), out.decision("e1").clone())
}

#[test]
fn a_revision_that_does_not_change_a_wave_keeps_its_soak() {
    let t0 = NOW - 3 * HOUR;
    let (old, _) = sighting(&State::default(), OLD, t0, "v1");
    let d1 = digest_of(&old[0]);
    assert_eq!(old, vec![wave_in_sync(t0, "canary", OLD, &d1, t0)]);
    let state = State::fold(&old);

    // Same content for canary: in sync since t0, soaked (3h > 2h).
    let (events, e1) = sighting(&state, REV, NOW, "v1");
    assert_eq!(events, vec![wave_in_sync(NOW, "canary", REV, &d1, t0)]);
    assert_eq!(e1, Decision::Proceed);

    // New content for canary: a new soak from now.
    let (events, e1) = sighting(&state, REV, NOW, "v2");
    let d2 = digest_of(&events[0]);
    assert_ne!(d1, d2);
    assert_eq!(events, vec![wave_in_sync(NOW, "canary", REV, &d2, NOW)]);
    assert_eq!(
        e1,
        held(
            "wave canary soaking until 2026-11-20 14:00:00 UTC (in sync since 2026-11-20 12:00:00 UTC, soak 2h)",
            Some(NOW + 2 * HOUR)
        )
    );
}

#[test]
fn returning_to_earlier_content_starts_a_new_soak() {
    let (v1, _) = sighting(&State::default(), OLD, NOW - 10 * HOUR, "v1");
    let mut state = State::fold(&v1);
    let (v2, _) = sighting(&state, MID, NOW - 5 * HOUR, "v2");
    for e in &v2 {
        state.apply(e);
    }
    let (events, e1) = sighting(&state, REV, NOW, "v1");
    assert_eq!(
        events,
        vec![wave_in_sync(NOW, "canary", REV, &digest_of(&v1[0]), NOW)]
    );
    assert_eq!(
        e1,
        held(
            "wave canary soaking until 2026-11-20 14:00:00 UTC (in sync since 2026-11-20 12:00:00 UTC, soak 2h)",
            Some(NOW + 2 * HOUR)
        )
    );
}

#[test]
fn a_promotion_opens_the_wave_and_every_wave_before_it() {
    let plans = || {
        vec![
            repo("c1").direct("baseline").build(),
            repo("c2").direct("baseline").build(),
            repo("e1").direct("baseline").build(),
            repo("d1").direct("baseline").build(),
        ]
    };
    let default_waits_for_early = "wave default waits for wave early to take revision 3f9c2e1a7b5d (0 of 1 repo in sync; waiting for acme/e1)";
    let proceed = Decision::Proceed;
    // (promotions, e1, d1, promoted waves)
    let cases = [
        (
            vec![],
            held(EARLY_WAITS_0_OF_2, None),
            held(DEFAULT_WAITS, None),
            vec![],
        ),
        (
            vec![promoted(REV, "early", "alice")],
            proceed.clone(),
            held(default_waits_for_early, None),
            vec!["canary", "early"],
        ),
        (
            vec![
                promoted(REV, "canary", "bob"),
                promoted(REV, "early", "alice"),
            ],
            proceed.clone(),
            held(default_waits_for_early, None),
            vec!["canary", "early"],
        ),
        (
            vec![promoted(REV, "canary", "bob")],
            held(EARLY_WAITS_0_OF_2, None),
            held(DEFAULT_WAITS, None),
            vec!["canary"],
        ),
        (
            vec![promoted(REV, "default", "alice")],
            proceed.clone(),
            proceed.clone(),
            vec!["canary", "early", "default"],
        ),
        // Another revision's promotion, or an undeclared wave: nothing.
        (
            vec![promoted(OLD, "default", "alice")],
            held(EARLY_WAITS_0_OF_2, None),
            held(DEFAULT_WAITS, None),
            vec![],
        ),
        (
            vec![promoted(REV, "late", "alice")],
            held(EARLY_WAITS_0_OF_2, None),
            held(DEFAULT_WAITS, None),
            vec![],
        ),
    ];
    for (log, e1, d1, waves) in cases {
        let out = fleet().log(&log).run(NOW, plans());
        assert_eq!(out.decision("c1"), &Decision::Proceed, "{log:?}");
        assert_eq!(out.decision("e1"), &e1, "{log:?}");
        assert_eq!(out.decision("d1"), &d1, "{log:?}");
        let by: Vec<(&str, Option<&str>)> = out
            .rollout()
            .waves
            .iter()
            .map(|w| (w.name.as_str(), w.promoted_by.as_deref()))
            .collect();
        let operator = match log.last() {
            Some(Event::Promoted { operator, .. }) => operator.as_str(),
            _ => "",
        };
        let want: Vec<(&str, Option<&str>)> = ["canary", "early", "default"]
            .into_iter()
            .map(|w| (w, waves.contains(&w).then_some(operator)))
            .collect();
        assert_eq!(by, want, "{log:?}");
    }
}

#[test]
fn repos_outside_the_declared_waves_come_after_the_last_wave() {
    let rollout = registry_rollout(r#""waves": [{"name": "canary", "soak": "2h"}],"#);
    let fleet = || {
        Fleet::new(rollout.clone())
            .wave("canary", &["c1"])
            .wave("late", &["x1"])
    };
    let outside = |c1: crate::plan::RepoPlan| {
        vec![
            c1,
            repo("o1").direct("baseline").build(),
            repo("x1").direct("baseline").build(),
        ]
    };
    // The canary still has to take the revision.
    let out = fleet().run(NOW, outside(repo("c1").direct("baseline").build()));
    for name in ["o1", "x1"] {
        match out.decision(name) {
            Decision::Held { reason, until } => {
                assert!(
                    reason.ends_with(
                        " for wave canary to take revision 3f9c2e1a7b5d (0 of 1 repo in sync; waiting for acme/c1)"
                    ),
                    "{reason}"
                );
                assert_eq!(until, &None);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // Soaking since an hour ago: until the soak ends.
    let soaking = fleet().log(&[wave_in_sync(NOW - HOUR, "canary", REV, "d", NOW - HOUR)]);
    let out = soaking.run(NOW, outside(repo("c1").build()));
    let held_o = held(
        "wave canary soaking until 2026-11-20 13:00:00 UTC (in sync since 2026-11-20 11:00:00 UTC, soak 2h)",
        Some(NOW + HOUR),
    );
    assert_eq!(out.decision("o1"), &held_o);
    assert_eq!(out.decision("x1"), &held_o);
    let out = soaking.run(NOW + HOUR, outside(repo("c1").build()));
    assert_eq!(out.decision("o1"), &Decision::Proceed);
    assert_eq!(out.decision("x1"), &Decision::Proceed);

    // A last wave without a soak does not hold them back.
    let rollout = registry_rollout(r#""waves": [{"name": "canary"}, {"name": "default"}],"#);
    let out = Fleet::new(rollout).wave("default", &["d1"]).run(
        NOW,
        vec![
            repo("d1").direct("baseline").build(),
            repo("o1").direct("baseline").build(),
        ],
    );
    assert_eq!(out.decision("o1"), &Decision::Proceed);
}

#[test]
fn a_repo_that_could_not_be_planned_keeps_its_wave_from_completing() {
    let mut f = fleet();
    f.errors = vec!["c2".into()];
    let out = f.run(
        NOW,
        vec![
            repo("c1").build(),
            repo("e1").direct("baseline").build(),
            repo("d1").direct("baseline").build(),
        ],
    );
    assert_eq!(out.rollout().waves[0], report("canary", 2, 1, Some("2h")));
    assert_eq!(out.facts(), vec![]);
    assert_eq!(
        out.decision("e1"),
        &held(
            "wave early waits for wave canary to take revision 3f9c2e1a7b5d (1 of 2 repos in sync; waiting for acme/c2)",
            None
        )
    );
}

#[test]
fn a_pull_request_awaiting_merge_or_a_hand_edit_keeps_its_wave_from_completing() {
    let early_waits = "wave early waits for wave canary to take revision 3f9c2e1a7b5d (0 of 1 repo in sync; waiting for acme/c1)";
    let cases = [
        (
            "awaiting merge",
            repo("c1").pending_pr("baseline", 3, NOW - DAY),
            Decision::Idle,
        ),
        (
            "hand edit proposed",
            repo("c1").drifted("baseline"),
            Decision::Proceed,
        ),
    ];
    for (what, c1, decision) in cases {
        let out = Fleet::new(staged())
            .wave("canary", &["c1"])
            .wave("early", &["e1"])
            .wave("default", &["d1"])
            .run(
                NOW,
                vec![
                    c1.build(),
                    repo("e1").direct("baseline").build(),
                    repo("d1").direct("baseline").build(),
                ],
            );
        assert_eq!(out.decision("c1"), &decision, "{what}");
        assert_eq!(
            out.rollout().waves[0],
            report("canary", 1, 0, Some("2h")),
            "{what}"
        );
        assert_eq!(out.decision("e1"), &held(early_waits, None), "{what}");
        assert_eq!(out.facts(), vec![], "{what}");
    }
}

#[test]
fn a_soaking_wave_without_repos_does_not_gate() {
    let rollout =
        registry_rollout(r#""waves": [{"name": "canary", "soak": "2h"}, {"name": "default"}],"#);
    let out = Fleet::new(rollout)
        .filtered()
        .wave("default", &["d1"])
        .run(NOW, vec![repo("d1").direct("baseline").build()]);
    assert_eq!(out.decision("d1"), &Decision::Proceed);
    assert_eq!(
        out.rollout().waves,
        vec![
            report("canary", 0, 0, Some("2h")),
            report("default", 1, 0, None)
        ]
    );
}
