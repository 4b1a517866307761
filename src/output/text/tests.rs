//! Tests of the apply, forced-run and plan summary lines: every repo
//! counted once, adding up to the repos of the run.

use super::*;
use crate::apply::Tally;
use crate::apply::tally_tests::mixed_report;

const PLAIN: Style = Style { color: false };

#[test]
fn the_apply_summary_counts_every_repo_of_a_mixed_run() {
    let report = mixed_report();
    let text = apply(&report, PLAIN);
    let last = text.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "Applied: 2 repos changed, 1 proposal branch deleted, 7 unchanged, \
         1 queued, 1 held, 1 halted, 1 failed (14 repos)."
    );
    // The counts in the line add up to the repo count it names.
    let numbers: Vec<usize> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let (total, counts) = numbers.split_last().unwrap();
    assert_eq!(counts.iter().sum::<usize>(), *total);
    assert_eq!(*total, report.repos.len());
}

/// A plan of 7 repos: 2 to change (one of them held), 1 in sync, 2
/// awaiting merge, 1 left as is, 1 error.
fn mixed_plan() -> Plan {
    use crate::forge::RepoId;
    use crate::plan::fixtures::{branch, desired, entry, lock_of, observe, oid, plan, repo};
    use crate::plan::verdict::{Decision, RepoPolicy};
    use crate::plan::{FileState, ProposalPlan, RepoError};
    let obs = observe(
        branch(&[("a", entry("a1"))], Some(lock_of(&[("a", "a1")]))),
        None,
    );
    let named = |mut r: crate::plan::RepoPlan, name: &str| {
        r.repo = RepoId::new("acme", name);
        r
    };
    let in_sync = plan(&repo("direct"), &[desired("a", "a1")], &obs);
    let change = plan(&repo("direct"), &[desired("a", "a2")], &obs);
    assert!(!in_sync.has_writes() && change.has_writes());
    let mut held = named(change.clone(), "held");
    held.policy = Some(RepoPolicy {
        decision: Decision::Held {
            reason: "wave early waits for wave canary".into(),
            until: None,
        },
        staleness: Default::default(),
        escalation: None,
    });
    let mut pending = named(in_sync.clone(), "pending");
    pending.proposal = ProposalPlan::UpToDate { tip: oid(2) };
    let mut hand_edited = named(in_sync.clone(), "hand-edited");
    hand_edited.proposal = ProposalPlan::HumanEdited {
        tip: oid(3),
        pending: false,
    };
    hand_edited.files[0].state = FileState::Drifted;
    Plan {
        source: crate::lock::Source {
            revision: "rev".into(),
            dirty: false,
            digest: None,
        },
        generator: "distributor test".into(),
        force_reason: None,
        rollback: None,
        repos: vec![
            named(change, "change"),
            held,
            named(in_sync, "in-sync"),
            pending.clone(),
            named(pending, "pending-2"),
            hand_edited,
        ],
        errors: vec![RepoError {
            repo: RepoId::new("acme", "broken"),
            error: "cannot observe".into(),
        }],
        rollout: None,
    }
}

#[test]
fn the_plan_totals_count_every_repo_once() {
    let plan = mixed_plan();
    let t = PlanTally::of(&plan);
    assert_eq!(
        t,
        PlanTally {
            to_change: 2,
            held: 1,
            in_sync: 1,
            awaiting_merge: 2,
            left_as_is: 1,
            errors: 1,
            ..PlanTally::default()
        }
    );
    assert_eq!(t.total(), plan.repos.len() + plan.errors.len());
    let mut out = String::new();
    totals(&mut out, &plan, PLAIN);
    assert_eq!(
        out.trim(),
        "Plan: 2 of 7 repos to change (2 direct commits, 0 proposals to write, 0 to close), \
         1 of them waiting (1 held), 2 files to change, 1 drifted, 1 in sync, \
         2 awaiting merge, 1 left as is, 1 error."
    );
}

#[test]
fn outcomes_no_repo_had_are_left_out_but_changed_unchanged_failed() {
    let t = Tally {
        unchanged: 1,
        ..Tally::default()
    };
    assert_eq!(
        applied_line(&t, PLAIN),
        "Applied: 0 repos changed, 1 unchanged, 0 failed (1 repo)."
    );
}

#[test]
fn the_forced_table_names_the_repo_count_its_outcomes_add_up_to() {
    let mut report = mixed_report();
    report.repos.truncate(2);
    let table = forced_table(&report, "Forced run (CVE-1)", PLAIN);
    assert!(
        table.ends_with("\n1 changed, 1 proposed, 0 skipped (already fixed), 0 failed (2 repos)\n"),
        "{table}"
    );
}

#[test]
fn many_repos_left_for_the_same_reason_print_as_one_line() {
    use crate::apply::{ApplyReport, RepoReport};
    use crate::forge::RepoId;
    use crate::plan::verdict::Decision;
    let held = |name: &str, reason: &str| RepoReport {
        deferred: Some(Decision::Held {
            reason: reason.into(),
            until: None,
        }),
        ..RepoReport::nothing_done(RepoId::new("acme", name))
    };
    let mut repos: Vec<RepoReport> = ["d1", "d2", "d3", "d4", "d5"]
        .iter()
        .map(|n| held(n, "wave default waits for wave canary"))
        .collect();
    repos.push(held("e1", "wave early waits for wave canary"));
    let out = apply(&ApplyReport { repos }, PLAIN);
    assert!(
        out.starts_with(
            "acme/e1: held: wave early waits for wave canary\n\
             5 repos: held: wave default waits for wave canary (acme/d1, acme/d2, acme/d3 and 2 more)\n"
        ),
        "{out}"
    );
    assert!(out.contains("(6 repos)."), "{out}");
}
