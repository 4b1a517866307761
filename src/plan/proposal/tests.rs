//! The proposal branch's fate: every [`ProposalPlan`] outcome, the older
//! base whose managed paths did not change, stale files, missing tips.

use std::collections::BTreeSet;

use super::*;
use crate::blob::FileMode;
use crate::forge::FileEntry;
use crate::plan::fixtures::observe as observation;
use crate::plan::fixtures::{
    branch, desired, entry, file, lock_entry, lock_of, oid, proposal, settings,
};
use crate::plan::locks;

fn commit() -> CommitPlan {
    CommitPlan {
        branch: "distributor/sync".into(),
        writes: Vec::new(),
        lock: locks::new_lock(&settings().source, BTreeMap::new()),
        message: "m".into(),
    }
}

fn observed(p: &ProposalSnapshot) -> Observed<'_> {
    Observed {
        snapshot: p,
        tip: oid(9),
        lock: None,
    }
}

fn default_branch() -> BranchSnapshot {
    branch(&[("a", entry("old a"))], Some(lock_of(&[("a", "old a")])))
}

#[test]
fn no_branch_and_nothing_to_propose_is_none_else_create() {
    assert!(matches!(
        decide(None, None, false, |_| unreachable!()),
        ProposalPlan::None
    ));
    assert!(matches!(
        decide(None, Some(commit()), true, |_| unreachable!()),
        ProposalPlan::Create { .. }
    ));
}

#[test]
fn a_human_edited_branch_is_left_alone_pending_or_not() {
    let p = proposal(&[], oid(1), false);
    let o = observed(&p);
    let got = decide(Some(&o), Some(commit()), false, |_| unreachable!());
    assert!(matches!(got, ProposalPlan::HumanEdited { tip, pending: true } if tip == oid(9)));
    let got = decide(Some(&o), None, false, |_| unreachable!());
    assert!(matches!(
        got,
        ProposalPlan::HumanEdited { pending: false, .. }
    ));
}

#[test]
fn nothing_left_to_propose_closes_the_branch_unless_filtered() {
    let p = proposal(&[], oid(1), true);
    let o = observed(&p);
    let got = decide(Some(&o), None, false, |_| unreachable!());
    assert!(matches!(got, ProposalPlan::Close { tip } if tip == oid(9)));
    let got = decide(Some(&o), None, true, |_| unreachable!());
    assert!(matches!(got, ProposalPlan::UpToDate { tip } if tip == oid(9)));
}

#[test]
fn a_branch_is_kept_when_current_else_updated() {
    let p = proposal(&[], oid(1), true);
    let o = observed(&p);
    let got = decide(Some(&o), Some(commit()), false, |_| true);
    assert!(matches!(got, ProposalPlan::UpToDate { tip } if tip == oid(9)));
    let got = decide(Some(&o), Some(commit()), false, |_| false);
    assert!(matches!(
        got,
        ProposalPlan::Update { previous_tip, .. } if previous_tip == oid(9)
    ));
}

#[test]
fn a_branch_observed_without_a_tip_is_an_error_for_the_repo() {
    let mut p = proposal(&[], oid(1), true);
    p.branch.tip = None;
    let obs = observation(default_branch(), Some(p));
    assert_eq!(
        observe(&obs).unwrap_err(),
        "proposal branch `distributor/sync` in acme/r was observed without a tip commit; cannot tell what it proposes"
    );
}

#[test]
fn the_observed_branch_has_its_tip_and_readable_lock() {
    assert!(
        observe(&observation(default_branch(), None))
            .unwrap()
            .is_none()
    );
    let p = proposal(&[("a", entry("new a"))], oid(1), true);
    let obs = observation(default_branch(), Some(p));
    let o = observe(&obs).unwrap().unwrap();
    assert_eq!(o.tip, oid(9));
    assert_eq!(o.lock.map(|l| l.source.revision).as_deref(), Some("old"));
    // An unreadable lock is as good as none.
    let mut p = proposal(&[], oid(1), true);
    p.branch.lock = Some(b"{not json".to_vec());
    let obs = observation(default_branch(), Some(p));
    assert!(observe(&obs).unwrap().unwrap().lock.is_none());
}

