//! A pinned fleet (fleet rollback): repos a later revision reached take the
//! pinned revision past the waves; the others follow the waves, or, under
//! `distributor rollback` itself, are left alone with the reason.

use super::support::*;
use crate::rollout::pin::{Pin, Rollback};
use crate::rollout::{Decision, Event};

/// The bad revision rolled back from (later than [`REV`] in history).
const BAD: &str = "4444444444444444444444444444444444444444";

fn history() -> Vec<(String, i64)> {
    [BAD, REV, OLD]
        .into_iter()
        .enumerate()
        .map(|(i, r)| (r.to_string(), NOW - i as i64 * HOUR))
        .collect()
}

fn pin() -> Pin {
    Pin {
        revision: REV.into(),
        from: vec![BAD.into()],
        reason: "the new runner breaks builds".into(),
        operator: "olivia".into(),
        at: NOW - 60,
    }
}

/// canary (soak 2h): c1 (got BAD directly), c2 (on REV already); early:
/// e1 (a pull request of BAD open); default: d1 (behind, on OLD).
fn pinned(only_reached: bool) -> Fleet {
    let mut f = Fleet::new(staged())
        .wave("canary", &["c1", "c2"])
        .wave("early", &["e1"])
        .wave("default", &["d1"]);
    f.history = history();
    f.rollback = Some(Rollback::new(pin(), &f.history, only_reached));
    f
}

fn plans() -> Vec<crate::plan::RepoPlan> {
    vec![
        repo("c1").direct("baseline").locked(BAD).build(),
        repo("c2").locked(REV).build(),
        repo("e1")
            .updated_pr("baseline", 7, NOW - 2 * HOUR)
            .locked(OLD)
            .proposal_revision(BAD)
            .build(),
        repo("d1").direct("baseline").locked(OLD).build(),
    ]
}

#[test]
fn a_repo_is_reached_by_its_proposal_or_its_default_branch() {
    let rb = Rollback::new(pin(), &history(), true);
    assert_eq!(rb.later, [BAD.to_string()].into_iter().collect());
    assert_eq!(rb.reached_by(&repo("x").build()), None);
    assert_eq!(rb.reached_by(&repo("x").locked(REV).build()), None);
    assert_eq!(rb.reached_by(&repo("x").locked(BAD).build()), Some(BAD));
    assert_eq!(
        rb.reached_by(&repo("x").locked(OLD).proposal_revision(BAD).build()),
        Some(BAD)
    );
}

#[test]
fn reached_repos_take_the_pinned_revision_past_the_waves() {
    let out = pinned(false).run(NOW, plans());
    assert_eq!(out.decision("c1"), &Decision::Proceed);
    // e1's wave waits for canary (c1 not in sync with REV yet), but e1
    // carries BAD in its pull request: it is rolled back at once.
    assert_eq!(out.decision("e1"), &Decision::Proceed);
    // d1 never saw BAD: it takes REV through the waves as usual.
    assert!(
        matches!(out.decision("d1"), Decision::Held { reason, .. } if reason.contains("waits for wave early")),
        "{:?}",
        out.decision("d1")
    );
    assert_eq!(out.decision("c2"), &Decision::Idle);
}

#[test]
fn the_rollback_command_writes_only_where_a_later_revision_landed() {
    let out = pinned(true).run(NOW, plans());
    assert_eq!(out.decision("c1"), &Decision::Proceed);
    assert_eq!(out.decision("e1"), &Decision::Proceed);
    assert_eq!(
        out.decision("d1"),
        &held(
            "no revision after 3f9c2e1a7b5d reached this repo, so the rollback leaves it alone; \
             while the fleet is pinned, runs bring it revision 3f9c2e1a7b5d through the waves",
            None
        )
    );
}

#[test]
fn without_a_pin_the_same_fleet_waits_on_the_waves() {
    let mut f = pinned(true);
    f.rollback = None;
    let out = f.run(NOW, plans());
    assert_eq!(out.decision("c1"), &Decision::Proceed);
    assert!(matches!(out.decision("e1"), Decision::Held { .. }));
}

#[test]
fn a_pin_and_its_unpin_survive_in_the_log() {
    let unpinned = |revision: &str| Event::Unpinned {
        at: NOW,
        revision: revision.into(),
        operator: "olivia".into(),
        reason: "fixed forward".into(),
    };
    let pinned = Event::Pinned {
        at: NOW - 60,
        revision: REV.into(),
        from: vec![BAD.into()],
        reason: "the new runner breaks builds".into(),
        operator: "olivia".into(),
    };
    let state = crate::rollout::State::fold(std::slice::from_ref(&pinned));
    assert_eq!(state.pin, Some(pin()));
    // An unpin of another revision (an older pin) leaves this one.
    let state = crate::rollout::State::fold(&[pinned.clone(), unpinned(OLD)]);
    assert_eq!(state.pin, Some(pin()));
    let state = crate::rollout::State::fold(&[pinned, unpinned(REV)]);
    assert_eq!(state.pin, None);
}

#[test]
fn a_rollback_halts_a_revision_even_after_it_was_resumed() {
    let resumed = Event::Resumed {
        at: NOW - 120,
        revision: BAD.into(),
        operator: "olivia".into(),
    };
    let failure = Event::Halted {
        at: NOW - 60,
        revision: BAD.into(),
        reason: "checks failed".into(),
        rollback: false,
    };
    let decision = |log: &[Event]| {
        let mut f = Fleet::new(staged()).log(log);
        f.revision = BAD.into();
        let out = f.run(NOW, vec![repo("c1").direct("baseline").build()]);
        out.decision("c1").clone()
    };
    // A failure seen after a resume does not halt it again...
    assert_eq!(decision(&[resumed.clone(), failure]), Decision::Proceed);
    // ...a rollback does: the operator's later decision stands.
    let rolled_back = Event::Halted {
        at: NOW,
        revision: BAD.into(),
        reason: "rolled back to 3f9c2e1a7b5d by olivia: bad".into(),
        rollback: true,
    };
    let log = [resumed, rolled_back];
    let state = crate::rollout::State::fold(&log);
    assert!(state.halted.contains_key(BAD));
    assert!(!state.resumed.contains_key(BAD));
    // After an unpin, the head (still BAD) delivers nothing.
    let after = decision(&log);
    assert!(
        matches!(&after, Decision::Halted { reason } if reason.contains("rolled back to")),
        "{after:?}"
    );
}