#[test]
fn a_base_is_current_at_the_tip_or_when_nothing_managed_changed_since() {
    let default = default_branch();
    assert!(base_current(&proposal(&[], oid(1), true), &default));
    let mut older = proposal(&[], oid(7), true);
    assert!(!base_current(&older, &default), "base unknown");
    older.base_snapshot = Some(default_branch());
    assert!(base_current(&older, &default), "nothing managed changed");
    let mut changed = default_branch();
    changed.files.insert("a".into(), entry("hand a"));
    older.base_snapshot = Some(changed);
    assert!(!base_current(&older, &default), "a managed path changed");
    let mut relocked = default_branch();
    relocked.lock = Some(lock_of(&[("a", "other a")]));
    older.base_snapshot = Some(relocked);
    assert!(!base_current(&older, &default), "the lock changed");
}

#[test]
fn a_branch_holds_final_content_when_every_path_is_as_planned() {
    let files = [
        file("a", FileState::Outdated, Route::Proposal, Some("new a")),
        file("gone", FileState::Orphaned, Route::Proposal, None),
        file("kept", FileState::Orphaned, Route::Release, None),
    ];
    let good = branch(&[("a", entry("new a")), ("kept", entry("hand"))], None);
    assert!(holds_final(&files, &good));
    let stale = branch(&[("a", entry("older a"))], None);
    assert!(!holds_final(&files, &stale));
    let undeleted = branch(&[("a", entry("new a")), ("gone", entry("g"))], None);
    assert!(!holds_final(&files, &undeleted));
    let mut chmod = branch(&[("a", entry("new a"))], None);
    chmod.files.get_mut("a").unwrap().as_mut().unwrap().mode = Some(FileMode::Executable);
    assert!(!holds_final(&files, &chmod));
}

/// Whether a branch holding `on_branch`, with `lock`, carries stale files
/// when `a` is desired and locked.
fn check_stale(
    lock: Option<&Lock>,
    on_branch: &[(&str, Option<FileEntry>)],
    bundles: Option<&BTreeSet<String>>,
) -> bool {
    let want = [desired("a", "new a")];
    let by_path = want.iter().map(|d| (d.path.as_str(), d)).collect();
    let locked = [("a".to_string(), lock_entry("a", "old a"))].into();
    let default = default_branch();
    let wanted = Wanted {
        files: &[],
        default: &default,
        direct: false,
        scope: Scope::new(bundles),
        desired: &by_path,
        locked: &locked,
    };
    carries_stale(lock, &branch(on_branch, None), &wanted)
}

fn lock_naming(files: &[(&str, &str)]) -> Lock {
    locks::read("l", Some(&lock_of(files))).unwrap().unwrap()
}

#[test]
fn a_branch_still_adding_a_file_no_longer_rendered_is_stale() {
    let lock = lock_naming(&[("a", "new a"), ("gone", "g")]);
    let files = [("a", entry("new a")), ("gone", entry("g"))];
    assert!(check_stale(Some(&lock), &files, None));
    // Gone from the branch already, or out of the run's scope: not stale.
    assert!(!check_stale(Some(&lock), &files[..1], None));
    let other: BTreeSet<String> = ["other".to_string()].into();
    assert!(!check_stale(Some(&lock), &files, Some(&other)));
    // Without a readable lock the branch cannot be trusted.
    assert!(check_stale(None, &files[..1], None));
    // Files still desired, or managed on the default branch, are not stale.
    let fine = lock_naming(&[("a", "new a")]);
    assert!(!check_stale(Some(&fine), &files[..1], None));
}

#[test]
fn a_branch_is_current_only_when_every_condition_holds() {
    let files = [file(
        "a",
        FileState::Outdated,
        Route::Proposal,
        Some("new a"),
    )];
    let want = [desired("a", "new a")];
    let by_path = want.iter().map(|d| (d.path.as_str(), d)).collect();
    let locked = BTreeMap::new();
    let default = default_branch();
    let mut wanted = Wanted {
        files: &files,
        default: &default,
        direct: false,
        scope: Scope::new(None),
        desired: &by_path,
        locked: &locked,
    };
    let p = proposal(&[("a", entry("new a"))], oid(1), true);
    let o = Observed {
        snapshot: &p,
        tip: oid(9),
        lock: Some(lock_naming(&[("a", "new a")])),
    };
    assert!(is_current(&o, &wanted));
    wanted.direct = true;
    assert!(!is_current(&o, &wanted), "a direct commit moves the base");
    wanted.direct = false;
    let unlocked = Observed {
        lock: None,
        ..o.clone()
    };
    assert!(!is_current(&unlocked, &wanted), "no lock: stale");
    let older = proposal(&[("a", entry("new a"))], oid(7), true);
    let o = Observed {
        snapshot: &older,
        ..o
    };
    assert!(!is_current(&o, &wanted), "built on an unknown older base");
}
